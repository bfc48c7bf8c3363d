"""What other libraries print: kept from the user's console unless asked for.

TensorFlow's native log prints lines when TensorFlow is first imported (its CPU feature
guard, its CUDA probe on machines without a GPU), and the exporters print Keras messages
and absl log lines (``I0000 ... grappler``) that no environment variable turns off.
:func:`quiet_tensorflow` sets ``TF_CPP_MIN_LOG_LEVEL`` before TensorFlow is first
imported, unless the user set it; :func:`captured_output` takes what a call writes to
the process's stdout and stderr and logs it on the ``openl3`` logger at DEBUG level, so
it shows when the user asks for it (``logging.getLogger("openl3").setLevel("DEBUG")``).
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import sys
import tempfile
from collections.abc import Iterator

logger = logging.getLogger("openl3")

#: The warnings :func:`warn_once` gave in this process.
_WARNED: set[str] = set()

#: TensorFlow's native log level: 3 shows fatal errors only.
TF_LOG_LEVEL_ENV = "TF_CPP_MIN_LOG_LEVEL"
QUIET_TF_LOG_LEVEL = "3"


def warn_once(message: str) -> None:
    """Log ``message`` as a warning on the ``openl3`` logger, once per process."""
    if message not in _WARNED:
        _WARNED.add(message)
        logger.warning("%s", message)


def quiet_tensorflow() -> None:
    """Hide TensorFlow's native log unless the user set ``TF_CPP_MIN_LOG_LEVEL``.

    Only TensorFlow's first import reads the variable: once it is imported, nothing is
    changed.
    """
    if "tensorflow" not in sys.modules:
        os.environ.setdefault(TF_LOG_LEVEL_ENV, QUIET_TF_LOG_LEVEL)


@contextlib.contextmanager
def captured_output(what: str = "output") -> Iterator[None]:
    """Capture what the block writes to stdout and stderr; log it at DEBUG level.

    Both Python's streams and the process's file descriptors 1 and 2 are redirected, so
    native libraries' lines are captured too. Use it around one call at a time, in one
    thread: file descriptors belong to the whole process.

    Parameters
    ----------
    what : str
        Named in the debug log ("the ONNX exporter").
    """
    sys.stdout.flush()
    sys.stderr.flush()
    python_streams = io.StringIO()
    saved = [os.dup(1), os.dup(2)]
    try:
        with tempfile.TemporaryFile() as native:
            os.dup2(native.fileno(), 1)
            os.dup2(native.fileno(), 2)
            try:
                with contextlib.redirect_stdout(python_streams), contextlib.redirect_stderr(python_streams):
                    yield
            finally:
                os.dup2(saved[0], 1)
                os.dup2(saved[1], 2)
                native.seek(0)
                text = python_streams.getvalue() + native.read().decode(errors="replace")
                if text.strip():
                    logger.debug("Printed by %s:\n%s", what, text.rstrip())
    finally:
        for descriptor in saved:
            os.close(descriptor)

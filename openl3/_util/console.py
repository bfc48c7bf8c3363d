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
import importlib.abc
import io
import logging
import os
import sys
import tempfile
from collections.abc import Iterator
from typing import Any

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
    changed. TensorFlow 2.21 prints a few lines while it is imported whatever the variable
    says (oneDNN's notice, the CUDA probe, absl's "All log messages before
    absl::InitializeLog()"): its first import, by openl3 or by the user after
    ``import openl3``, is made with its output captured (:class:`QuietFirstImport`).
    """
    if "tensorflow" not in sys.modules and TF_LOG_LEVEL_ENV not in os.environ:
        os.environ[TF_LOG_LEVEL_ENV] = QUIET_TF_LOG_LEVEL
        if not any(isinstance(finder, QuietFirstImport) for finder in sys.meta_path):
            sys.meta_path.insert(0, QuietFirstImport("tensorflow"))


class QuietFirstImport(importlib.abc.MetaPathFinder):
    """Import a module the first time with what it prints captured (:func:`captured_output`).

    An import hook, removed when the module is first imported: the module is its own,
    found by the other finders as it would be, and only its first execution runs inside
    :func:`captured_output` (its lines go to the ``openl3`` logger at DEBUG level).
    Looking the module up without importing it (``importlib.util.find_spec``) changes
    nothing.

    Parameters
    ----------
    module : str
        The top-level module ("tensorflow").
    """

    def __init__(self, module: str):
        self.module = module

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:
        """Return the module's own spec, its loader wrapped; None for any other module."""
        if name != self.module:
            return None
        for finder in sys.meta_path:
            found = None if finder is self else getattr(finder, "find_spec", None)
            spec = found(name, path, target) if found else None
            if spec is not None:
                if spec.loader is not None:
                    spec.loader = _QuietLoader(spec.loader, self)
                return spec
        return None


class _QuietLoader(importlib.abc.Loader):
    """Run another loader with the process's output captured; then remove the hook."""

    def __init__(self, loader: Any, hook: QuietFirstImport):
        self.loader, self.hook = loader, hook

    def create_module(self, spec: Any) -> Any:
        """Create the module as the wrapped loader does."""
        return self.loader.create_module(spec)

    def exec_module(self, module: Any) -> None:
        """Execute the module as the wrapped loader does, its output captured."""
        with contextlib.suppress(ValueError):
            sys.meta_path.remove(self.hook)
        module.__loader__ = module.__spec__.loader = self.loader  # TensorFlow's own, from now on
        with captured_output(f"the import of {self.hook.module}"):
            self.loader.exec_module(module)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.loader, name)  # get_code, get_filename, is_package...


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

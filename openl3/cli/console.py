"""The command's console: its exit statuses, and the lines it prints while it runs.

The library logs on the ``openl3`` logger and warns with :mod:`warnings`; during a run
the command shows each record and warning as one line on stderr, above the progress bar
(:func:`_console`). TensorFlow's own output is kept quiet with :mod:`openl3._util.console`.
"""

from __future__ import annotations

import logging
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tqdm import tqdm

from .._util.console import quiet_tensorflow

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


class _LevelPrefix(logging.Formatter):
    """Format log records as one line, errors and warnings prefixed as the command prints them."""

    def format(self, record: logging.LogRecord) -> str:
        prefix = {logging.ERROR: "error: ", logging.WARNING: "warning: "}.get(record.levelno, "")
        return prefix + record.getMessage()


def _write_line(text: str) -> None:
    """Write a line on stderr above the progress bar (tqdm's ``write``), never inside it."""
    tqdm.write(text, file=sys.stderr)


class _LineHandler(logging.Handler):
    """Write each log record as a line of its own (see :func:`_write_line`)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            _write_line(self.format(record))
        except Exception:
            self.handleError(record)


def _not_a_file_failure(record: logging.LogRecord) -> bool:
    """Whether ``record`` is not the line of one input's failure (which a caller names itself)."""
    return not hasattr(record, "openl3_input")


@contextmanager
def _console(quiet: bool, verbose: bool = False, file_failures: bool = True) -> Iterator[None]:
    """Print the library's log and warnings as one line each on stderr; hide TensorFlow's logs.

    Lines are written above the progress bar, not inside it. Warnings show without
    source lines; TensorFlow's native logs (e.g. its CUDA probe on machines without a
    GPU) are off unless ``TF_CPP_MIN_LOG_LEVEL`` is set, and its Python logger shows
    errors only. ``verbose`` shows the details (each input skipped...); without
    ``file_failures``, the line of each input that fails is left to the caller's message.
    """
    quiet_tensorflow()
    tensorflow_logger = logging.getLogger("tensorflow")  # its Python-side warnings
    tensorflow_level = tensorflow_logger.level
    tensorflow_logger.setLevel(logging.ERROR)
    logger = logging.getLogger("openl3")
    handler = _LineHandler()
    handler.setFormatter(_LevelPrefix())
    if not file_failures:
        handler.addFilter(_not_a_file_failure)
    saved = logger.level, logger.propagate
    logger.addHandler(handler)
    logger.setLevel(logging.ERROR if quiet else logging.DEBUG if verbose else logging.INFO)
    logger.propagate = False

    def show(message: Any, category: type, filename: str, lineno: int, file: Any = None, line: Any = None):
        _write_line(f"warning: {message}")

    try:
        with warnings.catch_warnings():
            warnings.showwarning = show
            if quiet:
                warnings.simplefilter("ignore")
            yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(saved[0])
        tensorflow_logger.setLevel(tensorflow_level)
        logger.propagate = saved[1]

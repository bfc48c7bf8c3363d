"""Ctrl-C that stops a run even when Python swallows the ``KeyboardInterrupt``.

Python raises ``KeyboardInterrupt`` wherever the main thread happens to be when SIGINT
arrives. If that is inside a finaliser (``__del__``, a weakref callback, a generator
closed by the garbage collector), the exception is printed as "Exception ignored" and the
run goes on to its end. That is rare, but nothing else would stop the run. Within
:func:`sigint_stops_between_batches` (the command installs it), SIGINT also records the
request, and the batch loop calls :func:`raise_if_interrupted` before each model call, so
a swallowed Ctrl-C stops the run at the next batch. Library calls outside it are not
affected: the library installs no signal handler of its own.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

_REQUESTED = threading.Event()


def _on_sigint(signum: int, frame: FrameType | None) -> None:
    _REQUESTED.set()
    raise KeyboardInterrupt


@contextmanager
def sigint_stops_between_batches() -> Iterator[None]:
    """Within the block, Ctrl-C raises ``KeyboardInterrupt`` and is remembered until it stops the run.

    The previous SIGINT handler is restored on leaving. The block runs unchanged outside
    the main thread (where signal handlers cannot be set), and where SIGINT is ignored
    (a process started in the background by a shell, or under ``nohup``, is meant to
    outlive a Ctrl-C; Python then installs no handler either).
    """
    ignored = signal.getsignal(signal.SIGINT) == signal.SIG_IGN
    if ignored or threading.current_thread() is not threading.main_thread():
        yield
        return
    _REQUESTED.clear()
    previous = signal.signal(signal.SIGINT, _on_sigint)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        _REQUESTED.clear()


def raise_if_interrupted() -> None:
    """Raise ``KeyboardInterrupt`` if Ctrl-C was pressed in a :func:`sigint_stops_between_batches` block."""
    if _REQUESTED.is_set():
        raise KeyboardInterrupt

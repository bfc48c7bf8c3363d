"""Ctrl-C stops a command's run even when a finaliser swallows the KeyboardInterrupt."""

from __future__ import annotations

import gc
import signal
import sys

import numpy as np
import pytest

from openl3._util.interrupt import raise_if_interrupted, sigint_stops_between_batches
from openl3.models import batching


class SigintInFinaliser:
    """An object whose finaliser receives SIGINT: Python prints the KeyboardInterrupt and goes on."""

    def __del__(self):
        signal.raise_signal(signal.SIGINT)  # the handler runs before this call returns


@pytest.fixture(autouse=True)
def python_s_sigint_handler():
    """Python's own handler, as in a terminal (a test run started in the background ignores SIGINT)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


@pytest.fixture
def swallowed(monkeypatch):
    """The exceptions Python reports as "Exception ignored" (and goes on)."""
    seen = []
    monkeypatch.setattr(sys, "unraisablehook", lambda unraisable: seen.append(unraisable.exc_type))
    return seen


def swallow_a_ctrl_c() -> None:
    SigintInFinaliser()
    gc.collect()


class Items:
    """A source of ``n_items`` rows of ones."""

    def __init__(self, n_items: int):
        self.n_items = n_items

    def read(self, start: int, count: int) -> np.ndarray:
        return np.ones((count, 2))


def test_a_swallowed_ctrl_c_stops_the_next_batch(swallowed):
    calls = []

    def predict(batch):
        calls.append(len(batch))
        if len(calls) == 2:
            swallow_a_ctrl_c()
        return np.zeros((len(batch), 3))

    with sigint_stops_between_batches(), pytest.raises(KeyboardInterrupt):
        batching.embed_sources(predict, [Items(10)], 2, lambda index, emb: None, prefetch=0)
    assert swallowed == [KeyboardInterrupt]
    assert calls == [2, 2]  # the third batch was never run


def test_ctrl_c_raises_at_once_and_the_handler_is_restored():
    before = signal.getsignal(signal.SIGINT)
    with sigint_stops_between_batches():
        with pytest.raises(KeyboardInterrupt):
            signal.raise_signal(signal.SIGINT)  # raised by this very call: the handler ran at once
        with pytest.raises(KeyboardInterrupt):
            raise_if_interrupted()  # remembered until the block ends
    assert signal.getsignal(signal.SIGINT) is before
    raise_if_interrupted()  # forgotten: nothing raised


def test_outside_the_block_the_library_remembers_nothing(swallowed):
    swallow_a_ctrl_c()  # lost, as in any Python program
    raise_if_interrupted()  # nothing raised: the library installs no handler of its own
    assert swallowed == [KeyboardInterrupt]


def test_an_ignored_sigint_stays_ignored():
    """A process started in the background (or under nohup) is meant to outlive a Ctrl-C."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with sigint_stops_between_batches():
        assert signal.getsignal(signal.SIGINT) == signal.SIG_IGN
        signal.raise_signal(signal.SIGINT)  # handled (here: dropped) before this call returns
        raise_if_interrupted()  # nothing raised

"""The batch runner: routing across sources, read-ahead, failures while reading, interruption, caches."""

from __future__ import annotations

import threading
import weakref

import numpy as np
import pytest

from helpers import CountingBuilder, race
from openl3._util.exceptions import OpenL3Error
from openl3.models import batching
from openl3.models.batching import embed_sources


class Numbers:
    """A source of ``n_items`` rows ``[offset + i, 1]``; fails at item ``fail_at`` if given."""

    def __init__(self, n_items, offset, fail_at=None, on_read=None):
        self.n_items, self.offset, self.fail_at, self.on_read = n_items, offset, fail_at, on_read
        self.reads = []

    def read(self, start, count):
        self.reads.append((start, count))
        if self.on_read is not None:
            self.on_read(start)
        if self.fail_at is not None and start + count > self.fail_at:
            raise OpenL3Error(f"source {self.offset} fails at item {self.fail_at}")
        return np.stack([[self.offset + i, 1.0] for i in range(start, start + count)])


def double(batch):
    return 2 * batch


def _run(sources, batch_size, prefetch, on_error=None):
    done, batches = {}, []
    embed_sources(double, sources, batch_size, done.__setitem__, batches.append, on_error, prefetch)
    return done, batches


@pytest.mark.parametrize("prefetch", [0, 1, 2, 5])
@pytest.mark.parametrize("batch_size", [1, 2, 3, 7, 64])
def test_every_source_gets_its_own_rows_in_order(prefetch, batch_size):
    sizes = [5, 1, 12, 3, 8]
    sources = [Numbers(n, 100 * k) for k, n in enumerate(sizes)]
    done, batches = _run(sources, batch_size, prefetch)
    assert sorted(done) == list(range(len(sizes)))
    for k, n in enumerate(sizes):
        expected = 2 * np.stack([[100 * k + i, 1.0] for i in range(n)])
        np.testing.assert_array_equal(done[k], expected)
    assert sum(batches) == sum(sizes) and all(b == batch_size for b in batches[:-1])


@pytest.mark.parametrize("prefetch", [0, 2])
def test_a_source_failing_mid_read_is_dropped_and_its_batch_mates_kept(prefetch):
    sources = [Numbers(5, 0), Numbers(9, 100, fail_at=6), Numbers(4, 200)]
    failures = []
    done, _ = _run(sources, 4, prefetch, lambda index, exc: failures.append((index, str(exc))) or True)
    assert failures == [(1, "source 100 fails at item 6")]
    assert sorted(done) == [0, 2]
    np.testing.assert_array_equal(done[0][:, 0], 2 * np.arange(5))
    np.testing.assert_array_equal(done[2][:, 0], 2 * (200 + np.arange(4)))


@pytest.mark.parametrize("prefetch", [0, 2])
def test_a_failure_not_collected_reaches_the_caller_and_the_reader_stops(prefetch):
    sources = [Numbers(5, 0), Numbers(9, 100, fail_at=2)]
    with pytest.raises(OpenL3Error, match="fails at item 2"):
        _run(sources, 3, prefetch, lambda index, exc: False)
    assert not [t for t in threading.enumerate() if t.name == "openl3-reader"]


def test_an_interrupted_model_call_stops_the_reader():
    sources = [Numbers(1000, 0)]

    def interrupted(batch):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        embed_sources(interrupted, sources, 4, lambda *a: None, prefetch=2)
    assert not [t for t in threading.enumerate() if t.name == "openl3-reader"]
    assert len(sources[0].reads) <= 5  # the reader stopped: a few batches ahead at most


def test_reading_overlaps_the_model():
    # The model's first call waits until the next batch is being read: only a reader
    # running ahead of the model can let it finish (without one it would time out).
    next_batch_read = threading.Event()
    source = Numbers(8, 0, on_read=lambda start: start == 4 and next_batch_read.set())
    calls = []

    def model(batch):
        if not calls:
            assert next_batch_read.wait(timeout=30), "the next batch was not read while the model ran"
        calls.append(len(batch))
        return batch

    embed_sources(model, [source], 4, lambda *a: None, prefetch=2)
    assert calls == [4, 4]


def _reader_outlasting_any_finite_wait(monkeypatch, release):
    """Make a join of the reader with a timeout give up at once, and one without let ``release`` go.

    This stands for a read longer than any timeout: it ends only while the run waits
    for it without a limit (or when the test lets it go after the run).
    """
    real_join = threading.Thread.join

    def join(thread, timeout=None):
        if thread.name == "openl3-reader":
            if timeout is not None:
                return real_join(thread, 0)
            release.set()
        return real_join(thread, timeout)

    monkeypatch.setattr(threading.Thread, "join", join)


def test_a_run_ends_only_after_its_reader_has_stopped(monkeypatch):
    # The model fails while the reader is inside a slow read, which then fails too: the
    # reader's on_error callback must come before the run ends, and no reader outlive it.
    reading, release, log = threading.Event(), threading.Event(), []

    def slow_read(start):
        if start == 4:
            reading.set()
            assert release.wait(timeout=30)
            raise OpenL3Error("late failure")

    def model(batch):
        assert reading.wait(timeout=30)
        raise RuntimeError("model failed")

    _reader_outlasting_any_finite_wait(monkeypatch, release)
    source = Numbers(12, 0, on_read=slow_read)
    with pytest.raises(RuntimeError, match="model failed"):
        embed_sources(model, [source], 4, log.append, None, lambda i, exc: log.append("on_error") or True, 1)
    readers_left = [t for t in threading.enumerate() if t.name == "openl3-reader"]
    log.append("run ended")
    release.set()  # lets a reader left behind finish, so that it can be seen
    for reader in readers_left:
        reader.join()
    assert not readers_left
    assert log == ["on_error", "run ended"]
    assert source.reads == [(0, 4), (4, 4)]


class Doubler:
    """A stand-in for a Keras model: doubles its input."""

    input_shape = (None, 2)

    def __call__(self, x, training=False):
        return 2 * x


def test_threads_asking_at_once_compile_a_model_once(monkeypatch):
    keras = pytest.importorskip("keras")
    if keras.backend.backend() != "tensorflow":
        pytest.skip("models are compiled with tf.function on TensorFlow only")
    import tensorflow as tf

    monkeypatch.setattr(batching, "_COMPILED", weakref.WeakKeyDictionary())
    compile_ = CountingBuilder(tf.function)
    monkeypatch.setattr(tf, "function", compile_)
    model = Doubler()
    predictors = race(lambda: batching.model_predictor(model))
    assert compile_.calls == 1
    for predict in predictors:
        np.testing.assert_array_equal(predict(np.ones((3, 2))), 2 * np.ones((3, 2)))


def test_many_models_are_traced_without_a_retracing_warning():
    """Each model's inference pass is its own traced function (TensorFlow warned at the fifth)."""
    import logging

    import keras

    messages = []
    handler = logging.Handler()
    handler.emit = lambda record: messages.append(record.getMessage())
    tensorflow_logger = logging.getLogger("tensorflow")
    tensorflow_logger.addHandler(handler)
    try:
        for k in range(7):
            model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
            batching.model_predictor(model)(np.full((3, 4), k, np.float32))
    finally:
        tensorflow_logger.removeHandler(handler)
    assert not [m for m in messages if "retracing" in m]

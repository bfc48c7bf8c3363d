"""One batch runner for every modality: windows of many inputs, fed to a model in batches.

Inputs are consumed in order; each is read a few windows at a time, so only the current
batch is held in memory, and a batch may span the end of one input and the start of the
next, as in OpenL3 0.4.2. When an input's last window has been embedded, its embedding
is handed to a callback and released.
"""

from __future__ import annotations

import logging
import queue
import threading
import weakref
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Protocol

import numpy as np

from .._util.interrupt import raise_if_interrupted
from .._util.progress import add_to_total, progress_bar
from .._util.shared_cache import build_once
from .precision import check_precision, describe, matmul_precision, resolve_precision
from .precision import has_accelerator as has_accelerator  # the command's batch size asks here
from .reduced import model_for_precision

logger = logging.getLogger(__name__)


class WindowSource(Protocol):
    """Anything that yields model inputs in order: audio windows, image frames."""

    n_items: int

    def read(self, start: int, count: int) -> np.ndarray:
        """Return items ``start`` to ``start + count`` (called with increasing ``start``)."""


#: Batches read ahead of the model by a reader thread (0: read in the calling thread).
PREFETCH_BATCHES = 2

#: A read batch: the items, and (source index, first item, count, source's item count) per part.
Route = tuple[int, int, int, int]


def _read_batches(
    sources: Iterable[WindowSource],
    batch_size: int,
    on_error: Callable[[int, Exception], bool] | None,
) -> Iterator[tuple[str, Any, list[Route]]]:
    """Read the sources in order into batches; yield ("batch", items, routes) and ("failed", index, [])."""
    parts: list[np.ndarray] = []
    routes: list[Route] = []
    filled = 0
    for index, source in enumerate(sources):
        position = 0
        while position < source.n_items:
            count = min(batch_size - filled, source.n_items - position)
            try:
                items = source.read(position, count)
            except Exception as exc:
                if on_error is None or not on_error(index, exc):
                    raise
                kept = [k for k, route in enumerate(routes) if route[0] != index]
                parts, routes = [parts[k] for k in kept], [routes[k] for k in kept]
                filled = sum(route[2] for route in routes)
                yield "failed", index, []
                break
            parts.append(items)
            routes.append((index, position, count, source.n_items))
            position, filled = position + count, filled + count
            if filled == batch_size:
                yield "batch", parts[0] if len(parts) == 1 else np.concatenate(parts), routes
                parts, routes, filled = [], [], 0
    if filled:
        yield "batch", parts[0] if len(parts) == 1 else np.concatenate(parts), routes


def _read_ahead(events: Iterator, depth: int) -> Iterator:
    """Iterate ``events`` in a reader thread, up to ``depth`` items ahead of the caller.

    An exception of the reader is raised here, in order. When the caller stops early
    (an error, Ctrl-C), the reader stops after its current item (it never waits on a full
    queue once told to stop), and the generator ends only when the reader has stopped: no
    read, and no callback of the reader's (``on_error``), happens after it. A slow read is
    waited for however long it takes; a second Ctrl-C interrupts the wait.
    """
    ahead: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def offer(item: tuple) -> bool:
        while not stop.is_set():
            try:
                ahead.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def read() -> None:
        try:
            for event in events:
                if not offer(("item", event)):
                    return
            offer(("end", None))
        except BaseException as exc:  # handed to the caller, raised there
            offer(("error", exc))

    reader = threading.Thread(target=read, name="openl3-reader", daemon=True)
    reader.start()
    try:
        while True:
            try:
                kind, value = ahead.get(timeout=0.1)
            except queue.Empty:
                continue
            if kind == "end":
                return
            if kind == "error":
                raise value
            yield value
    finally:
        stop.set()
        reader.join()


def embed_sources(
    predict: Callable[[np.ndarray], np.ndarray],
    sources: Iterable[WindowSource],
    batch_size: int,
    on_done: Callable[[int, np.ndarray], None],
    on_batch: Callable[[int], None] | None = None,
    on_error: Callable[[int, Exception], bool] | None = None,
    prefetch: int | None = None,
) -> None:
    """Embed every source, batching items across sources.

    Sources are read (decoded, resampled, framed) by a reader thread up to ``prefetch``
    batches ahead of the model, so the model does not wait for them; the model runs in
    the calling thread.

    Parameters
    ----------
    predict : callable
        Maps a batch of items to a (batch, D) array of embeddings.
    sources : iterable of WindowSource
        Consumed lazily, in order.
    batch_size : int
        Items per model call.
    on_done : callable
        Called as ``on_done(index, embedding)`` once a source is fully embedded.
    on_batch : callable, optional
        Called with the number of items after each model call (progress).
    on_error : callable, optional
        Called as ``on_error(index, exc)`` when reading a source raises (in the reader
        thread). If it returns True the source is dropped (its items leave the pending
        batch, the other sources' stay) and the run goes on; otherwise the exception
        propagates.
    prefetch : int, optional
        Batches read ahead (default :data:`PREFETCH_BATCHES`); 0 reads in this thread.
    """
    depth = PREFETCH_BATCHES if prefetch is None else prefetch
    events = _read_batches(sources, batch_size, on_error)
    if depth > 0:
        events = _read_ahead(events, depth)
    try:
        _embed_events(predict, events, on_done, on_batch)
    finally:
        events.close()  # stops the reader thread at once if the model call raised (Ctrl-C)


def _embed_events(
    predict: Callable[[np.ndarray], np.ndarray],
    events: Iterator[tuple[str, Any, list[Route]]],
    on_done: Callable[[int, np.ndarray], None],
    on_batch: Callable[[int], None] | None,
) -> None:
    """Run the model on each read batch; hand each source's embedding over when it is complete."""
    outputs: dict[int, list] = {}  # index -> [embedding being filled, items filled]
    for kind, batch, routes in events:
        raise_if_interrupted()  # a Ctrl-C that a finaliser swallowed stops the run here
        if kind == "failed":
            outputs.pop(batch, None)
            continue
        embedding = np.asarray(predict(batch))
        row = 0
        for index, start, count, n_items in routes:
            state = outputs.setdefault(index, [None, 0])
            if state[0] is None:
                state[0] = np.empty((n_items, embedding.shape[1]), embedding.dtype)
            state[0][start : start + count] = embedding[row : row + count]
            row, state[1] = row + count, state[1] + count
            if state[1] == n_items:
                on_done(index, outputs.pop(index)[0])
        if on_batch is not None:
            on_batch(len(batch))


def embed_all(
    predict: Callable[[np.ndarray], np.ndarray],
    sources: list,
    batch_size: int,
    verbose: bool,
    unit: str,
    bar: Any = None,
) -> list[np.ndarray]:
    """Embed every source in shared batches; return one array per source.

    Progress goes to ``bar`` if given (a run-wide bar, whose total grows by the sources'
    items), else to a bar of its own.
    """
    embeddings: list[np.ndarray | None] = [None] * len(sources)
    if bar is not None:
        add_to_total(bar, sum(s.n_items for s in sources))
        embed_sources(predict, sources, batch_size, embeddings.__setitem__, bar.update)
        return embeddings
    with progress_bar(sum(s.n_items for s in sources), verbose, unit) as own_bar:
        embed_sources(predict, sources, batch_size, embeddings.__setitem__, own_bar.update)
    return embeddings


#: Batch size of the command on an accelerator when none is given (on CPUs: 0.4.2's 32).
ACCELERATOR_BATCH_SIZE = 256


#: The traced inference pass of each model (TensorFlow), filled under its lock.
_COMPILED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_COMPILED_LOCK = threading.Lock()


class _Inference:
    """``model``'s inference pass, one object per model.

    TensorFlow counts the traces of a ``tf.function`` by the code of the Python function
    it wraps: one lambda for every model made each new model's single trace count as a
    retrace of the last, and the fifth model warned of "excessive retracing". An object
    of this class has no code of its own, so each model's function is counted apart.
    """

    def __init__(self, model: Any):
        self.model = model

    def __call__(self, x: Any) -> Any:
        return self.model(x, training=False)


def _compiled(model: Any) -> Callable[[Any], Any]:
    """Wrap ``model``'s inference pass in a ``tf.function`` of one signature for any batch size."""
    import tensorflow as tf

    signature = [tf.TensorSpec((None, *model.input_shape[1:]), tf.float32)]
    return tf.function(_Inference(model), input_signature=signature, autograph=False)


def model_predictor(model: Any, precision: str = "faithful") -> Callable[[np.ndarray], np.ndarray]:
    """Return the model's inference pass as a function of a numpy batch.

    On TensorFlow the pass is traced once per model for any batch size
    (``predict_on_batch`` would trace again for each new batch size, such as the last
    batch of an input). Other Keras backends (JAX, PyTorch) use ``predict_on_batch``.
    ``precision`` ("fast" resolved, and logged) chooses the model: a bfloat16 copy of
    ``model`` made once (:func:`openl3.models.model_for_precision`) for "bfloat16", else
    ``model``; each call runs under it (:func:`openl3.models.precision.matmul_precision`). The
    embeddings are float32 in every precision.
    """
    import keras

    backend = keras.backend.backend()
    if check_precision(precision) == "fast":
        logger.info(describe(precision, backend))
    precision = resolve_precision(precision, backend)
    model = model_for_precision(model, precision)
    if backend != "tensorflow":
        run = model.predict_on_batch
    else:
        run = build_once(_COMPILED, _COMPILED_LOCK, model, lambda: _compiled(model))

    def predict(batch: np.ndarray) -> np.ndarray:
        with matmul_precision(precision, backend):
            return np.asarray(run(np.asarray(batch, dtype=np.float32)), dtype=np.float32)

    return predict

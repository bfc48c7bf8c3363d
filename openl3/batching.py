"""One batch runner for every modality: windows of many inputs, fed to a model in batches.

Inputs are consumed in order; each is read a few windows at a time, so only the current
batch is held in memory, and a batch may span the end of one input and the start of the
next, as in OpenL3 0.4.2. When an input's last window has been embedded, its embedding
is handed to a callback and released.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np


class WindowSource(Protocol):
    """Anything that yields model inputs in order: audio windows, image frames."""

    n_items: int

    def read(self, start: int, count: int) -> np.ndarray:
        """Return items ``start`` to ``start + count`` (called with increasing ``start``)."""


@dataclass
class _Pending:
    source: WindowSource
    output: np.ndarray | None = None
    done: int = 0


def embed_sources(
    predict: Callable[[np.ndarray], np.ndarray],
    sources: Iterable[WindowSource],
    batch_size: int,
    on_done: Callable[[int, np.ndarray], None],
    on_batch: Callable[[int], None] | None = None,
    on_error: Callable[[int, Exception], bool] | None = None,
) -> None:
    """Embed every source, batching items across sources.

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
        Called as ``on_error(index, exc)`` when reading a source raises. If it returns
        True the source is dropped (its items leave the pending batch, the other
        sources' stay) and the run goes on; otherwise the exception propagates.
    """
    pending: dict[int, _Pending] = {}
    parts: list[np.ndarray] = []
    routes: list[tuple[int, int, int]] = []

    def flush() -> None:
        batch = parts[0] if len(parts) == 1 else np.concatenate(parts)
        embedding = np.asarray(predict(batch))
        row = 0
        for index, start, count in routes:
            state = pending[index]
            if state.output is None:
                state.output = np.empty((state.source.n_items, embedding.shape[1]), embedding.dtype)
            state.output[start : start + count] = embedding[row : row + count]
            row, state.done = row + count, state.done + count
            if state.done == state.source.n_items:
                on_done(index, pending.pop(index).output)
        parts.clear()
        routes.clear()
        if on_batch is not None:
            on_batch(len(batch))

    def drop(index: int) -> int:
        """Forget a failed source and its items in the pending batch; return the items left."""
        del pending[index]
        kept = [k for k, route in enumerate(routes) if route[0] != index]
        parts[:] = [parts[k] for k in kept]
        routes[:] = [routes[k] for k in kept]
        return sum(route[2] for route in routes)

    filled = 0
    for index, source in enumerate(sources):
        pending[index] = _Pending(source)
        position = 0
        while position < source.n_items:
            count = min(batch_size - filled, source.n_items - position)
            try:
                items = source.read(position, count)
            except Exception as exc:
                if on_error is None or not on_error(index, exc):
                    raise
                filled = drop(index)
                break
            parts.append(items)
            routes.append((index, position, count))
            position, filled = position + count, filled + count
            if filled == batch_size:
                flush()
                filled = 0
    if filled:
        flush()


def embed_all(
    predict: Callable[[np.ndarray], np.ndarray],
    sources: list,
    batch_size: int,
    verbose: bool,
    unit: str,
    bar: Any = None,
) -> list[np.ndarray]:
    """Embed every source in shared batches; return one array per source.

    Progress goes to ``bar`` if given (a run-wide bar), else to a bar of its own.
    """
    embeddings: list[np.ndarray | None] = [None] * len(sources)
    if bar is not None:
        embed_sources(predict, sources, batch_size, embeddings.__setitem__, bar.update)
        return embeddings
    with progress_bar(sum(s.n_items for s in sources), verbose, unit) as own_bar:
        embed_sources(predict, sources, batch_size, embeddings.__setitem__, own_bar.update)
    return embeddings


def progress_bar(total: int, enabled: bool, unit: str) -> Any:
    """Return a tqdm progress bar on stderr over ``total`` items; silent unless ``enabled``."""
    from tqdm.auto import tqdm

    return tqdm(total=total, disable=not enabled, unit=unit, leave=False, dynamic_ncols=True)


_COMPILED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def model_predictor(model: Any) -> Callable[[np.ndarray], np.ndarray]:
    """Return the model's inference pass as a function of a numpy batch.

    On TensorFlow the pass is traced once per model for any batch size
    (``predict_on_batch`` would trace again for each new batch size, such as the last
    batch of an input). Other Keras backends (JAX, PyTorch), which can run models of the
    librosa frontend, use ``predict_on_batch``.
    """
    import keras

    if keras.backend.backend() != "tensorflow":
        return lambda batch: np.asarray(model.predict_on_batch(np.asarray(batch, dtype=np.float32)))
    if model not in _COMPILED:
        import tensorflow as tf

        signature = [tf.TensorSpec((None, *model.input_shape[1:]), tf.float32)]
        _COMPILED[model] = tf.function(lambda x: model(x, training=False), input_signature=signature)
    compiled = _COMPILED[model]
    return lambda batch: compiled(np.asarray(batch, dtype=np.float32)).numpy()

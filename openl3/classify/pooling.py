"""File-level features: one vector per file from its windows' embeddings.

A file's windows (or an image's one frame) give an ``(n_windows, D)`` array; pooling
makes one feature vector of it: the mean (``D`` values), the mean and the standard
deviation (``2 D``), or the maximum (``D``). Classifiers and maps work on these vectors.
"""

from __future__ import annotations

import numpy as np

from .._util.exceptions import InvalidArgumentError, OpenL3Error
from ..dataset.rows import EmbeddingRows

__all__ = ["POOLINGS", "pool", "pool_rows", "pooled_size"]

#: The ways to pool a file's windows, the first the default.
POOLINGS = ("mean", "mean+std", "max")


def check_pooling(how: str) -> str:
    """Return ``how`` if it is one of :data:`POOLINGS`, else raise an OpenL3Error naming it."""
    if how not in POOLINGS:
        raise InvalidArgumentError(f"Invalid pooling {how!r}: use one of {', '.join(POOLINGS)}.")
    return how


def pooled_size(dimension: int, how: str) -> int:
    """Return the length of a pooled vector of ``dimension``-long embeddings.

    Examples
    --------
    >>> pooled_size(512, "mean"), pooled_size(512, "mean+std")
    (512, 1024)
    """
    return 2 * dimension if check_pooling(how) == "mean+std" else dimension


def pool(embedding: np.ndarray, how: str = "mean") -> np.ndarray:
    """Return one file's feature vector from its ``(n_windows, D)`` embeddings (float32).

    Raises
    ------
    OpenL3Error
        If ``how`` is not one of :data:`POOLINGS`, or ``embedding`` is not a 2-D array with
        at least one window.

    Examples
    --------
    >>> import numpy as np
    >>> pool(np.array([[1.0, 2.0], [3.0, 6.0]]), "mean")
    array([2., 4.], dtype=float32)
    >>> pool(np.array([[1.0, 2.0], [3.0, 6.0]]), "mean+std")
    array([2., 4., 1., 2.], dtype=float32)
    """
    check_pooling(how)
    embedding = np.asarray(embedding)
    if embedding.ndim != 2 or embedding.shape[0] == 0:
        raise OpenL3Error(f"Cannot pool embeddings of shape {embedding.shape}: expected (n_windows >= 1, D).")
    return _pool_segments(embedding.astype(np.float32, copy=False), np.array([0]), how)[0]


def pool_rows(rows: EmbeddingRows, how: str = "mean") -> tuple[list[str], np.ndarray]:
    """Return the inputs of ``rows`` (order of first appearance) and one feature row per input.

    Returns
    -------
    inputs : list of str
        Each input once.
    features : np.ndarray of float32, shape (len(inputs), D or 2 D)
        The pooled embeddings, row ``i`` of ``inputs[i]``.

    Examples
    --------
    >>> inputs, features = pool_rows(DatasetRows("clips.l3").rows(), "max")
    >>> len(inputs) == len(features)
    True
    """
    check_pooling(how)
    inputs = rows.inputs()
    dimension = rows.embeddings.shape[1] if rows.embeddings.ndim == 2 else 0
    if not inputs:
        return [], np.zeros((0, pooled_size(dimension, how)), np.float32)
    codes = {name: i for i, name in enumerate(inputs)}
    owner = np.fromiter((codes[p] for p in rows.paths), np.int64, len(rows.paths))
    order = np.argsort(owner, kind="stable")
    starts = np.searchsorted(owner[order], np.arange(len(inputs)))
    return inputs, _pool_segments(rows.embeddings[order].astype(np.float32, copy=False), starts, how)


def _pool_segments(embeddings: np.ndarray, starts: np.ndarray, how: str) -> np.ndarray:
    """Pool consecutive segments of rows of ``embeddings`` beginning at ``starts`` (sorted)."""
    counts = np.diff(np.append(starts, len(embeddings)))[:, None].astype(np.float64)
    if how == "max":
        return np.maximum.reduceat(embeddings, starts, axis=0)
    wide = embeddings.astype(np.float64)
    mean = np.add.reduceat(wide, starts, axis=0) / counts
    if how == "mean":
        return mean.astype(np.float32)
    square = np.add.reduceat(wide * wide, starts, axis=0) / counts
    std = np.sqrt(np.maximum(square - mean * mean, 0.0))
    return np.hstack([mean, std]).astype(np.float32)

"""Queries of ``openl3 search``: a file, a segment of it, a row of the dataset, a vector; the hits.

A query names an audio file (its windows' embeddings averaged, or those of the segment
``start``-``end`` only: the windows whose timestamps fall in ``[start, end)``), an image
file, a row of the dataset written ``PATH@SECONDS`` (the window of ``PATH`` whose
timestamp is nearest), or a ``.npy`` file of an embedding (or of several, averaged). A
file that is an input of the dataset (the same file, however named:
:meth:`openl3.dataset.rows.DatasetRows.match`) is not embedded again: its rows are read.
Any other file, one of the same name elsewhere included, is embedded with the dataset's
settings (:func:`openl3.embedders.embedder_for`; weights other than the official
ones are taken from the file the dataset records, or ``weights``). When the query comes
from the dataset, its own windows are left out of the hits (the file's other windows stay).
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass

import numpy as np

from .._util.exceptions import InvalidArgumentError, OpenL3Error
from .._util.jobs import EXTENSIONS
from .._util.remote import is_uri
from ..dataset.rows import DatasetRows
from ..embedders import embedder_for
from .index import Index

__all__ = ["Hit", "Query", "make_query", "search"]

_ROW = re.compile(r"^(?P<path>.+)@(?P<seconds>[0-9]*\.?[0-9]+)$")
_AT = re.compile(r"^(?P<path>.+)@(?P<seconds>[^@/\\]*)$")


def query_file(query: str) -> str:
    """Return the file a query names: PATH of ``PATH@SECONDS``, else the query itself.

    Examples
    --------
    >>> query_file("birds/crow.wav@12.5"), query_file("a@b/take@2.wav"), query_file("crow.wav")
    ('birds/crow.wav', 'a@b/take', 'crow.wav')
    """
    at = _AT.match(query)
    return at["path"] if at else query


@dataclass
class Query:
    """One query vector, and the rows of the dataset it came from (left out of the hits).

    Examples
    --------
    >>> query = make_query(dataset, "clips/a.wav@12.5")       # one window of the dataset
    >>> query.vector.shape, query.own
    ((512,), [('clips/a.wav', 25)])
    """

    vector: np.ndarray
    own: list[tuple[str, int]]
    text: str


@dataclass
class Hit:
    """One neighbour: its input, timestamp (NaN for an image) and cosine similarity.

    Examples
    --------
    >>> hits = search(index, make_query(dataset, "query.wav"), k=3)
    >>> hits[0].path, hits[0].timestamp, round(hits[0].similarity, 2)
    ('clips/b.wav', 12.5, 0.91)
    """

    path: str
    timestamp: float
    similarity: float


def query_modality(path: str) -> str | None:
    """Return the modality of a file by its extension ("audio", "image", "video"), or None."""
    extension = os.path.splitext(path)[1].lower().lstrip(".")
    return next((m for m, names in EXTENSIONS.items() if extension in names), None)


def _dataset_input(dataset: DatasetRows, path: str) -> str | None:
    """Return the name of the dataset's input that is file ``path``, or None.

    A name the dataset shows (in its hits, its rows) that names no file here is that input:
    it cannot be another file's.
    """
    found = dataset.match([path])[0]
    if found is None and not is_uri(path) and not os.path.exists(path) and path in dataset.input_keys():
        return path
    return found


def _segment(timestamps: np.ndarray, start: float | None, end: float | None) -> np.ndarray:
    """Return the mask of windows whose timestamps fall in ``[start, end)`` (all when neither given)."""
    low = -np.inf if start is None else start
    high = np.inf if end is None else end
    inside = (timestamps >= low) & (timestamps < high)
    return inside | np.isnan(timestamps) if start is None and end is None else inside


def _embed_file(dataset: DatasetRows, path: str, weights: str | None) -> tuple[np.ndarray, np.ndarray]:
    """Embed file ``path`` with the dataset's settings; return its embeddings and timestamps."""
    embedder = embedder_for(dataset.settings, weights or dataset.weights_file, verbose=False)
    source = embedder.open_file(path)
    [embedding] = embedder.embed_sources([source])
    timestamps = getattr(source, "timestamps", None)
    return embedding, np.full(len(embedding), np.nan) if timestamps is None else np.asarray(timestamps)


def make_query(
    dataset: DatasetRows,
    query: str,
    start: float | None = None,
    end: float | None = None,
    weights: str | None = None,
) -> Query:
    """Return the query vector of ``query`` (a file, or ``PATH@SECONDS``) for ``dataset``.

    ``weights``: the weight file a file query is embedded with, for a dataset made with
    weights other than the official ones (default: the file the dataset records).

    Raises
    ------
    OpenL3Error
        If the query is of another modality than the rows, is no file and no row of the
        dataset, names a time that is no number or is past the file's end, or its segment
        is invalid (``0 <= start < end``) or holds no window.

    Examples
    --------
    >>> dataset = DatasetRows("clips.l3")
    >>> query = make_query(dataset, "query.wav", start=2.0, end=4.0)   # a file's segment, embedded
    """
    finite = all(math.isfinite(t) for t in (start, end) if t is not None)
    if not finite or (start is not None and start < 0) or (end is not None and end <= max(start or 0, 0)):
        raise InvalidArgumentError(f"Invalid segment --start {start} --end {end}: 0 <= start < end.")
    if query.endswith(".npy") and os.path.isfile(query):
        if start is not None or end is not None:
            raise InvalidArgumentError(f"Query {query} is a vector: --start/--end go with a file.")
        return _vector_query(dataset, query)
    row, at = _ROW.match(query), _AT.match(query)
    if row and not os.path.exists(query):
        if start is not None or end is not None:
            raise OpenL3Error(f"Query {query} names one window: --start/--end go with a file.")
        return _row_query(dataset, row["path"], float(row["seconds"]), query)
    if at and not os.path.exists(query) and _dataset_input(dataset, at["path"]) is not None:
        raise OpenL3Error(f"Query {query}: invalid time {at['seconds']!r} (PATH@SECONDS, SECONDS >= 0).")
    modality, known = query_modality(query), _dataset_input(dataset, query)
    if modality == "video" and known is None:
        raise OpenL3Error(f"Query {query} is a video: embed it into the dataset, then query its rows.")
    if modality not in (None, "video", dataset.modality):
        raise OpenL3Error(
            f"Query {query} is a{'n' if modality[0] in 'ai' else ''} {modality} file; "
            f"{dataset.location} holds {dataset.modality} embeddings."
        )
    if known is not None:
        rows = dataset.rows(paths=[known])
        embeddings, timestamps, windows = rows.embeddings, rows.timestamps, rows.index
    elif is_uri(query) or os.path.isfile(query):
        embeddings, timestamps = _embed_file(dataset, query, weights)
        windows = np.arange(len(embeddings))
    else:
        raise OpenL3Error(f"Query {query} is no file, and no input of {dataset.location}.")
    inside = _segment(timestamps, start, end)
    if not inside.any():
        raise OpenL3Error(f"Query {query}: no window has its timestamp in [{start or 0}, {end or 'end'}) s.")
    own = [(known, int(w)) for w in windows[inside]] if known is not None else []
    return Query(embeddings[inside].mean(axis=0), own, query)


def _vector_query(dataset: DatasetRows, path: str) -> Query:
    """Return the query of a ``.npy`` file: an embedding (D,), or embeddings (N, D) averaged."""
    try:
        vectors = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise OpenL3Error(f"Query {path}: not a .npy array of embeddings ({exc}).") from exc
    vectors = np.atleast_2d(np.asarray(vectors))
    dimension = dataset.settings.dimension()
    if vectors.ndim != 2 or vectors.dtype.kind not in "fiu" or (dimension and vectors.shape[1] != dimension):
        raise InvalidArgumentError(
            f"Query {path}: an array of shape {vectors.shape}; {dataset.location} holds embeddings of "
            f"{dimension} values: give one (D,) or several (N, D)."
        )
    if not np.isfinite(vectors).all():
        raise InvalidArgumentError(f"Query {path}: it holds NaN or infinite values.")
    return Query(vectors.astype(np.float32).mean(axis=0), [], path)


def _row_query(dataset: DatasetRows, path: str, seconds: float, text: str) -> Query:
    """Return the query of the window of ``path`` whose timestamp is nearest ``seconds``."""
    known = _dataset_input(dataset, path)
    if known is None:
        raise OpenL3Error(f"Query {text}: {path} is no input of {dataset.location}.")
    rows = dataset.rows(paths=[known])
    timestamps = rows.timestamps[~np.isnan(rows.timestamps)]
    hop = float(dataset.settings.hop_size or 0)
    if len(timestamps) and seconds > timestamps.max() + hop:
        raise OpenL3Error(
            f"Query {text}: {path} ends before {seconds} s (its last window is at {timestamps.max():.3f} s)."
        )
    distance = np.abs(np.nan_to_num(rows.timestamps, nan=0.0) - seconds)
    nearest = int(np.argmin(distance))
    return Query(rows.embeddings[nearest], [(known, int(rows.index[nearest]))], text)


def search(index: Index, query: Query, k: int = 20, per_file: bool = False) -> list[Hit]:
    """Return the ``k`` best hits of ``query`` in ``index``, best first.

    The query's own rows are left out; with ``per_file``, each file's best window only.

    Examples
    --------
    >>> index, stale = open_index(dataset)
    >>> for hit in search(index, make_query(dataset, "query.wav"), k=5, per_file=True):
    ...     print(hit.path, hit.timestamp, hit.similarity)
    """
    if k < 1:
        raise InvalidArgumentError(f"Invalid k {k}: ask for at least one hit.")
    own = set(query.own)
    wanted = k + len(own)
    while True:
        similarities, ids = index.query(query.vector, min(wanted, max(1, len(index))))
        hits, seen = [], set()
        for similarity, i in zip(similarities[0], ids[0], strict=True):
            if i < 0 or (index.paths[i], int(index.index[i])) in own:
                continue
            if per_file and index.paths[i] in seen:
                continue
            seen.add(index.paths[i])
            hits.append(Hit(str(index.paths[i]), float(index.timestamps[i]), float(similarity)))
        if len(hits) >= k or wanted >= len(index):
            return hits[:k]
        wanted *= 4

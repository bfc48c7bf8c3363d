"""A nearest-neighbour index of embeddings by cosine similarity (FAISS), and its two files.

Vectors are L2-normalised, so that the inner product is the cosine similarity. Below
:data:`EXACT_LIMIT` vectors the index is exact (``faiss.IndexFlatIP``: every vector is
compared); at or above it (or when asked), it is approximate: an inverted file of
``4 sqrt(N)`` lists holding float16 vectors (``faiss.IndexIVFScalarQuantizer``, fp16),
of which :data:`NPROBE` lists nearest to the query are searched. Its recall@10 against
exact search is measured when it is built (:attr:`Index.recall`). The choice of FAISS IVF
over HNSW (FAISS, usearch, hnswlib) is measured in ``docs/performance.md``.

An index saved to a folder is two files: ``vectors-<token>.faiss`` (FAISS's own
serialisation) and ``index.parquet`` (each vector's input, window and timestamp; the
index's record in its schema metadata, naming the vectors file by its token and size).
``index.parquet`` is written last, atomically: a reader sees the old index or the new one.
The record carries the SHA-256 of itself and of the rows table, checked when the index is
loaded: a record edited by hand (its settings, the vectors file it names) or a damaged
table is refused, never used; and the vectors file it names must have an index's name.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import re
import secrets
from typing import Any

import numpy as np

from .._util.atomic import remove_stale_temporaries, write_whole
from .._util.console import captured_output
from .._util.exceptions import InvalidArgumentError, OpenL3Error
from .._util.remote import resolve
from ..dataset.rows import DatasetRows, EmbeddingRows

__all__ = ["EXACT_LIMIT", "NPROBE", "Index"]

logger = logging.getLogger("openl3")

#: Below this many vectors, search is exact unless an approximate index is asked for.
EXACT_LIMIT = 100_000
#: Lists of the inverted file searched per query (approximate index).
NPROBE = 32
#: Queries (rows of the index) on which the recall of an approximate index is measured.
RECALL_QUERIES = 200
ROWS_FILE = "index.parquet"
RECORD_KEY = b"openl3.index"
FORMAT = "openl3 index"
#: 2: the record carries its checksum (indexes of version 1, without it, are read as they are).
VERSION = 2
#: The name of a vectors file written by :meth:`Index.save` (older ones are removed).
_VECTORS = re.compile(r"^vectors-[0-9a-f]{16}\.faiss$")


def normalised(vectors: Any, in_place: bool = False) -> np.ndarray:
    """Return ``vectors`` as float32 rows of unit length (zero rows stay zero).

    ``in_place``: a writable float32 array is scaled where it is (no second copy of a large one).
    """
    array = np.atleast_2d(np.asarray(vectors, dtype=np.float32))
    norms = np.linalg.norm(array, axis=1, keepdims=True)
    in_place = in_place and array.flags.writeable
    out = array if in_place else np.zeros_like(array)  # rows of norm 0 are left as they are: zero
    return np.divide(array, norms, out=out, where=norms > 0)


def exact_neighbours(data: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    """Return the ids of the ``k`` rows of ``data`` with the largest inner product, per query."""
    scores = queries @ data.T
    k = min(k, data.shape[0])
    top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(scores, top, 1), axis=1, kind="stable")
    return np.take_along_axis(top, order, 1)


class Index:
    """Nearest neighbours among rows of embeddings, by cosine similarity.

    Build it with :meth:`build` (or create it empty and :meth:`add` rows), ask it with
    :meth:`query`, keep it with :meth:`save` and :meth:`load`.

    Parameters
    ----------
    dim : int
        The dimension of the embeddings.
    approximate : bool
        Exact search (False) or the inverted file (True, trained on the first rows added).

    Attributes
    ----------
    paths, index, timestamps : np.ndarray
        The input, window and timestamp of each vector (id ``i`` is row ``i``).
    recall : float or None
        The recall@10 of an approximate index against exact search, measured at build.
    settings : dict
        The settings of the dataset the rows come from (empty if they do not).
    state : str or None
        The dataset's :meth:`~openl3.dataset.rows.DatasetRows.state` when the index was last updated.
    parts : list of str
        The dataset's parts the index holds the rows of.
    asked : bool or None
        The kind asked for when it was built (``approximate=`` of :meth:`build`; None: chosen
        by size). Updates keep an asked kind at any size.

    Examples
    --------
    >>> index = Index.build(DatasetRows("clips.l3"))
    >>> similarities, ids = index.query(vector, k=5)
    >>> index.paths[ids[0, 0]], float(similarities[0, 0])
    ('clips/b.wav', 0.93)
    """

    def __init__(self, dim: int, approximate: bool = False):
        self.dim, self.approximate = int(dim), bool(approximate)
        self.paths = np.zeros(0, dtype=object)
        self.index = np.zeros(0, np.int32)
        self.timestamps = np.zeros(0, np.float64)
        self.recall: float | None = None
        self.settings: dict[str, Any] = {}
        self.state: str | None = None
        self.parts: list[str] = []
        self.asked: bool | None = None
        self._faiss: Any = None

    def __len__(self) -> int:
        return len(self.paths)

    @property
    def nprobe(self) -> int | None:
        """Lists of the inverted file searched per query (None for an exact index).

        More lists: higher recall, slower queries (see docs/performance.md); set it before
        :meth:`query`. :attr:`recall` was measured with the default, :data:`NPROBE`.
        """
        return int(self._faiss.nprobe) if self.approximate and self._faiss is not None else None

    @nprobe.setter
    def nprobe(self, lists: int) -> None:
        if not self.approximate or self._faiss is None:
            raise OpenL3Error("nprobe applies to an approximate index only.")
        if int(lists) < 1:
            raise InvalidArgumentError(f"Invalid nprobe {lists}: search at least one list.")
        self._faiss.nprobe = min(int(lists), int(self._faiss.nlist))  # every list, at the most

    @property
    def lists(self) -> int | None:
        """Lists of the inverted file (None for an exact index)."""
        return int(self._faiss.nlist) if self.approximate and self._faiss is not None else None

    def __repr__(self) -> str:
        kind = "approximate" if self.approximate else "exact"
        return f"Index({len(self)} vectors of {self.dim}, {kind})"

    @classmethod
    def build(cls, source: DatasetRows | EmbeddingRows, approximate: bool | None = None) -> Index:
        """Return an index of the rows of a dataset (or of rows).

        Parameters
        ----------
        source : DatasetRows or EmbeddingRows
            A dataset (its settings and state are recorded) or rows.
        approximate : bool or None
            None: exact below :data:`EXACT_LIMIT` vectors, approximate at or above it.
        """
        rows = source.rows() if isinstance(source, DatasetRows) else source
        asked = approximate
        if approximate is None:
            approximate = len(rows) >= EXACT_LIMIT
        index = cls(rows.embeddings.shape[1], approximate)
        index.asked = asked
        if isinstance(source, DatasetRows):
            index.settings, index.state, index.parts = (
                source.settings.record(),
                source.state(),
                list(source.parts),
            )
        if len(rows) == 0:
            return index
        vectors = normalised(rows.embeddings, in_place=rows is not source)  # rows read here: ours
        index._add(vectors, rows)
        if approximate and len(rows) > 1:
            index.recall = index.measure_recall(vectors)
            logger.info("approximate index of %d vectors: recall@10 %.3f", len(rows), index.recall)
        return index

    def _new_faiss(self, sample: np.ndarray) -> Any:
        import faiss

        if not self.approximate:
            return faiss.IndexFlatIP(self.dim)
        lists = max(1, min(int(4 * np.sqrt(len(sample))), len(sample) // 39))
        quantizer = faiss.IndexFlatIP(self.dim)
        index = faiss.IndexIVFScalarQuantizer(
            quantizer, self.dim, lists, faiss.ScalarQuantizer.QT_fp16, faiss.METRIC_INNER_PRODUCT
        )
        train = np.random.default_rng(0).permutation(len(sample))[: 50 * lists]
        with captured_output("FAISS"):  # "WARNING clustering 8 points to 1 centroids": few rows, as asked
            index.train(sample[np.sort(train)])
        index.nprobe = min(NPROBE, lists)
        return index

    def add(self, rows: EmbeddingRows) -> None:
        """Add rows (their embeddings, inputs, windows and timestamps) to the index."""
        if len(rows) == 0:
            return
        if rows.embeddings.shape[1] != self.dim:
            raise OpenL3Error(
                f"Cannot add embeddings of dimension {rows.embeddings.shape[1]} to an index of {self.dim}."
            )
        self._add(normalised(rows.embeddings), rows)

    def _add(self, vectors: np.ndarray, rows: EmbeddingRows) -> None:
        """Add the rows whose embeddings, normalised, are ``vectors``."""
        if self._faiss is None:
            self._faiss = self._new_faiss(vectors)
        for start in range(0, len(vectors), 65536):
            self._faiss.add(vectors[start : start + 65536])
        self.paths = np.concatenate([self.paths, np.asarray(rows.paths, dtype=object)])
        self.index = np.concatenate([self.index, np.asarray(rows.index, np.int32)])
        self.timestamps = np.concatenate([self.timestamps, np.asarray(rows.timestamps, np.float64)])

    def query(self, vectors: Any, k: int = 20) -> tuple[np.ndarray, np.ndarray]:
        """Return the ``k`` nearest rows of each query vector, best first.

        Parameters
        ----------
        vectors : array-like, shape (Q, dim) or (dim,)
            Query embeddings (normalised here).
        k : int
            Neighbours per query.

        Returns
        -------
        similarities : np.ndarray of float32, shape (Q, k)
            Cosine similarities (-inf where fewer than ``k`` rows were found).
        ids : np.ndarray of int64, shape (Q, k)
            Row ids of the neighbours (-1 where none); :attr:`paths` ``[id]`` is its input.
        """
        queries = normalised(vectors)
        if queries.shape[1] != self.dim:
            raise OpenL3Error(f"Query of dimension {queries.shape[1]} for an index of dimension {self.dim}.")
        if k < 1:
            raise InvalidArgumentError(f"Invalid k {k}: ask for at least one neighbour.")
        if self._faiss is None:
            return np.full((len(queries), k), -np.inf, np.float32), np.full((len(queries), k), -1, np.int64)
        similarities, ids = self._faiss.search(queries, k)
        similarities[ids < 0] = -np.inf
        return similarities, ids

    def measure_recall(self, vectors: np.ndarray, queries: int = RECALL_QUERIES, k: int = 10) -> float:
        """Return recall@``k`` of this index against exact search over ``vectors`` (its rows).

        The queries are rows of the index; each query's own row is left out of both lists.
        """
        picked = np.random.default_rng(0).choice(len(vectors), min(queries, len(vectors)), replace=False)
        width = min(k + 1, len(vectors))  # fewer rows than k + 1: all of them
        truth = np.zeros((len(picked), width), np.int64)
        for start in range(0, len(picked), 50):
            truth[start : start + 50] = exact_neighbours(vectors, vectors[picked[start : start + 50]], width)
        found = self.query(vectors[picked], width)[1]
        recalls = []
        for own, true, got in zip(picked, truth, found, strict=True):
            wanted = [i for i in true.tolist() if i != own][:k]
            recalls.append(len(set(wanted) & set(got.tolist())) / max(1, len(wanted)))
        return float(np.mean(recalls))

    def record(self) -> dict[str, Any]:
        """Return what the index records of itself (saved in ``index.parquet``)."""
        return {
            "format": FORMAT,
            "version": VERSION,
            "dim": self.dim,
            "approximate": self.approximate,
            "asked": self.asked,
            "count": len(self),
            "recall": self.recall,
            "settings": self.settings,
            "state": self.state,
            "parts": self.parts,
        }

    def save(self, location: str, filesystem: Any = None) -> None:
        """Save the index into folder ``location`` (created if needed): its two files, atomically.

        ``filesystem`` is a pyarrow filesystem holding ``location`` (default: the local one,
        or the URI's).
        """
        import faiss
        import pyarrow as pa
        import pyarrow.parquet as pq

        fs, folder = (filesystem, location) if filesystem is not None else resolve(location)
        fs.create_dir(folder, recursive=True)
        remove_stale_temporaries(folder, filesystem=fs)
        token = secrets.token_hex(8)
        vectors = f"vectors-{token}.faiss"
        data = faiss.serialize_index(self._faiss) if self._faiss is not None else np.zeros(0, np.uint8)
        write_whole(f"{folder}/{vectors}", lambda stream: stream.write(memoryview(data)), fs)
        table = pa.table(
            {
                "path": pa.array(self.paths.tolist(), pa.string()),
                "index": pa.array(self.index, pa.int32()),
                "timestamp": pa.array(self.timestamps, pa.float64()),
            }
        )
        record = {**self.record(), "vectors": vectors, "vectors_size": int(data.nbytes)}
        record["checksum"] = _checksum(record, table.num_rows)
        table = table.replace_schema_metadata({RECORD_KEY: json.dumps(record).encode()})

        def write(stream: Any) -> None:
            pq.write_table(table, stream, write_page_checksum=True)

        write_whole(f"{folder}/{ROWS_FILE}", write, fs)
        for info in fs.get_file_info(_selector(folder)):
            if _VECTORS.match(info.base_name) and info.base_name != vectors:
                fs.delete_file(info.path)

    @classmethod
    def load(cls, location: str, filesystem: Any = None) -> Index:
        """Return the index saved in folder ``location`` by :meth:`save`.

        Raises
        ------
        OpenL3Error
            If the folder holds no index, or one this version cannot read.
        """
        import faiss

        fs, folder = (filesystem, location) if filesystem is not None else resolve(location)
        try:
            table, record, data = _read_saved(fs, folder)
        except FileNotFoundError as exc:
            raise OpenL3Error(f"{location} holds no index (build one with `openl3 index`).") from exc
        except (OSError, ValueError, KeyError) as exc:
            raise OpenL3Error(f"Cannot read the index in {location}: {exc}") from exc
        if record.get("format") != FORMAT or record.get("version", 0) > VERSION:
            raise OpenL3Error(f"{location} holds an index this openl3 cannot read")
        if record.get("version", 0) >= 2 and record.get("checksum") != _checksum(record, table.num_rows):
            raise OpenL3Error(f"Cannot read the index in {location}: its record is not the one saved with it")
        if record.get("vectors_size", len(data)) != len(data):
            raise OpenL3Error(f"Cannot read the index in {location}: its vectors file is not the one named")
        index = cls(record["dim"], record["approximate"])
        index.recall, index.settings = record["recall"], record["settings"]
        index.state, index.parts = record["state"], record["parts"]
        index.asked = record.get("asked")  # absent from indexes of before: chosen by size
        index.paths = np.asarray(table["path"].to_pylist(), dtype=object)
        index.index = table["index"].to_numpy().astype(np.int32)
        index.timestamps = table["timestamp"].to_numpy(zero_copy_only=False).astype(np.float64)
        try:
            index._faiss = faiss.deserialize_index(data) if len(data) else None
        except RuntimeError as exc:  # FAISS's own error for a file it cannot read
            raise OpenL3Error(f"Cannot read the index in {location}: {str(exc).splitlines()[-1]}") from exc
        if index._faiss is not None and index._faiss.ntotal != len(index):
            raise OpenL3Error(f"The index in {location} is incomplete")
        return index


def _read_saved(fs: Any, folder: str, tries: int = 3) -> tuple[Any, dict[str, Any], np.ndarray]:
    """Return the rows table, the record and the vectors' bytes saved in ``folder``.

    A save between reading the rows file and its vectors file replaces the one and removes
    the other: the vectors named are then missing, and both are read again.
    """
    for _ in range(tries - 1):
        with contextlib.suppress(FileNotFoundError):
            return _read_saved_once(fs, folder)
    return _read_saved_once(fs, folder)


def _read_saved_once(fs: Any, folder: str) -> tuple[Any, dict[str, Any], np.ndarray]:
    import pyarrow.parquet as pq

    table = pq.read_table(f"{folder}/{ROWS_FILE}", filesystem=fs, page_checksum_verification=True)
    record = json.loads((table.schema.metadata or {})[RECORD_KEY])
    if not isinstance(record, dict) or not _VECTORS.match(str(record.get("vectors"))):
        raise ValueError(f"its record names no vectors file of an index ({record.get('vectors')!r})")
    with fs.open_input_stream(f"{folder}/{record['vectors']}") as stream:
        return table, record, np.frombuffer(stream.read(), np.uint8)


def _selector(folder: str) -> Any:
    from pyarrow import fs

    return fs.FileSelector(folder, allow_not_found=True)


def _checksum(record: dict[str, Any], rows: int) -> str:
    """Return the SHA-256 of an index's record (its checksum left out) and its number of rows."""
    kept = {k: v for k, v in record.items() if k != "checksum"}
    return hashlib.sha256(json.dumps([kept, rows], sort_keys=True).encode()).hexdigest()

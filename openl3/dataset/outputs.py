"""Embeddings of many inputs as one Parquet dataset: one row per window or frame.

A dataset folder ``OUT`` holds:

- ``part-g<generation>-<sequence>-<writer>.parquet`` files, the rows: ``path`` (the input
  as named), ``modality`` ("audio" or "image"), ``index`` (int32, the window or frame
  within the input), ``timestamp`` (float64 seconds, as in the ``.npz`` outputs; null for
  image files) and ``embedding`` (``fixed_size_list<float32>[D]``, or float16). Each part
  holds whole inputs only, and the settings of the run in its schema metadata (``openl3``).
- ``_failures.parquet``: ``path`` and ``reason`` of the inputs that failed when last
  tried. Dataset discovery skips it (names starting with ``_`` or ``.`` are skipped).
- ``_openl3/``: the manifest (:mod:`openl3.dataset.manifest`) and the locks (:mod:`openl3.dataset.locks`).

A video run writes its audio rows to ``OUT/audio`` and its image rows to ``OUT/image``,
two datasets of this layout (their embedding sizes differ).

The dataset owns only its files: a file is a part when its name is a part name and its
schema carries our settings. Anything else in ``OUT`` is the user's; it is never read,
rewritten or removed (a Parquet file of the user's is named in a warning, since readers of
the whole folder would read it too).

The settings that made the rows are the dataset's own record (:mod:`openl3.dataset.manifest`),
checked by every run under the dataset lock and recorded by the first: a run with other
settings is refused, naming each difference (:mod:`openl3.models.settings`), even when two
runs with disjoint inputs start together on a new folder.

A part is written under a temporary name and renamed into place, so it appears whole or
not at all. An input is complete when its rows are in a part; a rerun skips complete
inputs. Inputs are the files their paths name (:mod:`openl3._util.identity`): a rerun that
names a file otherwise (relative from elsewhere, through a link) finds it complete, and an
input named like another file of the dataset is refused, never given that file's rows. If
an input's rows are in two parts (a rerun with ``overwrite`` stopped between committing the
new rows and removing the old ones), the rows of the newest generation are kept and the
older ones are removed, rewriting the older part in place (again atomically, under the dataset
lock, since another writer may share that part).

The folder may be a local path or a URI of a filesystem pyarrow has (``s3://``,
``gs://``, ...). On object stores a rename is a copy, so a part may appear while it is
being copied, and there is no exclusive creation; there, run one writer per folder (no
shards) and do not read while it runs.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from typing import Any

from .._util.atomic import is_local
from .._util.exceptions import CommitError, OpenL3Error
from .._util.identity import NamedFrom, file_identity
from .._util.jobs import Arrays, FileJob, Report, prepare_output_dir
from .._util.shard import Shard, check_shard
from .._util.validation import check_bool, check_choice, check_positive_real
from ..models.settings import EmbeddingSettings
from ..version import version
from .failures import FailureTable
from .locks import LockFolder, WriterLock, input_keys
from .manifest import OWN_FOLDER, Manifest, PartNamer
from .parts import (
    COMMIT_INTERVAL_S,
    DEFAULT_PART_SIZE_MB,
    DTYPES,
    SETTINGS_KEY,
    PartFolder,
    part_metadata,
    rows_table,
)

__all__ = ["ParquetOutputs", "folder_record", "recorded_settings"]

logger = logging.getLogger("openl3")


def folder_record(settings: EmbeddingSettings, dtype: str, weights_path: str | None = None) -> dict[str, Any]:
    """Return what the manifest records of a folder of rows: settings, storage type, weight file."""
    record: dict[str, Any] = {"settings": settings.record(), "dtype": dtype}
    if weights_path is not None and not settings.official:
        record["weights_file"] = file_identity(weights_path)
    return record


def recorded_settings(
    manifest: Manifest, folder: PartFolder, key: str, writing: bool = False
) -> dict[str, Any] | None:
    """Return the record of the rows in ``folder`` (``key`` in ``manifest``); None if it has none.

    A folder without rows has none, unless ``writing``: another run is writing it (it
    recorded its settings when it started). Datasets written before the manifest recorded
    settings give the record of their newest part (completed by
    :meth:`~openl3.models.settings.EmbeddingSettings.from_record`).
    """
    if not folder.parts():
        return manifest.folder_record(key) if writing else None
    record = manifest.folder_record(key)
    if record is None:
        legacy = folder.settings() or {}
        record = {"settings": legacy, "dtype": legacy.get("dtype", "float32")}
    return record


class ParquetOutputs:
    """The output layout of a run into a Parquet dataset (see the module's description).

    Parameters
    ----------
    root : str
        The dataset folder (local path or URI).
    row_settings : dict
        The settings of each output's rows (:meth:`openl3.models.computation.Embedder.row_settings`):
        ``{None: settings}`` for audio or image files, ``{"audio": ..., "image": ...}``
        for videos (one sub-dataset each).
    dtype : "float32" or "float16"
        Type of the stored embedding values.
    part_size_mb : float, optional
        Rows are committed as a part when this many MB are buffered (default 128),
        every :data:`COMMIT_INTERVAL_S` seconds, and when the run ends.
    shard : (int, int), optional
        The shard this run writes (for the message of a run it meets; the inputs are
        selected by the caller). Shards need a local or network filesystem.
    break_lock : bool
        Remove the locks of other writers that cover this run's inputs (writers the user
        knows are dead).
    weights_paths : dict, optional
        The weight file of the user's each output's rows are made with, by modality as
        ``row_settings`` (recorded beside the settings, so that readers find it to embed
        queries; None: the official one).
    """

    skip_message = "%s are there, skipping."
    clash_hint = " (the same input twice)"

    def __init__(
        self,
        root: str,
        row_settings: dict[str | None, EmbeddingSettings],
        *,
        dtype: str = "float32",
        part_size_mb: float | None = None,
        shard: Shard | None = None,
        break_lock: bool = False,
        weights_paths: dict[str | None, str | None] | None = None,
    ):
        self.dtype = check_choice(dtype, "dtype", DTYPES)
        part_size_mb = DEFAULT_PART_SIZE_MB if part_size_mb is None else part_size_mb
        self.part_bytes = int(check_positive_real(part_size_mb, "part_size_mb") * 1e6)
        self.shard, self.break_lock = check_shard(shard), check_bool(break_lock, "break_lock")
        self.root, self.weights_paths = root, dict(weights_paths or {})
        self.settings = dict(row_settings)
        top = PartFolder(root)
        self.folders = {m: top if m is None else top.child(m) for m in self.settings}
        if self.shard is not None and not is_local(top.fs):
            raise OpenL3Error(
                f"{root}: shards share a dataset through file locks, which object stores do not have. "
                "Write each shard to a dataset folder of its own, or use a local or network filesystem."
            )
        self.top = top
        self.manifest = Manifest(top.fs, top.base, root)
        self.locks = LockFolder(top.fs, top.path_of(OWN_FOLDER), root)
        self.failures = FailureTable(top)
        self.metadata: dict[str | None, dict[bytes, bytes]] = {}
        self.named = NamedFrom("")
        self.complete: dict[str | None, set[str]] = {m: set() for m in self.settings}
        self.held: dict[str | None, dict[str, str]] = {m: {} for m in self.settings}
        self.writer: WriterLock | None = None
        self.namer = PartNamer(0)
        self._buffer: dict[str | None, list] = {m: [] for m in self.folders}
        self._pending: list[str] = []
        self._buffered = 0
        self._committed = time.monotonic()
        self._replaced = self._reindex = False
        self._named: dict[str, tuple[str | None, str, str]] = {}

    def begin(self, paths: Sequence[str]) -> None:
        """Start writing: check what is there, lock the inputs ``paths``, take a generation.

        Refuses, before any model work and before writing anything: a folder that cannot
        be written, a damaged or foreign dataset file, rows made with other settings
        (checked under the dataset lock, and recorded when the dataset has none), and a live
        writer of any of these inputs.
        """
        if is_local(self.top.fs):
            prepare_output_dir(self.top.base)
        self.failures.read()
        self.named = NamedFrom.here(paths)
        self.metadata = {
            m: part_metadata({**s.record(), "dtype": self.dtype, "openl3": version}, self.named)
            for m, s in self.settings.items()
        }
        try:
            with self.locks.exclusive():
                self.writer = self.locks.claim(input_keys(paths), self.shard, self.break_lock)
                others = [name for name, _ in self.locks.records() if name != self.writer.name]
                records = self._check_settings(writing=bool(others))
                newest = max((folder.newest_generation() for folder in self.folders.values()), default=0)
                self.namer = PartNamer(self.manifest.next_generation(newest, records))
            self._open_folders()
        except BaseException as exc:
            self.release()
            if isinstance(exc, OSError):
                raise OpenL3Error(f"Cannot write to the dataset folder {self.root}: {exc}") from exc
            raise

    def _check_settings(self, writing: bool) -> dict[str, dict[str, Any]]:
        """Refuse rows made with other settings than this run's; return the records to write.

        ``writing``: whether other live runs write the dataset (their settings hold even
        before their first rows). A folder without rows (nor writers) gets this run's
        record; one written before records its completed settings. Call it under the
        dataset lock, with this run's writer lock taken.
        """
        records = {}
        for modality, folder in self.folders.items():
            key = modality or ""
            found = recorded_settings(self.manifest, folder, key, writing)
            if found is None:
                records[key] = folder_record(
                    self.settings[modality], self.dtype, self.weights_paths.get(modality)
                )
                continue
            settings = EmbeddingSettings.from_record(found["settings"], f"The dataset {folder.location}")
            settings.check_same(
                self.settings[modality],
                f"{folder.location} holds embeddings made with other settings",
                "Write to another folder, or remove it.",
            )
            if found.get("dtype", "float32") != self.dtype:
                stored = found.get("dtype")
                raise OpenL3Error(
                    f"{folder.location} stores its embeddings as dtype={stored!r} (now {self.dtype!r}): "
                    f"write with --dtype {stored} (dtype=...), or to another folder."
                )
            if self.manifest.folder_record(key) is None:
                records[key] = {**found, "settings": settings.record()}
        return records

    def _open_folders(self) -> None:
        """Note the complete inputs of each folder; repair rows left twice (under the lock)."""
        for modality, folder in self.folders.items():
            folder.clean()
            index = folder.index()
            if any(len(holders) > 1 for holders in index.values()):  # a run stopped after replacing rows
                with self.locks.exclusive():
                    folder.drop_older_rows()
                index = folder.index()
            self._take_index(modality, index)
            foreign = folder.foreign_parquet()
            if foreign:
                logger.warning(
                    "%s holds Parquet files openl3 did not write (%s); they are left as they are. "
                    "Readers of the whole folder read them too: read part-*.parquet.",
                    folder.location,
                    ", ".join(foreign),
                )

    def _take_index(self, modality: str | None, index: dict[str, list[tuple[str, str]]]) -> None:
        self.complete[modality] = set(index)
        self.held[modality] = {name: key for key, holders in index.items() for _, name in holders}

    def names(self, path: str, output_dir: str | None) -> dict[str | None, str]:
        """Return the name of each output of input ``path``: its rows in a folder."""
        names = {}
        identity = file_identity(path)
        for modality, folder in self.folders.items():
            name = f"the rows of {path} in {folder.location}"
            self._named[name] = (modality, path, f"the rows of {identity} in {folder.location}")
            names[modality] = name
        return names

    def key(self, name: str) -> str:
        """Return the form of output ``name`` by which two names of one output compare equal."""
        return self._named[name][2]

    def exists(self, name: str) -> bool:
        """Whether the rows ``name`` are in the dataset (the file's, under any name of it)."""
        modality, path, _ = self._named[name]
        return _input_key(path) in self.complete[modality]

    def conflict(self, path: str) -> OpenL3Error | None:
        """Return the error for input ``path`` if the dataset holds another file's rows under its name."""
        identity = file_identity(path)
        for modality, folder in self.folders.items():
            held = self.held[modality].get(path)
            if held is not None and held != identity:
                return OpenL3Error(
                    f"{path}: {folder.location} holds the rows of another file of that name ({held}), "
                    f"and this one is {identity}; nothing is written for it. Name it by another path "
                    "(an absolute one), or write to another dataset."
                )
        return None

    def save(self, job: FileJob, arrays: Arrays) -> list[str]:
        """Buffer the rows of ``job``; commit when enough are buffered; return the inputs committed."""
        for modality in job.outputs:
            table = rows_table(job.path, arrays[modality], self.dtype, self.metadata[modality])
            self._buffer[modality].append(table)
            self._buffered += table.nbytes
            self._replaced = self._replaced or self.exists(self.names(job.path, None)[modality])
        self._pending.append(job.path)
        if self._buffered >= self.part_bytes or time.monotonic() - self._committed >= COMMIT_INTERVAL_S:
            return self.flush()
        return []

    def flush(self) -> list[str]:
        """Commit the buffered rows, one part per folder; return the inputs committed.

        All or nothing: if a part cannot be written, the parts of this commit already in
        place are removed and :class:`~openl3._util.exceptions.CommitError` names every
        input of the commit.
        """
        pending, buffers = self._pending, {m: t for m, t in self._buffer.items() if t}
        self._pending, self._buffer = [], {m: [] for m in self.folders}
        self._buffered, self._committed = 0, time.monotonic()
        if not pending:
            return []
        if self.writer is not None:
            try:
                self.writer.check()
            except OpenL3Error as exc:
                raise CommitError(pending, exc, fatal=True) from exc
        staged: list[tuple[PartFolder, str, str]] = []
        placed: list[tuple[PartFolder, str]] = []
        try:
            for modality, tables in buffers.items():
                folder, name = self.folders[modality], self.namer.next()
                staged.append((folder, folder.write_temporary(self._part(modality, tables), name), name))
            for folder, temporary, name in staged:
                placed.append((folder, folder.move_into_place(temporary, name)))
        except OpenL3Error as exc:
            for folder, temporary, _ in staged:
                folder.delete(temporary)
            for folder, final in placed:
                folder.delete(final)
            raise CommitError(pending, exc) from exc
        for modality, tables in buffers.items():
            for table in tables:
                path = table["path"][0].as_py()
                self.complete[modality].add(_input_key(path))
                self.held[modality][path] = _input_key(path)
        return pending

    def _part(self, modality: str | None, tables: list) -> Any:
        """Return the table of a part: its rows, and in its metadata the links of its inputs only."""
        import pyarrow as pa

        table = pa.concat_tables(tables)
        named = self.named.only(table["path"].unique().to_pylist())
        record = json.loads(self.metadata[modality][SETTINGS_KEY])
        return table.replace_schema_metadata(part_metadata(record, named))

    def committed_elsewhere(self, replaced: bool) -> None:
        """Take note that another writer of this run (a Ray job) committed parts.

        ``replaced``: whether those parts may replace rows already in the dataset. The
        folders are indexed again when the run closes, under the dataset lock.
        """
        self._reindex = True
        self._replaced = self._replaced or replaced

    def close(self, report: Report, attempted: Sequence[str]) -> None:
        """Drop replaced rows, write the failures table and release the lock (after :meth:`flush`)."""
        try:
            if self.writer is None or self.writer.lost:
                return
            with self.locks.exclusive():
                for modality, folder in self.folders.items():
                    if self._replaced:
                        folder.drop_older_rows()
                    if self._reindex or self._replaced:
                        self._take_index(modality, folder.index())
                complete = set.intersection(*(set(held) for held in self.held.values()))
                self.failures.update(report.failed, set(attempted) | complete)
        finally:
            self.release()

    def release(self) -> None:
        """Release this run's writer lock (nothing else is written after it)."""
        if self.writer is not None:
            self.writer.release()
            self.writer = None


def _input_key(path: str) -> str:
    return file_identity(path)

"""Embeddings of many inputs as one Parquet dataset: one row per window or frame.

A dataset folder ``OUT`` holds:

- ``part-<stamp>-<writer>.parquet`` files, the rows: ``path`` (the input as named),
  ``modality`` ("audio" or "image"), ``index`` (int32, the window or frame within the
  input), ``timestamp`` (float64 seconds, as in the ``.npz`` outputs; null for image
  files) and ``embedding`` (``fixed_size_list<float32>[D]``, or float16). Each part holds
  whole inputs only, and the settings of the run in its schema metadata (``openl3``).
- ``_failures.parquet``: ``path`` and ``reason`` of the inputs that failed when last
  tried. Dataset discovery skips it (names starting with ``_`` or ``.`` are skipped).

A video run writes its audio rows to ``OUT/audio`` and its image rows to ``OUT/image``,
two datasets of this layout (their embedding sizes differ).

A part is written under a temporary name and renamed into place, so it appears whole or
not at all. An input is complete when its rows are in a part; a rerun skips complete
inputs. If an input's rows are in two parts (a rerun with ``overwrite``, or one killed
between a video's two commits), the newest part's rows are kept and the older ones are
removed, rewriting the older part in place (again atomically).

The folder may be a local path or a URI of a filesystem pyarrow has (``s3://``,
``gs://``, ...). On object stores a rename is a copy, so a part may appear while it is
being copied; there, run one writer per folder and do not read while it runs.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from .atomic import HOST, remove_stale_temporaries, sync_file, temporary_name
from .exceptions import OpenL3Error
from .files import Arrays, FileJob, Report, path_key
from .remote import resolve
from .validation import check_choice
from .version import version

logger = logging.getLogger("openl3")

DTYPES = ("float32", "float16")
#: Default size of a part file: tens to hundreds of MB suit analytics engines.
DEFAULT_PART_SIZE_MB = 128.0
#: Target size of a row group inside a part.
ROW_GROUP_BYTES = 64 << 20
#: Buffered rows are also committed after this many seconds, so a killed run loses little.
COMMIT_INTERVAL_S = 600.0
FAILURES_NAME = "_failures.parquet"
SETTINGS_KEY = b"openl3"
COMPRESSION = "zstd"


def is_local(filesystem: Any) -> bool:
    """Whether ``filesystem`` is the local one (renames are atomic, temporaries can be cleaned)."""
    from pyarrow import fs

    return isinstance(filesystem, fs.LocalFileSystem)


def is_part_name(name: str) -> bool:
    """Whether a file named ``name`` holds rows (what dataset discovery reads)."""
    return name.endswith(".parquet") and not name.startswith(("_", "."))


def part_name(writer: str) -> str:
    """Return a fresh part name; names sort in the order they were made."""
    return f"part-{time.time_ns():016x}-{writer}.parquet"


def row_schema(dim: int, dtype: str, settings: dict[str, Any]) -> Any:
    """Return the Arrow schema of the rows, the run's settings in its metadata."""
    import pyarrow as pa

    value_type = pa.float16() if dtype == "float16" else pa.float32()
    schema = pa.schema(
        [
            pa.field("path", pa.string(), nullable=False),
            pa.field("modality", pa.string(), nullable=False),
            pa.field("index", pa.int32(), nullable=False),
            pa.field("timestamp", pa.float64()),
            pa.field("embedding", pa.list_(pa.field("element", value_type), dim), nullable=False),
        ]
    )
    return schema.with_metadata({SETTINGS_KEY: json.dumps(settings, sort_keys=True)})


def rows_table(path: str, arrays: dict[str, np.ndarray], dtype: str, settings: dict[str, Any]) -> Any:
    """Return the rows of one input's embedding (and timestamps, if any) as an Arrow table."""
    import pyarrow as pa

    embedding = np.ascontiguousarray(arrays["embedding"], dtype=dtype)
    n_rows, dim = embedding.shape
    timestamps = arrays.get("timestamps")
    columns = [
        pa.repeat(path, n_rows),
        pa.repeat(settings["modality"], n_rows),
        pa.array(np.arange(n_rows, dtype=np.int32)),
        pa.nulls(n_rows, pa.float64()) if timestamps is None else pa.array(timestamps, pa.float64()),
        pa.FixedSizeListArray.from_arrays(pa.array(embedding.reshape(-1)), dim),
    ]
    return pa.Table.from_arrays(columns, schema=row_schema(dim, dtype, settings))


def recorded_settings(settings: dict[str, Any], dtype: str) -> dict[str, Any]:
    """Return what a dataset records of a run's settings (its rows' dtype included)."""
    return {**settings, "dtype": dtype, "openl3": version}


def _differences(found: dict[str, Any], wanted: dict[str, Any]) -> list[str]:
    keys = sorted((set(found) | set(wanted)) - {"openl3"})
    return [f"{k}={found.get(k)!r} (now {wanted.get(k)!r})" for k in keys if found.get(k) != wanted.get(k)]


class PartFolder:
    """One folder of part files: which inputs it holds, committing and rewriting parts.

    Parameters
    ----------
    location : str
        Local path or URI of the folder (created on the first commit).
    """

    def __init__(self, location: str, filesystem: Any = None):
        self.location = location
        self.fs, self.base = resolve(location) if filesystem is None else (filesystem, location)
        self.writer = f"{HOST}-{os.getpid()}"

    def child(self, name: str) -> PartFolder:
        """Return the folder ``name`` inside this one."""
        return PartFolder(self.path_of(name), self.fs)

    def remove(self) -> None:
        """Remove the folder and everything in it, if it exists."""
        from pyarrow import fs

        if self.fs.get_file_info(self.base).type == fs.FileType.Directory:
            self.fs.delete_dir(self.base)

    def path_of(self, name: str) -> str:
        """Return the path of file ``name`` of the folder, in its filesystem."""
        return f"{self.base.rstrip('/')}/{name}"

    def names(self) -> list[str]:
        """Return the folder's file names (none if it does not exist)."""
        from pyarrow import fs

        try:
            infos = self.fs.get_file_info(fs.FileSelector(self.base, allow_not_found=True))
        except OSError as exc:
            raise OpenL3Error(f"Cannot list {self.location}: {exc}") from exc
        return sorted(info.base_name for info in infos if info.type == fs.FileType.File)

    def parts(self) -> list[str]:
        """Return the part names, oldest first."""
        return [name for name in self.names() if is_part_name(name)]

    def clean(self) -> None:
        """Remove the temporaries of writers that are gone (local folders only)."""
        if is_local(self.fs) and os.path.isdir(self.base):
            remove_stale_temporaries(self.base)

    def index(self) -> dict[str, list[str]]:
        """Return, for each input path in the folder, the parts holding its rows (oldest first)."""
        import pyarrow.compute as pc
        import pyarrow.parquet as pq

        holders: dict[str, list[str]] = {}
        for name in self.parts():
            try:
                paths = pq.read_table(self.path_of(name), columns=["path"], filesystem=self.fs)["path"]
            except (OSError, ValueError, KeyError) as exc:
                raise OpenL3Error(f"Cannot read part {self.path_of(name)} of {self.location}: {exc}") from exc
            for path in pc.unique(paths).to_pylist():
                holders.setdefault(path, []).append(name)
        return holders

    def settings(self) -> dict[str, Any] | None:
        """Return the settings recorded in the newest part, or None if there is no part."""
        import pyarrow.parquet as pq

        parts = self.parts()
        if not parts:
            return None
        metadata = pq.read_schema(self.path_of(parts[-1]), filesystem=self.fs).metadata or {}
        return json.loads(metadata[SETTINGS_KEY]) if SETTINGS_KEY in metadata else {}

    def check_settings(self, wanted: dict[str, Any]) -> None:
        """Refuse to add rows made with other settings than the folder's rows."""
        found = self.settings()
        if found is None:
            return
        differences = _differences(found, wanted)
        if differences:
            raise OpenL3Error(
                f"{self.location} holds embeddings made with other settings: {', '.join(differences)}. "
                "Write to another folder, or remove it."
            )

    def write(self, table: Any, name: str) -> str:
        """Write ``table`` as part ``name``, atomically (replacing a part of that name); return its path."""
        import pyarrow.parquet as pq

        final = self.path_of(name)
        temporary = temporary_name(final)
        row_bytes = max(1, table.nbytes // max(1, table.num_rows))
        try:
            self.fs.create_dir(self.base, recursive=True)
            pq.write_table(
                table,
                temporary,
                filesystem=self.fs,
                compression=COMPRESSION,
                row_group_size=max(1, ROW_GROUP_BYTES // row_bytes),
            )
            if is_local(self.fs):
                sync_file(temporary)
            self.fs.move(temporary, final)
        except BaseException as exc:
            self._delete(temporary)
            if isinstance(exc, OSError):
                raise OpenL3Error(f"Cannot write {final}: {exc}") from exc
            raise
        return final

    def commit(self, tables: Sequence[Any]) -> str:
        """Write the rows of ``tables`` as a new part; return its path."""
        import pyarrow as pa

        return self.write(pa.concat_tables(tables), part_name(self.writer))

    def _delete(self, path: str) -> None:
        with contextlib.suppress(OSError):
            self.fs.delete_file(path)

    def drop_older_rows(self, index: dict[str, list[str]] | None = None) -> int:
        """Keep each input's rows in its newest part only; return how many parts were rewritten.

        ``index`` is the folder's :meth:`index` when the caller has just read it.
        """
        import pyarrow as pa
        import pyarrow.compute as pc
        import pyarrow.parquet as pq

        stale: dict[str, list[str]] = {}
        for path, parts in (self.index() if index is None else index).items():
            for name in parts[:-1]:
                stale.setdefault(name, []).append(path)
        for name, paths in stale.items():
            table = pq.read_table(self.path_of(name), filesystem=self.fs)
            kept = table.filter(pc.invert(pc.is_in(table["path"], pa.array(paths))))
            if kept.num_rows:
                self.write(kept, name)
            else:
                self._delete(self.path_of(name))
            logger.info("%s: removed older rows of %d inputs from %s.", self.location, len(paths), name)
        return len(stale)


class ParquetOutputs:
    """The output layout of a run into a Parquet dataset (see the module's description).

    Parameters
    ----------
    root : str
        The dataset folder (local path or URI).
    row_settings : dict
        The settings of each output's rows (:meth:`openl3.batching.Embedder.row_settings`):
        ``{None: settings}`` for audio or image files, ``{"audio": ..., "image": ...}``
        for videos (one sub-dataset each).
    dtype : "float32" or "float16"
        Type of the stored embedding values.
    part_size_mb : float, optional
        Rows are committed as a part when this many MB are buffered (default 128),
        every :data:`COMMIT_INTERVAL_S` seconds, and when the run ends.
    """

    skip_message = "%s are there, skipping."
    clash_hint = " (the same input twice)"

    def __init__(
        self,
        root: str,
        row_settings: dict[str | None, dict[str, Any]],
        dtype: str = "float32",
        part_size_mb: float | None = None,
    ):
        self.dtype = check_choice(dtype, "dtype", DTYPES)
        part_size_mb = DEFAULT_PART_SIZE_MB if part_size_mb is None else part_size_mb
        if not isinstance(part_size_mb, int | float) or not part_size_mb > 0:
            raise OpenL3Error(f"Invalid part_size_mb {part_size_mb!r}: expected a positive number.")
        self.part_bytes = int(part_size_mb * 1e6)
        self.root = root
        self.settings = {m: recorded_settings(s, self.dtype) for m, s in row_settings.items()}
        self.folders = {
            m: PartFolder(root if m is None else f"{root.rstrip('/')}/{m}") for m in self.settings
        }
        self.complete: dict[str | None, set[str]] = {}
        for modality, folder in self.folders.items():
            folder.clean()
            folder.check_settings(self.settings[modality])
            index = folder.index()
            if folder.drop_older_rows(index):  # a run stopped after committing replacements
                index = folder.index()
            self.complete[modality] = set(index)
        self.failures = FailureTable(root)
        self._buffer: dict[str | None, list] = {m: [] for m in self.folders}
        self._buffered = 0
        self._committed = time.monotonic()
        self._replaced = False
        self._named: dict[str, tuple[str | None, str, str]] = {}

    def names(self, path: str, output_dir: str | None) -> dict[str | None, str]:
        """Return the name of each output of input ``path``: its rows in a folder."""
        names = {}
        for modality, folder in self.folders.items():
            name = f"the rows of {path} in {folder.location}"
            self._named[name] = (modality, path, f"the rows of {path_key(path)} in {folder.location}")
            names[modality] = name
        return names

    def key(self, name: str) -> str:
        """Return the form of output ``name`` by which two names of one output compare equal."""
        return self._named[name][2]

    def exists(self, name: str) -> bool:
        """Whether the rows ``name`` are in the dataset."""
        modality, path, _ = self._named[name]
        return path in self.complete[modality]

    def save(self, job: FileJob, arrays: Arrays) -> None:
        """Buffer the rows of ``job``; commit parts when enough are buffered."""
        for modality in job.outputs:
            table = rows_table(job.path, arrays[modality], self.dtype, self.settings[modality])
            self._buffer[modality].append(table)
            self._buffered += table.nbytes
            self._replaced = self._replaced or job.path in self.complete[modality]
        if self._buffered >= self.part_bytes or time.monotonic() - self._committed >= COMMIT_INTERVAL_S:
            self.flush()

    def flush(self) -> None:
        """Commit the buffered rows: one part per folder."""
        for modality, tables in self._buffer.items():
            if tables:
                self.folders[modality].commit(tables)
                self.complete[modality].update(t["path"][0].as_py() for t in tables)
            self._buffer[modality] = []
        self._buffered, self._committed = 0, time.monotonic()

    def committed_elsewhere(self, replaced: bool) -> set[str]:
        """Take note of parts another writer (a Ray job) committed; return the complete inputs.

        ``replaced``: whether those parts may replace rows already in the dataset.
        """
        for modality, folder in self.folders.items():
            self.complete[modality] = set(folder.index())
        self._replaced = self._replaced or replaced
        return set.intersection(*self.complete.values())

    def close(self, report: Report, attempted: Sequence[str]) -> None:
        """Commit what is buffered, drop replaced rows and write the failures table."""
        self.flush()
        if self._replaced:
            for folder in self.folders.values():
                folder.drop_older_rows()
        complete = set.intersection(*self.complete.values())
        self.failures.update(report.failed, set(attempted) | complete)


class FailureTable:
    """The ``_failures.parquet`` table of a dataset: inputs that failed when last tried."""

    def __init__(self, root: str):
        self.folder = PartFolder(root)

    def read(self) -> dict[str, str]:
        """Return the recorded failures, path to reason."""
        import pyarrow.parquet as pq

        if FAILURES_NAME not in self.folder.names():
            return {}
        table = pq.read_table(self.folder.path_of(FAILURES_NAME), filesystem=self.folder.fs)
        return dict(zip(table["path"].to_pylist(), table["reason"].to_pylist(), strict=True))

    def update(self, failed: Sequence[tuple[str, str]], tried: set[str]) -> None:
        """Replace the failures of the inputs ``tried`` (or now complete) by the new ``failed``."""
        import pyarrow as pa

        old = self.read()
        failures = {p: r for p, r in old.items() if p not in tried}
        failures.update(dict(failed))
        if not failures and not old:
            return
        paths, reasons = list(failures), list(failures.values())
        table = pa.table({"path": pa.array(paths, pa.string()), "reason": pa.array(reasons, pa.string())})
        self.folder.write(table, FAILURES_NAME)

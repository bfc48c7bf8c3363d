"""The part files of a dataset folder: their rows, which are ours, writing and rewriting them.

See :mod:`openl3.dataset` for the layout. A file is one of our parts when its name is a
part name (:func:`openl3.dataset.manifest.part_order`) and its schema metadata holds our settings
(``openl3``); every other file of the folder is left alone.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from typing import Any

import numpy as np

from .._util.atomic import remove_stale_temporaries, sync_file, temporary_name
from .._util.exceptions import OpenL3Error
from .._util.remote import resolve
from ..version import version
from .manifest import part_order

logger = logging.getLogger("openl3")

DTYPES = ("float32", "float16")
#: Default size of a part file: tens to hundreds of MB suit analytics engines.
DEFAULT_PART_SIZE_MB = 128.0
#: Target size of a row group inside a part (before compression). Readers of a few inputs
#: (a search of one row, a classifier's files) read only the row groups holding them: at
#: 8 MB, one row's lookup in a 200,000-row dataset takes 0.13 s, against 1.1 s at 64 MB
#: (``scripts/bench_index.py``), and reading everything is no slower.
ROW_GROUP_BYTES = 8 << 20
#: Buffered rows are also committed after this many seconds, so a killed run loses little.
COMMIT_INTERVAL_S = 600.0
FAILURES_NAME = "_failures.parquet"
SETTINGS_KEY = b"openl3"
COMPRESSION = "zstd"


def is_local(filesystem: Any) -> bool:
    """Whether ``filesystem`` is the local one (renames are atomic, temporaries can be cleaned)."""
    from pyarrow import fs

    return isinstance(filesystem, fs.LocalFileSystem)


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


REMOVE_PART = "Remove it: the next run embeds its inputs again."


def unreadable(path: str, exc: BaseException, remedy: str) -> OpenL3Error:
    """Return the error for a file of ours that cannot be read: what, why, and what to do.

    ``remedy`` (what to do with a damaged file) is not given for a file the user may not
    read: that file is whole.
    """
    if isinstance(exc, PermissionError):
        return OpenL3Error(f"Cannot read {path}: permission denied. Give this user read access to it.")
    return OpenL3Error(f"{path} is damaged and cannot be read ({exc}). {remedy}")


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
        self._settings: dict[str, dict[str, Any] | None] = {}

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

    def _settings_of(self, name: str) -> dict[str, Any] | None:
        """Return the settings in part ``name``'s schema; None if it has none (not ours)."""
        import pyarrow.parquet as pq

        if name not in self._settings:
            try:
                metadata = pq.read_schema(self.path_of(name), filesystem=self.fs).metadata or {}
                settings = json.loads(metadata[SETTINGS_KEY]) if SETTINGS_KEY in metadata else None
            except FileNotFoundError:  # removed by another writer since the folder was listed
                return None
            except (OSError, ValueError) as exc:
                raise unreadable(self.path_of(name), exc, REMOVE_PART) from exc
            self._settings[name] = settings if isinstance(settings, dict) else None
        return self._settings[name]

    def parts(self, names: list[str] | None = None) -> list[str]:
        """Return the names of our parts, oldest first (part names whose schema has our settings).

        ``names`` is the folder's listing when the caller has just made it.
        """
        names = self.names() if names is None else names
        candidates = sorted((order, name) for name in names if (order := part_order(name)))
        return [name for _, name in candidates if self._settings_of(name) is not None]

    def newest_generation(self) -> int:
        """Return the newest generation among the folder's part names (0 if none)."""
        orders = [order for name in self.names() if (order := part_order(name))]
        return max((order[0] for order in orders), default=0)

    def foreign_parquet(self) -> list[str]:
        """Return the Parquet files of the folder that are not ours (the user's)."""
        names = self.names()
        ours = set(self.parts(names))
        return [n for n in names if n.endswith(".parquet") and not n.startswith(("_", ".")) and n not in ours]

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
            except FileNotFoundError:  # removed by another writer since the folder was listed
                continue
            except (OSError, ValueError, KeyError) as exc:
                raise unreadable(self.path_of(name), exc, REMOVE_PART) from exc
            for path in pc.unique(paths).to_pylist():
                holders.setdefault(path, []).append(name)
        return holders

    def settings(self) -> dict[str, Any] | None:
        """Return the settings recorded in the newest part, or None if there is no part."""
        parts = self.parts()
        return self._settings_of(parts[-1]) if parts else None

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

    def write_temporary(self, table: Any, name: str) -> str:
        """Write ``table`` to a temporary beside part ``name``; return the temporary's path."""
        import pyarrow.parquet as pq

        temporary = temporary_name(self.path_of(name))
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
        except BaseException as exc:
            self.delete(temporary)
            if isinstance(exc, OSError):
                raise OpenL3Error(f"Cannot write {self.path_of(name)}: {exc}") from exc
            raise
        return temporary

    def move_into_place(self, temporary: str, name: str) -> str:
        """Rename a temporary of :meth:`write_temporary` to part ``name``; return its path."""
        final = self.path_of(name)
        try:
            self.fs.move(temporary, final)
        except BaseException as exc:
            self.delete(temporary)
            if isinstance(exc, OSError):
                raise OpenL3Error(f"Cannot write {final}: {exc}") from exc
            raise
        self._settings.pop(name, None)
        return final

    def write(self, table: Any, name: str) -> str:
        """Write ``table`` as part ``name``, atomically (replacing a part of that name); return its path."""
        return self.move_into_place(self.write_temporary(table, name), name)

    def delete(self, path: str) -> None:
        """Remove file ``path`` of the folder, if it is there."""
        with contextlib.suppress(OSError):
            self.fs.delete_file(path)

    def drop_older_rows(self, index: dict[str, list[str]] | None = None) -> int:
        """Keep each input's rows in its newest part only; return how many parts were rewritten.

        ``index`` is the folder's :meth:`index` when the caller has just read it. Call it
        under the dataset lock: another writer may share the parts rewritten.
        """
        import pyarrow as pa
        import pyarrow.compute as pc
        import pyarrow.parquet as pq

        stale: dict[str, list[str]] = {}
        for path, parts in (self.index() if index is None else index).items():
            for name in parts[:-1]:
                stale.setdefault(name, []).append(path)
        for name, paths in stale.items():
            try:
                table = pq.read_table(self.path_of(name), filesystem=self.fs)
            except (OSError, ValueError) as exc:
                raise unreadable(self.path_of(name), exc, REMOVE_PART) from exc
            kept = table.filter(pc.invert(pc.is_in(table["path"], pa.array(paths))))
            if kept.num_rows:
                self.write(kept, name)
            else:
                self.delete(self.path_of(name))
            logger.info("%s: removed older rows of %d inputs from %s.", self.location, len(paths), name)
        return len(stale)

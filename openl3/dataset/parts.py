"""The part files of a dataset folder: their rows, which are ours, writing and rewriting them.

See :mod:`openl3.dataset` for the layout. A file is one of our parts when its name is a
part name (:func:`openl3.dataset.manifest.part_order`) and its schema metadata holds our settings
(``openl3``); every other file of the folder is left alone. A part's metadata also says how
its writer named its inputs (``openl3.named``: :class:`openl3._util.identity.NamedFrom`), so
that a reader anywhere tells which file each input is.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from typing import Any

import numpy as np

from .._util.atomic import place, remove_stale_temporaries, stage
from .._util.console import warn_once
from .._util.exceptions import OpenL3Error
from .._util.identity import NamedFrom, file_identity
from .._util.remote import is_uri, resolve
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
#: The columns of a part's rows (:func:`row_schema`).
ROW_COLUMNS = ("path", "modality", "index", "timestamp", "embedding")
#: How the writer of a part named its inputs (:class:`openl3._util.identity.NamedFrom`).
NAMED_KEY = b"openl3.named"
COMPRESSION = "zstd"
#: Parts carry a CRC-32 of each page, which readers verify (Parquet page checksums).
PAGE_CHECKSUMS = True


def row_schema(dim: int, dtype: str, metadata: dict[bytes, bytes]) -> Any:
    """Return the Arrow schema of the rows, with ``metadata`` (:func:`part_metadata`)."""
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
    return schema.with_metadata(metadata)


def part_metadata(record: dict[str, Any], named: NamedFrom) -> dict[bytes, bytes]:
    """Return the schema metadata of a run's parts: its settings record and how it named its inputs.

    ``record`` is the settings record with the storage type and the version that wrote it.
    """
    return {
        SETTINGS_KEY: json.dumps(record, sort_keys=True).encode(),
        NAMED_KEY: json.dumps(named.record(), sort_keys=True).encode(),
    }


def rows_table(path: str, arrays: dict[str, np.ndarray], dtype: str, metadata: dict[bytes, bytes]) -> Any:
    """Return the rows of one input's embedding (and timestamps, if any) as an Arrow table."""
    import pyarrow as pa

    embedding = np.ascontiguousarray(arrays["embedding"], dtype=dtype)
    n_rows, dim = embedding.shape
    timestamps = arrays.get("timestamps")
    modality = json.loads(metadata[SETTINGS_KEY])["modality"]
    columns = [
        pa.repeat(path, n_rows),
        pa.repeat(modality, n_rows),
        pa.array(np.arange(n_rows, dtype=np.int32)),
        pa.nulls(n_rows, pa.float64()) if timestamps is None else pa.array(timestamps, pa.float64()),
        pa.FixedSizeListArray.from_arrays(pa.array(embedding.reshape(-1)), dim),
    ]
    return pa.Table.from_arrays(columns, schema=row_schema(dim, dtype, metadata))


def input_key(name: str, named: NamedFrom | None) -> str:
    """Return the identity of input ``name`` of a part whose writer named its inputs as ``named`` says.

    Parts written by earlier versions did not record it: their names are taken from the
    current folder, as those versions took them (a warning says so, once, for relative names).

    Examples
    --------
    >>> input_key("clips/a.wav", NamedFrom("/data"))
    '/data/clips/a.wav'
    """
    if named is not None:
        return named.identity(name)
    if not is_uri(name) and not os.path.isabs(name):
        warn_once(
            "Parts of a dataset written by an earlier openl3 do not say which files their relative paths "
            f"name (such as {name}): they are taken from the current folder. Read the dataset from the "
            "folder it was written in, or embed it again (--overwrite) to record them."
        )
    return file_identity(name)


class PartGone(Exception):  # noqa: N818 (a signal between a reader and its retry, not an error)
    """A part listed a moment ago is gone: another run removed it (the reader lists again)."""

    def __init__(self, path: str):
        super().__init__(path)
        self.path = path


def read_part(folder: PartFolder, name: str, **options: Any) -> Any:
    """Return part ``name`` of ``folder`` as a table (``pq.read_table`` options), pages verified.

    Parts carry a checksum per page (:data:`PAGE_CHECKSUMS`); a page whose bytes changed is
    refused here, never read as numbers. Parts written before checksums have none to check.

    Raises
    ------
    PartGone
        If the part was removed since the folder was listed.
    OpenL3Error
        Naming the part and what to do, if it is damaged (or cannot be read).
    """
    import pyarrow.parquet as pq

    path = folder.path_of(name)
    try:
        return pq.read_table(path, filesystem=folder.fs, page_checksum_verification=True, **options)
    except FileNotFoundError:
        raise PartGone(path) from None
    except (OSError, ValueError, KeyError) as exc:
        raise unreadable(path, exc, REMOVE_PART) from exc


REMOVE_PART = "Remove that part: the next run embeds its inputs again."


def unreadable(path: str, exc: BaseException, remedy: str) -> OpenL3Error:
    """Return the error for a file of ours that cannot be read: what, why, and what to do.

    ``remedy`` (what to do with a damaged file) is not given for a file the user may not
    read: that file is whole.
    """
    if isinstance(exc, OpenL3Error):  # ours (a bad argument...), not a damaged file
        return exc
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
        self._metadata: dict[str, dict[bytes, bytes] | None] = {}

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

    def _metadata_of(self, name: str) -> dict[bytes, bytes] | None:
        """Return part ``name``'s schema metadata if it holds our settings; None if not ours (or gone)."""
        import pyarrow.parquet as pq

        if name not in self._metadata:
            try:
                metadata = pq.read_schema(self.path_of(name), filesystem=self.fs).metadata or {}
                settings = json.loads(metadata[SETTINGS_KEY]) if SETTINGS_KEY in metadata else None
            except FileNotFoundError:  # removed by another writer since the folder was listed
                return None
            except (OSError, ValueError) as exc:
                raise unreadable(self.path_of(name), exc, REMOVE_PART) from exc
            self._metadata[name] = metadata if isinstance(settings, dict) else None
        return self._metadata[name]

    def _settings_of(self, name: str) -> dict[str, Any] | None:
        """Return the settings record in part ``name``'s schema; None if it has none (not ours)."""
        metadata = self._metadata_of(name)
        return None if metadata is None else json.loads(metadata[SETTINGS_KEY])

    def named(self, name: str) -> NamedFrom | None:
        """Return how part ``name``'s writer named its inputs (None for parts of earlier versions)."""
        metadata = self._metadata_of(name) or {}
        try:
            return NamedFrom.from_record(json.loads(metadata[NAMED_KEY])) if NAMED_KEY in metadata else None
        except ValueError:
            return None

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
        """Remove the temporaries of writers that are gone (see :mod:`openl3._util.atomic`)."""
        remove_stale_temporaries(self.base, filesystem=self.fs)

    def index(self) -> dict[str, list[tuple[str, str]]]:
        """Return, for each input of the folder by its key, the parts holding its rows, oldest first.

        Each part comes with the input's name there (one file may be named otherwise by
        another run). The key is the file's identity (:func:`input_key`).
        """
        import pyarrow.compute as pc

        holders: dict[str, list[tuple[str, str]]] = {}
        for part in self.parts():
            try:
                paths = read_part(self, part, columns=["path"])["path"]
            except PartGone:  # removed by another writer since the folder was listed
                continue
            named = self.named(part)
            for path in pc.unique(paths).to_pylist():
                holders.setdefault(input_key(path, named), []).append((part, path))
        return holders

    def settings(self) -> dict[str, Any] | None:
        """Return the settings record of the newest part, or None if there is no part."""
        parts = self.parts()
        return self._settings_of(parts[-1]) if parts else None

    def write_temporary(self, table: Any, name: str) -> str:
        """Write ``table`` to a temporary beside part ``name``; return the temporary's path."""
        import pyarrow.parquet as pq

        row_bytes = max(1, table.nbytes // max(1, table.num_rows))
        options = {
            "compression": COMPRESSION,
            "row_group_size": max(1, ROW_GROUP_BYTES // row_bytes),
            "write_page_checksum": PAGE_CHECKSUMS,
        }
        try:
            return stage(self.fs, self.path_of(name), lambda stream: pq.write_table(table, stream, **options))
        except OSError as exc:
            raise OpenL3Error(f"Cannot write {self.path_of(name)}: {exc}") from exc

    def move_into_place(self, temporary: str, name: str) -> str:
        """Rename a temporary of :meth:`write_temporary` to part ``name``; return its path."""
        final = self.path_of(name)
        try:
            place(self.fs, temporary, final)
        except OSError as exc:
            raise OpenL3Error(f"Cannot write {final}: {exc}") from exc
        self._metadata.pop(name, None)
        return final

    def write(self, table: Any, name: str) -> str:
        """Write ``table`` as part ``name``, atomically (replacing a part of that name); return its path."""
        return self.move_into_place(self.write_temporary(table, name), name)

    def delete(self, path: str) -> None:
        """Remove file ``path`` of the folder, if it is there."""
        with contextlib.suppress(OSError):
            self.fs.delete_file(path)

    def drop_older_rows(self, index: dict[str, list[tuple[str, str]]] | None = None) -> int:
        """Keep each input's rows in its newest part only; return how many parts were rewritten.

        ``index`` is the folder's :meth:`index` when the caller has just read it. Call it
        under the dataset lock: another writer may share the parts rewritten.
        """
        import pyarrow as pa
        import pyarrow.compute as pc

        stale: dict[str, list[str]] = {}
        for holders in (self.index() if index is None else index).values():
            for name, path in holders[:-1]:
                stale.setdefault(name, []).append(path)
        for name, paths in stale.items():
            try:
                table = read_part(self, name)
            except PartGone:  # another writer rewrote it under the same lock: nothing left to drop
                continue
            kept = table.filter(pc.invert(pc.is_in(table["path"], pa.array(paths))))
            if kept.num_rows:
                self.write(kept, name)
            else:
                self.delete(self.path_of(name))
            logger.info("%s: removed older rows of %d inputs from %s.", self.location, len(paths), name)
        return len(stale)

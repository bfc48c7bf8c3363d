"""Reading a dataset's rows: only our parts, each input's rows once, with the settings that made them.

The layers that use a dataset (classifiers, search, maps) read it through :class:`DatasetRows`,
never through ``pyarrow.dataset`` on the whole folder: a user's own Parquet files in the folder
are not rows, and an input whose rows are in two parts (a run stopped between committing new
rows and removing old ones) counts once, with the rows of its newest part.

A file named by a reader (a query, a label) is an input of the dataset only when it is the
same file (:meth:`DatasetRows.match`, by :mod:`openl3._util.identity`): a file of the same
name elsewhere is not, whatever folder the reader runs in.
"""

from __future__ import annotations

import hashlib
import posixpath
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np

from .._util.console import warn_once
from .._util.exceptions import InvalidArgumentError, OpenL3Error
from .._util.identity import file_identity
from ..models.settings import EmbeddingSettings
from .manifest import Manifest
from .outputs import recorded_settings
from .parts import REMOVE_PART, ROW_COLUMNS, PartFolder, PartGone, input_key, read_part, unreadable

__all__ = ["DatasetRows", "EmbeddingRows"]

T = TypeVar("T")

#: Listings of the parts a reader makes before it gives up on a dataset that keeps changing.
READ_TRIES = 5

#: The subfolders of a video run's dataset, one dataset each.
MODALITY_FOLDERS = ("audio", "image")


class EmbeddingRows:
    """Rows of a dataset as arrays: one entry per window or frame.

    Attributes
    ----------
    paths : np.ndarray of str, shape (N,)
        The input of each row, as the dataset names it.
    index : np.ndarray of int32, shape (N,)
        The window (or frame) within its input.
    timestamps : np.ndarray of float64, shape (N,)
        Seconds (NaN for image files).
    embeddings : np.ndarray of float32, shape (N, D)
        The embeddings (float16 datasets are widened to float32).

    Examples
    --------
    >>> rows = DatasetRows("clips.l3").rows()
    >>> rows.embeddings.shape, rows.paths[0], rows.index[0], rows.timestamps[0]
    ((1204, 512), 'clips/a.wav', 0, 0.0)
    """

    def __init__(self, paths: np.ndarray, index: np.ndarray, timestamps: np.ndarray, embeddings: np.ndarray):
        self.paths, self.index, self.timestamps, self.embeddings = paths, index, timestamps, embeddings

    def __len__(self) -> int:
        return len(self.paths)

    def inputs(self) -> list[str]:
        """Return the inputs of the rows, each once, in the order of their first row."""
        return list(dict.fromkeys(self.paths.tolist()))


def run_folder(folder: PartFolder) -> PartFolder:
    """Return the folder that holds the manifest and the locks of the rows in ``folder``.

    That is ``folder`` itself, or for the ``audio`` or ``image`` subfolder of a video run
    (named directly, ``OUT/audio``), the run's folder above it, which has the manifest and
    no rows of its own (a dataset written into a subfolder ``audio`` of another dataset
    is a dataset of its own).
    """
    base = folder.base.rstrip("/")
    if posixpath.basename(base) in MODALITY_FOLDERS:
        parent = PartFolder(posixpath.dirname(base) or "/", folder.fs)
        if Manifest(parent.fs, parent.base, parent.location).read() is not None and not parent.parts():
            return parent
    return folder


class DatasetRows:
    """The rows of the openl3 dataset in folder ``location``, read-only.

    Parameters
    ----------
    location : str
        A dataset folder written with ``output_format="parquet"`` (local path or URI).
    modality : {"audio", "image"} or None
        For a video run's dataset (``OUT/audio``, ``OUT/image``), which of the two to read;
        None reads the folder itself, or the only one of the two that has rows.

    Attributes
    ----------
    folder : PartFolder
        The folder of the rows (``OUT/audio`` of a video run's ``OUT``).
    top : PartFolder
        The folder holding the dataset's manifest and locks (:func:`run_folder`).
    manifest : Manifest
        The dataset's manifest, in ``top``.
    parts : list of str
        The names of the dataset's parts in ``folder``, oldest first.
    settings : EmbeddingSettings
        The settings that made the rows (the dataset's record; for datasets of earlier
        versions, their newest part's, completed).
    dtype : str
        How the embeddings are stored ("float32" or "float16").
    weights_file : str or None
        The weight file the rows were made with, where it is not an official one.

    Raises
    ------
    OpenL3Error
        If the folder holds no rows of openl3 (or, for a video dataset, ``modality`` is
        needed and missing), or rows of another modality than ``modality``.

    Examples
    --------
    >>> dataset = DatasetRows("clips.l3")
    >>> dataset.settings.input_repr, dataset.settings.precision
    ('mel128', 'faithful')
    >>> rows = dataset.rows(paths=dataset.match(["clips/a.wav"]))     # one file's windows
    """

    def __init__(self, location: str, modality: str | None = None):
        self.location = location
        named = PartFolder(location)
        self.folder = self._rows_folder(named, modality)
        # OUT --modality audio: OUT is the run's folder, with or without a manifest yet
        self.top = named if self.folder is not named else run_folder(self.folder)
        self.manifest = Manifest(self.top.fs, self.top.base, self.top.location)
        self.parts = self.folder.parts()
        if not self.parts:
            raise OpenL3Error(
                f"{self.folder.location} holds no openl3 rows: write it with --output-format parquet first."
            )
        key = self.folder.base[len(self.top.base) :].strip("/")
        record = recorded_settings(self.manifest, self.folder, key) or {}
        where = f"The dataset {self.folder.location}"
        self.settings = EmbeddingSettings.from_record(record.get("settings") or {}, where)
        self.dtype: str = record.get("dtype", "float32")
        self.weights_file: str | None = record.get("weights_file")
        if self.settings.digest is not None:
            warn_once(
                f"{self.folder.location} holds embeddings made with weights {self.settings.weights[:19]}... "
                "(not OpenL3's official ones)."
            )
        self._keys: dict[str, str] | None = None
        if modality is not None and self.modality not in ("", modality):
            raise OpenL3Error(f"{self.folder.location} holds {self.modality} rows, not {modality} ones.")

    @staticmethod
    def _rows_folder(top: PartFolder, modality: str | None) -> PartFolder:
        """Return the folder of rows: ``top``, or its ``audio``/``image`` subfolder of a video run."""
        if modality is not None and modality not in MODALITY_FOLDERS:
            raise InvalidArgumentError(
                f"Invalid modality {modality!r}: use one of {', '.join(MODALITY_FOLDERS)}."
            )
        if top.parts():
            return top
        if modality is not None:
            return top.child(modality)
        held = [name for name in MODALITY_FOLDERS if top.child(name).parts()]
        if len(held) > 1:
            raise OpenL3Error(
                f"{top.location} holds the rows of a video run ({' and '.join(held)}): name which to read "
                "(modality=, or the subfolder)."
            )
        return top.child(held[0]) if held else top

    @property
    def modality(self) -> str:
        """The modality of the rows ("audio" or "image")."""
        return self.settings.modality

    def input_keys(self) -> dict[str, str]:
        """Return each input of the dataset (its name) with the file it is (its identity).

        Parts written by earlier versions did not record which files their relative names
        name: those are taken from the current folder, with a warning.
        """
        if self._keys is None:
            self._keys = self._consistently(self._read_keys)
        return self._keys

    def _read_keys(self) -> dict[str, str]:
        keys: dict[str, str] = {}
        for part in reversed(self.parts):  # newest first: an input's newest rows win
            names = self._read(part, columns=["path"])["path"]
            named = self.folder.named(part)
            for name in names.unique().to_pylist():
                keys.setdefault(name, input_key(name, named))
        return keys

    def _read(self, part: str, **options: Any) -> Any:
        """Return part ``part``'s table (``pq.read_table`` options), its page checksums verified.

        Raises
        ------
        PartGone
            If the part was removed since the folder was listed (another run rewrote it).
        OpenL3Error
            If it is damaged: its pages do not match their checksums, or it cannot be parsed.
        """
        return read_part(self.folder, part, **options)

    def _consistently(self, read: Callable[[], T]) -> T:
        """Return ``read()`` of one listing of the parts, listing them again when a part went.

        A run rewriting the dataset (``--overwrite``) removes parts that a reader listed
        before: the reader lists again and reads again, and never calls the part damaged.
        """
        for _ in range(READ_TRIES - 1):
            try:
                return read()
            except PartGone:
                self.parts, self._keys = self.folder.parts(), None
        try:
            return read()
        except PartGone as gone:
            raise OpenL3Error(
                f"{self.folder.location} kept changing while it was read ({gone.path} went after "
                f"{READ_TRIES} listings): another run is rewriting it. Read it again when that run ends."
            ) from None

    def match(self, paths: list[str]) -> list[str | None]:
        """Return, for each file of ``paths``, its name among the dataset's inputs, or None.

        A path matches an input that is the same file (however either is named).
        """
        by_identity: dict[str, str] = {}
        for name, key in self.input_keys().items():
            by_identity.setdefault(key, name)
        return [by_identity.get(file_identity(p)) for p in paths]

    def part_entries(self) -> dict[str, str]:
        """Return each part's entry of :meth:`state`: its name, row count and row-group sizes.

        Read from the parts' Parquet footers.
        """
        return self._consistently(self._read_entries)

    def _read_entries(self) -> dict[str, str]:
        import pyarrow.parquet as pq

        entries = {}
        for name in self.parts:
            path = self.folder.path_of(name)
            try:
                metadata = pq.read_metadata(path, filesystem=self.folder.fs)
            except FileNotFoundError:
                raise PartGone(path) from None
            except (OSError, ValueError) as exc:
                raise unreadable(path, exc, REMOVE_PART) from exc
            sizes = [metadata.row_group(i).total_byte_size for i in range(metadata.num_row_groups)]
            entries[name] = f"{name}:{metadata.num_rows}:{sizes}\n"
        return entries

    def state(self, entries: dict[str, str] | None = None) -> str:
        """Return a fingerprint of the rows: it changes when a part is added, rewritten or removed.

        Taken from the dataset's own record (its part names and each part's row count and
        row-group sizes, read from the Parquet footers), never from file times.
        ``entries``: the :meth:`part_entries` of these parts (or of more), already read, so
        that several fingerprints read each footer once.
        """
        entries = self.part_entries() if entries is None else entries
        return hashlib.sha256("".join(entries[name] for name in self.parts).encode()).hexdigest()[:32]

    def table(self, columns: list[str] | None = None, paths: list[str] | None = None) -> Any:
        """Return the rows as one Arrow table, each input's rows from the newest part holding it.

        With ``paths``, only the rows of these inputs are read (Parquet row groups holding
        none of them are skipped).
        """
        unknown = sorted(set(columns or ()) - set(ROW_COLUMNS))
        if unknown:
            raise InvalidArgumentError(
                f"Invalid columns {unknown}: the rows of a dataset have {', '.join(ROW_COLUMNS)}."
            )
        return self._consistently(lambda: self._read_table(columns, paths))

    def _read_table(self, columns: list[str] | None, paths: list[str] | None) -> Any:
        import pyarrow as pa
        import pyarrow.compute as pc

        wanted = None if columns is None else list(dict.fromkeys(["path", *columns]))
        only = None if paths is None else pc.field("path").isin(pa.array(paths, pa.string()))
        tables, seen = [], None
        for name in reversed(self.parts):  # newest first: an input's newest rows win
            table = self._read(name, columns=wanted, filters=only)
            if seen is not None:
                table = table.filter(pc.invert(pc.is_in(table["path"], value_set=seen)))
            held = pc.unique(table["path"])
            seen = held if seen is None else pa.concat_arrays([seen, held])
            tables.append(table.replace_schema_metadata(None))
        table = pa.concat_tables(reversed(tables))
        return table if columns is None else table.select(columns)

    def rows(self, paths: list[str] | None = None) -> EmbeddingRows:
        """Return the rows (of the inputs ``paths`` only, if given) as arrays."""
        table = self.table(["path", "index", "timestamp", "embedding"], paths)
        embedding = table["embedding"].combine_chunks()
        dim = embedding.type.list_size
        values = embedding.flatten().to_numpy(zero_copy_only=False).astype(np.float32, copy=False)
        return EmbeddingRows(
            np.asarray(table["path"].to_pylist(), dtype=object),
            table["index"].to_numpy().astype(np.int32, copy=False),
            table["timestamp"].to_numpy(zero_copy_only=False).astype(np.float64),
            values.reshape(-1, dim) if dim else values.reshape(len(table), 0),
        )

"""What a dataset folder is and what in it is ours: the manifest and the part names.

A Parquet dataset folder ``OUT`` is marked by ``OUT/_openl3/dataset.json``, its manifest:

- ``format`` and ``version``: what wrote it (a newer layout is refused, not guessed at);
- ``generation``: a counter taken by each run when it starts (under the dataset lock of
  :mod:`openl3.dataset.locks`). A run's parts carry its generation in their names, so "the newest
  rows of an input win" compares generations the dataset itself hands out, never a clock;
- ``files``: the other files and folders the project keeps in ``OUT`` (registered with
  :meth:`Manifest.register`), so that nothing of ours is ever taken for a user's file;
- ``folders``: for each folder of rows (``""`` for ``OUT`` itself, ``"audio"`` and
  ``"image"`` for a video run's), the settings that made its rows
  (:meth:`openl3.models.settings.EmbeddingSettings.record`), their storage type, and the
  weight file they came from where it was not an official one. A run checks its own
  settings against these under the dataset lock, and records them when the folder has no
  rows yet.

A file of ``OUT`` is one of our parts only when its name is a part name (:func:`part_order`)
and its Parquet schema carries our settings (checked by :mod:`openl3.dataset`); anything
else in the folder is the user's and is never read, rewritten or removed. Datasets written
before the manifest existed (parts named ``part-<16 hex digits>-<writer>.parquet``) are
opened as they are; their parts count as generation 0 and the folder is marked on its
next write, without rewriting rows.
"""

from __future__ import annotations

import json
import re
import secrets
from typing import Any

from .._util.atomic import remove_stale_temporaries, write_whole
from .._util.exceptions import OpenL3Error
from .._util.owner import current

#: The project's own folder inside a dataset (manifest, locks, staging); readers skip "_" names.
OWN_FOLDER = "_openl3"
MANIFEST_NAME = "dataset.json"
FORMAT = "openl3 parquet dataset"
#: 2: the settings of each folder of rows are recorded (``folders``).
VERSION = 2

_PART = re.compile(r"^part-g(?P<generation>\d{10,})-(?P<sequence>\d{6,})-(?P<writer>[A-Za-z0-9-]+)\.parquet$")
_LEGACY_PART = re.compile(r"^part-(?P<stamp>[0-9a-f]{16})-(?P<writer>[A-Za-z0-9-]+)\.parquet$")


def part_name(generation: int, sequence: int, writer: str) -> str:
    """Return the name of part ``sequence`` of the run of ``generation`` by ``writer``."""
    return f"part-g{generation:010d}-{sequence:06d}-{writer}.parquet"


def part_order(name: str) -> tuple[int, int, str] | None:
    """Return the order of a part (generation, then sequence); None if ``name`` is no part name.

    Parts of datasets written before generations existed come first, in the order of
    their time stamps.
    """
    match = _PART.match(name)
    if match:
        return int(match["generation"]), int(match["sequence"]), name
    match = _LEGACY_PART.match(name)
    if match:
        return 0, int(match["stamp"], 16), name
    return None


class PartNamer:
    """The part names of one run: its generation, its writer, a sequence number per part."""

    def __init__(self, generation: int, writer: str = ""):
        self.generation = generation
        self.writer = writer or f"{current().tag()}-{secrets.token_hex(4)}"
        self.sequence = 0

    def next(self) -> str:
        """Return a fresh part name, after every name this run gave before."""
        self.sequence += 1
        return part_name(self.generation, self.sequence, self.writer)


class Manifest:
    """The manifest of the dataset folder ``base`` on filesystem ``fs`` (pyarrow).

    Parameters
    ----------
    fs : pyarrow.fs.FileSystem
        The dataset's filesystem.
    base : str
        The dataset folder, in ``fs``.
    location : str
        The folder as the user named it (for messages).
    """

    def __init__(self, fs: Any, base: str, location: str):
        self.fs, self.location = fs, location
        self.folder = f"{base.rstrip('/')}/{OWN_FOLDER}"
        self.path = f"{self.folder}/{MANIFEST_NAME}"

    def read(self) -> dict[str, Any] | None:
        """Return the manifest, or None if the folder is not marked (yet)."""
        from pyarrow import fs

        if self.fs.get_file_info(self.path).type != fs.FileType.File:
            return None
        try:
            with self.fs.open_input_stream(self.path) as stream:
                manifest = json.loads(stream.read())
        except (OSError, ValueError) as exc:
            raise OpenL3Error(
                f"Cannot read the manifest {self.path} of dataset {self.location}: {exc}. "
                "Remove the manifest: the next run writes a new one (the parts and their order are kept)."
            ) from exc
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            raise OpenL3Error(f"{self.path} is not the manifest of an openl3 dataset.")
        if manifest.get("version", 0) > VERSION:
            raise OpenL3Error(
                f"{self.location} was written by a newer openl3 (dataset version {manifest['version']}); "
                "upgrade openl3 to add to it."
            )
        return manifest

    def _write(self, manifest: dict[str, Any]) -> None:
        data = json.dumps({**manifest, "version": VERSION}, indent=1, sort_keys=True).encode()
        remove_stale_temporaries(self.folder, filesystem=self.fs)
        write_whole(self.path, lambda stream: stream.write(data), self.fs)

    def next_generation(self, newest: int = 0, folders: dict[str, dict[str, Any]] | None = None) -> int:
        """Take the next generation for a run that starts; mark the folder if it is not yet.

        ``newest`` is the newest generation among the folder's part names: the next one is
        above it even when the manifest was lost or is older than the parts. ``folders``:
        the records of the folders of rows this run writes (see the module's description),
        recorded in place of those there. Call it under the dataset lock
        (:meth:`openl3.dataset.locks.LockFolder.exclusive`).
        """
        manifest = self.read() or {"format": FORMAT, "version": VERSION, "generation": 0, "files": {}}
        manifest["generation"] = max(int(manifest.get("generation", 0)), newest) + 1
        manifest.setdefault("folders", {}).update(folders or {})
        self._write(manifest)
        return manifest["generation"]

    def folder_record(self, folder: str) -> dict[str, Any] | None:
        """Return the record of the folder of rows ``folder`` ("" for the dataset's own), or None.

        Raises
        ------
        OpenL3Error
            If the record is there but not a record (a damaged manifest).
        """
        record = ((self.read() or {}).get("folders") or {}).get(folder)
        if record is not None and not (isinstance(record, dict) and isinstance(record.get("settings"), dict)):
            raise OpenL3Error(
                f"The manifest {self.path} of dataset {self.location} is damaged (its record of the rows "
                f"in {folder or 'the dataset folder'}). Remove the manifest: the next run writes a new one."
            )
        return record

    def register(self, name: str, what: str) -> None:
        """Record that ``name`` (a path relative to the folder) is kept by openl3, as ``what``.

        Call it under the dataset lock, on a marked folder.
        """
        manifest = self.read()
        if manifest is None:
            raise OpenL3Error(f"{self.location} is not an openl3 dataset: nothing can be registered in it.")
        manifest.setdefault("files", {})[name] = what
        self._write(manifest)

    def registered(self) -> dict[str, str]:
        """Return the files openl3 keeps in the folder besides its parts (name to what)."""
        manifest = self.read()
        return dict(manifest.get("files", {})) if manifest else {}

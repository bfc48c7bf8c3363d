"""The index of a dataset, kept in the dataset: ``OUT/_openl3/index/``, in step with its parts.

The folder is registered in the dataset's manifest (``_openl3/index``; for the rows of a
video run, ``audio/_openl3/index`` in the manifest of ``OUT``) and written under the
dataset lock. The index records the dataset's settings, its
:meth:`~openl3.dataset.rows.DatasetRows.state` and the parts it holds: it is stale when the state
differs, which the dataset itself tells (part names and Parquet footers), never a clock.

- Parts only **added** (every indexed part is there, unchanged, and no new part holds an
  input already indexed): the new parts' rows are added to the index.
- Parts **rewritten or removed** (or a new part re-embedding an indexed input): the index
  is built again.
- Rows made with **other settings** than the index's: refused when searching
  (:func:`open_index`); ``openl3 index`` builds it again.
"""

from __future__ import annotations

import copy
import logging

from .._util.exceptions import OpenL3Error
from ..dataset.locks import LockFolder
from ..dataset.manifest import OWN_FOLDER
from ..dataset.parts import PartFolder
from ..dataset.rows import DatasetRows
from ..models.settings import EmbeddingSettings
from .index import EXACT_LIMIT, Index

__all__ = ["INDEX_NAME", "index_folder", "open_index", "stale", "update_index"]

logger = logging.getLogger("openl3")

#: The index's folder in the dataset folder, as the manifest names it.
INDEX_NAME = f"{OWN_FOLDER}/index"


def index_folder(dataset: DatasetRows) -> str:
    """Return the index's folder of ``dataset``, in its filesystem."""
    return dataset.folder.path_of(INDEX_NAME)


def _top(dataset: DatasetRows) -> tuple[PartFolder, str]:
    """Return the dataset's top folder and the index's name in it.

    The top folder holds the manifest and the locks: the rows' folder itself, or for a
    video run's dataset the folder above its ``audio``/``image`` subfolders (the index of
    ``OUT/audio`` is ``OUT/audio/_openl3/index``, registered as ``audio/_openl3/index``),
    however the dataset was named (``OUT`` with a modality, or ``OUT/audio``).
    """
    top = dataset.top
    below = dataset.folder.base[len(top.base) :].strip("/")
    return top, f"{below}/{INDEX_NAME}" if below else INDEX_NAME


def _index_settings(index: Index, dataset: DatasetRows) -> EmbeddingSettings:
    """Return the settings the index records (completed as the dataset's are, for older indexes)."""
    return EmbeddingSettings.from_record(index.settings, f"The index of {dataset.location}")


def check_settings(index: Index, dataset: DatasetRows) -> None:
    """Refuse an index made from rows with other settings than the dataset's rows."""
    _index_settings(index, dataset).check_same(
        dataset.settings,
        f"The index of {dataset.location} was made from embeddings with other settings",
        f"Build it again: openl3 index {dataset.location} --rebuild",
    )


def load_index(dataset: DatasetRows) -> Index | None:
    """Return the index saved in ``dataset`` (None if it has none); settings unchecked."""
    from pyarrow import fs

    folder = index_folder(dataset)
    if dataset.folder.fs.get_file_info(f"{folder}/index.parquet").type != fs.FileType.File:
        return None
    return Index.load(folder, dataset.folder.fs)


def _rows_of_parts(dataset: DatasetRows, parts: list[str]) -> DatasetRows:
    """Return ``dataset`` restricted to ``parts`` (its rows and state those of these parts)."""
    subset, kept = copy.copy(dataset), set(parts)
    subset.parts = [name for name in dataset.parts if name in kept]
    return subset


def stale(index: Index, dataset: DatasetRows) -> str | None:
    """Return None if ``index`` holds the dataset's rows, else "added" or "changed".

    "added": parts were only added (the index can be updated by adding their rows);
    "changed": parts were rewritten or removed, or an indexed input was embedded again.
    """
    return _compare(index, dataset, dataset.part_entries())[0]


def _new_parts(index: Index, dataset: DatasetRows) -> DatasetRows:
    """Return ``dataset`` restricted to the parts that ``index`` does not hold."""
    held = set(index.parts)
    return _rows_of_parts(dataset, [name for name in dataset.parts if name not in held])


def _compare(index: Index, dataset: DatasetRows, entries: dict[str, str]) -> tuple[str | None, int]:
    """Return what :func:`stale` returns, and for "added" the number of rows to add.

    ``entries`` is ``dataset.part_entries()``, read once by the caller (every part's footer).
    """
    if index.state == dataset.state(entries):
        return None, 0
    if index.state is None or not set(index.parts) <= set(dataset.parts):
        return "changed", 0
    if _rows_of_parts(dataset, index.parts).state(entries) != index.state:
        return "changed", 0
    new_paths = _new_parts(index, dataset).table(["path"])["path"].to_pylist()
    indexed = set(index.paths.tolist())
    if any(path in indexed for path in new_paths):
        return "changed", 0
    return "added", len(new_paths)


def open_index(dataset: DatasetRows) -> tuple[Index, str | None]:
    """Return the dataset's index for searching, and whether it is stale (see :func:`stale`).

    Raises
    ------
    OpenL3Error
        If the dataset has no index, or an index made with other settings.

    Examples
    --------
    >>> index, stale = open_index(DatasetRows("clips.l3"))
    >>> stale           # None, "added" or "changed"
    """
    try:
        index = load_index(dataset)
    except OpenL3Error as exc:
        raise OpenL3Error(f"{str(exc).rstrip('.')}; build it again: openl3 index {dataset.location}") from exc
    if index is None:
        raise OpenL3Error(
            f"{dataset.location} has no index: build one with `openl3 index {dataset.location}`."
        )
    check_settings(index, dataset)
    return index, stale(index, dataset)


def update_index(
    dataset: DatasetRows, approximate: bool | None = None, rebuild: bool = False
) -> tuple[Index, str]:
    """Build or update the index of ``dataset``, save it in the dataset; return it and what was done.

    Under the dataset lock: an index of parts only added is updated with their rows
    (unless another kind is asked for, or an exact index chosen by its size would grow past
    :data:`~openl3.search.index.EXACT_LIMIT` vectors); otherwise it is built again. With
    ``approximate=None``, the kind asked for when the index was built stays.

    Returns
    -------
    index : Index
    done : {"built", "rebuilt", "added", "current"}

    Examples
    --------
    >>> index, done = update_index(DatasetRows("clips.l3"))
    >>> done            # "built", "rebuilt", "added" or "current"
    'built'
    """
    top, _ = _top(dataset)
    locks = LockFolder(top.fs, top.path_of(OWN_FOLDER), dataset.location)
    with locks.exclusive():
        dataset = copy.copy(dataset)
        dataset.parts = dataset.folder.parts()  # as they are now that no writer starts
        try:
            index = load_index(dataset)
        except OpenL3Error as exc:  # unreadable (damaged, or from a later openl3): built again
            logger.warning("%s; building it again", str(exc).rstrip("."))
            index, rebuild = None, True
        if index is None:
            why = "rebuilt" if rebuild else "built"
        else:
            approximate = index.asked if approximate is None else approximate  # an asked kind stays
            why = _rebuild_reason(index, dataset, approximate, rebuild)
        if why is None:
            entries = dataset.part_entries()
            kind, added = _compare(index, dataset, entries)
            if kind is None:
                return index, "current"
            if kind == "added" and _may_grow(index, added, approximate):
                index.add(_new_parts(index, dataset).rows())
                index.state, index.parts = dataset.state(entries), list(dataset.parts)
                _save(index, dataset)
                return index, "added"
            why = "rebuilt"
        index = Index.build(dataset, approximate)
        _save(index, dataset)
        return index, why


def _rebuild_reason(
    index: Index, dataset: DatasetRows, approximate: bool | None, rebuild: bool
) -> str | None:
    """Return "rebuilt" if the index cannot be kept (asked, other settings, other kind), else None."""
    if rebuild or _index_settings(index, dataset).differences(dataset.settings):
        return "rebuilt"
    if approximate is not None and approximate != index.approximate:
        return "rebuilt"
    return None


def _may_grow(index: Index, added: int, approximate: bool | None) -> bool:
    """Whether adding ``added`` rows keeps the index of the right kind (an exact one stays small)."""
    if index.approximate or approximate is False:
        return True
    return len(index) + added < EXACT_LIMIT


def _save(index: Index, dataset: DatasetRows) -> None:
    """Save ``index`` into the dataset's folder and register that folder (under the lock)."""
    index.save(index_folder(dataset), dataset.folder.fs)
    _, name = _top(dataset)
    manifest = dataset.manifest
    if manifest.read() is None:  # a dataset written before manifests: mark it now
        manifest.next_generation(dataset.folder.newest_generation())
    if name not in manifest.registered():
        manifest.register(name, "search index (openl3 index): vectors and their rows")
    logger.info("index of %s: %d vectors saved in %s", dataset.location, len(index), name)

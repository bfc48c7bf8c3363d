"""Labels of files: from a CSV file (``path,label[,group][,fold]``) or from folder names.

One label per file: a file named twice (a relative path and an absolute one, a link to it)
is one file (:func:`openl3._util.identity.file_identity`). A CSV file's relative paths are
taken relative to the CSV file's folder; files are matched to a dataset's inputs when they
are the same files (:meth:`openl3.dataset.rows.DatasetRows.match`).
The classifiers (:mod:`openl3.classify`) train on these labels, and maps colour their
points with them.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Sequence

from .._util.exceptions import InvalidArgumentError, OpenL3Error
from .._util.identity import file_identity
from .._util.jobs import EXTENSIONS, folder_files
from .._util.remote import is_uri
from ..dataset.rows import DatasetRows

__all__ = [
    "FileLabels",
    "check_files",
    "counted",
    "first_few",
    "folder_labels",
    "match_inputs",
    "match_paths",
    "read_label_csv",
    "unmatched_paths",
]

#: The columns of a label file, the first two required, in any order.
COLUMNS = ("path", "label", "group", "fold")


class FileLabels:
    """One label per file, with optional groups (recordings) and folds for cross-validation.

    Parameters
    ----------
    paths : sequence of str
        The files (relative paths of a CSV file already joined to its folder).
    labels : sequence of str
        The label of each file.
    groups : sequence of str or None
        The group of each file: files of one group (clips of one recording) stay on one
        side of every cross-validation split.
    folds : sequence of int or None
        The fold of each file, for cross-validation by given folds.
    source : str
        Where the labels come from (a CSV file, or folders), named in errors.

    Raises
    ------
    OpenL3Error
        If the lengths differ, or one file has two different labels.

    Examples
    --------
    >>> labels = FileLabels(["a.wav", "b.wav", "c.wav"], ["crow", "wren", "crow"], groups=["r1", "r2", "r1"])
    >>> labels.classes, labels.label_of("b.wav")
    (['crow', 'wren'], 'wren')
    """

    def __init__(
        self,
        paths: Sequence[str],
        labels: Sequence[str],
        groups: Sequence[str] | None = None,
        folds: Sequence[int] | None = None,
        source: str = "labels",
    ):
        self.paths, self.labels = [str(p) for p in paths], [str(label) for label in labels]
        self.groups = None if groups is None else [str(g) for g in groups]
        self.folds = None if folds is None else [int(f) for f in folds]
        self.source = source
        for column in (self.labels, self.groups, self.folds):
            if column is not None and len(column) != len(self.paths):
                raise OpenL3Error(f"{source}: {len(self.paths)} paths but {len(column)} values in a column.")
        self._index = self._build_index()

    def _build_index(self) -> dict[str, int]:
        """Return the position of each file by its key; refuse a file with two labels."""
        index: dict[str, int] = {}
        for position, (path, label) in enumerate(zip(self.paths, self.labels, strict=True)):
            key = file_identity(path)
            first = index.setdefault(key, position)
            if self.labels[first] != label:
                raise OpenL3Error(
                    f"{self.source}: {path} has two labels, {self.labels[first]!r} and {label!r} "
                    "(one label per file)."
                )
        return index

    def __len__(self) -> int:
        return len(self.paths)

    def __repr__(self) -> str:
        return f"FileLabels({len(self)} files, {len(self.classes)} classes, source={self.source!r})"

    @property
    def classes(self) -> list[str]:
        """The labels, each once, sorted."""
        return sorted(set(self.labels))

    def label_of(self, path: str) -> str | None:
        """Return the label of file ``path`` (matched by its real path), or None if it has none."""
        return self.label_for(file_identity(path))

    def label_for(self, identity: str) -> str | None:
        """Return the label of the file whose identity is ``identity`` (a dataset's key), or None."""
        position = self._index.get(identity)
        return None if position is None else self.labels[position]

    def position_of(self, path: str) -> int | None:
        """Return the position of file ``path`` in :attr:`paths` (by real path), or None."""
        return self._index.get(file_identity(path))

    def subset(self, positions: Sequence[int]) -> FileLabels:
        """Return the labels of the files at ``positions`` only."""

        def pick(column: list | None) -> list | None:
            return None if column is None else [column[i] for i in positions]

        return FileLabels(
            pick(self.paths) or [],
            pick(self.labels) or [],
            pick(self.groups),
            pick(self.folds),
            self.source,
        )


def read_label_csv(path: str) -> FileLabels:
    """Read a label file: a CSV file with a header ``path,label[,group][,fold]``.

    Relative paths are joined to the CSV file's folder; URIs are kept as written.
    Duplicate rows of one file with the same label (group, fold) count once.

    Raises
    ------
    OpenL3Error
        Naming the file (and line) for an unreadable or empty file, a header without
        ``path`` and ``label``, a row with a missing value or a fold that is not an integer,
        and a file given two different labels, groups or folds.

    Examples
    --------
    >>> labels = read_label_csv("labels.csv")      # path,label[,group][,fold]
    >>> labels.paths[0]                           # relative paths are taken from the CSV's folder
    '/data/birds/crow1.wav'
    """
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            rows = list(csv.reader(handle))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise OpenL3Error(f"Cannot read label file {path}: {exc}.") from exc
    rows = [row for row in rows if any(cell.strip() for cell in row)]
    if len(rows) < 2:
        raise OpenL3Error(f"Label file {path} is empty: expected a header path,label[,group][,fold].")
    columns = _header(path, rows[0])
    folder = os.path.dirname(os.path.abspath(path))
    values: dict[str, list] = {name: [] for name in columns}
    seen: dict[str, dict] = {}
    for line, row in enumerate(rows[1:], start=2):
        cells = _cells(path, line, row, columns)
        cells["path"] = _resolve(cells["path"], folder)
        key = file_identity(cells["path"])
        if key in seen:
            _check_repeat(path, line, seen[key], cells)
            continue
        seen[key] = cells
        for name in columns:
            values[name].append(cells[name])
    return FileLabels(values["path"], values["label"], values.get("group"), values.get("fold"), path)


def _check_repeat(path: str, line: int, first: dict, again: dict) -> None:
    """Refuse a file named again with another label, group or fold (the same values count once)."""
    for name in ("label", "group", "fold"):
        if first.get(name) != again.get(name):
            raise OpenL3Error(
                f"{path}, line {line}: {again['path']} has two {name}s, {first[name]!r} and "
                f"{again[name]!r} (one {name} per file)."
            )


def _header(path: str, header: list[str]) -> dict[str, int]:
    """Return the position of each known column of a label file's header."""
    names = [cell.strip().lower() for cell in header]
    if "path" not in names or "label" not in names:
        raise OpenL3Error(
            f"{path}, line 1: the header {','.join(header)!r} needs the columns path and label "
            "(path,label[,group][,fold])."
        )
    return {name: names.index(name) for name in COLUMNS if name in names}


def _cells(path: str, line: int, row: list[str], columns: dict[str, int]) -> dict:
    """Return the known cells of one row of a label file, checked."""
    cells: dict = {}
    for name, position in columns.items():
        value = row[position].strip() if position < len(row) else ""
        if not value:
            raise OpenL3Error(f"{path}, line {line}: no {name} (the row is {','.join(row)!r}).")
        cells[name] = value
    if "fold" in cells:
        try:
            cells["fold"] = int(cells["fold"])
        except ValueError:
            raise OpenL3Error(f"{path}, line {line}: fold {cells['fold']!r} is not an integer.") from None
    return cells


def _resolve(path: str, folder: str) -> str:
    """Return ``path`` of a label file in ``folder``: a URI or absolute path as is, else joined."""
    if is_uri(path) or os.path.isabs(path):
        return path
    joined = os.path.join(folder, path)
    tidy = os.path.normpath(joined)  # shown tidy, unless ".." follows a link (then it is the link's)
    return tidy if file_identity(tidy) == file_identity(joined) else joined


def folder_labels(folders: Sequence[str] | str, modality: str = "audio") -> FileLabels:
    """Label the files of each subfolder of ``folders`` by the subfolder's name.

    ``IN/dog/a.wav`` is labelled ``dog``; files of ``modality`` are taken from each
    subfolder (and its own subfolders), files directly in ``IN`` are not.

    Raises
    ------
    OpenL3Error
        If a folder does not exist or no subfolder holds any file of ``modality``.

    Examples
    --------
    >>> labels = folder_labels("sounds/")         # sounds/crow/*.wav, sounds/wren/*.wav
    >>> labels.classes
    ['crow', 'wren']
    """
    if modality not in ("audio", "image"):
        raise InvalidArgumentError(f"Invalid modality {modality!r}: use audio or image.")
    extensions = tuple("." + e for e in EXTENSIONS[modality])
    paths: list[str] = []
    labels: list[str] = []
    seen: dict[str, str] = {}
    for folder in [folders] if isinstance(folders, str) else list(folders):
        if not os.path.isdir(folder):
            raise OpenL3Error(f"{folder} is not a folder (its subfolders name the classes).")
        for name in sorted(os.listdir(folder)):
            subfolder = os.path.join(folder, name)
            if not os.path.isdir(subfolder):
                continue
            for path, _ in folder_files(subfolder, extensions, recursive=True):
                identity = file_identity(path)
                if seen.get(identity) == name:  # the same file again in its class (a link): once
                    continue
                seen.setdefault(identity, name)  # in two classes: refused by FileLabels
                paths.append(path)
                labels.append(name)
    source = ", ".join([folders] if isinstance(folders, str) else folders)
    if not paths:
        raise OpenL3Error(f"{source}: no subfolder holds {modality} files (IN/<class>/<file>).")
    return FileLabels(paths, labels, source=source)


def check_files(labels: FileLabels) -> None:
    """Refuse labels whose local files do not exist, naming them (URIs are not checked here).

    Raises
    ------
    OpenL3Error
        Naming the missing files (the first ten, and how many).

    Examples
    --------
    >>> check_files(read_label_csv("labels.csv"))   # raises, naming the files that are missing
    """
    missing = [path for path in labels.paths if not is_uri(path) and not os.path.isfile(path)]
    if missing:
        listed, verb = first_few(missing), "does" if len(missing) == 1 else "do"
        raise OpenL3Error(
            f"{labels.source}: {counted(len(missing), 'labelled file')} {verb} not exist: {listed}."
        )


def counted(count: int, noun: str) -> str:
    """Return ``count`` and ``noun``, plural unless one.

    Examples
    --------
    >>> counted(1, "file"), counted(3, "file"), counted(0, "class")
    ('1 file', '3 files', '0 classes')
    """
    if count == 1:
        return f"1 {noun}"
    return f"{count} {noun}es" if noun.endswith(("s", "sh", "ch", "x")) else f"{count} {noun}s"


def first_few(texts: list[str], shown: int = 10, separator: str = ", ") -> str:
    """Return the first ``shown`` of ``texts`` joined by ``separator``, and how many more.

    Examples
    --------
    >>> first_few(["a", "b", "c", "d"], 2)
    'a, b and 2 more'
    >>> first_few(["a"], 2)
    'a'
    """
    more = f" and {len(texts) - shown} more" if len(texts) > shown else ""
    return separator.join(texts[:shown]) + more


def _matches(paths: Sequence[str], dataset: DatasetRows | None) -> list[str | None]:
    """Return, for each of ``paths``, the dataset's name of that file, or None."""
    return [None] * len(paths) if dataset is None else dataset.match(list(paths))


def unmatched_paths(paths: Sequence[str], dataset: DatasetRows | None) -> list[str]:
    """Return the files of ``paths`` that are not inputs of ``dataset`` (None: a dataset not written yet).

    Examples
    --------
    >>> unmatched_paths(["clips/a.wav", "new.wav"], DatasetRows("clips.l3"))
    ['new.wav']
    """
    return [path for path, name in zip(paths, _matches(paths, dataset), strict=True) if name is None]


def match_paths(paths: Sequence[str], dataset: DatasetRows, source: str = "inputs") -> list[str]:
    """Return, for each file of ``paths``, the dataset's name of that file.

    A file matches an input of the dataset that is the same file, however either is named
    (:meth:`openl3.dataset.rows.DatasetRows.match`).

    Raises
    ------
    OpenL3Error
        Naming the files that are not inputs of ``dataset`` (the first ten, and how many), and ``source``.

    Examples
    --------
    >>> match_paths(["/data/clips/a.wav"], DatasetRows("clips.l3"))   # the dataset named it clips/a.wav
    ['clips/a.wav']
    """
    matched = _matches(paths, dataset)
    missing = [path for path, name in zip(paths, matched, strict=True) if name is None]
    if missing:
        count = len(missing)
        have = "has" if count == 1 else "have"
        raise OpenL3Error(f"{source}: {counted(count, 'file')} {have} no embeddings: {first_few(missing)}.")
    return [name for name in matched if name is not None]


def match_inputs(labels: FileLabels, dataset: DatasetRows) -> list[str]:
    """Return, for each labelled file, the dataset's name of that file (inputs without a label are left out).

    Raises
    ------
    OpenL3Error
        Naming the labelled files that are not inputs of ``dataset`` (the first ten, and how many).

    Examples
    --------
    >>> names = match_inputs(folder_labels("sounds/"), DatasetRows("sounds.l3"))
    """
    return match_paths(labels.paths, dataset, f"{labels.source}: labelled")

"""What a classifier says of files (and of each window): tables written as CSV or Parquet."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._util.atomic import replacing
from .._util.exceptions import OpenL3Error

#: The formats of prediction tables, by file extension.
TABLE_FORMATS = {".csv": "csv", ".parquet": "parquet"}


@dataclass
class Predictions:
    """The label and class probabilities of each file (or of each window of each file).

    Attributes
    ----------
    paths : list of str
        The files, as given.
    labels : list of str
        The most probable class of each row.
    probabilities : np.ndarray, shape (N, n_classes)
        The probability of each class (columns in the order of ``classes``).
    classes : list of str
        The model's classes.
    index, timestamps : np.ndarray or None
        For per-window predictions, the window within its file and its time in seconds.
    windows : Predictions or None
        The per-window predictions of the same files, when asked for.
    failed : list of dict
        ``{"path": ..., "reason": ...}`` of the files left out, as they could not be
        embedded (``skip_failed``); not written with the table.

    Examples
    --------
    >>> result = openl3.classify.predict("birds.skops", ["new/"], per_window=True)
    >>> result.paths[0], result.labels[0], result.probabilities.shape
    ('new/a.wav', 'crow', (3, 2))
    >>> result.write("predictions.csv")
    """

    paths: list[str]
    labels: list[str]
    probabilities: np.ndarray
    classes: list[str]
    index: np.ndarray | None = None
    timestamps: np.ndarray | None = None
    windows: Predictions | None = None
    failed: list[dict[str, str]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.paths)

    def columns(self) -> dict[str, Any]:
        """Return the table's columns: path, [index, timestamp,] label, probability, probability_<class>..."""
        columns: dict[str, Any] = {"path": list(self.paths)}
        if self.index is not None and self.timestamps is not None:
            columns["index"] = np.asarray(self.index, np.int32)
            columns["timestamp"] = np.asarray(self.timestamps, np.float64)
        columns["label"] = list(self.labels)
        columns["probability"] = self.probabilities.max(axis=1) if len(self) else np.zeros(0)
        for i, name in enumerate(self.classes):
            columns[f"probability_{name}"] = self.probabilities[:, i]
        return columns

    def table(self) -> Any:
        """Return the predictions as a pyarrow Table (:meth:`columns`)."""
        import pyarrow as pa

        return pa.table({name: pa.array(values) for name, values in self.columns().items()})

    def write(self, path: str) -> None:
        """Write the table to ``path`` (``.csv`` or ``.parquet``), atomically."""
        import pyarrow.csv as pcsv
        import pyarrow.parquet as pq

        kind = table_format(path)
        table = self.table()
        try:
            with replacing(path) as (temporary,):
                if kind == "csv":
                    pcsv.write_csv(table, temporary)
                else:
                    pq.write_table(table, temporary)
        except OSError as exc:
            raise OpenL3Error(f"Cannot write predictions {path}: {exc}.") from exc


def table_format(path: str) -> str:
    """Return "csv" or "parquet" for a table file named ``path``, else raise an OpenL3Error."""
    extension = os.path.splitext(path)[1].lower()
    if extension not in TABLE_FORMATS:
        raise OpenL3Error(f"Cannot write predictions to {path}: name a .csv or .parquet file.")
    return TABLE_FORMATS[extension]


def from_probabilities(
    paths: list[str], probabilities: np.ndarray, classes: list[str], **windows: Any
) -> Predictions:
    """Return the predictions of rows with ``probabilities`` (labels are the most probable classes)."""
    labels = [classes[i] for i in probabilities.argmax(axis=1)] if len(paths) else []
    return Predictions(list(paths), labels, probabilities, list(classes), **windows)

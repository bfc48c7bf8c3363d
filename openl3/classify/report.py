"""Scores of a cross-validation: accuracy, macro-F1, per class, per fold; JSON and a confusion PNG."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np

from .._util.atomic import replacing
from .._util.exceptions import OpenL3Error


def scores(truth: Sequence[str], predicted: Sequence[str], classes: Sequence[str]) -> dict[str, Any]:
    """Return accuracy, macro-F1 and per-class precision, recall, F1 and support."""
    from sklearn.metrics import accuracy_score, f1_score, precision_recall_fscore_support

    classes = list(classes)
    precision, recall, f1, support = precision_recall_fscore_support(
        truth, predicted, labels=classes, zero_division=0
    )
    return {
        "accuracy": float(accuracy_score(truth, predicted)),
        "macro_f1": float(f1_score(truth, predicted, labels=classes, average="macro", zero_division=0)),
        "per_class": {
            name: {
                "precision": float(precision[i]),
                "recall": float(recall[i]),
                "f1": float(f1[i]),
                "support": int(support[i]),
            }
            for i, name in enumerate(classes)
        },
    }


def fold_scores(truth: Sequence[str], predicted: Sequence[str], classes: Sequence[str]) -> dict[str, Any]:
    """Return the accuracy and macro-F1 of one fold.

    The macro-F1 averages over the classes of the fold (true or predicted there): a class
    of the collection that a grouped split leaves out of a fold would count as an F1 of 0.
    """
    present = set(truth) | set(predicted)
    everything = scores(truth, predicted, [name for name in classes if name in present])
    return {"files": len(truth), "accuracy": everything["accuracy"], "macro_f1": everything["macro_f1"]}


def confusion(truth: Sequence[str], predicted: Sequence[str], classes: Sequence[str]) -> list[list[int]]:
    """Return the confusion matrix: row = true class, column = predicted class."""
    from sklearn.metrics import confusion_matrix

    return confusion_matrix(truth, predicted, labels=list(classes)).tolist()


def write_json(report: dict[str, Any], path: str) -> None:
    """Write ``report`` as JSON to ``path``, atomically."""
    try:
        with replacing(path) as (temporary,), open(temporary, "w") as handle:
            json.dump(report, handle, indent=2)
            handle.write("\n")
    except OSError as exc:
        raise OpenL3Error(f"Cannot write report {path}: {exc}.") from exc


def write_confusion_png(
    matrix: Sequence[Sequence[int]], classes: Sequence[str], path: str, title: str = ""
) -> None:
    """Draw the confusion matrix (counts, rows = true class) as a PNG at ``path``, atomically.

    Drawn with matplotlib's Agg canvas on a figure of its own: the user's backend and
    figures are left alone.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    counts = np.asarray(matrix)
    size = 2.5 + 0.45 * len(classes)
    figure = Figure(figsize=(size + 1, size), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    image = axes.imshow(counts, cmap="Blues")
    figure.colorbar(image, ax=axes, fraction=0.046, pad=0.04)
    ticks = np.arange(len(classes))
    # class names and title as they are: "$x$" was drawn as math, and "$\foo{$" stopped the drawing
    axes.set_xticks(ticks, labels=list(classes), rotation=45, ha="right", parse_math=False)
    axes.set_yticks(ticks, labels=list(classes), parse_math=False)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    if title:
        axes.set_title(title, parse_math=False)
    middle = counts.max() / 2 if counts.size else 0
    for (row, column), count in np.ndenumerate(counts):
        color = "white" if count > middle else "black"
        axes.text(column, row, str(count), ha="center", va="center", color=color)
    figure.tight_layout()
    try:
        with replacing(path) as (temporary,):
            figure.savefig(temporary, format="png")
    except OSError as exc:
        raise OpenL3Error(f"Cannot write {path}: {exc}.") from exc

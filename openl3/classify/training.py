"""Training: a scikit-learn pipeline on pooled embeddings, scored by grouped cross-validation.

The pipeline scales the features, optionally reduces them by PCA, then classifies them
(logistic regression, a linear SVM with calibrated probabilities, or a small MLP).
Cross-validation keeps the files of one group (clips of one recording) on one side of
every split; without groups it uses the label file's folds, else it splits by file.
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import Any

import numpy as np

from .._util.exceptions import InvalidArgumentError, OpenL3Error, OpenL3Warning
from .._util.progress import progress_bar
from ..models.settings import EmbeddingSettings
from .labels import FileLabels, counted
from .model import Classifier
from .report import confusion, fold_scores, scores

logger = logging.getLogger("openl3")

#: The classifiers, the first the default.
CLASSIFIERS = ("logreg", "svm", "mlp")


def build_pipeline(classifier: str = "logreg", pca: int | None = None, seed: int = 0) -> Any:
    """Return an unfitted pipeline: standard scaling, PCA to ``pca`` dimensions (if given), the classifier.

    Examples
    --------
    >>> pipeline = build_pipeline("logreg", pca=64, seed=0)
    >>> [name for name, _ in pipeline.steps]
    ['scale', 'pca', 'classifier']
    """
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.decomposition import PCA
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import LinearSVC

    if classifier not in CLASSIFIERS:
        raise InvalidArgumentError(f"Invalid classifier {classifier!r}: use one of {', '.join(CLASSIFIERS)}.")
    if pca is not None and (not isinstance(pca, int) or pca < 1):
        raise InvalidArgumentError(f"Invalid pca {pca!r}: expected a positive number of dimensions.")
    models = {
        "logreg": lambda: LogisticRegression(max_iter=2000),
        "svm": lambda: CalibratedClassifierCV(LinearSVC(dual=True, random_state=seed), cv=3),
        "mlp": lambda: MLPClassifier(hidden_layer_sizes=(128,), max_iter=500, random_state=seed),
    }
    steps: list[tuple[str, Any]] = [("scale", StandardScaler())]
    if pca:
        steps.append(("pca", PCA(n_components=pca, random_state=seed)))
    steps.append(("classifier", models[classifier]()))
    return Pipeline(steps)


def check_classes(labels: FileLabels, folds: int | None) -> None:
    """Refuse a single class, and a class with fewer files than ``folds`` (None: no check)."""
    counts = Counter(labels.labels)
    if len(counts) < 2:
        only = next(iter(counts), "none")
        raise OpenL3Error(f"{labels.source}: a classifier needs two classes or more; all files are {only!r}.")
    if folds is not None:
        few = sorted(name for name, count in counts.items() if count < folds)
        if few:
            shown = ", ".join(f"{name!r} ({counted(counts[name], 'file')})" for name in few)
            raise OpenL3Error(
                f"{labels.source}: classes with fewer files than the {folds} folds: {shown}. "
                "Add files, or use fewer folds."
            )


def splits(labels: FileLabels, folds: int, seed: int = 0) -> tuple[list[tuple[np.ndarray, np.ndarray]], str]:
    """Return the cross-validation splits (train, test positions) of ``labels`` and how they were made.

    By the ``group`` column (a group on one side only, classes stratified), else by the
    ``fold`` column (each fold tested once), else by file (classes stratified).
    """
    from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

    y = np.asarray(labels.labels)
    positions = np.zeros(len(y))
    if labels.groups is not None:
        groups = np.asarray(labels.groups)
        if len(set(labels.groups)) < folds:
            raise OpenL3Error(
                f"{labels.source}: {len(set(labels.groups))} groups, fewer than the {folds} folds."
            )
        check_classes(labels, folds)
        kfold = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
        made = list(kfold.split(positions, y, groups))
        _warn_of_classes_missing_from_folds(labels, y, groups, made)
        return made, "group"
    if labels.folds is not None:
        given = np.asarray(labels.folds)
        if len(set(labels.folds)) < 2:
            raise OpenL3Error(f"{labels.source}: the fold column names one fold; cross-validation needs two.")
        check_classes(labels, None)
        return [
            (np.flatnonzero(given != f), np.flatnonzero(given == f)) for f in sorted(set(labels.folds))
        ], "fold"
    check_classes(labels, folds)
    kfold = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    return list(kfold.split(positions, y)), "file"


def _warn_of_classes_missing_from_folds(
    labels: FileLabels, y: np.ndarray, groups: np.ndarray, made: list[tuple[np.ndarray, np.ndarray]]
) -> None:
    """Warn of each fold that tests no file of a class: that class has fewer groups than folds.

    Stratified by group, a class of 3 recordings cannot be in 5 test folds: the other two
    score without it (a perfect classifier's fold of one class scored a macro-F1 of 0.45).
    """
    import warnings

    for number, (_, test) in enumerate(made, 1):
        missing = sorted(set(y) - set(y[test]))
        for name in missing:
            count = len(set(groups[y == name]))
            warnings.warn(
                f"{labels.source}: fold {number} of {len(made)} tests no file of class {name!r}, which has "
                f"{counted(count, 'group')}: its scores leave {name!r} out. Give that class "
                f"more groups (recordings), or use fewer folds (--folds {max(2, count)}).",
                OpenL3Warning,
                stacklevel=3,
            )


def _fit(pipeline: Any, features: np.ndarray, y: np.ndarray) -> Any:
    """Fit ``pipeline``, its errors (PCA too large, too few files per class) as OpenL3Error."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            return pipeline.fit(features, y)
    except ValueError as exc:
        raise OpenL3Error(f"Cannot fit the classifier on {len(y)} files: {exc}") from exc


def cross_validate(
    features: np.ndarray,
    labels: FileLabels,
    pipeline: Any,
    folds: int = 5,
    seed: int = 0,
    verbose: bool = False,
) -> dict[str, Any]:
    """Return the cross-validation report of ``pipeline`` on ``features`` (one row per labelled file).

    The report has ``accuracy``, ``macro_f1``, ``per_class``, ``per_fold``, ``confusion``
    (rows = true class), ``classes``, ``split`` (group, fold or file) and ``folds``.

    Examples
    --------
    >>> labels = openl3.labels.folder_labels("sounds/")
    >>> features = EmbeddingStore(settings, "sounds.l3").features(labels.paths, "mean")
    >>> report = cross_validate(features, labels, build_pipeline("logreg"), folds=5)
    >>> report["macro_f1"], report["folds"], report["split"]
    (0.97, 5, 'file')
    """
    from sklearn.base import clone

    y = np.asarray(labels.labels)
    classes = labels.classes
    folds_made, how = splits(labels, folds, seed)
    predicted = np.empty(len(y), dtype=object)
    per_fold = []
    with progress_bar(len(folds_made), verbose, "fold") as bar:
        for number, (train, test) in enumerate(folds_made, 1):
            if len(set(y[train])) < 2:
                hint = "the other folds need two classes" if how == "fold" else "use fewer folds"
                raise OpenL3Error(f"{labels.source}: fold {number} leaves one class to train on; {hint}.")
            fitted = _fit(clone(pipeline), features[train], y[train])
            predicted[test] = fitted.predict(features[test])
            per_fold.append({"fold": number, **fold_scores(y[test], list(predicted[test]), classes)})
            bar.update()
    report = scores(y, list(predicted), classes)
    logger.info("Cross-validation (%d folds by %s): accuracy %.3f, macro-F1 %.3f", len(per_fold), how,
                report["accuracy"], report["macro_f1"])  # fmt: skip
    return {
        **report,
        "per_fold": per_fold,
        "confusion": confusion(y, list(predicted), classes),
        "classes": classes,
        "split": how,
        "folds": len(per_fold),
        "files": len(y),
    }


def fit_classifier(
    features: np.ndarray,
    labels: FileLabels,
    settings: EmbeddingSettings,
    pooling: str = "mean",
    classifier: str = "logreg",
    pca: int | None = None,
    folds: int | None = 5,
    seed: int = 0,
    verbose: bool = False,
) -> tuple[Classifier, dict[str, Any] | None]:
    """Cross-validate (unless ``folds`` is None) then fit on every file; return the model and the report."""
    pipeline = build_pipeline(classifier, pca, seed)
    report = None
    if folds is not None:
        if folds < 2:
            raise InvalidArgumentError(f"Invalid folds {folds!r}: cross-validation needs two folds or more.")
        report = cross_validate(features, labels, pipeline, folds, seed, verbose)
    else:
        check_classes(labels, None)
    fitted = _fit(pipeline, features, np.asarray(labels.labels))
    info: dict[str, Any] = {"classifier": classifier, "pca": pca, "seed": seed, "files": len(labels)}
    if report is not None:
        info["scores"] = {k: report[k] for k in ("accuracy", "macro_f1", "split", "folds")}
    return Classifier(fitted, settings, pooling, info), report

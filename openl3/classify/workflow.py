"""Train a classifier on labelled files, and apply it to new files: the two calls of the command.

:func:`train` takes labels (folder names or a label file), the files' embeddings (read
from a dataset, or computed into one), pools them per file, cross-validates and fits a
pipeline, and writes the model, its report and confusion matrix. :func:`predict` embeds
new files with the model's own settings and returns (and writes) its predictions.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from .._util.exceptions import InvalidArgumentError, OpenL3Error
from .._util.identity import file_identity
from ..models.settings import EmbeddingSettings
from .embedding import (
    SETTING_NAMES,
    EmbeddingStore,
    dataset_settings,
    make_embedder,
    media_files,
    pooled_features,
)
from .labels import FileLabels, check_files, folder_labels, read_label_csv
from .model import Classifier, check_record_target, load_model, record_path
from .pooling import check_pooling
from .predictions import Predictions, from_probabilities, table_format
from .report import write_confusion_png, write_json
from .training import fit_classifier

logger = logging.getLogger("openl3")

#: The embedding settings :func:`train` takes as keyword arguments (the image ones are among them).
KNOWN_SETTINGS = SETTING_NAMES["audio"]


def default_dataset(model_path: str) -> str:
    """Return the dataset folder kept beside model ``path`` by default (``m.skops`` → ``m.embeddings``).

    Examples
    --------
    >>> default_dataset("models/birds.skops")
    'models/birds.embeddings'
    """
    return os.path.splitext(model_path)[0] + ".embeddings"


def default_confusion(model_path: str) -> str:
    """Return the confusion matrix PNG written beside model ``path`` (``m.skops`` → ``m.confusion.png``).

    Examples
    --------
    >>> default_confusion("models/birds.skops")
    'models/birds.confusion.png'
    """
    return os.path.splitext(model_path)[0] + ".confusion.png"


def resolve_labels(inputs: Sequence[str], labels: FileLabels | str | None, modality: str) -> FileLabels:
    """Return the labels of a training: a label file's (within ``inputs``, if given), else folder names."""
    if labels is None:
        if not inputs:
            raise OpenL3Error("No inputs: give folders whose subfolders name the classes, or a label file.")
        found = folder_labels(list(inputs), modality)
    else:
        found = read_label_csv(labels) if isinstance(labels, str | os.PathLike) else labels
        if inputs:
            found = _within(found, inputs)
    check_files(found)
    return found


def _within(labels: FileLabels, inputs: Sequence[str]) -> FileLabels:
    """Return the labels of the files that are, or are inside, one of ``inputs``."""
    roots = [file_identity(p) for p in inputs]
    keep = [
        i
        for i, path in enumerate(labels.paths)
        if any(
            file_identity(path) == root or file_identity(path).startswith(root.rstrip(os.sep) + os.sep)
            for root in roots
        )
    ]
    if not keep:
        raise OpenL3Error(f"{labels.source}: no labelled file is in {', '.join(inputs)}.")
    return labels.subset(keep)


def check_outputs(files: dict[str, str | None], folder: str | None = None) -> None:
    """Refuse outputs of one call that share a path, or a file output that is a folder.

    ``files`` maps what each file is (named in errors) to its path (None: not written);
    ``folder`` is the dataset folder, which must not be one of them either.

    Raises
    ------
    OpenL3Error
        Naming the two outputs and their path, or the output that is a folder.
    """
    seen: dict[str, str] = {}
    for name, path in [*files.items(), ("dataset", folder)]:
        if path is None:
            continue
        key = file_identity(os.fspath(path))
        if key in seen:
            raise OpenL3Error(f"The {seen[key]} and the {name} would both be {path}: give each its own path.")
        seen[key] = name
        if name != "dataset" and os.path.isdir(path):
            raise OpenL3Error(f"Cannot write the {name} to {path}: it is a folder.")


def resolve_settings(
    modality: str, dataset: str | None, given: dict[str, Any]
) -> tuple[EmbeddingSettings, str | None]:
    """Return the embedding settings, and the weight file of weights other than the official ones.

    The settings are ``given`` ones, over the dataset's (if it has rows), over the defaults,
    as computed here (:func:`~openl3.classify.embedding.embedding_settings`).
    """
    unknown = sorted(set(given) - set(KNOWN_SETTINGS))
    if unknown:
        raise InvalidArgumentError(
            f"Unknown embedding settings: {', '.join(unknown)} (known: {', '.join(KNOWN_SETTINGS)})."
        )
    found = dataset_settings(dataset, modality)
    base: dict[str, Any] = {}
    if found is not None:
        settings, weights_file = found
        modality = settings.modality
        base = {**settings.arguments(), "weights": weights_file}
    arguments = {**base, **_given(given)}
    embedder = make_embedder(modality, **arguments)
    return embedder.settings(), embedder.weights_path


def _given(settings: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in settings.items() if v is not None}


def train(
    inputs: Sequence[str] = (),
    *,
    labels: FileLabels | str | None = None,
    modality: str = "audio",
    dataset: str | None = None,
    model: str | None = None,
    report: str | None = None,
    confusion: str | None = None,
    pooling: str = "mean",
    classifier: str = "logreg",
    pca: int | None = None,
    folds: int | None = 5,
    seed: int = 0,
    batch_size: int = 32,
    verbose: bool = False,
    skip_failed: bool = False,
    **settings: Any,
) -> Classifier:
    """Train a classifier on labelled files; cross-validate it; save it, its report and confusion matrix.

    Parameters
    ----------
    inputs : sequence of str
        Folders whose subfolders name the classes (``IN/dog/*.wav``); with ``labels``,
        only the labelled files in these files or folders (all of them if empty).
    labels : FileLabels, str or None
        Labels, or a label file ``path,label[,group][,fold]``.
    modality : {"audio", "image"}
        The files' modality.
    dataset : str or None
        The Parquet dataset of the files' embeddings: files already in it are read back,
        the others embedded into it. None: beside ``model`` (``MODEL.embeddings``), or a
        temporary folder without ``model``.
    model, report, confusion : str or None
        Where to write the model (and its record ``MODEL.json``), the cross-validation
        report as JSON, and the confusion matrix PNG (default beside the model:
        ``MODEL.confusion.png``).
    pooling, classifier, pca, folds, seed
        Pooling of each file's windows (``mean``, ``mean+std``, ``max``); the classifier
        (``logreg``, ``svm``, ``mlp``); PCA dimensions (None: no PCA); cross-validation
        folds (None: none); the seed of splits and classifiers.
    batch_size, verbose
        Windows per model call, and progress bars, for the files embedded.
    skip_failed : bool
        Leave out the files that cannot be embedded (damaged audio...) and train on the
        rest, with an :class:`~openl3.OpenL3Warning` naming them; they are listed in the
        report (``failed``) and in ``classifier.failed``, and counted in the model's record.
        False: refuse them.
    **settings
        Embedding settings (``input_repr``, ``content_type``, ``embedding_size``,
        ``hop_size``, ``center``, ``frontend``, ``precision``): those given, over the
        dataset's if it has rows, over the defaults of :class:`openl3.AudioEmbedder`.

    Returns
    -------
    Classifier
        The model fitted on every file; ``classifier.report`` is the cross-validation report.

    Raises
    ------
    OpenL3Error
        For a label file naming missing files, a single class, a class with fewer files
        than folds (those left out by ``skip_failed`` not counted), a dataset with other
        settings, files that cannot be embedded (with ``skip_failed``: when none can).

    Examples
    --------
    >>> model = openl3.classify.train(["sounds/"], model="birds.skops", input_repr="mel128",
    ...                               embedding_size=512, report="report.json")
    >>> model.report["macro_f1"]
    0.96
    """
    check_pooling(pooling)
    if dataset is None and model is not None:
        dataset = default_dataset(model)
    png = confusion if confusion is not None or model is None else default_confusion(model)
    record = None if model is None else record_path(model)
    outputs = {"model": model, "model record": record, "report": report, "confusion matrix": png}
    check_outputs(outputs, dataset)
    if model is not None:
        check_record_target(model)
    found = resolve_labels(inputs, labels, modality)
    wanted, weights = resolve_settings(modality, dataset, settings)
    store = EmbeddingStore(wanted, dataset, batch_size, verbose, skip_failed, weights)
    embedded = store.embedded(found.paths, f"{found.source}: labelled")
    found = found.subset(embedded.positions) if embedded.failed else found
    features = pooled_features(embedded.names, embedded.rows, pooling)
    fitted, scores = fit_classifier(features, found, wanted, pooling, classifier, pca, folds, seed, verbose)
    fitted.failed, fitted.weights_file = embedded.failed, store.weights
    if skip_failed:
        fitted.info["failed"] = len(embedded.failed)
    if scores is not None:
        scores = {**scores, "settings": wanted.record(), "pooling": pooling, "classifier": classifier}
        scores["pca"] = pca
        scores["failed"] = embedded.failed
        fitted.report = scores
        if report is not None:
            write_json(scores, report)
        if png is not None:
            title = f"{classifier}, {scores['folds']} folds: macro-F1 {scores['macro_f1']:.3f}"
            write_confusion_png(scores["confusion"], scores["classes"], png, title)
    if model is not None:
        fitted.save(model)
    return fitted


def predict(
    model: Classifier | str,
    inputs: Sequence[str],
    *,
    output: str | None = None,
    dataset: str | None = None,
    per_window: bool = False,
    windows_output: str | None = None,
    batch_size: int = 32,
    verbose: bool = False,
    skip_failed: bool = False,
    weights: str | None = None,
) -> Predictions:
    """Return (and write) the predictions of ``model`` for files, embedded with the model's settings.

    Parameters
    ----------
    model : Classifier or str
        A model, or the path of a saved one (checked as :func:`load_model` checks it).
    inputs : sequence of str
        Files, or folders of files of the model's modality (with their subfolders).
    output, windows_output : str or None
        Where to write the file predictions and the per-window ones (``.csv`` or ``.parquet``).
    dataset : str or None
        A Parquet dataset of the files' embeddings (those missing are embedded into it);
        it must have been made with the model's settings. None: a temporary folder.
    per_window : bool
        Also predict each window (``result.windows``), for models on ``mean`` or ``max``
        pooling, where one window's embedding is a valid input: sound-event timelines.
    batch_size, verbose
        Windows per model call, and progress bars, for the files embedded.
    skip_failed : bool
        Leave out the files that cannot be embedded (damaged audio...) and predict the
        rest, with an :class:`~openl3.OpenL3Warning` naming them; they are listed in
        ``result.failed``. False: refuse them.
    weights : str or None
        The weight file, for a model trained on embeddings of weights other than the
        official ones (default: the file its record names).

    Raises
    ------
    OpenL3Error
        For a dataset made with other settings, per-window predictions with ``mean+std``
        pooling, missing inputs, files that cannot be embedded (with ``skip_failed``: when
        none can), a bad output name.

    Examples
    --------
    >>> result = openl3.classify.predict("birds.skops", ["new/"], output="predictions.csv")
    >>> result.labels
    ['crow', 'wren', 'crow']
    """
    classifier = load_model(model) if isinstance(model, str | os.PathLike) else model
    per_window = per_window or windows_output is not None
    if per_window and classifier.pooling == "mean+std":
        raise OpenL3Error(
            "Per-window predictions need a model on mean or max pooling (this one is mean+std)."
        )
    for path in (output, windows_output):
        if path is not None:
            table_format(path)
    given = model if isinstance(model, str | os.PathLike) else None
    check_outputs({"model": given, "predictions": output, "per-window predictions": windows_output})
    paths = media_files(list(inputs), classifier.settings.modality)
    if not paths:
        raise OpenL3Error(f"No files to predict in {', '.join(inputs)}.")
    store = EmbeddingStore(
        classifier.settings, dataset, batch_size, verbose, skip_failed, weights or classifier.weights_file
    )
    embedded = store.embedded(paths)
    paths, names, rows = [paths[i] for i in embedded.positions], embedded.names, embedded.rows
    result = _file_predictions(classifier, paths, names, rows)
    result.failed = embedded.failed
    if per_window:
        result.windows = _window_predictions(classifier, paths, names, rows)
        if windows_output is not None:
            result.windows.write(windows_output)
    if output is not None:
        result.write(output)
    return result


def _file_predictions(classifier: Classifier, paths: list[str], names: list[str], rows: Any) -> Predictions:
    """Return the predictions of each file of ``paths`` (``names``: the dataset's names of them)."""
    probabilities = classifier.predict_proba(pooled_features(names, rows, classifier.pooling))
    return from_probabilities(paths, probabilities, classifier.classes)


def _window_predictions(classifier: Classifier, paths: list[str], names: list[str], rows: Any) -> Predictions:
    """Return the predictions of each window of the files, in the order of ``paths`` then windows."""
    given = dict(zip(names, paths, strict=True))
    rank = {name: i for i, name in reversed(list(enumerate(names)))}
    order = np.lexsort((rows.index, [rank[p] for p in rows.paths]))
    probabilities = classifier.predict_proba(rows.embeddings[order])
    return from_probabilities(
        [given[p] for p in rows.paths[order]],
        probabilities,
        classifier.classes,
        index=rows.index[order],
        timestamps=rows.timestamps[order],
    )

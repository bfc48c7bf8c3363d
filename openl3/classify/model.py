"""A fitted classifier and its files: a skops file and a JSON record beside it.

``MODEL`` holds the scikit-learn pipeline, written by :mod:`skops.io` (no pickle);
``MODEL.json`` records the embedding settings it was trained on
(:class:`~openl3.models.settings.EmbeddingSettings`), the pooling, the classes, its
cross-validation scores and a SHA-256 that covers ``MODEL`` *and* what in the record decides
its predictions (settings, pooling, classes). Both are written together, atomically.
Loading checks the SHA-256 (a changed model file, or a record edited to embed otherwise, is
refused) and then lets skops build only types of scikit-learn, numpy and the few listed in
:data:`ALLOWED_TYPES`; any other type is refused before anything is built. Models saved by
earlier versions (record format 1, whose SHA-256 covers ``MODEL`` only) still load, with a
warning to save them again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import warnings
from typing import Any

import numpy as np

from .._util.atomic import replacing
from .._util.exceptions import InvalidArgumentError, OpenL3Error, OpenL3Warning
from ..models.settings import EmbeddingSettings
from ..version import version
from .embedding import make_embedder
from .pooling import POOLINGS, pool, pooled_size

logger = logging.getLogger("openl3")

#: The record's format name and version (2: the SHA-256 covers the record's settings, pooling, classes).
FORMAT, FORMAT_VERSION = "openl3-classifier", 2
#: What in the record decides the predictions, covered by its SHA-256.
DECIDING = ("settings", "pooling", "classes")

#: Types that skops does not trust by default and our pipelines hold: linear SVM
#: probabilities (calibration) and the MLP's optimizer. Nothing else is loaded.
ALLOWED_TYPES = (
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.calibration._SigmoidCalibration",
    "sklearn.neural_network._stochastic_optimizers.AdamOptimizer",
)


class Classifier:
    """A scikit-learn pipeline on pooled embeddings, with the settings of those embeddings.

    Parameters
    ----------
    pipeline : sklearn.pipeline.Pipeline
        Fitted on pooled embeddings; its ``classes_`` are the labels.
    settings : EmbeddingSettings
        The embedding settings of its features (:func:`~openl3.classify.embedding_settings`).
    pooling : str
        How each file's windows were pooled (:data:`openl3.classify.pooling.POOLINGS`).
    info : dict
        What else is recorded: the classifier's name, PCA size, scores...

    Attributes
    ----------
    report : dict or None
        The full cross-validation report of a model just trained (not saved with it;
        ``info["scores"]`` is).
    failed : list of dict
        ``{"path": ..., "reason": ...}`` of the files a training with ``skip_failed`` left
        out, as they could not be embedded (not saved; ``info["failed"]`` counts them).
    weights_file : str or None
        The weight file the embeddings were made with, where it is not an official one
        (saved in the record, so that predictions find it).

    Examples
    --------
    >>> model = openl3.classify.load_model("birds.skops")
    >>> model.classes, model.settings.input_repr, model.pooling
    (['crow', 'wren'], 'mel128', 'mean')
    >>> labels, probabilities = model.predict_embeddings([embedding])   # one file's (T, D) windows
    """

    def __init__(
        self,
        pipeline: Any,
        settings: EmbeddingSettings,
        pooling: str,
        info: dict[str, Any] | None = None,
        weights_file: str | None = None,
    ):
        if not isinstance(settings, EmbeddingSettings):
            raise InvalidArgumentError(f"Invalid settings {settings!r}: expected EmbeddingSettings.")
        self.pipeline, self.settings, self.pooling = pipeline, settings, pooling
        self.info = dict(info or {})
        self.weights_file = weights_file
        self.report: dict[str, Any] | None = None
        self.failed: list[dict[str, str]] = []

    def __repr__(self) -> str:
        name = self.info.get("classifier", "pipeline")
        return f"Classifier({name}, classes={self.classes}, pooling={self.pooling!r})"

    @property
    def classes(self) -> list[str]:
        """The labels, in the order of the probability columns."""
        return [str(c) for c in self.pipeline.classes_]

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        """Return the probability of each class for each row of pooled ``features``."""
        return np.asarray(self.pipeline.predict_proba(np.asarray(features, np.float32)))

    def predict_embeddings(self, embeddings: list[np.ndarray]) -> tuple[list[str], np.ndarray]:
        """Return the label and class probabilities of each file's ``(n_windows, D)`` embeddings."""
        features = np.stack([pool(e, self.pooling) for e in embeddings])
        probabilities = self.predict_proba(features)
        return [self.classes[i] for i in probabilities.argmax(1)], probabilities

    def record(self, data: bytes) -> dict[str, Any]:
        """Return the JSON record of the model whose skops file holds ``data``."""
        import sklearn

        kept = {k: v for k, v in self.info.items() if k not in ("sha256", *DECIDING, "weights_file")}
        record = {
            **kept,
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "classes": self.classes,
            "settings": self.settings.record(),
            "pooling": self.pooling,
            "openl3": version,
            "scikit-learn": sklearn.__version__,
        }
        if self.weights_file is not None:
            record["weights_file"] = self.weights_file
        return {**record, "sha256": checksum(data, record)}

    def save(self, path: str) -> None:
        """Write the model to ``path`` (skops) and its record to ``path + ".json"``, atomically."""
        import skops.io as sio

        check_record_target(path)
        data = sio.dumps(self.pipeline)
        record = json.dumps(self.record(data), indent=2, default=_plain)
        try:
            with replacing(path, record_path(path)) as (model_file, record_file):
                with open(model_file, "wb") as handle:
                    handle.write(data)
                with open(record_file, "w") as handle:
                    handle.write(record + "\n")
        except OSError as exc:
            raise OpenL3Error(f"Cannot write model {path}: {exc}.") from exc
        logger.info("Saved model %s (%d classes)", path, len(self.classes))


def checksum(data: bytes, record: dict[str, Any]) -> str:
    """Return the SHA-256 of a model's skops bytes and of what in its record decides its predictions.

    Examples
    --------
    >>> record = {"settings": {"modality": "audio"}, "pooling": "mean", "classes": ["a", "b"]}
    >>> checksum(b"model", record) == checksum(b"model", {**record, "pooling": "max"})
    False
    """
    digest = hashlib.sha256(data)
    digest.update(json.dumps([record.get(key) for key in DECIDING], sort_keys=True).encode())
    return digest.hexdigest()


def record_path(path: str | os.PathLike) -> str:
    """Return the path of the JSON record of model ``path`` (a str, or a path-like object)."""
    return os.fspath(path) + ".json"


def _plain(value: Any) -> Any:
    """Return numpy scalars as Python numbers for JSON."""
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def load_model(path: str) -> Classifier:
    """Load a model saved by :meth:`Classifier.save`, checking its SHA-256 and its types.

    Raises
    ------
    OpenL3Error
        If the model or its record is missing or unreadable, the model's bytes are not
        those recorded, or it holds a type outside scikit-learn's, numpy's and
        :data:`ALLOWED_TYPES`.

    Examples
    --------
    >>> model = load_model("birds.skops")        # its SHA-256 and types checked first
    >>> model.classes
    ['crow', 'wren']
    """
    import skops.io as sio

    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as exc:
        raise OpenL3Error(f"Cannot read model {path}: {exc.strerror or exc}.") from exc
    record = _read_record(path)
    if record.get("format_version", 0) < 2:  # its SHA-256 covers the model file only
        expected = hashlib.sha256(data).hexdigest()
        warnings.warn(
            f"Model {path} was saved by an earlier openl3, whose checksum does not cover its record "
            f"{record_path(path)}: save it again (openl3.classify.load_model(...).save(...)).",
            OpenL3Warning,
            stacklevel=2,
        )
    else:
        expected = checksum(data, record)
    if expected != record.get("sha256"):
        raise OpenL3Error(
            f"Model {path} is not what its record {record_path(path)} describes (SHA-256 differs: the "
            "model file, or the record's settings, pooling or classes, were changed since it was saved)."
        )
    try:
        untrusted = sio.get_untrusted_types(data=data)
    except Exception as exc:  # skops raises many kinds on a damaged file
        raise OpenL3Error(f"Model {path} is not a skops file: {exc}.") from exc
    refused = [name for name in untrusted if name not in ALLOWED_TYPES]
    if refused:
        raise OpenL3Error(f"Model {path} holds types that are not allowed: {', '.join(refused)}.")
    try:
        pipeline = sio.loads(data, trusted=untrusted)
    except Exception as exc:  # a file written to pass the checks above
        raise OpenL3Error(f"Cannot load model {path}: {exc}.") from exc
    if [str(c) for c in getattr(pipeline, "classes_", [])] != record.get("classes"):
        raise OpenL3Error(f"Model {path} does not have the classes its record names.")
    settings = _check_settings(path, record["settings"])
    _check_features(path, pipeline, settings, record["pooling"])
    info = {k: v for k, v in record.items() if k not in ("settings", "pooling", "weights_file")}
    return Classifier(pipeline, settings, record["pooling"], info, record.get("weights_file"))


def _read_record(path: str) -> dict[str, Any]:
    """Return the JSON record of model ``path``, checked."""
    try:
        with open(record_path(path)) as handle:
            record = json.load(handle)
    except FileNotFoundError:
        raise OpenL3Error(
            f"Model {path} has no record {record_path(path)} (save models with openl3)."
        ) from None
    except (OSError, ValueError) as exc:
        raise OpenL3Error(f"Cannot read model record {record_path(path)}: {exc}.") from exc
    if not is_record(record):
        raise OpenL3Error(f"{record_path(path)} is not the record of an openl3 classifier.")
    saved = record.get("format_version", 0)
    if not isinstance(saved, int):
        raise OpenL3Error(f"{record_path(path)} is damaged: format_version {saved!r} is not a number.")
    if saved > FORMAT_VERSION:
        raise OpenL3Error(
            f"Model {path} was saved by a newer openl3 ({record.get('openl3')}): upgrade openl3."
        )
    for key in ("sha256", "settings", "pooling", "classes"):
        if key not in record:
            raise OpenL3Error(f"{record_path(path)} lacks {key!r}.")
    kinds = {"sha256": str, "settings": dict, "classes": list}
    wrong = [key for key, kind in kinds.items() if not isinstance(record[key], kind)]
    if wrong or record["pooling"] not in POOLINGS:
        raise OpenL3Error(f"{record_path(path)} is damaged: {', '.join(wrong) or 'pooling'} not as saved.")
    return record


def _check_settings(path: str, settings: dict[str, Any]) -> EmbeddingSettings:
    """Return the embedding settings of a record, refusing those no embedder computes."""
    try:
        found = EmbeddingSettings.from_record(settings, record_path(path))
        make_embedder(found.modality, **found.arguments())  # checks the values as the embedders do
    except (OpenL3Error, TypeError, ValueError) as exc:
        raise OpenL3Error(f"{record_path(path)} holds invalid embedding settings: {exc}") from exc
    return found


def _check_features(path: str, pipeline: Any, settings: EmbeddingSettings, pooling: str) -> None:
    """Refuse a record whose embeddings' size and pooling do not give the model's input size."""
    size = settings.dimension()
    wanted = getattr(pipeline, "n_features_in_", None)
    if isinstance(size, int) and wanted is not None and pooled_size(size, pooling) != wanted:
        what = f"embedding_size={size}" if settings.output is None else f"output={settings.output!r} ({size})"
        raise OpenL3Error(
            f"{record_path(path)} does not match its model: {what} with {pooling} "
            f"pooling gives {pooled_size(size, pooling)} features, the model takes {wanted}."
        )


def is_record(record: Any) -> bool:
    """Whether ``record`` (parsed JSON) is the record of an openl3 classifier."""
    return isinstance(record, dict) and record.get("format") == FORMAT


def check_record_target(path: str) -> None:
    """Refuse to save model ``path`` if ``path + ".json"`` is a file other than a model record.

    The record is written beside the model; a file already there that is not the record
    of an openl3 classifier (a user's ``notes.json`` for ``-o notes``) is never replaced.

    Raises
    ------
    OpenL3Error
        Naming the model and the file its record would replace.
    """
    target = record_path(path)
    if not os.path.lexists(target):
        return
    try:
        with open(target) as handle:
            ours = is_record(json.load(handle))
    except (OSError, ValueError):
        ours = False
    if not ours:
        raise OpenL3Error(
            f"Cannot save model {path}: its record would replace {target}, which is not an openl3 "
            "model record (name the model otherwise, e.g. MODEL.skops)."
        )

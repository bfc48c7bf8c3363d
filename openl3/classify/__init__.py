"""Classifiers on embeddings: train, evaluate, save and apply them (``openl3[classify]``).

:func:`train` labels files (folder names or a label file), pools each file's window
embeddings, cross-validates a scikit-learn pipeline grouped by recording, and saves the
model (skops, with its settings and SHA-256) with a report and a confusion matrix.
:func:`predict` embeds new files with the model's own settings and predicts them (and
each window). :class:`EmbeddingPooler` brings pooled embeddings into a user's own
scikit-learn pipeline. scikit-learn, skops and matplotlib are imported on first use.

Modules: :mod:`~openl3.classify.embedding` (settings, the dataset that keeps
embeddings), :mod:`~openl3.classify.training` (pipelines, cross-validation),
:mod:`~openl3.classify.report` (scores, JSON, PNG), :mod:`~openl3.classify.model`
(saving and safe loading), :mod:`~openl3.classify.predictions` (tables),
:mod:`~openl3.classify.workflow` (train, predict), :mod:`~openl3.classify.transformer`.
"""

from .embedding import EmbeddingStore, embedding_settings
from .model import ALLOWED_TYPES, Classifier, load_model
from .predictions import Predictions
from .training import CLASSIFIERS, build_pipeline, cross_validate
from .transformer import EmbeddingPooler
from .workflow import default_confusion, default_dataset, predict, train

__all__ = [
    "ALLOWED_TYPES",
    "CLASSIFIERS",
    "Classifier",
    "EmbeddingPooler",
    "EmbeddingStore",
    "Predictions",
    "build_pipeline",
    "cross_validate",
    "default_confusion",
    "default_dataset",
    "embedding_settings",
    "load_model",
    "predict",
    "train",
]

"""What the computation of every modality shares: checks, a model loaded on first use, settings.

:class:`Embedder` is the base of :class:`openl3.audio.compute.AudioComputation` and
:class:`openl3.image.compute.ImageComputation` (and so of the public embedders). It says
what its embeddings are made with, as computed (:meth:`Embedder.settings`, an
:class:`~openl3.models.settings.EmbeddingSettings`), and it is the one way to build a
computation from recorded settings (:meth:`Embedder.from_settings`): datasets, Ray actors,
search queries and classifiers all build theirs there, so none can drop a setting.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import numpy as np

from .._util.exceptions import InvalidArgumentError, OpenL3Error
from .._util.validation import check_positive_int, check_verbose
from .batching import embed_all
from .precision import check_precision, computed_precision
from .registry import REGISTRY, weight_file
from .settings import EmbeddingSettings
from .store import locate, resolve, warn_unofficial, weights_identity

__all__ = ["Embedder"]


class Embedder:
    """What the embedder of every modality shares: common checks, a model loaded on first use.

    Subclasses set ``unit`` (for progress), ``modality``, ``user_model``, ``input_repr``,
    ``content_type``, ``embedding_size`` and ``weights_path``; they implement
    ``_predictor``, which loads the model and returns the function from a batch of items to
    embeddings; their constructors take the settings of
    :data:`openl3.models.settings.ARGUMENTS` and ``weights``.

    Parameters
    ----------
    batch_size : int
        Items per model call.
    verbose : bool
        Whether to show progress.
    precision : "faithful", "fast", "tf32" or "bfloat16"
        Model precision (:mod:`openl3.models.precision`).
    prefix : str
        Prepended to argument names in error messages (``"audio_"`` for video files).
    """

    unit = "item"
    #: What the progress of a run over files counts.
    file_unit = "item"
    #: The outputs of each input (None: one output, named after the input alone).
    output_modalities: tuple[str | None, ...] = (None,)
    #: The modality of the embeddings ("audio" or "image").
    modality = ""
    #: A weight file of the user's (None: the official one).
    weights_path: str | None = None

    def __init__(self, batch_size: int, verbose: bool, precision: str, prefix: str = ""):
        self.verbose = check_verbose(verbose)
        self.precision = check_precision(precision)
        self.batch_size = check_positive_int(batch_size, f"{prefix}batch_size")
        self._predict: Callable[[np.ndarray], np.ndarray] | None = None
        self._settings: EmbeddingSettings | None = None

    #: The tower layer whose activations, max-pooled, are the embedding (None: the embedding).
    output: str | None = None

    @staticmethod
    def check_output(tower: Any, output: str | None, model: Any) -> str | None:
        """Return ``output`` checked against ``tower``'s layers; refuse it with a loaded model."""
        if output is None:
            return None
        tower.output_layer(output)
        if model is not None:
            raise OpenL3Error(
                "output names a layer of a model openl3 builds: it cannot apply to a model given."
            )
        return output

    @staticmethod
    def check_weights(weights: Any, model: Any) -> str | None:
        """Return the path of a weight file of the user's (None if none), refusing it beside a model."""
        if weights is None:
            return None
        if model is not None:
            raise InvalidArgumentError("Give a model or a weight file (weights=...), not both.")
        if not isinstance(weights, str | os.PathLike):
            raise InvalidArgumentError(f"Invalid weights {weights!r}: expected the path of a weight file.")
        try:
            with open(weights, "rb"):
                pass
        except OSError as exc:
            raise OpenL3Error(f"Cannot read weight file {weights}: {exc.strerror}.") from exc
        return os.fspath(weights)

    def _predictor(self) -> Callable[[np.ndarray], np.ndarray]:
        raise NotImplementedError

    def predict(self, items: np.ndarray) -> np.ndarray:
        """Embed a batch of items; the model is loaded on the first call."""
        if self._predict is None:
            self._predict = self._predictor()
        return self._predict(items)

    def embed_sources(self, sources: list, bar: Any = None) -> list[np.ndarray]:
        """Embed sources in shared batches; return one (n_items, D) array per source."""
        return embed_all(self.predict, sources, self.batch_size, self.verbose, self.unit, bar)

    def settings(self) -> EmbeddingSettings:
        """Return what makes these embeddings, as computed (recorded with Parquet datasets).

        The precision is what ``precision`` resolves to here (``"fast"`` picks one); the
        weights are the official file's name or a SHA-256 (:mod:`openl3.models.settings`),
        found (and for the official ones, fetched) the first time. With a model object of the
        user's, its Keras name stands for what it was built from.
        """
        if self._settings is None:
            user = self.user_model is not None
            self._settings = EmbeddingSettings(
                modality=self.modality,
                input_repr=self.input_repr,
                content_type=None if user else self.content_type,
                embedding_size=None if user else self.embedding_size,
                precision=computed_precision(self.precision),
                output=self.output,
                weights=None if user else self._weights_identity(),
                model=str(getattr(self.user_model, "name", type(self.user_model).__name__)) if user else None,
                **self._more_settings(),
            )
        return self._settings

    def _weights_identity(self) -> str:
        """Return how the settings name this computation's weights (see :meth:`settings`)."""
        entry = REGISTRY.get((self.modality, self.input_repr, self.content_type))
        if self.weights_path is not None:
            return weights_identity(self.weights_path, entry)
        entry = weight_file(self.modality, self.input_repr, self.content_type)
        path = resolve(entry)
        identity = weights_identity(path, entry)
        if identity != entry.filename:
            warn_unofficial(path, entry, identity)
        return identity

    def _more_settings(self) -> dict[str, Any]:
        """Return the settings particular to the modality (none by default)."""
        return {}

    def row_settings(self) -> dict[str | None, EmbeddingSettings]:
        """Return the settings of the rows of each output (see :meth:`settings`)."""
        return {None: self.settings()}

    def row_weights(self) -> dict[str | None, str | None]:
        """Return the weight file of the user's of each output's rows (None: the official one)."""
        return {None: self.weights_path}

    @classmethod
    def from_settings(
        cls, settings: EmbeddingSettings, weights: str | None = None, **options: Any
    ) -> Embedder:
        """Return the computation that makes embeddings of ``settings`` (its model loads on first use).

        Parameters
        ----------
        settings : EmbeddingSettings
            Recorded settings (a dataset's, an index's, a classifier's).
        weights : str, optional
            Where the weights are, for settings made with weights other than the official
            ones: that file (checked against the recorded SHA-256). Without it, the file
            the official one would be taken from (``$OPENL3_WEIGHTS_DIR``, the cache) is
            used if its SHA-256 is the recorded one.
        **options
            ``batch_size``, ``verbose``: how it runs.

        Raises
        ------
        OpenL3Error
            For settings of a model object of the user's (it cannot be built again), of
            another modality, or of weights not found; and if what would be computed here is
            not what ``settings`` record (the official weights missing here, ...).
        """
        if settings.modality != cls.modality:
            raise OpenL3Error(f"{settings.modality} settings cannot make {cls.modality} embeddings.")
        if settings.model is not None:
            raise OpenL3Error(
                f"These embeddings were made with a model object of the user's ({settings.model!r}), "
                "which openl3 cannot build again: embed with that model."
            )
        entry = REGISTRY.get((settings.modality, settings.input_repr, settings.content_type))
        path = (
            None
            if settings.official or settings.unrecorded_weights
            else locate(str(settings.weights), entry, weights)
        )
        embedder = cls(**settings.arguments(), weights=path, **options)
        settings.check_same(embedder.settings(), "These embeddings cannot be made here as they were made")
        return embedder

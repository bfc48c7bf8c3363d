"""What makes embeddings: the settings of a computation, as computed, and their one comparison.

:class:`EmbeddingSettings` holds everything that decides an embedding's numbers: the
modality, the model (representation, content type, embedding size, the layer taken as the
embedding, the weights), the windowing (hop, centring, frontend) and the precision the
model computes in. It holds what was **computed**, not what was asked: ``precision="fast"``
is recorded as what it resolved to on the machine that computed (``"faithful"``,
``"tf32"`` or ``"bfloat16"``), and the weights as the official file they are (by its
published name) or, for any other file, by its SHA-256 (``"sha256:<hex>"``), so random or
fine-tuned weights are never taken for OpenL3's.

Datasets, indexes and classifiers record these settings, and every reader and writer
compares them through :meth:`EmbeddingSettings.check_same` (one comparison, one message).
Records written by earlier versions are read as they are where they can be
(:meth:`EmbeddingSettings.from_record`): a bare digest is a SHA-256; weights not recorded
(earlier versions used whatever file the official one was looked up as, official or not,
and said nothing) and a precision recorded as ``"fast"`` (what was asked, before the
computed precision was recorded) match any weights or computed precision, with a warning:
they are never taken for what they cannot be known to be.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from .._util.console import warn_once
from .._util.exceptions import OpenL3Error
from .registry import REGISTRY
from .specs import AUDIO_TOWER, IMAGE_TOWER

__all__ = ["ARGUMENTS", "LEGACY_FAST", "EmbeddingSettings", "official_weights"]

logger = logging.getLogger("openl3")

#: The precision recorded by openl3 before it recorded what "fast" computed in.
LEGACY_FAST = "fast"
#: The prefix of a weight file that is not an official one, recorded by its SHA-256.
DIGEST_PREFIX = "sha256:"
#: Keys of a record that say how rows are stored or who wrote them, not what made them.
STORAGE_KEYS = ("dtype", "openl3")
#: Settings recorded but not compared: they do not change the numbers beyond float32 rounding
#: (kapre's spectrogram layers and openl3's twin of them: tests/test_models.py).
RECORDED_ONLY: tuple[str, ...] = ("spectrogram",)
#: The settings an embedder's constructor takes, per modality (the weights file aside).
ARGUMENTS = {
    "audio": (
        "input_repr",
        "content_type",
        "embedding_size",
        "hop_size",
        "center",
        "frontend",
        "precision",
        "output",
    ),
    "image": ("input_repr", "content_type", "embedding_size", "precision", "output"),
}


def official_weights(modality: str, input_repr: str, content_type: str) -> str:
    """Return how settings name the official weight file of a model: its published file name.

    Examples
    --------
    >>> official_weights("audio", "mel256", "music")
    'openl3_audio_mel256_music-v0_4_0.h5.gz'
    """
    return REGISTRY[(modality, input_repr, content_type)].filename


@dataclass(frozen=True)
class EmbeddingSettings:
    """The settings that made (or make) embeddings, as computed (see the module's description).

    Attributes
    ----------
    modality : {"audio", "image"}
    input_repr, content_type, embedding_size
        The model, as :func:`openl3.get_audio_embedding` names it (None for a model object
        of the user's, whose make is unknown).
    hop_size, center, frontend
        The windowing and the spectrogram frontend (audio; None for images).
    precision : {"faithful", "tf32", "bfloat16"}
        What the model computed in (``"fast"`` only in records of earlier versions).
    output : str or None
        The tower layer whose max-pooled activations are the embedding (None: the embedding).
    weights : str or None
        The official weight file's published name, or ``"sha256:<hex>"`` of another file
        (None for a model object of the user's, or in a record of an earlier version, which
        did not record its weights).
    model : str or None
        The name of a model object of the user's (None when openl3 built the model).
    spectrogram : {"keras", "kapre"} or None
        What computed the kapre frontend's spectrogram in the model: openl3's ``keras.ops``
        twin of kapre's layers, or kapre's own (None: the librosa frontend, an image, a
        model of the user's without either, or a record of an earlier version). Recorded,
        not compared: both give the same numbers within float32 rounding.

    Examples
    --------
    >>> ours = EmbeddingSettings("audio", "mel128", "music", 512, 0.5, True, "kapre", "faithful",
    ...                          weights=official_weights("audio", "mel128", "music"))
    >>> theirs = ours.replace(output="relu6")
    >>> ours.differences(theirs)
    ["output=None (now 'relu6')"]
    >>> EmbeddingSettings.from_record(ours.record()) == ours
    True
    """

    modality: str
    input_repr: str | None = None
    content_type: str | None = None
    embedding_size: int | None = None
    hop_size: float | None = None
    center: bool | None = None
    frontend: str | None = None
    precision: str = "faithful"
    output: str | None = None
    weights: str | None = None
    model: str | None = None
    spectrogram: str | None = None

    def replace(self, **changes: Any) -> EmbeddingSettings:
        """Return a copy with ``changes``."""
        return replace(self, **changes)

    @property
    def unrecorded_weights(self) -> bool:
        """Whether the weights were not recorded (a record of an earlier version)."""
        return self.weights is None and self.model is None

    @property
    def official(self) -> bool:
        """Whether the weights are OpenL3's official ones."""
        return self.weights is not None and not self.weights.startswith(DIGEST_PREFIX)

    @property
    def digest(self) -> str | None:
        """The SHA-256 of weights that are not the official ones (None otherwise)."""
        return self.weights[len(DIGEST_PREFIX) :] if self.weights and not self.official else None

    def record(self) -> dict[str, Any]:
        """Return the settings as a JSON-able record (keys that do not apply are left out)."""
        return {key: value for key, value in asdict(self).items() if value is not None}

    @classmethod
    def from_record(cls, record: Mapping[str, Any], where: str = "a record") -> EmbeddingSettings:
        """Return the settings of a record (:meth:`record`, or one of an earlier version).

        Storage keys (``dtype``, ``openl3``) are ignored. A bare 64-digit digest (an earlier
        version's record of a weight file) is a SHA-256; weights not recorded stay None
        (:attr:`unrecorded_weights`).

        Raises
        ------
        OpenL3Error
            Naming ``where`` the record is, for keys no openl3 wrote (a newer version's) or a
            record without a modality.
        """
        known = {f.name for f in fields(cls)}
        given = {k: v for k, v in record.items() if k not in STORAGE_KEYS}
        unknown = sorted(set(given) - known)
        if unknown or given.get("modality") not in ("audio", "image"):
            what = f"settings this openl3 does not know ({', '.join(unknown)})" if unknown else "no modality"
            raise OpenL3Error(f"{where} records {what}: it was written by a newer openl3, or is damaged.")
        weights = given.get("weights")
        if isinstance(weights, str) and len(weights) == 64 and not weights.startswith(DIGEST_PREFIX):
            weights = DIGEST_PREFIX + weights
        return cls(**{**given, "weights": weights})

    def differences(self, other: EmbeddingSettings) -> list[str]:
        """Return each setting in which ``other`` differs, as ``key=mine (now theirs)``.

        A precision recorded as ``"fast"`` and weights not recorded (records of earlier
        versions) match any.
        """
        mine, theirs = asdict(self), asdict(other)
        found = []
        for key in mine:
            if key in RECORDED_ONLY or mine[key] == theirs[key]:
                continue
            if key == "precision" and LEGACY_FAST in (mine[key], theirs[key]):
                continue
            if key == "weights" and (self.unrecorded_weights or other.unrecorded_weights):
                continue
            found.append(f"{key}={mine[key]!r} (now {theirs[key]!r})")
        return found

    def check_same(self, other: EmbeddingSettings, what: str, remedy: str = "") -> None:
        """Refuse ``other`` unless it makes the same embeddings as these settings.

        ``what`` opens the message (``"clips.l3 holds embeddings made with other settings"``);
        the differences follow, as :meth:`differences` names them, then ``remedy``.

        Raises
        ------
        OpenL3Error
            ``"<what>: <differences>. <remedy>"``.
        """
        differences = self.differences(other)
        if differences:
            raise OpenL3Error(f"{what}: {', '.join(differences)}." + (f" {remedy}" if remedy else ""))
        if self.unrecorded_weights != other.unrecorded_weights:
            warn_once(
                "Embeddings whose weights were not recorded (by an earlier openl3, which used whatever "
                "file the official one was looked up as) are compared as if made with "
                f"{(other if self.unrecorded_weights else self).describe_weights()}."
            )
        if LEGACY_FAST in (self.precision, other.precision) and self.precision != other.precision:
            computed = other.precision if self.precision == LEGACY_FAST else self.precision
            warn_once(
                "Embeddings recorded with precision 'fast' as asked, not as computed (by an earlier "
                f"openl3), are taken as made in {computed!r}: they may differ by the difference "
                "between precisions."
            )

    def dimension(self) -> int | None:
        """Return the size of the embeddings: the output layer's channels, else ``embedding_size``.

        Examples
        --------
        >>> EmbeddingSettings("audio", "mel128", "music", 512, output="relu6").dimension()
        256
        """
        if self.output is None:
            return self.embedding_size
        tower = AUDIO_TOWER if self.modality == "audio" else IMAGE_TOWER
        layer = tower.output_layer(self.output)
        return None if layer is None else layer.channels

    def arguments(self) -> dict[str, Any]:
        """Return the settings an embedder's constructor takes (the weights and model left out).

        Examples
        --------
        >>> EmbeddingSettings("image", "mel256", "music", 512).arguments()["embedding_size"]
        512
        """
        return {name: getattr(self, name) for name in ARGUMENTS[self.modality]}

    def describe_weights(self) -> str:
        """Return the weights as a message names them."""
        if self.unrecorded_weights:
            return "weights that were not recorded"
        if self.weights is None:
            return f"the model object {self.model!r}"
        if self.official:
            return f"OpenL3's official {self.weights}"
        return f"weights {self.weights} (not OpenL3's official ones)"

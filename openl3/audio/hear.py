"""The HEAR 2021 API: OpenL3 as a Holistic Evaluation of Audio Representations entrant.

``load_model``, ``get_timestamp_embeddings`` and ``get_scene_embeddings`` follow the HEAR
2021 rules, so evaluation tools load this module by name (``hear-validator
openl3.audio.hear``). Audio is a batch of sounds at 48 kHz (``sample_rate``), as a tensor of
the active Keras backend or a numpy array; results are of the same kind (float32).

Timestamp embeddings are :func:`openl3.get_audio_embedding`'s for each sound, with its
defaults (mel256, music, 6144, centred windows every 0.1 s, the kapre frontend);
timestamps are the window centres in milliseconds. The scene embedding of a sound is the
mean of its timestamp embeddings over time (the usual choice of HEAR baselines: every
window weighs the same, and the size stays D).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._util.exceptions import InvalidArgumentError
from .._util.validation import scan_array
from ..models import load_audio_embedding_model_from_path
from ..models.specs import TARGET_SR
from .compute import AudioComputation
from .windows import window_count

__all__ = ["DEFAULT_OPTIONS", "get_scene_embeddings", "get_timestamp_embeddings", "load_model"]

#: The options of :func:`load_model` and their defaults.
DEFAULT_OPTIONS = {
    "input_repr": "mel256",
    "content_type": "music",
    "embedding_size": 6144,
    "hop_size": 0.1,
    "center": True,
    "frontend": "kapre",
    "precision": "faithful",
    "batch_size": 32,
}


class _HearModel:
    """What the HEAR API's model carries: the rate, the embedding sizes, the embedder."""

    sample_rate = TARGET_SR

    def _setup(self, embedder: AudioComputation, options: dict[str, Any]) -> None:
        self.embedder, self.options = embedder, options
        size = embedder.dimension()  # the model is loaded now, as HEAR's load_model does
        self.scene_embedding_size = self.timestamp_embedding_size = size


def _module_base() -> type:
    """Return the module class HEAR tools expect of the active backend's models."""
    import keras

    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        return tf.Module
    if backend == "torch":
        import torch

        return torch.nn.Module
    return object


def load_model(model_file_path: str = "", **options: Any) -> Any:
    """Return the model of the HEAR API: official weights, or the weight file given.

    Parameters
    ----------
    model_file_path : str
        "" for the official weights of ``input_repr`` and ``content_type`` (found as
        :func:`openl3.models.load_audio_embedding_model` finds them), or the path of an
        audio weight file in the official layout.
    **options
        ``input_repr`` ("mel256"), ``content_type`` ("music"), ``embedding_size``
        (6144), ``hop_size`` (0.1 s), ``center`` (True), ``frontend`` ("kapre"),
        ``precision`` ("faithful"), ``batch_size`` (32).

    Returns
    -------
    model
        A ``tf.Module`` (TensorFlow backend) or ``torch.nn.Module`` (PyTorch backend),
        with ``sample_rate`` (48000), ``scene_embedding_size`` and
        ``timestamp_embedding_size``.

    Examples
    --------
    >>> from openl3 import hear
    >>> model = hear.load_model(input_repr="mel128", embedding_size=512)
    >>> model.sample_rate, model.scene_embedding_size
    (48000, 512)
    """
    unknown = set(options) - set(DEFAULT_OPTIONS)
    if unknown:
        raise InvalidArgumentError(
            f"Invalid options of openl3.audio.hear.load_model: {', '.join(sorted(unknown))}."
        )
    settings = {**DEFAULT_OPTIONS, **options}
    model = None
    if model_file_path:
        model = load_audio_embedding_model_from_path(
            model_file_path, settings["input_repr"], settings["embedding_size"], settings["frontend"]
        )
    embedder = AudioComputation(model=model, verbose=False, **settings)

    class HearModel(_HearModel, _module_base()):
        """The model of :func:`load_model`, a module of the active backend as HEAR tools expect."""

    hear_model = HearModel()
    hear_model._setup(embedder, settings)
    return hear_model


def _as_numpy(audio: Any) -> tuple[np.ndarray, bool]:
    """Return ``audio`` as a (n_sounds, n_samples) array, and whether it was a numpy array.

    Raises
    ------
    OpenL3Error
        For anything but a numpy array or a tensor of the active Keras backend, a shape
        other than (n_sounds, n_samples), values that are not real numbers, NaN or infinity.
    """
    given_numpy = isinstance(audio, np.ndarray)
    if not given_numpy:
        import keras

        if not keras.ops.is_tensor(audio):
            raise InvalidArgumentError(
                f"Invalid audio: expected a tensor of the Keras backend or a numpy array, "
                f"got {type(audio).__name__}."
            )
        audio = keras.ops.convert_to_numpy(audio)
    audio = np.asarray(audio)
    if audio.ndim != 2 or audio.shape[1] == 0:
        raise InvalidArgumentError(f"Invalid audio: expected (n_sounds, n_samples), got shape {audio.shape}.")
    if audio.dtype.kind not in "iuf":
        raise InvalidArgumentError(f"Invalid audio: expected real numbers, got dtype {audio.dtype}.")
    if not scan_array(audio)[0]:
        raise InvalidArgumentError("Invalid audio: it contains NaN or infinite samples.")
    return audio, given_numpy


def _check_model(model: Any) -> AudioComputation:
    """Return the embedder of a model of :func:`load_model`, or raise."""
    if not isinstance(model, _HearModel):
        raise InvalidArgumentError(
            f"Invalid model: expected the model of openl3.audio.hear.load_model, got {type(model).__name__}."
        )
    return model.embedder


def _as_result(array: np.ndarray, numpy: bool) -> Any:
    if numpy:
        return array
    import keras

    return keras.ops.convert_to_tensor(array)


def _embed(audio: Any, model: Any) -> tuple[np.ndarray, np.ndarray, bool]:
    embedder = _check_model(model)
    sounds, numpy = _as_numpy(audio)
    if len(sounds) == 0:  # no sound: empty results of the shapes sounds would have
        n_windows = window_count(sounds.shape[1], TARGET_SR, embedder.hop_size, embedder.center)
        size = model.timestamp_embedding_size
        return np.zeros((0, n_windows, size), np.float32), np.zeros((0, n_windows), np.float32), numpy
    sources = [embedder.windows(sound, TARGET_SR, f"sound {k}") for k, sound in enumerate(sounds)]
    embeddings = np.stack(embedder.embed_sources(sources)).astype(np.float32)
    timestamps = np.stack([1000.0 * s.timestamps for s in sources]).astype(np.float32)
    return embeddings, timestamps, numpy


def get_timestamp_embeddings(audio: Any, model: Any) -> tuple[Any, Any]:
    """Return the embeddings of every window of each sound, and their times in ms.

    Parameters
    ----------
    audio : tensor or np.ndarray [shape=(n_sounds, n_samples)]
        Sounds at 48 kHz.
    model
        From :func:`load_model`.

    Returns
    -------
    embeddings : [shape=(n_sounds, n_timestamps, D)]
        ``get_audio_embedding`` of each sound (float32).
    timestamps : [shape=(n_sounds, n_timestamps)]
        Window centres (or starts, with ``center=False``) in milliseconds (float32).

    Examples
    --------
    >>> embeddings, timestamps = hear.get_timestamp_embeddings(audio, model)    # audio: (n_sounds, n_samples)
    >>> embeddings.shape, timestamps.shape
    ((2, 21, 512), (2, 21))
    """
    embeddings, timestamps, numpy = _embed(audio, model)
    return _as_result(embeddings, numpy), _as_result(timestamps, numpy)


def get_scene_embeddings(audio: Any, model: Any) -> Any:
    """Return one embedding per sound: the mean of its timestamp embeddings over time.

    Parameters
    ----------
    audio : tensor or np.ndarray [shape=(n_sounds, n_samples)]
        Sounds at 48 kHz.
    model
        From :func:`load_model`.

    Returns
    -------
    embeddings : [shape=(n_sounds, D)]
        float32.

    Examples
    --------
    >>> hear.get_scene_embeddings(audio, model).shape       # the mean over each sound's windows
    (2, 512)
    """
    embeddings, _, numpy = _embed(audio, model)
    return _as_result(embeddings.mean(axis=1).astype(np.float32), numpy)

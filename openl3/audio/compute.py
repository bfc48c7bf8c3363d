"""The audio embedding computation: a checked model, frontend, windowing and batch size.

:class:`AudioComputation` holds everything an audio computation needs, checked once: the
model (loaded on first use), the frontend, the windowing and the batch size. The public
:class:`openl3.AudioEmbedder`, :func:`openl3.get_audio_embedding`, the engines, the
stream, HEAR and video files all compute through it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .._util.exceptions import InvalidArgumentError, OpenL3Error
from .._util.remote import is_uri
from .._util.validation import (
    check_audio,
    check_bool,
    check_choice,
    check_hop_size,
    check_positive_real,
    pair_inputs,
)
from ..models import shared_audio_model
from ..models.batching import model_predictor
from ..models.computation import Embedder
from ..models.frontends import librosa_frontend
from ..models.kapre_layers import spectrogram_of
from ..models.specs import (
    AUDIO_TOWER,
    CONTENT_TYPES,
    DEFAULT_INPUT_REPR,
    FRONTENDS,
    INPUT_REPRS,
    TARGET_SR,
    WINDOW_SAMPLES,
    input_repr_spec,
    resolve_spectrogram,
)
from .decode import AudioFile
from .windows import AudioWindows, window_count, window_dtype


def _model_input_repr(model: Any) -> str | None:
    """Return the representation whose spectrogram a librosa-frontend model takes."""
    shape = tuple(model.input_shape[1:])
    return next((name for name, spec in INPUT_REPRS.items() if spec.input_shape == shape), None)


def resolve_audio_model(model: Any, input_repr: str | None, frontend: str) -> tuple[Any, str | None]:
    """Validate a user's model (or None) against the frontend; resolve ``input_repr``.

    Returns the model and the representation the frontend must compute: None for the
    kapre frontend with a model given (the model holds its own frontend).
    """
    check_choice(frontend, "frontend", FRONTENDS)
    if model is None:
        if input_repr is None:
            if frontend == "librosa":
                raise OpenL3Error("input_repr is required with the librosa frontend.")
            input_repr = DEFAULT_INPUT_REPR
        input_repr_spec(input_repr)
        return None, input_repr
    import keras

    if not isinstance(model, keras.Model):
        raise InvalidArgumentError(f"Invalid model: expected a keras.Model, got {type(model).__name__}.")
    shape = tuple(model.input_shape[1:])
    if frontend == "kapre":
        if shape != AUDIO_TOWER.input_shape(frontend="kapre"):
            raise InvalidArgumentError(
                f"Invalid model: the kapre frontend needs a model taking (batch, 1, {WINDOW_SAMPLES}) "
                f"audio, this one takes {model.input_shape}. Was it loaded with frontend='librosa'?"
            )
        return model, None
    inferred = _model_input_repr(model)
    if inferred is None or (
        input_repr is not None and AUDIO_TOWER.input_shape(input_repr, "librosa") != shape
    ):
        raise InvalidArgumentError(
            f"Invalid model: its input {model.input_shape} is not the spectrogram of "
            f"input_repr {input_repr or 'linear, mel128 or mel256'} that the librosa frontend computes."
        )
    return model, inferred


class AudioComputation(Embedder):
    """An audio embedding computation, its arguments checked once.

    The model is loaded on first use (a run whose outputs all exist loads none).
    Arguments as :func:`get_audio_embedding`, and ``output``, ``weights`` and
    ``spectrogram`` as :class:`openl3.AudioEmbedder`; ``prefix`` is prepended to the argument names in error
    messages (``"audio_"`` for video files).
    """

    unit = file_unit = "window"
    modality = "audio"

    def __init__(
        self,
        model: Any = None,
        input_repr: str | None = None,
        content_type: str = "music",
        embedding_size: int = 6144,
        center: bool = True,
        hop_size: float = 0.1,
        batch_size: int = 32,
        frontend: str = "kapre",
        verbose: bool = True,
        prefix: str = "",
        precision: str = "faithful",
        output: str | None = None,
        weights: Any = None,
        spectrogram: str = "auto",
    ):
        super().__init__(batch_size, verbose, precision, prefix)
        self.user_model = model
        self.spectrogram = resolve_spectrogram(spectrogram, f"{prefix}spectrogram")
        self.output = self.check_output(AUDIO_TOWER, output, model)
        self.weights_path = self.check_weights(weights, model)
        self.model, self.input_repr = resolve_audio_model(model, input_repr, frontend)
        if self.model is None:  # checked now, before any file is read
            check_choice(content_type, "content_type", CONTENT_TYPES)
            AUDIO_TOWER.final_pool(self.input_repr, embedding_size)
        check_hop_size(hop_size, TARGET_SR, f"{prefix}hop_size")
        self.center = check_bool(center, f"{prefix}center")
        self.hop_size, self.frontend = hop_size, frontend
        self.content_type, self.embedding_size = content_type, embedding_size

    def _more_settings(self) -> dict[str, Any]:
        """Return the windowing and frontend settings, and what computes the in-graph spectrogram."""
        spectrogram = None
        if self.frontend == "kapre":
            spectrogram = self.spectrogram if self.user_model is None else spectrogram_of(self.user_model)
        return {
            "hop_size": self.hop_size,
            "center": self.center,
            "frontend": self.frontend,
            "spectrogram": spectrogram,
        }

    def windows(self, audio: Any, sr: float, name: str = "provided audio") -> AudioWindows:
        """Return the window source of validated audio (an array or :class:`ForwardSamples`)."""
        return AudioWindows(audio, sr, self.hop_size, self.center, window_dtype(self.frontend), name)

    def open_file(self, path: str) -> AudioWindows:
        """Return the window source of an audio file, decoded as its windows are read."""
        audio = AudioFile(path)
        return self.windows(audio, audio.samplerate, f"audio file {path}")

    def count_items(self, path: str) -> int | None:
        """Return the windows of audio file ``path`` from its header, without decoding.

        None for a URI, or a file soundfile cannot open (it fails when it is opened).
        """
        import soundfile as sf

        if is_uri(path):
            return None
        try:
            info = sf.info(path)
        except (sf.LibsndfileError, RuntimeError, ValueError, OSError):
            return None
        return window_count(info.frames, info.samplerate, self.hop_size, self.center)

    def dimension(self) -> int:
        """Return the embedding size D (the model is loaded if it is not yet)."""
        if self.model is None:
            self.predict(np.zeros((1, WINDOW_SAMPLES), window_dtype(self.frontend)))
        return int(self.model.output_shape[-1])

    def _predictor(self) -> Callable[[np.ndarray], np.ndarray]:
        """Load the model if needed; return raw (n, 48000) windows -> embeddings."""
        if self.model is None:
            self.model = shared_audio_model(
                self.input_repr,
                self.content_type,
                self.embedding_size,
                self.frontend,
                output=self.output,
                precision=self.precision,
                path=self.weights_path,
                spectrogram=self.spectrogram,
            )
        predict = model_predictor(self.model, self.precision)
        if self.frontend != "librosa":
            return lambda windows: predict(windows[:, np.newaxis, :])
        spec = input_repr_spec(self.input_repr)
        return lambda windows: predict(librosa_frontend(windows, spec))

    def file_arrays(self, source: AudioWindows, embedding: np.ndarray) -> dict[str, np.ndarray]:
        """Return the arrays of an audio file's output: its embedding and timestamps."""
        return {"embedding": embedding, "timestamps": source.timestamps}


def checked_audio(audio: Any, sr: Any) -> tuple[list[np.ndarray], list[float], bool]:
    """Validate one audio array or a list, with their rates, in 0.4.2's order of checks.

    Returns the arrays, one rate per array, and whether a list was given.
    """
    arrays, rates, is_list = pair_inputs(audio, sr, "audio", "sr")
    names = [f"audio[{i}]" for i in range(len(arrays))] if is_list else ["audio"]
    checked = [check_audio(array, name) for array, name in zip(arrays, names, strict=True)]
    return checked, [check_positive_real(rate, "sr") for rate in rates], is_list

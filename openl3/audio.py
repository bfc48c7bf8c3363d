"""Audio embeddings: windowing as OpenL3 0.4.2, without framing whole files in memory."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from .batching import embed_all, model_predictor
from .exceptions import OpenL3Error, OpenL3Warning
from .models.frontends import librosa_frontend
from .models.specs import INPUT_REPRS, TARGET_SR, WINDOW_SAMPLES, input_repr_spec
from .signal import iter_signal_blocks, resampled_length
from .validation import (
    FRONTENDS,
    check_audio,
    check_bool,
    check_choice,
    check_hop_size,
    check_positive_int,
    check_positive_real,
    pair_inputs,
)

#: input_repr used with the kapre frontend when none is given (0.4.2 behaviour).
DEFAULT_INPUT_REPR = "mel256"


class AudioWindows:
    """The one-second analysis windows of one audio array, as OpenL3 0.4.2 frames them.

    The signal is downmixed and resampled to 48 kHz block by block as windows are read;
    only the samples of the windows being read are held. ``center`` puts half a window
    of zeros before the signal; zeros after it complete the last hop.

    Parameters
    ----------
    audio : np.ndarray [shape=(N,) or (N, C)]
        Validated audio.
    sr : float
        Its sample rate.
    hop_size : float
        Hop between windows, in seconds.
    center : bool
        Whether timestamps are window centres (True) or starts (False).
    dtype : numpy dtype
        Dtype of the windows returned by :meth:`read`.
    """

    def __init__(self, audio: np.ndarray, sr: float, hop_size: float, center: bool, dtype: Any = np.float32):
        self.hop = int(hop_size * TARGET_SR)
        self.offset = WINDOW_SAMPLES // 2 if center else 0
        self.length = resampled_length(len(audio), sr)
        if self.length < WINDOW_SAMPLES:
            warnings.warn(
                "Duration of provided audio is shorter than window size (1 second). Audio will be padded.",
                OpenL3Warning,
                stacklevel=4,
            )
        padded = self.length + self.offset
        self.n_items = 1 + max(0, -(-(padded - WINDOW_SAMPLES) // self.hop))
        self.timestamps = np.arange(self.n_items) * hop_size
        self.dtype = dtype
        self._blocks = iter_signal_blocks(audio, sr)
        self._buffer = np.zeros(0)
        self._buffer_start = 0

    def _hold(self, start: int, stop: int) -> None:
        """Keep signal samples ``[start, stop)`` (clipped to the signal) in the buffer."""
        stop = min(stop, self.length)
        pieces = [self._buffer[max(start - self._buffer_start, 0) :]]
        end = self._buffer_start + len(self._buffer)
        while end < stop:
            block = next(self._blocks)
            pieces.append(block)
            end += len(block)
        self._buffer_start = max(start, self._buffer_start)
        self._buffer = np.concatenate(pieces) if len(pieces) > 1 else pieces[0]

    def read(self, start: int, count: int) -> np.ndarray:
        """Return windows ``start`` to ``start + count`` as a (count, 48000) array."""
        first = start * self.hop - self.offset
        self._hold(max(first, 0), first + (count - 1) * self.hop + WINDOW_SAMPLES)
        windows = np.zeros((count, WINDOW_SAMPLES), dtype=self.dtype)
        for k in range(count):
            begin = first + k * self.hop
            low, high = max(begin, 0), min(begin + WINDOW_SAMPLES, self.length)
            if high > low:
                source = self._buffer[low - self._buffer_start : high - self._buffer_start]
                windows[k, low - begin : high - begin] = source
        return windows


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
        raise OpenL3Error(f"Invalid model: expected a keras.Model, got {type(model).__name__}.")
    shape = tuple(model.input_shape[1:])
    if frontend == "kapre":
        if shape != (1, WINDOW_SAMPLES):
            raise OpenL3Error(
                f"Invalid model: the kapre frontend needs a model taking (batch, 1, {WINDOW_SAMPLES}) "
                f"audio, this one takes {model.input_shape}. Was it loaded with frontend='librosa'?"
            )
        return model, None
    inferred = _model_input_repr(model)
    if inferred is None or (input_repr is not None and input_repr_spec(input_repr).input_shape != shape):
        raise OpenL3Error(
            f"Invalid model: its input {model.input_shape} is not the spectrogram of "
            f"input_repr {input_repr or 'linear, mel128 or mel256'} that the librosa frontend computes."
        )
    return model, inferred


def audio_predictor(model: Any, input_repr: str | None, frontend: str) -> Callable[[np.ndarray], np.ndarray]:
    """Return a function mapping a batch of raw windows to embeddings.

    With the kapre frontend the model computes its spectrogram; with librosa it is
    computed here for ``input_repr`` (as resolved by :func:`resolve_audio_model`).
    """
    predict = model_predictor(model)
    if frontend != "librosa":
        return lambda windows: predict(windows[:, np.newaxis, :])
    spec = input_repr_spec(input_repr)
    return lambda windows: predict(librosa_frontend(windows, spec))


def check_window_params(hop_size: Any, center: Any) -> bool:
    """Validate the windowing parameters; return ``center`` as a bool."""
    check_hop_size(hop_size, TARGET_SR)
    return check_bool(center, "center")


def window_dtype(frontend: str) -> type:
    """Dtype of the raw windows: float32 feeds kapre, librosa computes from float64."""
    return np.float64 if frontend == "librosa" else np.float32


def audio_sources(
    audio: Any, sr: Any, hop_size: Any, center: Any, frontend: str = "kapre"
) -> tuple[list[AudioWindows], bool]:
    """Validate audio inputs and their parameters; return one window source per array."""
    arrays, rates, is_list = pair_inputs(audio, sr, "audio", "sr")
    names = [f"audio[{i}]" for i in range(len(arrays))] if is_list else ["audio"]
    checked = [check_audio(array, name) for array, name in zip(arrays, names, strict=True)]
    for rate in rates:
        check_positive_real(rate, "sr")
    center = check_window_params(hop_size, center)
    dtype = window_dtype(frontend)
    sources = [AudioWindows(a, r, hop_size, center, dtype) for a, r in zip(checked, rates, strict=True)]
    return sources, is_list


def preprocess_audio(
    audio: Any, sr: Any, hop_size: float = 0.1, input_repr: str | None = None, center: bool = True, **kw: Any
) -> np.ndarray:
    """Preprocess the audio into a format compatible with the model.

    Parameters
    ----------
    audio : np.ndarray [shape=(N,) or (N, C)] or list[np.ndarray]
        Audio data, or a list of audio arrays (their windows are stacked).
    sr : int or list[int]
        Sampling rate, or list of sampling rates. If not 48kHz audio will be resampled.
    hop_size : float
        Hop size in seconds.
    input_repr : str or None
        Spectrogram representation to compute with librosa. If None, no spectrogram is
        computed (the kapre frontend computes it inside the model).
    center : bool
        If True, pads beginning of signal so timestamps correspond to center of window.

    Returns
    -------
    input_data : np.ndarray
        ``(n, 1, 48000)`` windows if ``input_repr`` is None, else ``(n, freq, time, 1)``
        spectrograms.
    """
    if kw:
        raise OpenL3Error(f"Unexpected keyword arguments for preprocess_audio: {sorted(kw)}.")
    spec = None if input_repr is None else input_repr_spec(input_repr)
    sources, _ = audio_sources(audio, sr, hop_size, center, "kapre" if spec is None else "librosa")
    windows = np.concatenate([source.read(0, source.n_items) for source in sources])
    return windows[:, np.newaxis, :] if spec is None else librosa_frontend(windows, spec)


def get_audio_embedding(
    audio: Any,
    sr: Any,
    model: Any = None,
    input_repr: str | None = None,
    content_type: str = "music",
    embedding_size: int = 6144,
    center: bool = True,
    hop_size: float = 0.1,
    batch_size: int = 32,
    frontend: str = "kapre",
    verbose: bool = True,
) -> tuple[Any, Any]:
    """Compute L3 embeddings for audio, one per 1-second window.

    Parameters
    ----------
    audio : np.ndarray [shape=(N,) or (N, C)] or list[np.ndarray]
        Audio data (multichannel audio is averaged to mono), or a list of arrays.
    sr : int or list[int]
        Sampling rate, or list of sampling rates. If not 48kHz audio will be resampled.
    model : keras.Model or None
        Loaded model object. If given, ``input_repr``, ``content_type`` and
        ``embedding_size`` are ignored (except that the librosa frontend computes
        ``input_repr``, which it infers from the model when None).
    input_repr : "linear", "mel128", "mel256" or None
        Spectrogram representation. None means "mel256" with the kapre frontend (the
        0.4.2 behaviour; its documentation says mel128); required with librosa unless a
        model is given.
    content_type : "music" or "env"
        Type of content used to train the embedding model.
    embedding_size : 6144 or 512
        Embedding dimensionality.
    center : bool
        If True, pads beginning of signal so timestamps correspond to center of window.
    hop_size : float
        Hop size in seconds.
    batch_size : int
        Windows per model call; batches span consecutive arrays of a list.
    frontend : "kapre" or "librosa"
        The audio frontend to use.
    verbose : bool
        If True, shows a progress bar over windows.

    Returns
    -------
    embedding : np.ndarray [shape=(T, D)] or list[np.ndarray]
        Embeddings for each window, or a list of such arrays for a list input.
    timestamps : np.ndarray [shape=(T,)] or list[np.ndarray]
        Timestamps of each window in seconds, or a list of such arrays.
    """
    batch_size = check_positive_int(batch_size, "batch_size")
    model, input_repr = resolve_audio_model(model, input_repr, frontend)
    sources, is_list = audio_sources(audio, sr, hop_size, center, frontend)
    if model is None:
        from .models import load_audio_embedding_model

        model = load_audio_embedding_model(input_repr, content_type, embedding_size, frontend)
    embeddings = embed_all(
        audio_predictor(model, input_repr, frontend), sources, batch_size, verbose, "window"
    )
    timestamps = [source.timestamps for source in sources]
    if is_list:
        return embeddings, timestamps
    return embeddings[0], timestamps[0]

"""The in-graph (kapre) frontend: Keras layers, registered so that saved and exported models reload.

Imported only when a model is built (it imports Keras). :class:`Spectrogram` is the
``keras.ops`` twin of kapre's ``STFT`` -> ``Magnitude`` -> ``ApplyFilterbank`` (and the
transpose to (freq, time, 1)): it runs on every Keras backend, and it is what the models
use unless kapre's own layers are asked for (kapre is optional: TensorFlow only).
:class:`MagnitudeToDecibel` is kapre 0.1.4's decibel rule. :func:`kapre_frontend` stacks
either kind on a model's input.
"""

from __future__ import annotations

import os
from typing import Any

import keras
import numpy as np
from keras import ops

from .frontends import kapre_v0_1_4_magnitude_to_decibel, mel_basis
from .kapre_layers import kapre_layers
from .specs import INPUT_REPRS, SPEC_HOP, TARGET_SR, WINDOW_SAMPLES, InputRepr, resolve_spectrogram

_WINDOWS = os.path.join(os.path.dirname(__file__), "hann_windows.npz")


def periodic_hann(length: int) -> np.ndarray:
    """Return ``tf.signal.hann_window(length)`` (kapre's STFT window) bit for bit, float32.

    The windows ship as data (``scripts/make_hann_windows.py``): other float32 cosines
    differ from TensorFlow's in the last bit, which changes the rounding noise of the
    quietest bins of tonal audio.
    """
    with np.load(_WINDOWS) as windows:
        return windows[str(length)]


@keras.saving.register_keras_serializable(package="openl3")
class Spectrogram(keras.layers.Layer):
    """Magnitude (or mel magnitude) spectrogram of (batch, 1, 48000) windows, as kapre computes it.

    Frames of ``n_fft`` samples every 242 samples under a periodic Hann window; with
    ``pad_end`` (the mel representations) the signal is padded with zeros at the end
    so that every hop starts a frame (``tf.signal.stft(pad_end=True)``), else only whole
    frames are taken. Output: (batch, freq, time, 1).

    Parameters
    ----------
    input_repr : str
        "linear", "mel128" or "mel256".
    complex_abs : bool
        On TensorFlow, take the magnitude as ``tf.abs`` of the complex STFT (one
        ``ComplexAbs`` op, the form ONNX converters translate; exports use it) instead
        of from its real and imaginary parts.
    """

    def __init__(self, input_repr: str, complex_abs: bool = False, **kwargs: Any):
        super().__init__(**kwargs)
        self.input_repr, self.complex_abs = input_repr, complex_abs
        spec = INPUT_REPRS[input_repr]
        self.n_fft, self.n_mels = spec.n_fft, spec.n_mels
        frames = (
            -(-WINDOW_SAMPLES // SPEC_HOP) if spec.n_mels else 1 + (WINDOW_SAMPLES - spec.n_fft) // SPEC_HOP
        )
        self.pad = (frames - 1) * SPEC_HOP + spec.n_fft - WINDOW_SAMPLES if spec.n_mels else 0
        self._window = periodic_hann(spec.n_fft)
        self._filterbank = mel_basis(spec.n_fft, spec.n_mels).T.copy() if spec.n_mels else None

    def call(self, inputs: Any) -> Any:
        """Return the (batch, freq, time, 1) magnitude spectrogram of (batch, 1, 48000) inputs."""
        signal = ops.squeeze(inputs, axis=1)
        if self.pad:
            signal = ops.pad(signal, [[0, 0], [0, self.pad]])
        magnitude = self._magnitude(signal)  # (batch, time, freq)
        if self._filterbank is not None:
            magnitude = ops.matmul(magnitude, ops.convert_to_tensor(self._filterbank))
        return ops.expand_dims(ops.transpose(magnitude, (0, 2, 1)), -1)

    def _magnitude(self, signal: Any) -> Any:
        if self.complex_abs and keras.backend.backend() == "tensorflow":
            import tensorflow as tf

            window = tf.constant(self._window)
            stft = tf.signal.stft(signal, self.n_fft, SPEC_HOP, self.n_fft, window_fn=lambda *_, **__: window)
            return tf.abs(stft)
        if keras.backend.backend() == "torch" and _on_cpu_without_grad(signal):
            return _pocketfft_magnitude(signal, self._window, SPEC_HOP)
        real, imag = ops.stft(
            signal, self.n_fft, SPEC_HOP, self.n_fft, window=ops.convert_to_tensor(self._window), center=False
        )
        return ops.sqrt(real * real + imag * imag)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        """Return (batch, freq, time, 1)."""
        return (input_shape[0], *INPUT_REPRS[self.input_repr].input_shape)

    def get_config(self) -> dict:
        """Return the layer's configuration."""
        return {**super().get_config(), "input_repr": self.input_repr, "complex_abs": self.complex_abs}


def _on_cpu_without_grad(signal: Any) -> bool:
    """Return True for a PyTorch CPU tensor that no gradient flows through."""
    import torch

    return signal.device.type == "cpu" and not (torch.is_grad_enabled() and signal.requires_grad)


def _pocketfft_magnitude(signal: Any, window: np.ndarray, hop: int) -> Any:
    """Return the (batch, time, freq) STFT magnitude of a PyTorch CPU tensor, computed by pocketfft.

    PyTorch's CPU FFT (MKL) rounds differently from the pocketfft family that TensorFlow
    and JAX use on CPUs (scipy.fft gives their bits), and its float32 ``sqrt`` is not
    correctly rounded. On tonal audio, 0.4.2's spectrogram keeps FFT rounding noise above
    its -80 dB floor, so only the same FFT gives its numbers. Frames, window products and
    the magnitude are float32, as TensorFlow computes them: the result is TensorFlow's
    bit for bit.
    """
    import scipy.fft
    import torch

    frames = np.lib.stride_tricks.sliding_window_view(signal.numpy(), len(window), axis=-1)[..., ::hop, :]
    spectrum = scipy.fft.rfft(frames * window, axis=-1)
    return torch.from_numpy(np.sqrt(spectrum.real * spectrum.real + spectrum.imag * spectrum.imag))


@keras.saving.register_keras_serializable(package="openl3")
class Passthrough(keras.layers.Layer):
    """Return the input unchanged: what a batch normalisation folded into its convolution leaves."""

    def call(self, inputs: Any, mask: Any = None, training: Any = None) -> Any:
        """Return ``inputs``."""
        return inputs


@keras.saving.register_keras_serializable(package="openl3")
class MagnitudeToDecibel(keras.layers.Layer):
    """kapre 0.1.4's decibel rule: ``10 log10(max(S, 1e-10))`` minus each item's maximum, clipped at -80."""

    def call(self, inputs: Any) -> Any:
        """Return the decibels of a batch of magnitude spectrograms."""
        return kapre_v0_1_4_magnitude_to_decibel(inputs)


def kapre_frontend(inputs: Any, spec: InputRepr, implementation: str = "auto") -> Any:
    """Compute the decibel spectrogram of a (batch, 1, 48000) input tensor inside the model.

    Parameters
    ----------
    inputs : tensor
        Raw one-second windows at 48 kHz.
    spec : InputRepr
        The representation to compute.
    implementation : "auto", "keras" or "kapre"
        "keras" (and "auto"): the ``keras.ops`` twin of kapre's layers
        (:class:`Spectrogram`), on every backend; "kapre": kapre's own layers, where
        kapre is installed (``pip install 'openl3[kapre]'``, TensorFlow only). Both give
        0.4.2's numbers within float32 rounding.

    Returns
    -------
    tensor
        The (batch, freq, time, 1) decibel spectrogram the tower takes.
    """
    if resolve_spectrogram(implementation) == "keras":
        magnitude = Spectrogram(spec.name, name="spectrogram")(inputs)
    else:
        magnitude = _kapre_magnitude(inputs, spec)
    return MagnitudeToDecibel(name="magnitude_to_decibel")(magnitude)


def _kapre_magnitude(inputs: Any, spec: InputRepr) -> Any:
    """Return kapre's (batch, freq, time, 1) magnitude spectrogram of (batch, 1, 48000) inputs."""
    STFT, Magnitude, ApplyFilterbank = kapre_layers()  # noqa: N806 (kapre's class names)

    x = STFT(
        n_fft=spec.n_fft,
        hop_length=SPEC_HOP,
        pad_end=spec.n_mels is not None,
        input_data_format="channels_first",
        output_data_format="channels_last",
    )(inputs)
    x = Magnitude()(x)
    if spec.n_mels:
        mel = {
            "sample_rate": TARGET_SR,
            "n_freq": spec.n_fft // 2 + 1,
            "n_mels": spec.n_mels,
            "f_min": 0.0,
            "f_max": TARGET_SR / 2,
            "htk": False,
            "norm": "slaney",
        }
        x = ApplyFilterbank(type="mel", filterbank_kwargs=mel, data_format="channels_last")(x)
    return keras.layers.Permute((2, 1, 3))(x)  # (time, freq, 1) -> (freq, time, 1)

"""Spectrogram frontends without Keras: the decibel rule, the mel filterbank, and librosa.

Both frontends end with the decibel rule of kapre 0.1.4 that the L3-Net models were
trained with: ``10 * log10(max(S, amin))``, minus the window's maximum, clipped below at
``-dynamic_range``. The librosa frontend computes the tower input on the CPU before the
model; the in-graph (kapre) frontend is built from Keras layers in
:mod:`openl3.models.layers`, which uses this module's rule and filterbank.
"""

from __future__ import annotations

import threading
from types import ModuleType
from typing import Any

import numpy as np

from .._util.exceptions import InvalidArgumentError
from .._util.shared_cache import build_once
from .._util.validation import check_positive_int, check_positive_real
from .specs import SPEC_HOP, TARGET_SR, InputRepr


def _magnitude_to_decibel(
    x: Any, ops: ModuleType, ref_value: float, amin: float, dynamic_range: float
) -> Any:
    """Apply the kapre 0.1.4 decibel rule with numpy or ``keras.ops`` as ``ops``."""
    log10 = np.log(10.0)
    log_spec = 10.0 * ops.log(ops.maximum(x, amin)) / log10
    log_spec = log_spec - 10.0 * np.log10(max(amin, ref_value))
    ndim = len(x.shape)
    axis = tuple(range(1, ndim)) if ndim > 1 else None
    log_spec = log_spec - ops.max(log_spec, axis=axis, keepdims=True)
    return ops.maximum(log_spec, -dynamic_range)


def kapre_v0_1_4_magnitude_to_decibel(
    x: Any, ref_value: float = 1.0, amin: float = 1e-10, dynamic_range: float = 80.0
) -> Any:
    """Convert a batch of magnitude spectrograms to decibels as kapre 0.1.4 did.

    Each item of the batch (first axis) is normalised by its own maximum, so every
    value lies in ``[-dynamic_range, 0]``.

    Parameters
    ----------
    x : tensor or np.ndarray
        Magnitudes, batch first. numpy arrays stay numpy; tensors use ``keras.ops``.
    ref_value : float
        Reference magnitude for 0 dB before the per-item normalisation.
    amin : float
        Floor applied to magnitudes before the logarithm.
    dynamic_range : float
        Range kept below each item's maximum, in dB.

    Returns
    -------
    tensor or np.ndarray
        Decibels, same shape as ``x``.

    Examples
    --------
    >>> import numpy as np
    >>> db = kapre_v0_1_4_magnitude_to_decibel(np.array([[1.0, 0.1, 1e-12]]))
    >>> np.round(db, 3)           # relative to the maximum, floored at -80 dB
    array([[  0., -10., -80.]])
    """
    if isinstance(x, np.ndarray):
        return _magnitude_to_decibel(x, np, ref_value, amin, dynamic_range)
    from keras import ops

    return _magnitude_to_decibel(x, ops, ref_value, amin, dynamic_range)


_MEL_BASES: dict[tuple[int, int], np.ndarray] = {}
_MEL_LOCK = threading.Lock()


def mel_basis(n_fft: int, n_mels: int) -> np.ndarray:
    """Return the Slaney-normalised mel filterbank (n_mels, 1 + n_fft / 2); fmin 0, fmax 24 kHz.

    Built once per shape and shared between threads: the array is read-only (a view of
    the cached one, which cannot be made writeable), so no caller can change the cache.
    """
    return build_once(_MEL_BASES, _MEL_LOCK, (n_fft, n_mels), lambda: _read_only_mel(n_fft, n_mels)).view()


def _read_only_mel(n_fft: int, n_mels: int) -> np.ndarray:
    """Compute the frontends' mel filterbank and make it read-only."""
    basis = slaney_mel_filterbank(TARGET_SR, n_fft, n_mels, 0.0, TARGET_SR / 2)
    basis.setflags(write=False)
    return basis


# Slaney's mel scale (Auditory Toolbox): linear below 1 kHz, logarithmic above.
_HZ_PER_MEL = 200.0 / 3
_BREAK_HZ = 1000.0
_BREAK_MEL = _BREAK_HZ / _HZ_PER_MEL  # 15, as float64 rounds it: the edges depend on it
_LOG_STEP = np.log(6.4) / 27.0


def _hz_to_mel(hz: np.ndarray) -> np.ndarray:
    log_part = _BREAK_MEL + np.log(np.maximum(hz, _BREAK_HZ) / _BREAK_HZ) / _LOG_STEP
    return np.where(hz >= _BREAK_HZ, log_part, hz / _HZ_PER_MEL)


def _mel_to_hz(mel: np.ndarray) -> np.ndarray:
    log_part = _BREAK_HZ * np.exp(_LOG_STEP * (np.maximum(mel, _BREAK_MEL) - _BREAK_MEL))
    return np.where(mel >= _BREAK_MEL, log_part, _HZ_PER_MEL * mel)


def slaney_mel_filterbank(sr: float, n_fft: int, n_mels: int, fmin: float, fmax: float) -> np.ndarray:
    """Return the Slaney-scaled, area-normalised mel filterbank, float32 ``(n_mels, 1 + n_fft // 2)``.

    Triangles between ``n_mels + 2`` edges equally spaced on Slaney's mel scale, each
    scaled by ``2 / (upper edge - lower edge)`` in Hz. The arithmetic (float64 triangles
    rounded to float32, then scaled) gives librosa 0.11's ``filters.mel(norm="slaney")``
    bit for bit (tested across sample rates, sizes and ranges), so the embeddings do not
    hang on the librosa a user has installed.

    Raises
    ------
    InvalidArgumentError
        Unless ``sr``, ``n_fft`` and ``n_mels`` are positive and ``0 <= fmin < fmax <= sr / 2``.

    Examples
    --------
    >>> basis = slaney_mel_filterbank(48000, 2048, 128, 0.0, 24000.0)
    >>> basis.shape, basis.dtype
    ((128, 1025), dtype('float32'))
    >>> int((basis > 0).sum(axis=1).argmax())     # the widest triangle is the highest
    127
    """
    sr, n_fft, n_mels = (
        check_positive_real(sr, "sr"),
        check_positive_int(n_fft, "n_fft"),
        check_positive_int(n_mels, "n_mels"),
    )
    if not 0 <= fmin < fmax <= sr / 2:
        raise InvalidArgumentError(
            f"Invalid mel range {fmin!r} to {fmax!r} Hz: expected 0 <= fmin < fmax <= sr / 2."
        )
    bins = np.arange(1 + n_fft // 2) * (1.0 / (n_fft * (1.0 / sr)))  # numpy's rfftfreq
    edges = _mel_to_hz(np.linspace(_hz_to_mel(np.float64(fmin)), _hz_to_mel(np.float64(fmax)), n_mels + 2))
    widths = np.diff(edges)
    ramps = edges[:, np.newaxis] - bins[np.newaxis, :]
    triangles = np.maximum(0.0, np.minimum(-ramps[:-2] / widths[:-1, None], ramps[2:] / widths[1:, None]))
    area = 2.0 / (edges[2:] - edges[:-2])
    return (triangles.astype(np.float32) * area[:, np.newaxis]).astype(np.float32)


def librosa_frontend(windows: np.ndarray, spec: InputRepr) -> np.ndarray:
    """Compute the tower input for a batch of windows with librosa, on the CPU.

    Parameters
    ----------
    windows : np.ndarray [shape=(n, 48000)]
        One-second windows at 48 kHz.
    spec : InputRepr
        The representation to compute.

    Returns
    -------
    np.ndarray [shape=(n, freq, time, 1)], float32
        Decibel spectrograms, each window normalised by its own maximum.
    """
    import librosa

    magnitude = np.abs(
        librosa.stft(
            windows,
            n_fft=spec.n_fft,
            hop_length=SPEC_HOP,
            window="hann",
            center=spec.n_mels is not None,
            pad_mode="constant",
        )
    )
    if spec.n_mels:
        # optimize=True contracts with BLAS: ~30x faster than einsum's plain loop here.
        magnitude = np.einsum("nft,mf->nmt", magnitude, mel_basis(spec.n_fft, spec.n_mels), optimize=True)
    decibels = kapre_v0_1_4_magnitude_to_decibel(magnitude)
    return decibels[..., np.newaxis].astype(np.float32, copy=False)

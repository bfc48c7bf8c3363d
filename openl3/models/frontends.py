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

from .._util.shared_cache import build_once
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
    """Compute a mel filterbank with librosa and make it read-only."""
    import librosa

    basis = librosa.filters.mel(
        sr=TARGET_SR, n_fft=n_fft, n_mels=n_mels, fmin=0.0, fmax=TARGET_SR / 2, htk=False, norm="slaney"
    )
    basis.setflags(write=False)
    return basis


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

"""The windows of audio, as OpenL3 0.4.2 frames them: one arithmetic for files, arrays and streams.

:func:`window_count` gives how many windows a signal has (from a file's header too);
:class:`AudioWindows` reads them from an array or from samples decoded as they are read
(:class:`openl3.audio.decode.ForwardSamples`), downmixed and resampled block by block.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np

from .._util.exceptions import OpenL3Warning
from ..models.specs import TARGET_SR, WINDOW_SAMPLES
from .signal import check_sample_rate, iter_signal_blocks, resampled_length


class _HeldSamples:
    """Increasing ranges of a signal that arrives in consecutive blocks.

    Only the samples from the start of the last range read onwards are held: samples
    before it are dropped, and blocks that end before it are never kept.
    """

    def __init__(self, blocks: Iterator[np.ndarray], length: int):
        self._blocks, self.length = blocks, length
        self._held: np.ndarray | None = None
        self._start = 0  # signal index of self._held[0]

    def take(self, start: int, stop: int) -> np.ndarray:
        """Return samples ``[start, stop)`` clipped to the signal (``start`` never decreases)."""
        stop = min(stop, self.length)
        if start >= stop:
            return np.zeros(0)
        held = self._held if self._held is not None else np.zeros(0)
        skip = min(max(start - self._start, 0), len(held))
        pieces, first = [held[skip:]], self._start + skip
        end = self._start + len(held)
        while end < stop:
            block = next(self._blocks)
            if end + len(block) <= start:  # wholly before the range: never kept
                end += len(block)
                pieces, first = [], end
                continue
            pieces.append(block)
            end += len(block)
        pieces = [p for p in pieces if len(p)]
        joined = pieces[0] if len(pieces) == 1 else np.concatenate(pieces)
        trim = max(start - first, 0)
        self._held, self._start = joined[trim:], first + trim
        return self._held[: stop - self._start]


def window_count(n_samples: int, sr: float, hop_size: float, center: bool) -> int:
    """Return how many windows OpenL3 0.4.2 frames from ``n_samples`` samples at ``sr``.

    Centred windows start half a window before the signal; zeros after it complete the
    last hop. A file's count follows from its header (frames and rate), without decoding.
    """
    padded = resampled_length(n_samples, sr) + (WINDOW_SAMPLES // 2 if center else 0)
    return 1 + max(0, -(-(padded - WINDOW_SAMPLES) // int(hop_size * TARGET_SR)))


def window_dtype(frontend: str) -> type:
    """Dtype of the raw windows: float32 feeds kapre, librosa computes from float64."""
    return np.float64 if frontend == "librosa" else np.float32


class AudioWindows:
    """The one-second analysis windows of one audio input, as OpenL3 0.4.2 frames them.

    The signal is downmixed and resampled to 48 kHz block by block as windows are read;
    only the samples of the windows being read are held (never the gaps between windows
    when the hop exceeds the window). ``center`` puts half a window of zeros before the
    signal; zeros after it complete the last hop.

    Parameters
    ----------
    audio : np.ndarray [shape=(N,) or (N, C)] or ForwardSamples
        Validated audio, or samples decoded as they are read (an :class:`AudioFile`).
    sr : float
        Its sample rate.
    hop_size : float
        Hop between windows, in seconds.
    center : bool
        Whether timestamps are window centres (True) or starts (False).
    dtype : numpy dtype
        Dtype of the windows returned by :meth:`read`.
    name : str
        What the audio is, for the short-audio warning.
    """

    def __init__(
        self,
        audio: Any,
        sr: float,
        hop_size: float,
        center: bool,
        dtype: Any = np.float32,
        name: str = "provided audio",
    ):
        check_sample_rate(sr, name)
        self.hop = int(hop_size * TARGET_SR)
        self.offset = WINDOW_SAMPLES // 2 if center else 0
        length = resampled_length(len(audio), sr)
        if length < WINDOW_SAMPLES:
            warnings.warn(
                f"Duration of {name} is shorter than window size (1 second). Audio will be padded.",
                OpenL3Warning,
                stacklevel=4,
            )
        self.n_items = window_count(len(audio), sr, hop_size, center)
        self.timestamps = np.arange(self.n_items) * hop_size
        self.dtype = dtype
        self._samples = _HeldSamples(iter_signal_blocks(audio, sr), length)

    def read(self, start: int, count: int) -> np.ndarray:
        """Return windows ``start`` to ``start + count`` as a (count, 48000) array."""
        windows = np.zeros((count, WINDOW_SAMPLES), dtype=self.dtype)
        for k in range(count):
            begin = (start + k) * self.hop - self.offset
            low = max(begin, 0)
            samples = self._samples.take(low, begin + WINDOW_SAMPLES)
            windows[k, low - begin : low - begin + len(samples)] = samples
        return windows

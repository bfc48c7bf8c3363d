"""Embeddings of live audio: feed samples as they arrive, get the windows they complete.

:class:`AudioStream` gives, for any chunking of a signal, what
:func:`openl3.get_audio_embedding` gives for the whole signal: the same resampling
(resampy 0.2's ``kaiser_best``, bit for bit, :class:`openl3.audio.signal.StreamResampler`),
the same windows (:class:`StreamWindows`) and timestamps. It holds only the samples that
the windows not yet embedded need, and the resampling filter's reach of input.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from .._util.exceptions import InvalidArgumentError, OpenL3Error, OpenL3Warning
from .._util.validation import check_bool, check_positive_real
from ..models.specs import TARGET_SR, WINDOW_SAMPLES
from .compute import AudioComputation
from .signal import StreamResampler, mono_block
from .windows import window_count, window_dtype


class StreamWindows:
    """The one-second windows of a signal that arrives in pieces, framed as 0.4.2 frames it.

    Parameters
    ----------
    sr : float
        Rate of the pieces (resampled to 48 kHz as they arrive).
    hop_size : float
        Hop between windows, in seconds.
    center : bool
        Whether half a window of zeros precedes the signal (timestamps are centres).
    dtype : numpy dtype
        Dtype of the windows.
    """

    def __init__(self, sr: float, hop_size: float, center: bool, dtype: Any = np.float32):
        self.hop = int(hop_size * TARGET_SR)
        self.hop_size, self.center, self.dtype = hop_size, center, dtype
        self.offset = WINDOW_SAMPLES // 2 if center else 0
        self._resampler = None if sr == TARGET_SR else StreamResampler(sr)
        self._channels: int | None = None
        self._samples = np.zeros(0)  # the 48 kHz signal from index self._start
        self._start = self._length = 0  # first index held; samples received so far
        self.n_done = 0  # windows returned so far
        self.finished = False

    def _check(self, chunk: Any) -> np.ndarray:
        chunk = np.asarray(chunk)
        if chunk.dtype.kind not in "iuf":
            raise InvalidArgumentError(
                f"Invalid audio chunk: expected real numbers, got dtype {chunk.dtype}."
            )
        if chunk.ndim not in (1, 2):
            raise InvalidArgumentError(
                f"Invalid audio chunk: expected a (n,) or (n, channels) array, got {chunk.shape}."
            )
        channels = 1 if chunk.ndim == 1 else chunk.shape[1]
        if self._channels is not None and channels != self._channels:
            raise InvalidArgumentError(
                f"Invalid audio chunk: {channels} channels after chunks of {self._channels}."
            )
        if not np.isfinite(chunk).all():
            raise InvalidArgumentError("Invalid audio chunk: it contains NaN or infinite samples.")
        self._channels = channels
        return chunk

    def push(self, chunk: Any) -> np.ndarray:
        """Take the next samples (any number); return the windows they complete, (T, 48000)."""
        if self.finished:
            raise OpenL3Error("The stream was flushed: start a new one.")
        mono = mono_block(self._check(chunk), 0, len(chunk))
        self._append(mono if self._resampler is None else self._resampler.push(mono))
        ready = max(0, (self._length + self.offset - WINDOW_SAMPLES) // self.hop + 1)
        return self._take(ready)

    def finish(self) -> np.ndarray:
        """End the signal; return the windows left (the last ones padded with zeros)."""
        if self.finished:
            raise OpenL3Error("The stream was flushed already.")
        self.finished = True
        if self._channels is None:
            return self._take(0)  # nothing was fed: no window
        if self._resampler is not None:
            self._append(self._resampler.finish())
        if self._length < WINDOW_SAMPLES:
            warnings.warn(
                "Duration of provided audio is shorter than window size (1 second). Audio will be padded.",
                OpenL3Warning,
                stacklevel=3,
            )
        return self._take(window_count(self._length, TARGET_SR, self.hop_size, self.center))

    def timestamps(self, start: int, stop: int) -> np.ndarray:
        """Return the timestamps of windows ``start`` to ``stop``.

        Only these windows' timestamps are computed, so a call costs the same however
        old the stream is; each equals ``np.arange(stop)[k] * hop_size`` bit for bit (the
        same integer times the same float), as ``get_audio_embedding`` computes them.
        """
        return np.arange(start, stop) * self.hop_size

    def _append(self, samples: np.ndarray) -> None:
        """Add 48 kHz samples, keeping only those from the start of the next window on."""
        first, self._length = self._length, self._length + len(samples)
        needed_from = max(self.n_done * self.hop - self.offset, 0)
        kept = samples[min(max(needed_from - first, 0), len(samples)) :]
        if not len(self._samples):  # (held samples always end where new ones begin)
            self._samples, self._start = kept, self._length - len(kept)
        elif len(kept):
            self._samples = np.concatenate([self._samples, kept])

    def _take(self, n_items: int) -> np.ndarray:
        """Return windows ``n_done`` to ``n_items``; drop the samples no later window needs."""
        windows = np.zeros((max(n_items - self.n_done, 0), WINDOW_SAMPLES), dtype=self.dtype)
        for row, k in enumerate(range(self.n_done, n_items)):
            begin = k * self.hop - self.offset
            low, high = max(begin, 0), min(begin + WINDOW_SAMPLES, self._length)
            if high > low:
                windows[row, low - begin : high - begin] = self._samples[
                    low - self._start : high - self._start
                ]
        self.n_done = max(self.n_done, n_items)
        drop = min(max(self.n_done * self.hop - self.offset - self._start, 0), len(self._samples))
        self._samples, self._start = self._samples[drop:], self._start + drop
        return windows


class AudioStream:
    """Embeddings of audio that arrives in chunks: a microphone, a network stream.

    Parameters
    ----------
    sr : int or float
        Sample rate of the chunks.
    exact_batches : bool
        If True, windows go to the model in the batches ``get_audio_embedding`` would
        use for the whole signal (whole batches of ``batch_size`` from the first
        window), so the embeddings are bit for bit the same; a window's embedding then
        comes up to ``batch_size - 1`` windows later. If False (default), each call
        embeds the windows it completed at once.
    embedder : AudioComputation, optional
        An embedder already made (:meth:`openl3.AudioEmbedder.stream` passes itself, so
        the stream shares its loaded model); then no ``options`` are given.
    **options
        Those of :func:`openl3.get_audio_embedding`, with its defaults: ``model``,
        ``input_repr``, ``content_type``, ``embedding_size``, ``center``, ``hop_size``,
        ``batch_size``, ``frontend`` and ``precision``; ``verbose`` (default False here)
        is accepted for symmetry and shows nothing.

    Notes
    -----
    The concatenated results of :meth:`feed` and :meth:`flush` equal
    ``get_audio_embedding`` on the whole signal, for any chunking: the same timestamps
    and the embeddings of the same windows, bit for bit with ``exact_batches`` (or
    ``batch_size=1``), else to the model's rounding in other batch sizes (about 1e-6).
    A window is embedded as soon as its last sample has arrived (with resampling, once
    the filter's reach after it has arrived: 66 input samples when upsampling, 1.5 ms at
    44.1 kHz), unless ``exact_batches`` holds it for its batch.

    Examples
    --------
    >>> stream = openl3.AudioStream(16000, input_repr="mel128", embedding_size=512)
    >>> for chunk in chunks:                      # (n,) or (n, channels) arrays
    ...     embedding, timestamps = stream.feed(chunk)   # (T, 512), (T,); T may be 0
    >>> embedding, timestamps = stream.flush()    # the windows left at the end
    """

    def __init__(
        self, sr: Any, exact_batches: bool = False, embedder: AudioComputation | None = None, **options: Any
    ):
        unknown = set(options) - set(AUDIO_OPTIONS)
        if unknown:
            raise InvalidArgumentError(f"Invalid options of AudioStream: {', '.join(sorted(unknown))}.")
        if embedder is not None and options:
            raise InvalidArgumentError("AudioStream takes an embedder or its options, not both.")
        options.setdefault("verbose", False)
        self.sr = check_positive_real(sr, "sr")
        self.exact_batches = check_bool(exact_batches, "exact_batches")
        self.embedder = AudioComputation(**options) if embedder is None else embedder
        dtype = window_dtype(self.embedder.frontend)
        self.windows = StreamWindows(self.sr, self.embedder.hop_size, self.embedder.center, dtype)
        self._pending = np.zeros((0, WINDOW_SAMPLES), dtype)  # with exact_batches: windows held back
        self._pending_start = 0

    def feed(self, chunk: Any) -> tuple[np.ndarray, np.ndarray]:
        """Take the next samples at ``sr``; return the embeddings and timestamps of the windows they complete.

        Parameters
        ----------
        chunk : np.ndarray [shape=(n,) or (n, channels)]
            Any number of samples (channels as the first chunk's).

        Returns
        -------
        embedding : np.ndarray [shape=(T, D)]
        timestamps : np.ndarray [shape=(T,)]
        """
        return self._embed(self.windows.push(chunk), final=False)

    def flush(self) -> tuple[np.ndarray, np.ndarray]:
        """End the stream; return the embeddings and timestamps of the windows left."""
        return self._embed(self.windows.finish(), final=True)

    def _ready(self, windows: np.ndarray, final: bool) -> tuple[np.ndarray, int]:
        """Return the windows to embed now and the index of the first; hold back the rest.

        With ``exact_batches``, only whole batches (counted from the first window, as
        ``get_audio_embedding`` batches them) are embedded before the end.
        """
        if not self.exact_batches:
            return windows, self.windows.n_done - len(windows)
        pending = np.concatenate([self._pending, windows]) if len(self._pending) else windows
        size = self.embedder.batch_size
        count = len(pending) if final else len(pending) // size * size
        start = self._pending_start
        self._pending, self._pending_start = pending[count:], start + count
        return pending[:count], start

    def _embed(self, windows: np.ndarray, final: bool) -> tuple[np.ndarray, np.ndarray]:
        windows, start = self._ready(windows, final)
        parts = [
            self.embedder.predict(windows[i : i + self.embedder.batch_size])
            for i in range(0, len(windows), self.embedder.batch_size)
        ]
        embedding = np.concatenate(parts) if parts else np.zeros((0, self.dimension()), np.float32)
        return embedding, self.windows.timestamps(start, start + len(windows))

    def dimension(self) -> int:
        """Return the embedding size D (loads the model)."""
        return self.embedder.dimension()


#: The options of :class:`AudioStream`: those of ``get_audio_embedding`` after ``audio, sr``.
AUDIO_OPTIONS = (
    "model",
    "input_repr",
    "content_type",
    "embedding_size",
    "center",
    "hop_size",
    "batch_size",
    "frontend",
    "verbose",
    "precision",
)

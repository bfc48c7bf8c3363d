"""Audio files decoded as :func:`soundfile.read` decodes them, block by block.

The one audio decoder of the package: the local engine, the Ray engine and video tracks
(:class:`openl3.video.compute.VideoAudio`) read through :class:`ForwardSamples`.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable
from typing import Any

import numpy as np

from .._util.exceptions import OpenL3Error
from .._util.remote import is_uri, local_copy
from .._util.validation import warn_all_zeros
from .signal import iter_signal_blocks

logger = logging.getLogger("openl3")


def _open_failure(exc: Exception) -> str:
    """Return why soundfile could not open an audio file that exists, in words that fit it.

    libsndfile says "File does not exist or is not a regular file" of a file it cannot
    decode at all (a damaged MP3): the file exists, and it could not be decoded.
    """
    reason = getattr(exc, "error_string", None) or str(exc)
    if "does not exist" in reason:
        return "it could not be decoded (damaged, or not in a format libsndfile reads)."
    return reason


class ForwardSamples:
    """Samples decoded forward in blocks as they are sliced, checked as they come.

    Slicing gives what the whole (frames,) or (frames, channels) float64 array would give,
    for the non-decreasing slices that :class:`AudioWindows` takes; only the last block
    decoded is held. NaN or infinite samples raise :class:`OpenL3Error`; all-zero samples
    warn once the end is reached. Subclasses decode with :meth:`_read`.

    Parameters
    ----------
    name : str
        What the samples are, for messages ("audio file x.wav").
    length : int
        Number of frames.
    channels : int
        Number of channels (1 gives 1-d slices).
    """

    dtype = np.dtype(np.float64)

    def __init__(self, name: str, length: int, channels: int):
        if length <= 0:
            self._close()
            raise OpenL3Error(f"Invalid {name}: the array is empty.")
        self.name, self._length = name, length
        self.ndim = 1 if channels == 1 else 2
        self._cache = np.zeros((0,) if self.ndim == 1 else (0, channels))
        self._cache_start, self._position, self._any_nonzero = 0, 0, False

    def __len__(self) -> int:
        return self._length

    def __getitem__(self, key: slice) -> np.ndarray:
        start, stop = key.start or 0, min(key.stop, self._length)
        if start < self._cache_start:
            raise ValueError(f"{self.name}: read forward only")
        cache_end = self._cache_start + len(self._cache)
        if stop > cache_end:
            while cache_end < start:  # decode and drop what no slice needs
                cache_end += len(self._decode(min(start - cache_end, 1 << 18)))
            kept = self._cache[max(start - self._cache_start, 0) :]
            fresh = self._decode(stop - cache_end)
            self._cache = np.concatenate([kept, fresh]) if len(kept) else fresh
            self._cache_start = stop - len(self._cache)
        return self._cache[start - self._cache_start : stop - self._cache_start]

    def _decode(self, count: int) -> np.ndarray:
        """Decode the next ``count`` frames, checking them."""
        block = self._read(count)
        if not np.isfinite(block).all():
            raise OpenL3Error(f"Invalid {self.name}: it contains NaN or infinite samples.")
        self._any_nonzero = self._any_nonzero or bool(block.any())
        self._position += count
        if self._position == self._length:
            self._close()
            if not self._any_nonzero:
                warn_all_zeros(self.name)
        return block

    def _read(self, count: int) -> np.ndarray:
        """Return exactly the next ``count`` frames (float64), or raise :class:`OpenL3Error`."""
        raise NotImplementedError

    def _close(self) -> None:
        """Release the decoder once every frame is read (nothing to release by default)."""


def _libsndfile_reads(file: Any) -> Callable[[int], np.ndarray] | None:
    """Return a reader of the next frames of ``file`` straight from libsndfile (or None).

    soundfile's ``read`` seeks back to the position it reached after every read, to keep
    its read and write positions together. For MP3, libsndfile passes that seek to mpg123,
    which restarts decoding a few frames earlier with a reset synthesis filter and bit
    reservoir: the samples after it differ from an uninterrupted decode (by 1e-7, or by
    up to 0.6 where the reservoir reaches further back than mpg123 restarts). This reader
    calls ``sf_readf_double`` as soundfile's ``read`` does inside, without the seeks, so
    consecutive reads give the samples of one whole read, in every format. It needs
    soundfile's private ``_snd``/``_ffi``/``_file``; None if a soundfile lacks them.
    """
    import soundfile as sf

    try:
        from soundfile import _ffi, _snd

        handle, readf = file._file, _snd.sf_readf_double
    except (ImportError, AttributeError):
        return None

    def read(count: int) -> np.ndarray:
        block = np.empty((count, file.channels), dtype=np.float64)
        done = readf(handle, _ffi.cast("double *", block.ctypes.data), count)
        error = _snd.sf_error(handle)
        if error:
            raise sf.LibsndfileError(error)
        return block[:done]

    return read


def _whole_read(file: Any) -> Callable[[int], np.ndarray]:
    """Return a reader of the next frames of ``file`` from one read of the whole file.

    The fallback where :func:`_libsndfile_reads` is unavailable: exactly ``sf.read``'s
    samples, at the cost of holding them all (8 bytes per sample per channel).
    """
    whole: list[np.ndarray] = []
    position = 0

    def read(count: int) -> np.ndarray:
        nonlocal position
        if not whole:
            whole.append(file.read(file.frames, dtype="float64", always_2d=True))  # as sf.read
        position += count
        return whole[0][position - count : position]

    return read


@functools.cache
def _warn_whole_reads() -> None:
    """Log, once a process, that audio files are read whole."""
    logger.warning(
        "This soundfile does not expose libsndfile's read function: audio files are read "
        "whole (as sf.read does), not in blocks."
    )


class AudioFile(ForwardSamples):
    """An audio file's samples, decoded forward in blocks as they are sliced.

    Slices give ``sf.read(path)``'s samples bit for bit, in every format: like ``sf.read``
    the file is seeked to frame 0 once opened, then read forward without another seek
    (see :func:`_libsndfile_reads`). A file ending before the frame count its header
    declares raises :class:`OpenL3Error`.

    Parameters
    ----------
    path : str
        The file (any format soundfile reads).
    """

    def __init__(self, path: str):
        import soundfile as sf

        if not is_uri(path) and not os.path.isfile(path):
            raise OpenL3Error(f"Audio file not found: {path}")
        try:
            with local_copy(path) as local:  # a URI's copy is removed once open
                self._file = sf.SoundFile(local)
            if self._file.seekable():  # as sf.read does: MP3 decodes differently without it
                self._file.seek(0)
        except (sf.LibsndfileError, RuntimeError, ValueError) as exc:
            raise OpenL3Error(f"Cannot read audio file {path}: {_open_failure(exc)}") from exc
        self._reads = _libsndfile_reads(self._file)
        if self._reads is None:
            _warn_whole_reads()
            self._reads = _whole_read(self._file)
        self.path, self.samplerate = path, self._file.samplerate
        super().__init__(f"audio file {path}", self._file.frames, self._file.channels)

    def _read(self, count: int) -> np.ndarray:
        import soundfile as sf

        try:
            block = self._reads(count)
        except (sf.LibsndfileError, RuntimeError, ValueError) as exc:
            raise OpenL3Error(
                f"Cannot decode audio file {self.path} after frame {self._position}: {exc}"
            ) from exc
        if len(block) < count:
            raise OpenL3Error(
                f"Cannot read audio file {self.path}: it ends after {self._position + len(block)} of the "
                f"{self._length} frames its header declares (truncated or damaged)."
            )
        return block[:, 0] if self.ndim == 1 else block

    def _close(self) -> None:
        self._file.close()


def decode_audio_file(path: str, dtype: Any = np.float64) -> np.ndarray:
    """Return a whole audio file downmixed and resampled to 48 kHz (what the Ray engine ships)."""
    audio = AudioFile(path)
    blocks = list(iter_signal_blocks(audio, audio.samplerate)) or [np.zeros(0)]
    return np.concatenate(blocks).astype(dtype, copy=False)

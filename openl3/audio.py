"""Audio embeddings: windowing as OpenL3 0.4.2, without framing whole files in memory.

:class:`AudioEmbedder` holds everything an audio computation needs, checked once: the
model (loaded on first use), the frontend, the windowing and the batch size.
:func:`get_audio_embedding`, :func:`process_audio_file` and video files are thin
callers of it.
"""

from __future__ import annotations

import functools
import logging
import os
import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from .batching import Embedder, model_predictor
from .exceptions import OpenL3Error, OpenL3Warning
from .files import FileInput, FileJob, FileRun, Report, process_paths
from .models.frontends import librosa_frontend
from .models.specs import (
    AUDIO_TOWER,
    CONTENT_TYPES,
    DEFAULT_INPUT_REPR,
    FRONTENDS,
    INPUT_REPRS,
    TARGET_SR,
    WINDOW_SAMPLES,
    input_repr_spec,
)
from .remote import is_uri, local_copy
from .signal import iter_signal_blocks, resampled_length
from .validation import (
    check_audio,
    check_bool,
    check_choice,
    check_hop_size,
    check_positive_real,
    pair_inputs,
    warn_all_zeros,
)

logger = logging.getLogger("openl3")


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


def _open_failure(exc: Exception) -> str:
    """Return why soundfile could not open an audio file that exists, in words that fit it.

    libsndfile says "File does not exist or is not a regular file" of a file it cannot
    decode at all (a damaged MP3): the file exists, and it could not be decoded.
    """
    reason = getattr(exc, "error_string", None) or str(exc)
    if "does not exist" in reason:
        return "it could not be decoded (damaged, or not in a format libsndfile reads)."
    return reason


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
        if shape != AUDIO_TOWER.input_shape(frontend="kapre"):
            raise OpenL3Error(
                f"Invalid model: the kapre frontend needs a model taking (batch, 1, {WINDOW_SAMPLES}) "
                f"audio, this one takes {model.input_shape}. Was it loaded with frontend='librosa'?"
            )
        return model, None
    inferred = _model_input_repr(model)
    if inferred is None or (
        input_repr is not None and AUDIO_TOWER.input_shape(input_repr, "librosa") != shape
    ):
        raise OpenL3Error(
            f"Invalid model: its input {model.input_shape} is not the spectrogram of "
            f"input_repr {input_repr or 'linear, mel128 or mel256'} that the librosa frontend computes."
        )
    return model, inferred


def window_dtype(frontend: str) -> type:
    """Dtype of the raw windows: float32 feeds kapre, librosa computes from float64."""
    return np.float64 if frontend == "librosa" else np.float32


class AudioEmbedder(Embedder):
    """An audio embedding computation, its arguments checked once.

    The model is loaded on first use (a run whose outputs all exist loads none).
    Arguments as :func:`get_audio_embedding`; ``prefix`` is prepended to the argument
    names in error messages (``"audio_"`` for video files).
    """

    unit = "window"
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
    ):
        super().__init__(batch_size, verbose, precision, prefix)
        self.user_model = model
        self.model, self.input_repr = resolve_audio_model(model, input_repr, frontend)
        if self.model is None:  # checked now, before any file is read
            check_choice(content_type, "content_type", CONTENT_TYPES)
            AUDIO_TOWER.final_pool(self.input_repr, embedding_size)
        check_hop_size(hop_size, TARGET_SR, f"{prefix}hop_size")
        self.center = check_bool(center, f"{prefix}center")
        self.hop_size, self.frontend = hop_size, frontend
        self.content_type, self.embedding_size = content_type, embedding_size

    def _more_settings(self) -> dict[str, Any]:
        """Return the windowing and frontend settings."""
        return {"hop_size": self.hop_size, "center": self.center, "frontend": self.frontend}

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
            from .models import shared_audio_model

            self.model = shared_audio_model(
                self.input_repr, self.content_type, self.embedding_size, self.frontend
            )
        predict = model_predictor(self.model, self.precision)
        if self.frontend != "librosa":
            return lambda windows: predict(windows[:, np.newaxis, :])
        spec = input_repr_spec(self.input_repr)
        return lambda windows: predict(librosa_frontend(windows, spec))

    def process_files(
        self, inputs: Sequence[FileInput], outputs: Any, overwrite: bool, errors: str, report=None
    ) -> Report:
        """Embed audio files and save their outputs (see :func:`process_audio_file`)."""
        run = FileRun(inputs, outputs, overwrite, errors, report)

        def arrays(source: AudioWindows, embedding: np.ndarray) -> dict[str, np.ndarray]:
            return {"embedding": embedding, "timestamps": source.timestamps}

        def open_source(job: FileJob) -> AudioWindows:
            return self.open_file(job.path)

        return run.embed(
            open_source, self.predict, arrays, self.batch_size, self.verbose, "window", self.count_items
        )


def checked_audio(audio: Any, sr: Any) -> tuple[list[np.ndarray], list[float], bool]:
    """Validate one audio array or a list, with their rates, in 0.4.2's order of checks.

    Returns the arrays, one rate per array, and whether a list was given.
    """
    arrays, rates, is_list = pair_inputs(audio, sr, "audio", "sr")
    names = [f"audio[{i}]" for i in range(len(arrays))] if is_list else ["audio"]
    checked = [check_audio(array, name) for array, name in zip(arrays, names, strict=True)]
    return checked, [check_positive_real(rate, "sr") for rate in rates], is_list


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
    arrays, rates, _ = checked_audio(audio, sr)
    check_hop_size(hop_size, TARGET_SR)
    center = check_bool(center, "center")
    dtype = window_dtype("kapre" if spec is None else "librosa")
    sources = [AudioWindows(a, r, hop_size, center, dtype) for a, r in zip(arrays, rates, strict=True)]
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
    precision: str = "faithful",
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
        If True (or 1), shows a progress bar over windows.
    precision : "faithful" or "fast"
        "faithful" (default) computes in true float32 on GPUs, as 0.4.2 did; "fast"
        allows TF32 (see :mod:`openl3.precision`). CPUs compute float32 either way.

    Returns
    -------
    embedding : np.ndarray [shape=(T, D)] or list[np.ndarray]
        Embeddings for each window, or a list of such arrays for a list input.
    timestamps : np.ndarray [shape=(T,)] or list[np.ndarray]
        Timestamps of each window in seconds, or a list of such arrays.
    """
    arrays, rates, is_list = checked_audio(audio, sr)
    embedder = AudioEmbedder(
        model,
        input_repr,
        content_type,
        embedding_size,
        center,
        hop_size,
        batch_size,
        frontend,
        verbose,
        precision=precision,
    )
    sources = [embedder.windows(a, r) for a, r in zip(arrays, rates, strict=True)]
    embeddings = embedder.embed(sources)
    timestamps = [source.timestamps for source in sources]
    if is_list:
        return embeddings, timestamps
    return embeddings[0], timestamps[0]


def process_audio_file(
    filepath: Any,
    output_dir: str | None = None,
    suffix: str | None = None,
    model: Any = None,
    input_repr: str | None = None,
    content_type: str = "music",
    embedding_size: int = 6144,
    center: bool = True,
    hop_size: float = 0.1,
    batch_size: int = 32,
    overwrite: bool = False,
    frontend: str = "kapre",
    verbose: bool = True,
    errors: str = "raise",
    precision: str = "faithful",
    output_format: str = "npz",
    dtype: str = "float32",
    part_size_mb: float | None = None,
    engine: str = "local",
    ray_address: str | None = None,
    shard: tuple[int, int] | None = None,
    break_lock: bool = False,
) -> Report:
    """Compute and save L3 embeddings for audio files.

    Each ``<name>.<ext>`` gives ``<output_dir>/<name>[_<suffix>].npz`` holding
    ``embedding`` (T x D, float32) and ``timestamps`` (T, float64). Files are decoded
    block by block as their windows are embedded, so memory does not grow with their
    length; windows of consecutive files share model batches. Two inputs whose outputs
    would have the same path (``x.wav`` and ``x.flac``) are not both processed: the
    later one fails.

    Parameters
    ----------
    filepath : str or list[str]
        Path or list of paths to audio files (any format soundfile reads).
    output_dir : str or None
        Directory for the output files. If None, next to each input file.
    suffix : str or None
        Appended to the output name, i.e. ``<base filename>_<suffix>.npz``.
    model : keras.Model or None
        Loaded model object; see :func:`openl3.get_audio_embedding`.
    input_repr : "linear", "mel128", "mel256" or None
        Spectrogram representation (None: mel256 with kapre; required with librosa).
    content_type : "music" or "env"
        Type of content used to train the embedding model.
    embedding_size : 6144 or 512
        Embedding dimensionality.
    center : bool
        If True, pads beginning of signal so timestamps correspond to center of window.
    hop_size : float
        Hop size in seconds.
    batch_size : int
        Batch size used for input to embedding model.
    overwrite : bool
        If True, overwrites existing output files; else existing outputs are skipped.
    frontend : "kapre" or "librosa"
        The audio frontend to use.
    verbose : bool
        If True (or 1), shows progress.
    errors : "raise" or "collect"
        "raise" (0.4.2's behaviour) stops at the first input that fails; "collect"
        logs it, writes nothing for it, goes on, and lists it in the report.
    precision : "faithful" or "fast"
        Model precision on GPUs (see :func:`get_audio_embedding`).
    output_format : "npz" or "parquet"
        "npz" (0.4.2's outputs) writes one file per input; "parquet" writes the rows of
        every input to one Parquet dataset in ``output_dir`` (required; see
        :mod:`openl3.dataset`): a rerun skips the inputs whose rows are there, and
        ``suffix`` does not apply.
    dtype : "float32" or "float16"
        Type of the embedding values in a Parquet dataset (float16: half the size).
    part_size_mb : float or None
        Parquet rows are committed as a part file when this many MB are buffered
        (default 128), and at the end.
    engine : "local" or "ray"
        "ray" runs the job on Ray Data (Parquet output only; :mod:`openl3.ray_engine`).
    ray_address : str or None
        The Ray cluster of ``engine="ray"`` (default: a new local Ray instance).
    shard : (int, int) or None
        ``(K, N)`` embeds only shard K of N (from 0) of the inputs, split by a stable
        hash of each path as named, so the N jobs of a job array share the work without
        talking; they may write into one Parquet dataset at once (:mod:`openl3.shard`).
    break_lock : bool
        Remove the locks of other runs on the Parquet dataset that cover these inputs:
        for runs you know are dead (:mod:`openl3.locks`).

    Returns
    -------
    report : Report
        The inputs processed, skipped (existing outputs) and failed.
    """
    embedder = AudioEmbedder(
        model,
        input_repr,
        content_type,
        embedding_size,
        center,
        hop_size,
        batch_size,
        frontend,
        verbose,
        precision=precision,
    )
    return process_paths(embedder, filepath, locals())

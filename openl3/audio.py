"""Audio embeddings: OpenL3 0.4.2's functions, thin callers of :class:`openl3.AudioEmbedder`.

The windowing is 0.4.2's (:mod:`openl3.windows`); files are decoded block by block
(:mod:`openl3.audio_decode`), so whole files are never framed in memory.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .audio_core import checked_audio
from .embedders import AudioEmbedder
from .exceptions import OpenL3Error
from .files import Report, RunOptions, run_paths
from .models.frontends import librosa_frontend
from .models.specs import TARGET_SR, input_repr_spec
from .validation import check_bool, check_hop_size
from .windows import AudioWindows, window_dtype


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
    precision : "faithful", "fast", "tf32" or "bfloat16"
        "faithful" (default) computes in true float32, as 0.4.2 did; "tf32" allows TF32 on
        GPUs that have it; "bfloat16" runs the tower (not the spectrogram) in bfloat16;
        "fast" picks one where it was measured faster (see :mod:`openl3.precision`).

    Returns
    -------
    embedding : np.ndarray [shape=(T, D)] or list[np.ndarray]
        Embeddings for each window, or a list of such arrays for a list input.
    timestamps : np.ndarray [shape=(T,)] or list[np.ndarray]
        Timestamps of each window in seconds, or a list of such arrays.
    """
    checked = checked_audio(audio, sr)
    embedder = _embedder(
        model,
        input_repr,
        content_type,
        embedding_size,
        center,
        hop_size,
        batch_size,
        frontend,
        verbose,
        precision,
    )
    return embedder.embed_checked(*checked)


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
    precision : "faithful", "fast", "tf32" or "bfloat16"
        Model precision (see :func:`get_audio_embedding`).
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
    embedder = _embedder(
        model,
        input_repr,
        content_type,
        embedding_size,
        center,
        hop_size,
        batch_size,
        frontend,
        verbose,
        precision,
    )
    options = RunOptions(
        output_dir,
        suffix,
        overwrite,
        errors,
        output_format,
        dtype,
        part_size_mb,
        engine,
        ray_address,
        shard,
        break_lock,
    )
    return run_paths(embedder, filepath, options)


def _embedder(
    model: Any,
    input_repr: str | None,
    content_type: str,
    embedding_size: int,
    center: bool,
    hop_size: float,
    batch_size: int,
    frontend: str,
    verbose: bool,
    precision: str,
) -> AudioEmbedder:
    """Return the embedder of the 0.4.2 functions' arguments (they share the defaults)."""
    return AudioEmbedder(
        model=model,
        input_repr=input_repr,
        content_type=content_type,
        embedding_size=embedding_size,
        center=center,
        hop_size=hop_size,
        batch_size=batch_size,
        frontend=frontend,
        verbose=verbose,
        precision=precision,
    )

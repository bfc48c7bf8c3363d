"""OpenL3 0.4.2's functions, as 0.4.2 documents them under ``openl3.core``.

:func:`get_audio_embedding`, :func:`preprocess_audio`, :func:`process_audio_file`,
:func:`get_image_embedding`, :func:`process_image_file` and :func:`process_video_file` are
thin callers of the object API (:class:`openl3.AudioEmbedder`, :class:`openl3.ImageEmbedder`,
:class:`openl3.VideoEmbedder`) and give its numbers bit for bit; :func:`get_output_path`
names 0.4.2's ``.npz`` outputs. The computation itself lives in the domain packages below
(:mod:`openl3.audio`, :mod:`openl3.image`, :mod:`openl3.video`), the runs over files in
:mod:`openl3.runs`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._util.exceptions import InvalidArgumentError
from ._util.validation import check_bool, check_hop_size
from .audio.compute import checked_audio
from .audio.windows import AudioWindows, window_dtype
from .embedders import AudioEmbedder, ImageEmbedder, VideoEmbedder
from .models.frontends import librosa_frontend
from .models.specs import TARGET_SR, input_repr_spec
from .runs.driver import Report, RunOptions, run_paths
from .runs.npz import get_output_path

__all__ = [
    "get_audio_embedding",
    "get_image_embedding",
    "get_output_path",
    "preprocess_audio",
    "process_audio_file",
    "process_image_file",
    "process_video_file",
]


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

    Examples
    --------
    >>> audio, sr = sf.read("birdsong.wav")
    >>> windows = openl3.preprocess_audio(audio, sr, hop_size=0.5)                   # kapre: raw audio
    >>> windows.shape
    (7, 1, 48000)
    >>> openl3.preprocess_audio(audio, sr, hop_size=0.5, input_repr="mel128").shape   # librosa
    (7, 128, 199, 1)
    """
    if kw:
        raise InvalidArgumentError(f"Unexpected keyword arguments for preprocess_audio: {sorted(kw)}.")
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
        "fast" picks one where it was measured faster (see :mod:`openl3.models.precision`).

    Returns
    -------
    embedding : np.ndarray [shape=(T, D)] or list[np.ndarray]
        Embeddings for each window, or a list of such arrays for a list input.
    timestamps : np.ndarray [shape=(T,)] or list[np.ndarray]
        Timestamps of each window in seconds, or a list of such arrays.

    Examples
    --------
    >>> audio, sr = sf.read("birdsong.wav")                            # 3.2 s
    >>> embedding, timestamps = openl3.get_audio_embedding(audio, sr, input_repr="mel128",
    ...                                                    embedding_size=512, hop_size=0.5)
    >>> embedding.shape, timestamps[:3]
    ((7, 512), array([0. , 0.5, 1. ]))
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
        "ray" runs the job on Ray Data (Parquet output only; :mod:`openl3.runs.ray_engine`).
    ray_address : str or None
        The Ray cluster of ``engine="ray"`` (default: a new local Ray instance).
    shard : (int, int) or None
        ``(K, N)`` embeds only shard K of N (from 0) of the inputs, split by a stable
        hash of the file each path names (its real path), so the N jobs of a job array share
        the work without talking (on nodes that see the files under the same real paths);
        they may write into one Parquet dataset at once (:mod:`openl3._util.shard`).
    break_lock : bool
        Remove the locks of other runs on the Parquet dataset that cover these inputs:
        for runs you know are dead (:mod:`openl3.dataset.locks`).

    Returns
    -------
    report : Report
        The inputs processed, skipped (existing outputs) and failed.

    Examples
    --------
    >>> openl3.process_audio_file(["a.wav", "b.flac"], output_dir="out", suffix="l3")   # out/a_l3.npz ...
    >>> report = openl3.process_audio_file(paths, output_dir="clips.l3", output_format="parquet",
    ...                                    errors="collect", input_repr="mel128", embedding_size=512)
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
    return run_paths(embedder, filepath, RunOptions.of(locals()))


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


def get_image_embedding(
    image: Any,
    frame_rate: Any = None,
    model: Any = None,
    input_repr: str = "mel256",
    content_type: str = "music",
    embedding_size: int = 8192,
    batch_size: int = 32,
    verbose: bool = True,
    precision: str = "faithful",
) -> Any:
    """Compute L3 embeddings for images or sequences of video frames.

    Parameters
    ----------
    image : np.ndarray [shape=(H, W, C) or (N, H, W, C)] or list[np.ndarray]
        RGB image(s), or a list of them. Frames that are not 224x224 are rescaled (if
        their shorter side exceeds 256) and centre-cropped to 224x224, as in 0.4.2.
    frame_rate : float or list[float] or None
        Frame rate(s); if given, timestamps are returned as well. With a list of inputs
        and a list of rates, each input's timestamps use its own rate.
    model : keras.Model or None
        Loaded image model; if given, ``input_repr``, ``content_type`` and
        ``embedding_size`` are ignored.
    input_repr : "linear", "mel128" or "mel256"
        Representation of the audio tower the image model was trained with.
    content_type : "music" or "env"
        Type of content used to train the embedding model.
    embedding_size : 8192 or 512
        Embedding dimensionality.
    batch_size : int
        Frames per model call.
    verbose : bool
        If True (or 1), shows a progress bar over frames.
    precision : "faithful", "fast", "tf32" or "bfloat16"
        Model precision (see :func:`openl3.get_audio_embedding`).

    Returns
    -------
    embedding : np.ndarray [shape=(N, D)] or list[np.ndarray]
        One embedding per frame (N = 1 for a single image).
    timestamps : np.ndarray [shape=(N,)] or list[np.ndarray]
        Only when ``frame_rate`` is given: ``arange(N) / frame_rate``.

    Examples
    --------
    >>> from skimage.io import imread
    >>> embedding = openl3.get_image_embedding(imread("photo.png")[..., :3], embedding_size=512)
    >>> embedding.shape
    (1, 512)
    """
    embedder = ImageEmbedder(
        model=model,
        input_repr=input_repr,
        content_type=content_type,
        embedding_size=embedding_size,
        batch_size=batch_size,
        verbose=verbose,
        precision=precision,
    )
    return embedder.embed(image, frame_rate)


def process_image_file(
    filepath: Any,
    output_dir: str | None = None,
    suffix: str | None = None,
    model: Any = None,
    input_repr: str = "mel256",
    content_type: str = "music",
    embedding_size: int = 8192,
    batch_size: int = 32,
    overwrite: bool = False,
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
    """Compute and save L3 embeddings for image files.

    Each ``<name>.<ext>`` gives ``<output_dir>/<name>[_<suffix>].npz`` holding
    ``embedding`` (1 x D, float32). Alpha channels are dropped; grayscale images are
    repeated to three channels. Two inputs whose outputs would have the same path are
    not both processed: the later one fails.

    Parameters
    ----------
    filepath : str or list[str]
        Path or list of paths to image files (any format scikit-image reads).
    output_dir : str or None
        Directory for the output files. If None, next to each input file.
    suffix : str or None
        Appended to the output name, i.e. ``<base filename>_<suffix>.npz``.
    model : keras.Model or None
        Loaded image model; if given, ``input_repr``, ``content_type`` and
        ``embedding_size`` are ignored.
    input_repr : "linear", "mel128" or "mel256"
        Representation of the audio tower the image model was trained with.
    content_type : "music" or "env"
        Type of content used to train the embedding model.
    embedding_size : 8192 or 512
        Embedding dimensionality.
    batch_size : int
        Images per model call.
    overwrite : bool
        If True, overwrites existing output files; else existing outputs are skipped.
    verbose : bool
        If True (or 1), shows progress.
    errors : "raise" or "collect"
        "raise" (0.4.2's behaviour) stops at the first input that fails; "collect"
        logs it, writes nothing for it, goes on, and lists it in the report.
    precision : "faithful", "fast", "tf32" or "bfloat16"
        Model precision (see :func:`openl3.get_audio_embedding`).
    output_format, dtype, part_size_mb, engine, ray_address, shard, break_lock
        Parquet datasets and the Ray engine, as in :func:`openl3.process_audio_file`.

    Returns
    -------
    report : Report
        The inputs processed, skipped (existing outputs) and failed.

    Examples
    --------
    >>> openl3.process_image_file(["a.png", "b.jpg"], output_dir="out")   # out/a.npz, out/b.npz
    """
    embedder = ImageEmbedder(
        model=model,
        input_repr=input_repr,
        content_type=content_type,
        embedding_size=embedding_size,
        batch_size=batch_size,
        verbose=verbose,
        precision=precision,
    )
    return run_paths(embedder, filepath, RunOptions.of(locals()))


def process_video_file(
    filepath: Any,
    output_dir: str | None = None,
    suffix: str | None = None,
    audio_model: Any = None,
    image_model: Any = None,
    input_repr: str | None = None,
    content_type: str = "music",
    audio_embedding_size: int = 6144,
    audio_center: bool = True,
    audio_hop_size: float = 0.1,
    image_embedding_size: int = 8192,
    audio_batch_size: int = 32,
    image_batch_size: int = 32,
    audio_frontend: str = "kapre",
    overwrite: bool = False,
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
    """Compute and save L3 audio and image embeddings for video files.

    Each ``<name>.<ext>`` gives ``<name>_audio[_<suffix>].npz`` (``embedding``,
    ``timestamps`` of the audio windows) and ``<name>_image[_<suffix>].npz``
    (``embedding``, ``timestamps`` of every frame: ``arange(N) / int(fps)``). Frames
    are read at 256x256 and audio at 48 kHz, as in 0.4.2; frames are streamed in
    batches (decoded twice: once for 0.4.2's scaling by the maximum over all frames),
    and the audio track is decoded in chunks as its windows are embedded (the samples
    of 0.4.2's whole decode), so memory does not grow with its length. The two
    outputs are written together or not at all. A video without an audio track, or
    under 1 fps, is an error and nothing is written for it.

    Parameters
    ----------
    filepath : str or list[str]
        Path or list of paths to video files (any format ffmpeg reads).
    output_dir : str or None
        Directory for the output files. If None, next to each input file.
    suffix : str or None
        Appended to the output names, i.e. ``<base filename>_<modality>_<suffix>.npz``.
    audio_model, image_model : keras.Model or None
        Loaded models; if None, loaded from ``input_repr``, ``content_type`` and the
        embedding sizes (and only if an output needs them).
    input_repr : "linear", "mel128", "mel256" or None
        Spectrogram representation of both models (None: mel256; required with the
        librosa frontend unless an audio model is given).
    content_type : "music" or "env"
        Type of content used to train the embedding models.
    audio_embedding_size : 6144 or 512
        Audio embedding dimensionality.
    audio_center : bool
        If True, pads beginning of the audio so timestamps are window centres.
    audio_hop_size : float
        Hop size of the audio windows in seconds.
    image_embedding_size : 8192 or 512
        Image embedding dimensionality.
    audio_batch_size, image_batch_size : int
        Audio windows / video frames per model call.
    audio_frontend : "kapre" or "librosa"
        The audio frontend to use.
    overwrite : bool
        If True, overwrites existing output files; else each existing output is kept
        and only the missing one is computed and written.
    verbose : bool
        If True (or 1), shows progress.
    errors : "raise" or "collect"
        "raise" (0.4.2's behaviour) stops at the first input that fails; "collect"
        logs it, writes nothing for it, goes on, and lists it in the report.
    precision : "faithful", "fast", "tf32" or "bfloat16"
        Model precision (see :func:`openl3.get_audio_embedding`).
    output_format, dtype, part_size_mb, engine, ray_address, shard, break_lock
        Parquet datasets and the Ray engine, as in :func:`openl3.process_audio_file`.

    Returns
    -------
    report : Report
        The inputs processed, skipped (existing outputs) and failed.

    Examples
    --------
    >>> openl3.process_video_file("clip.mp4", output_dir="out")   # out/clip_audio.npz, out/clip_image.npz
    """
    embedder = VideoEmbedder(
        audio_model=audio_model,
        image_model=image_model,
        input_repr=input_repr,
        content_type=content_type,
        audio_embedding_size=audio_embedding_size,
        audio_center=audio_center,
        audio_hop_size=audio_hop_size,
        image_embedding_size=image_embedding_size,
        audio_batch_size=audio_batch_size,
        image_batch_size=image_batch_size,
        audio_frontend=audio_frontend,
        verbose=verbose,
        precision=precision,
    )
    return run_paths(embedder, filepath, RunOptions.of(locals()))

"""Video files: OpenL3 0.4.2's :func:`process_video_file`, a thin caller of :class:`openl3.VideoEmbedder`.

How a video is decoded and embedded is :mod:`openl3.video_core`'s.
"""

from __future__ import annotations

from typing import Any

from .embedders import VideoEmbedder
from .files import Report, RunOptions, run_paths


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

"""Image embeddings: OpenL3 0.4.2's functions, thin callers of :class:`openl3.ImageEmbedder`.

The preprocessing, quirks included, is 0.4.2's (:mod:`openl3.image_core`).
"""

from __future__ import annotations

from typing import Any

from .embedders import ImageEmbedder
from .files import Report, RunOptions, run_paths


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

"""Output files: names as OpenL3 0.4.2, written atomically, and the driver for file batches."""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .batching import WindowSource, embed_all, embed_sources, model_predictor, progress_bar
from .exceptions import OpenL3Error
from .models.specs import IMAGE_SIZE, TARGET_SR
from .validation import check_audio, check_choice, check_positive_int

logger = logging.getLogger("openl3")

#: Frame size (height, width) at which videos are read, as in 0.4.2.
VIDEO_RESOLUTION = (256, 256)


def get_output_path(filepath: str, suffix: str, output_dir: str | None = None) -> str:
    """Return the path of the output file for a given input file.

    Parameters
    ----------
    filepath : str
        Path to the input file.
    suffix : str
        String to append to the file name (including extension): ``"_suffix.npz"``
        style suffixes starting with "." are appended as they are, others after "_".
    output_dir : str or None
        Directory of the output file. If None, the directory of ``filepath``.

    Returns
    -------
    output_path : str
        Path to the output file.
    """
    base = os.path.splitext(os.path.basename(filepath))[0]
    directory = output_dir if output_dir else os.path.dirname(filepath)
    name = base + suffix if suffix.startswith(".") else f"{base}_{suffix}"
    return os.path.join(directory, name)


def npz_suffix(suffix: str | None, modality: str | None = None) -> str:
    """Return the ``get_output_path`` suffix of a ``modality`` output with a user suffix."""
    parts = [p for p in (modality, suffix) if p]
    return "_".join(parts) + ".npz" if parts else ".npz"


def save_npz_atomic(path: str, **arrays: np.ndarray) -> None:
    """Write ``arrays`` to ``path`` as .npz so that ``path`` is never seen half-written.

    The data go to a temporary file in the same directory, are flushed to disk, and the
    file is then renamed over ``path``; on any error the temporary file is removed.
    """
    directory = os.path.dirname(path) or "."
    handle, temporary = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(handle, "wb") as stream:
            np.savez(stream, **arrays)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


def remove_stale_temporaries(path: str) -> None:
    """Remove temporary files of ``path`` left by a killed run (see :func:`save_npz_atomic`)."""
    directory, name = os.path.split(path)
    if not os.path.isdir(directory or "."):
        return
    for leftover in os.listdir(directory or "."):
        if leftover.startswith(f".{name}.") and leftover.endswith(".tmp"):
            os.unlink(os.path.join(directory, leftover))


def prepare_output_dir(output_dir: str | None) -> None:
    """Create ``output_dir`` if needed and check that it is writable, before any model work."""
    if not output_dir:
        return
    try:
        os.makedirs(output_dir, exist_ok=True)
    except OSError as exc:
        raise OpenL3Error(f"Cannot create output directory {output_dir}: {exc.strerror}.") from exc
    if not os.access(output_dir, os.W_OK | os.X_OK):
        raise OpenL3Error(f"Output directory {output_dir} is not writable.")


def as_path_list(filepath: Any) -> list[str]:
    """Return one path or a list of paths as a list of str, or raise."""
    paths = list(filepath) if isinstance(filepath, list | tuple) else [filepath]
    for path in paths:
        if not isinstance(path, str | os.PathLike):
            raise OpenL3Error(f"Invalid filepath {path!r}: expected a path.")
    return [os.fspath(p) for p in paths]


@dataclass
class Report:
    """What a ``process_*_file`` call did with each input file.

    Attributes
    ----------
    processed : list of str
        Inputs whose outputs were written.
    skipped : list of str
        Inputs skipped because their outputs exist (``overwrite=False``).
    failed : list of (str, str)
        Inputs that failed, with the reason (only with ``errors="collect"``).
    """

    processed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)


ERROR_MODES = ("raise", "collect")


def attempt(report: Report, errors: str, path: str, action: Callable[[], Any]) -> tuple[bool, Any]:
    """Run ``action`` for input ``path``; with ``errors="collect"`` record its failure instead.

    Returns ``(True, result)``, or ``(False, None)`` after a collected failure.
    """
    try:
        return True, action()
    except (OpenL3Error, OSError) as exc:
        if errors == "raise":
            raise
        reason = str(exc) if isinstance(exc, OpenL3Error) else f"{path}: {exc}"
        logger.error("%s", reason)
        report.failed.append((path, reason))
        return False, None


@dataclass
class FileJob:
    """One input file and the output files it produces."""

    path: str
    outputs: dict[str, str]


def plan_jobs(
    paths: Sequence[str],
    output_dir: str | None,
    suffix: str | None,
    overwrite: bool,
    modalities: Sequence[str | None],
    report: Report,
) -> list[FileJob]:
    """Name the outputs of each input; leave out (and report) inputs whose outputs all exist."""
    jobs = []
    for path in paths:
        outputs = {m: get_output_path(path, npz_suffix(suffix, m), output_dir) for m in modalities}
        if not overwrite and all(os.path.exists(p) for p in outputs.values()):
            logger.info("%s exists, skipping.", ", ".join(outputs.values()))
            report.skipped.append(path)
            continue
        for output in outputs.values():
            remove_stale_temporaries(output)
        jobs.append(FileJob(path, outputs))
    return jobs


def start_run(
    paths: Sequence[str],
    output_dir: str | None,
    suffix: str | None,
    overwrite: bool,
    errors: str,
    modalities: Sequence[str | None],
) -> tuple[Report, list[FileJob]]:
    """Check ``errors`` and the output directory, then plan the jobs of a ``process_*_file`` run."""
    check_choice(errors, "errors", ERROR_MODES)
    prepare_output_dir(output_dir)
    report = Report()
    return report, plan_jobs(paths, output_dir, suffix, overwrite, modalities, report)


def run_jobs(
    jobs: Sequence[FileJob],
    open_source: Callable[[FileJob], WindowSource],
    predict: Callable[[np.ndarray], np.ndarray],
    save: Callable[[FileJob, Any, np.ndarray], None],
    batch_size: int,
    verbose: bool,
    unit: str,
    report: Report,
    errors: str,
) -> None:
    """Embed the inputs of ``jobs`` in shared batches and save each as soon as it is done.

    An input that cannot be read is reported (or raised, per ``errors``) and left out;
    the inputs already queued in a batch are embedded and saved all the same.
    """
    started: list[tuple[FileJob, Any] | None] = []

    def sources() -> Iterator[WindowSource]:
        for job in jobs:
            ok, source = attempt(report, errors, job.path, lambda job=job: open_source(job))
            if ok:
                started.append((job, source))
                yield source

    def done(index: int, embedding: np.ndarray) -> None:
        job, source = started[index]
        started[index] = None  # release the source
        if attempt(report, errors, job.path, lambda: save(job, source, embedding))[0]:
            report.processed.append(job.path)
        bar.set_postfix_str(f"{len(report.processed)}/{len(jobs)} files", refresh=False)

    with progress_bar(None, verbose, unit) as bar:
        embed_sources(predict, sources(), batch_size, done, bar.update)


def read_audio_file(path: str) -> tuple[np.ndarray, int]:
    """Read an audio file with soundfile, as 0.4.2 does (float64, frames x channels)."""
    import soundfile as sf

    if not os.path.isfile(path):
        raise OpenL3Error(f"Audio file not found: {path}")
    try:
        audio, sr = sf.read(path)
    except (sf.LibsndfileError, RuntimeError, ValueError) as exc:
        raise OpenL3Error(f"Cannot read audio file {path}: {exc}") from exc
    return check_audio(audio, f"audio file {path}"), sr


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
) -> Report:
    """Compute and save L3 embeddings for audio files.

    Each ``<name>.<ext>`` gives ``<output_dir>/<name>[_<suffix>].npz`` holding
    ``embedding`` (T x D, float32) and ``timestamps`` (T, float64). Windows of
    consecutive files share model batches.

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
        If True, shows progress.
    errors : "raise" or "collect"
        "raise" (0.4.2's behaviour) stops at the first input that fails; "collect"
        logs it, writes nothing for it, goes on, and lists it in the report.

    Returns
    -------
    report : Report
        The inputs processed, skipped (existing outputs) and failed.
    """
    from .audio import AudioWindows, audio_predictor, check_window_params, resolve_audio_model, window_dtype

    paths = as_path_list(filepath)
    batch_size = check_positive_int(batch_size, "batch_size")
    model, input_repr = resolve_audio_model(model, input_repr, frontend)
    center = check_window_params(hop_size, center)
    report, jobs = start_run(paths, output_dir, suffix, overwrite, errors, [None])
    if not jobs:
        return report
    if model is None:
        from .models import load_audio_embedding_model

        model = load_audio_embedding_model(input_repr, content_type, embedding_size, frontend)
    dtype = window_dtype(frontend)

    def open_source(job: FileJob) -> AudioWindows:
        audio, sr = read_audio_file(job.path)
        return AudioWindows(audio, sr, hop_size, center, dtype)

    def save(job: FileJob, source: AudioWindows, embedding: np.ndarray) -> None:
        save_npz_atomic(job.outputs[None], embedding=embedding, timestamps=source.timestamps)
        logger.info("Saved %s", job.outputs[None])

    predict = audio_predictor(model, input_repr, frontend)
    run_jobs(jobs, open_source, predict, save, batch_size, verbose, "window", report, errors)
    return report


def read_image_file(path: str) -> np.ndarray:
    """Read an image file as (H, W, 3): alpha dropped, grayscale repeated to three channels."""
    if not os.path.isfile(path):
        raise OpenL3Error(f"Image file not found: {path}")
    from skimage.io import imread

    try:
        image = np.asarray(imread(path))
    except Exception as exc:  # scikit-image raises what its plugins raise
        raise OpenL3Error(f"Cannot read image file {path}: {exc}") from exc
    if image.ndim == 2 or (image.ndim == 3 and image.shape[-1] in (1, 2)):
        gray = image if image.ndim == 2 else image[..., 0]
        image = np.repeat(gray[..., np.newaxis], 3, axis=-1)
    elif image.ndim == 3 and image.shape[-1] == 4:
        image = image[..., :3]
    return image


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
) -> Report:
    """Compute and save L3 embeddings for image files.

    Each ``<name>.<ext>`` gives ``<output_dir>/<name>[_<suffix>].npz`` holding
    ``embedding`` (1 x D, float32). Alpha channels are dropped; grayscale images are
    repeated to three channels.

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
        If True, shows progress.
    errors : "raise" or "collect"
        "raise" (0.4.2's behaviour) stops at the first input that fails; "collect"
        logs it, writes nothing for it, goes on, and lists it in the report.

    Returns
    -------
    report : Report
        The inputs processed, skipped (existing outputs) and failed.
    """
    from .image import array_frames, check_image, check_image_model

    paths = as_path_list(filepath)
    batch_size = check_positive_int(batch_size, "batch_size")
    report, jobs = start_run(paths, output_dir, suffix, overwrite, errors, [None])
    if not jobs:
        return report
    if model is None:
        from .models import load_image_embedding_model

        model = load_image_embedding_model(input_repr, content_type, embedding_size)
    check_image_model(model)

    def open_source(job: FileJob) -> Any:
        return array_frames(check_image(read_image_file(job.path), f"image file {job.path}"))

    def save(job: FileJob, source: Any, embedding: np.ndarray) -> None:
        save_npz_atomic(job.outputs[None], embedding=embedding)
        logger.info("Saved %s", job.outputs[None])

    run_jobs(jobs, open_source, model_predictor(model), save, batch_size, verbose, "image", report, errors)
    return report


@contextmanager
def open_video(path: str) -> Iterator[Any]:
    """Open a video as 0.4.2 does: frames resized to 256x256, audio at 48 kHz."""
    if not os.path.isfile(path):
        raise OpenL3Error(f"Video file not found: {path}")
    from moviepy import VideoFileClip

    try:
        clip = VideoFileClip(path, target_resolution=VIDEO_RESOLUTION, audio_fps=TARGET_SR)
    except Exception as exc:  # moviepy raises OSError, KeyError, IndexError... on bad files
        raise OpenL3Error(f"Cannot read video file {path}: {exc}") from exc
    try:
        yield clip
    finally:
        clip.close()


def video_sources(clip: Any, path: str, hop_size: float, center: bool, dtype: Any) -> tuple[Any, Any]:
    """Return the audio windows and the image frames of an open video."""
    from .audio import AudioWindows
    from .image import ImageFrames

    if clip.audio is None:
        raise OpenL3Error(f"Video file {path} has no audio track.")
    try:
        audio = clip.audio.to_soundarray(fps=TARGET_SR)
        frames = ImageFrames(clip.iter_frames, tuple(clip.size) == (IMAGE_SIZE, IMAGE_SIZE))
    except OpenL3Error:
        raise
    except Exception as exc:
        raise OpenL3Error(f"Cannot decode video file {path}: {exc}") from exc
    if frames.n_items == 0:
        raise OpenL3Error(f"Video file {path} has no frames.")
    return AudioWindows(check_audio(audio, f"audio of {path}"), TARGET_SR, hop_size, center, dtype), frames


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
) -> Report:
    """Compute and save L3 audio and image embeddings for video files.

    Each ``<name>.<ext>`` gives ``<name>_audio[_<suffix>].npz`` (``embedding``,
    ``timestamps`` of the audio windows) and ``<name>_image[_<suffix>].npz``
    (``embedding``, ``timestamps`` of every frame: ``arange(N) / int(fps)``). Frames
    are read at 256x256 and audio at 48 kHz, as in 0.4.2; frames are streamed in
    batches (decoded twice: once for 0.4.2's scaling by the maximum over all frames).
    A video without an audio track is an error and nothing is written for it.

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
        embedding sizes.
    input_repr : "linear", "mel128", "mel256" or None
        Spectrogram representation (None: mel256 with kapre; required with librosa).
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
        If True, overwrites existing output files; else videos whose two outputs exist
        are skipped.
    verbose : bool
        If True, shows progress.
    errors : "raise" or "collect"
        "raise" (0.4.2's behaviour) stops at the first input that fails; "collect"
        logs it, writes nothing for it, goes on, and lists it in the report.

    Returns
    -------
    report : Report
        The inputs processed, skipped (existing outputs) and failed.
    """
    from .audio import (
        DEFAULT_INPUT_REPR,
        audio_predictor,
        check_window_params,
        resolve_audio_model,
        window_dtype,
    )
    from .image import check_image_model

    paths = as_path_list(filepath)
    audio_batch_size = check_positive_int(audio_batch_size, "audio_batch_size")
    image_batch_size = check_positive_int(image_batch_size, "image_batch_size")
    audio_center = check_window_params(audio_hop_size, audio_center)
    audio_model, input_repr = resolve_audio_model(audio_model, input_repr, audio_frontend)
    report, jobs = start_run(paths, output_dir, suffix, overwrite, errors, ["audio", "image"])
    if not jobs:
        return report
    from . import models

    if audio_model is None:
        audio_model = models.load_audio_embedding_model(
            input_repr, content_type, audio_embedding_size, audio_frontend
        )
    if image_model is None:
        image_model = models.load_image_embedding_model(
            input_repr or DEFAULT_INPUT_REPR, content_type, image_embedding_size
        )
    predict_audio = audio_predictor(audio_model, input_repr, audio_frontend)
    predict_image = model_predictor(check_image_model(image_model))
    dtype = window_dtype(audio_frontend)

    def process(job: FileJob) -> None:
        with open_video(job.path) as clip:
            audio, frames = video_sources(clip, job.path, audio_hop_size, audio_center, dtype)
            [audio_embedding] = embed_all(predict_audio, [audio], audio_batch_size, verbose, "item", bar)
            [image_embedding] = embed_all(predict_image, [frames], image_batch_size, verbose, "item", bar)
            frame_times = np.arange(frames.n_items) / int(clip.fps)
        save_npz_atomic(job.outputs["audio"], embedding=audio_embedding, timestamps=audio.timestamps)
        save_npz_atomic(job.outputs["image"], embedding=image_embedding, timestamps=frame_times)
        logger.info("Saved %s and %s", job.outputs["audio"], job.outputs["image"])

    with progress_bar(None, verbose, "item") as bar:  # one bar for the run: windows and frames
        for job in jobs:
            if attempt(report, errors, job.path, lambda job=job: process(job))[0]:
                report.processed.append(job.path)
            bar.set_postfix_str(f"{len(report.processed)}/{len(jobs)} files", refresh=False)
    return report

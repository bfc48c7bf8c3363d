"""Output files: names as OpenL3 0.4.2, written atomically, and the driver for file batches."""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .batching import WindowSource, embed_sources, progress_bar
from .exceptions import OpenL3Error
from .validation import check_audio, check_positive_int

logger = logging.getLogger("openl3")


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
) -> list[FileJob]:
    """Name the outputs of each input; leave out inputs whose outputs all exist already."""
    jobs = []
    for path in paths:
        outputs = {m: get_output_path(path, npz_suffix(suffix, m), output_dir) for m in modalities}
        if not overwrite and all(os.path.exists(p) for p in outputs.values()):
            logger.info("%s exists, skipping.", ", ".join(outputs.values()))
            continue
        jobs.append(FileJob(path, outputs))
    return jobs


def run_jobs(
    jobs: Sequence[FileJob],
    open_source: Callable[[FileJob], WindowSource],
    predict: Callable[[np.ndarray], np.ndarray],
    save: Callable[[FileJob, Any, np.ndarray], None],
    batch_size: int,
    verbose: bool,
    unit: str,
) -> None:
    """Embed the inputs of ``jobs`` in shared batches and save each as soon as it is done."""
    opened: dict[int, Any] = {}

    def sources() -> Iterator[WindowSource]:
        for index, job in enumerate(jobs):
            opened[index] = open_source(job)
            yield opened[index]

    def done(index: int, embedding: np.ndarray) -> None:
        save(jobs[index], opened.pop(index), embedding)

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
) -> None:
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
    """
    from .audio import AudioWindows, audio_predictor, check_window_params, resolve_audio_model, window_dtype
    from .models.specs import input_repr_spec

    paths = as_path_list(filepath)
    batch_size = check_positive_int(batch_size, "batch_size")
    model, input_repr = resolve_audio_model(model, input_repr, frontend)
    center = check_window_params(hop_size, center)
    prepare_output_dir(output_dir)
    jobs = plan_jobs(paths, output_dir, suffix, overwrite, [None])
    if not jobs:
        return
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

    spec = input_repr_spec(input_repr) if frontend == "librosa" else None
    run_jobs(jobs, open_source, audio_predictor(model, spec), save, batch_size, verbose, "window")

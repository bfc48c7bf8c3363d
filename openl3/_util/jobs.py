"""What every run over files shares: its inputs, jobs and report, whatever writes or runs them.

The output layouts (:mod:`openl3.runs.npz`, :mod:`openl3.dataset`) and the engines
(:mod:`openl3.runs.local_engine`, :mod:`openl3.runs.ray_engine`) speak in these terms; the run
driver (:mod:`openl3.runs.driver`) picks a layout and an engine.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from .exceptions import InvalidArgumentError, OpenL3Error

#: An input file and the directory of its outputs (None: beside the input).
FileInput = tuple[str, str | None]

#: The arrays of one input's outputs, by modality (None for a single output).
Arrays = dict[str | None, dict[str, np.ndarray]]

#: File extensions taken from folders, per modality (a file named explicitly is always tried).
EXTENSIONS = {
    "audio": ("wav", "flac", "ogg", "oga", "opus", "mp3", "aif", "aiff", "au", "caf", "w64", "rf64"),
    "image": ("png", "jpg", "jpeg", "bmp", "gif", "tif", "tiff", "webp"),
    "video": ("mp4", "m4v", "mov", "avi", "mkv", "webm", "mpg", "mpeg", "wmv", "flv"),
}


def folder_files(
    folder: str, extensions: tuple[str, ...] | None = None, recursive: bool = False
) -> Iterator[tuple[str, str]]:
    """Yield the files of local ``folder`` (names ending in ``extensions``, if given), sorted by name.

    Each file comes with its folder relative to ``folder`` (``"."`` for ``folder`` itself);
    with ``recursive``, the files of its subfolders too.
    """
    walk = os.walk(folder) if recursive else [(folder, [], os.listdir(folder))]
    for directory, _, names in walk:
        relative = os.path.relpath(directory, folder)
        for name in sorted(names):
            path = os.path.join(directory, name)
            if (extensions is None or name.lower().endswith(extensions)) and os.path.isfile(path):
                yield path, relative


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
            raise InvalidArgumentError(f"Invalid filepath {path!r}: expected a path.")
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

    Examples
    --------
    >>> report = openl3.process_audio_file(["a.wav", "bad.wav"], output_dir="out", errors="collect")
    >>> report.processed, [path for path, reason in report.failed]
    (['a.wav'], ['bad.wav'])
    """

    processed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class FileJob:
    """One input file and the outputs to write for it, by modality (None for a single output)."""

    path: str
    outputs: dict[str | None, str]


def failure_reason(path: str, exc: BaseException) -> str:
    """Return what is reported of input ``path`` failing with ``exc`` (our errors name the input)."""
    if isinstance(exc, OpenL3Error):
        return str(exc)
    if isinstance(exc, OSError):
        return f"{path}: {exc}"
    return f"{path}: {type(exc).__name__}: {exc}"  # a decoder's own error: its kind says much


class OutputLayout(Protocol):
    """Where a run's outputs go: ``.npz`` files (:mod:`openl3.runs.npz`) or a Parquet dataset.

    The engines name, check and write outputs only through these methods.
    """

    #: Logged for an input whose outputs exist; what a user can do about two inputs with one output.
    skip_message: str
    clash_hint: str

    def names(self, path: str, output_dir: str | None) -> dict[str | None, str]:
        """Return the name of each output of input ``path``, by modality."""

    def key(self, name: str) -> str:
        """Return the form of output ``name`` by which two names of one output compare equal."""

    def exists(self, name: str) -> bool:
        """Whether output ``name`` is there."""

    def conflict(self, path: str) -> OpenL3Error | None:
        """Return the error for input ``path`` if its outputs would take another file's place, else None."""

    def begin(self, paths: list[str]) -> None:
        """Start a run over inputs ``paths`` (checks, locks), before any model work."""

    def save(self, job: FileJob, arrays: Arrays) -> list[str]:
        """Write (or buffer) the outputs of ``job``; return the inputs now written."""

    def flush(self) -> list[str]:
        """Write what is buffered; return the inputs written."""

    def close(self, report: Report, attempted: list[str]) -> None:
        """End the run: what the layout keeps about it (failures)."""

    def release(self) -> None:
        """Release what the run holds (locks); nothing is written after it."""

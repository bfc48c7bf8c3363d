"""The files-and-jobs driver shared by ``process_*_file`` and the CLI, for every modality.

A run names each input's outputs as OpenL3 0.4.2 does, plans which are to be written
(existing outputs are kept unless ``overwrite``; two inputs never share an output),
applies the error policy (``errors="raise"`` stops at the first failure, ``"collect"``
reports it and goes on) and writes outputs atomically. Audio and image runs embed their
inputs in shared model batches (:meth:`FileRun.embed`); video runs take one input at a
time (:meth:`FileRun.each`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .atomic import remove_stale_temporaries
from .batching import WindowSource, embed_sources, progress_bar
from .exceptions import OpenL3Error
from .validation import check_choice

logger = logging.getLogger("openl3")

ERROR_MODES = ("raise", "collect")

#: An input file and the directory of its outputs (None: beside the input).
FileInput = tuple[str, str | None]


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


def process_paths(
    embedder: Any, filepath: Any, output_dir: str | None, suffix: str | None, overwrite: bool, errors: str
) -> Report:
    """Run ``embedder.process_files`` on one path or a list, all outputs in ``output_dir``."""
    paths = as_path_list(filepath)
    prepare_output_dir(output_dir)
    return embedder.process_files([(p, output_dir) for p in paths], suffix, overwrite, errors)


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


@dataclass
class FileJob:
    """One input file and the outputs to write for it, by modality (None for a single output)."""

    path: str
    outputs: dict[str | None, str]


def _key(path: str) -> str:
    """Return the form of ``path`` by which two paths to one file compare equal."""
    return os.path.normcase(os.path.abspath(path))


class _Folders:
    """Each output folder listed once per run; stale temporaries removed on that listing."""

    def __init__(self) -> None:
        self._names: dict[str, set[str]] = {}

    def exists(self, path: str) -> bool:
        folder, name = os.path.split(os.path.abspath(path))
        if folder not in self._names:
            names = os.listdir(folder) if os.path.isdir(folder) else []
            if names:
                remove_stale_temporaries(folder, names)
            self._names[folder] = set(names)
        return name in self._names[folder]


class FileRun:
    """One run over input files: the plan, the error policy and the report.

    Parameters
    ----------
    inputs : sequence of (path, output directory or None)
        The input files, in order.
    suffix : str or None
        The user's suffix of the output names.
    overwrite : bool
        Whether existing outputs are written again.
    errors : "raise" or "collect"
        What a failing input does to the run.
    modalities : sequence of str or None
        The outputs of each input: ``[None]`` for one ``<name>.npz``, ``["audio",
        "image"]`` for a video's two.
    report : Report, optional
        Filled as the run goes (a caller that may be interrupted keeps it).
    """

    def __init__(
        self,
        inputs: Sequence[FileInput],
        suffix: str | None,
        overwrite: bool,
        errors: str,
        modalities: Sequence[str | None],
        report: Report | None = None,
    ):
        self.errors = check_choice(errors, "errors", ERROR_MODES)
        self.report = Report() if report is None else report
        self.jobs = self._plan(inputs, suffix, overwrite, modalities)

    def _plan(
        self, inputs: Sequence[FileInput], suffix: str | None, overwrite: bool, modalities: Sequence
    ) -> list[FileJob]:
        """Name each input's outputs; keep existing ones; refuse an output named twice."""
        folders, owners, jobs = _Folders(), {}, []
        for path, output_dir in inputs:
            outputs = {m: get_output_path(path, npz_suffix(suffix, m), output_dir) for m in modalities}
            keys = [_key(o) for o in outputs.values()]
            error = self._clash(path, keys, owners)
            if error is not None:
                if not self.collect(path, error):
                    raise error
                continue
            owners.update(dict.fromkeys(keys, path))
            todo = {m: o for m, o in outputs.items() if overwrite or not folders.exists(o)}
            if todo:
                jobs.append(FileJob(path, todo))
            else:
                logger.info("%s exists, skipping.", ", ".join(outputs.values()))
                self.report.skipped.append(path)
        return jobs

    @staticmethod
    def _clash(path: str, keys: list[str], owners: dict[str, str]) -> OpenL3Error | None:
        """Return the error for an input whose output is itself or another input's, or None."""
        if _key(path) in keys:
            return OpenL3Error(f"{path}: its output is the input itself; nothing is written for it.")
        clash = next((k for k in keys if k in owners), None)
        if clash is None:
            return None
        return OpenL3Error(
            f"{path}: its output {clash} is also the output of {owners[clash]} in this run; "
            "nothing is written for it (rename the input, or keep folders apart with "
            "--recursive and --output-dir)."
        )

    def collect(self, path: str, exc: BaseException) -> bool:
        """Record the failure of input ``path``; False when the policy is to raise it instead."""
        if self.errors == "raise" or not isinstance(exc, OpenL3Error | OSError):
            return False
        reason = str(exc) if isinstance(exc, OpenL3Error) else f"{path}: {exc}"
        logger.error("%s", reason)
        self.report.failed.append((path, reason))
        return True

    def attempt(self, path: str, action: Callable[[], Any]) -> tuple[bool, Any]:
        """Run ``action`` for input ``path``: ``(True, result)``, or ``(False, None)`` if collected."""
        try:
            return True, action()
        except Exception as exc:
            if not self.collect(path, exc):
                raise
            return False, None

    def _progress(self, bar: Any) -> None:
        bar.set_postfix_str(f"{len(self.report.processed)}/{len(self.jobs)} files", refresh=False)

    def embed(
        self,
        open_source: Callable[[FileJob], WindowSource],
        predict: Callable[[np.ndarray], np.ndarray],
        save: Callable[[FileJob, Any, np.ndarray], None],
        batch_size: int,
        verbose: bool,
        unit: str,
    ) -> Report:
        """Embed the inputs in shared batches; save each as soon as its last item is embedded.

        An input that fails while opened, read or saved is handled by the error policy;
        the other inputs of its batches are embedded and saved all the same.
        """
        started: list[tuple[FileJob, Any] | None] = []

        def sources() -> Iterator[WindowSource]:
            for job in self.jobs:
                ok, source = self.attempt(job.path, lambda job=job: open_source(job))
                if ok:
                    started.append((job, source))
                    yield source

        def done(index: int, embedding: np.ndarray) -> None:
            job, source = started[index]
            started[index] = None  # release the source
            if self.attempt(job.path, lambda: save(job, source, embedding))[0]:
                self.report.processed.append(job.path)
            self._progress(bar)

        def failed(index: int, exc: Exception) -> bool:
            job, _ = started[index]
            started[index] = None
            return self.collect(job.path, exc)

        with progress_bar(None, verbose, unit) as bar:
            embed_sources(predict, sources(), batch_size, done, bar.update, failed)
        return self.report

    def each(self, process: Callable[[FileJob, Any], None], verbose: bool, unit: str) -> Report:
        """Run ``process(job, bar)`` for one input at a time, under the error policy."""
        with progress_bar(None, verbose, unit) as bar:
            for job in self.jobs:
                if self.attempt(job.path, lambda job=job: process(job, bar))[0]:
                    self.report.processed.append(job.path)
                self._progress(bar)
        return self.report

"""The files-and-jobs driver shared by ``process_*_file`` and the CLI, for every modality.

A run names each input's outputs through its output layout (:class:`NpzOutputs`, one
``.npz`` per input as OpenL3 0.4.2 names them, or :class:`openl3.dataset.ParquetOutputs`,
the rows of one Parquet dataset), plans which are to be written (existing outputs are
kept unless ``overwrite``; two inputs never share an output), applies the error policy
(``errors="raise"`` stops at the first failure, ``"collect"`` reports it and goes on) and
hands each input's arrays to the layout, which writes them atomically. Audio and image
runs embed their inputs in shared model batches (:meth:`FileRun.embed`); video runs take
one input at a time (:meth:`FileRun.each`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .atomic import remove_stale_temporaries, replacing, save_npz, write_npz
from .batching import WindowSource, add_to_total, embed_sources, progress_bar
from .exceptions import CommitError, OpenL3Error
from .remote import is_uri
from .shard import check_shard, select_shard
from .validation import check_bool, check_choice, check_flag, check_suffix

logger = logging.getLogger("openl3")

ERROR_MODES = ("raise", "collect")

#: An input file and the directory of its outputs (None: beside the input).
FileInput = tuple[str, str | None]

#: The arrays of one input's outputs, by modality (None for a single output).
Arrays = dict[str | None, dict[str, np.ndarray]]

OUTPUT_FORMATS = ("npz", "parquet")
ENGINES = ("local", "ray")


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


#: The arguments of every ``process_*_file`` that say where and how outputs are written.
RUN_ARGUMENTS = (
    "output_dir",
    "suffix",
    "overwrite",
    "errors",
    "output_format",
    "dtype",
    "part_size_mb",
    "engine",
    "ray_address",
    "shard",
    "break_lock",
)


def process_paths(embedder: Any, filepath: Any, arguments: dict[str, Any]) -> Report:
    """Run :func:`run_files` on one path or a list, all outputs in ``output_dir``.

    ``arguments`` holds the ``process_*_file`` call's :data:`RUN_ARGUMENTS` (its
    ``locals()``; other names are ignored).
    """
    options = {name: arguments[name] for name in RUN_ARGUMENTS}
    inputs = [(path, options["output_dir"]) for path in as_path_list(filepath)]
    return run_files(embedder, inputs, **options)


def run_files(
    embedder: Any,
    inputs: Sequence[FileInput],
    output_dir: str | None,
    suffix: str | None,
    overwrite: bool,
    errors: str,
    output_format: str = "npz",
    dtype: str = "float32",
    part_size_mb: float | None = None,
    engine: str = "local",
    ray_address: str | None = None,
    shard: Any = None,
    break_lock: bool = False,
    report: Report | None = None,
) -> Report:
    """Embed input files with ``embedder`` into their outputs, on the engine asked for.

    The arguments are those of ``process_*_file`` (``output_dir`` is the dataset folder
    of a Parquet run); ``report`` is filled as the run goes. With ``shard=(K, N)`` only
    the inputs of shard K are embedded (:mod:`openl3.shard`).
    """
    check_choice(engine, "engine", ENGINES)
    overwrite = check_flag(overwrite, "overwrite")
    if engine == "ray" and output_format != "parquet":
        raise OpenL3Error("engine='ray' writes a Parquet dataset: use output_format='parquet'.")
    shard = check_shard(shard)
    inputs = select_shard(inputs, shard, lambda item: item[0])
    outputs = output_layout(
        embedder, output_dir, suffix, output_format, dtype, part_size_mb, shard, break_lock
    )
    if engine == "ray":
        from .ray_engine import run_on_ray

        return run_on_ray(embedder, inputs, outputs, overwrite, errors, report, ray_address)
    return embedder.process_files(inputs, outputs, overwrite, errors, report)


def output_layout(
    embedder: Any,
    output_dir: str | None,
    suffix: str | None,
    output_format: str = "npz",
    dtype: str = "float32",
    part_size_mb: float | None = None,
    shard: Any = None,
    break_lock: bool = False,
) -> Any:
    """Return the output layout of a run of ``embedder``: ``.npz`` files or a Parquet dataset.

    Checks the arguments and creates the output directory, before any model work.
    """
    check_choice(output_format, "output_format", OUTPUT_FORMATS)
    check_bool(break_lock, "break_lock")
    check_suffix(suffix)
    if output_format == "npz":
        check_choice(dtype, "dtype", ("float32",))
        prepare_output_dir(output_dir)
        return NpzOutputs(suffix, embedder.output_modalities)
    from .dataset import ParquetOutputs

    if not output_dir:
        raise OpenL3Error("output_format='parquet' needs an output directory (the dataset folder).")
    if suffix:
        raise OpenL3Error("suffix names .npz outputs; it cannot be used with output_format='parquet'.")
    return ParquetOutputs(output_dir, embedder.row_settings(), dtype, part_size_mb, shard, break_lock)


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


def failure_reason(path: str, exc: BaseException) -> str:
    """Return what is reported of input ``path`` failing with ``exc`` (our errors name the input)."""
    return str(exc) if isinstance(exc, OpenL3Error) else f"{path}: {exc}"


def path_key(path: str) -> str:
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


class NpzOutputs:
    """OpenL3 0.4.2's outputs: ``<name>[_<modality>][_<suffix>].npz`` for each input.

    Parameters
    ----------
    suffix : str or None
        The user's suffix of the output names.
    modalities : sequence of str or None
        The outputs of each input: ``[None]`` for one ``<name>.npz``, ``["audio",
        "image"]`` for a video's two.
    """

    def __init__(self, suffix: str | None, modalities: Sequence[str | None]):
        self.suffix, self.modalities = suffix, list(modalities)
        self._folders = _Folders()

    def names(self, path: str, output_dir: str | None) -> dict[str | None, str]:
        """Return the output file of each modality of input ``path``."""
        if is_uri(output_dir or path):
            raise OpenL3Error(
                f"{path}: .npz outputs are written to a local folder: give one as output_dir "
                "(--output-dir), or write a Parquet dataset, which may be a URI."
            )
        return {m: get_output_path(path, npz_suffix(self.suffix, m), output_dir) for m in self.modalities}

    #: Logged for an input whose outputs exist.
    skip_message = "%s exists, skipping."
    #: What the user can do about two inputs with one output.
    clash_hint = " (rename the input, or keep folders apart with --recursive and --output-dir)"

    @staticmethod
    def key(name: str) -> str:
        """Return the form of output ``name`` by which two names of one output compare equal."""
        return path_key(name)

    def exists(self, name: str) -> bool:
        """Whether output ``name`` exists (its folder is listed once per run)."""
        return self._folders.exists(name)

    def begin(self, paths: Sequence[str]) -> None:
        """Nothing to lock: each output is its own file, written atomically."""

    def save(self, job: FileJob, arrays: Arrays) -> list[str]:
        """Write the outputs of ``job``: all of them, or none (see :func:`openl3.atomic.replacing`)."""
        if len(job.outputs) == 1:
            [(modality, path)] = job.outputs.items()
            save_npz(path, **arrays[modality])
        else:
            with replacing(*job.outputs.values()) as temporaries:
                for modality, temporary in zip(job.outputs, temporaries, strict=True):
                    write_npz(temporary, **arrays[modality])
        return [job.path]

    def flush(self) -> list[str]:
        """Nothing is buffered: every output was written when its input was saved."""
        return []

    def close(self, report: Report, attempted: Sequence[str]) -> None:
        """Nothing to do: every output was written when its input was saved."""

    def release(self) -> None:
        """Nothing to release."""


class _ReadCount:
    """A window source that counts the items read from it (what a failing input still gives)."""

    def __init__(self, source: WindowSource):
        self.source, self.n_items, self.count = source, source.n_items, 0

    def read(self, start: int, count: int) -> np.ndarray:
        items = self.source.read(start, count)
        self.count = start + count
        return items


class RunProgress:
    """The progress line of a run: items done of the inputs' total, time left, files done.

    The total is known before any input is decoded where ``count(path)`` gives an
    input's items from its header (an audio file's windows from its frame count and
    rate); it is corrected as each input opens (its real count) or fails (the items it
    will not give). Inputs whose count is unknown (None) add theirs when they open. No
    bar is shown when there is nothing to do.

    Parameters
    ----------
    paths : sequence of str
        The inputs to embed, in order.
    verbose : bool
        Whether to show the bar (inputs are counted only then).
    unit : str
        Singular name of an item ("window").
    count : callable, optional
        An input's items from its header, or None where unknown.
    """

    def __init__(self, paths: Sequence[str], verbose: bool, unit: str, count: Callable | None = None):
        shown = verbose and bool(paths)
        self.expected = {path: (count(path) if count and shown else None) or 0 for path in paths}
        self.n_files, self.files_done = len(paths), 0
        self.bar = progress_bar(sum(self.expected.values()), shown, unit)
        self._show_files()

    def __enter__(self) -> RunProgress:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.bar.close()

    def update(self, items: int) -> None:
        """Count ``items`` embedded."""
        self.bar.update(items)

    def opened(self, path: str, n_items: int) -> None:
        """Input ``path`` opened with ``n_items`` items: correct the total."""
        add_to_total(self.bar, n_items - self.expected[path])
        self.expected[path] = n_items

    def dropped(self, path: str, items_read: int = 0) -> None:
        """Input ``path`` failed after ``items_read`` items: its other items will not come."""
        add_to_total(self.bar, items_read - self.expected[path])
        self.finished()

    def finished(self) -> None:
        """Count one input done."""
        self.files_done += 1
        self._show_files()

    def settle(self) -> None:
        """Make the total what was done (for totals that only hold inputs opened and done)."""
        add_to_total(self.bar, self.bar.n - (self.bar.total or 0))

    def _show_files(self) -> None:
        self.bar.set_postfix_str(f"{self.files_done}/{self.n_files} files", refresh=False)


class FileRun:
    """One run over input files: the plan, the error policy and the report.

    Parameters
    ----------
    inputs : sequence of (path, output directory or None)
        The input files, in order.
    outputs : NpzOutputs or ParquetOutputs
        The output layout: names the outputs, tells which exist, writes them.
    overwrite : bool
        Whether existing outputs are written again.
    errors : "raise" or "collect"
        What a failing input does to the run.
    report : Report, optional
        Filled as the run goes (a caller that may be interrupted keeps it).
    """

    def __init__(
        self,
        inputs: Sequence[FileInput],
        outputs: Any,
        overwrite: bool,
        errors: str,
        report: Report | None = None,
    ):
        self.errors = check_choice(errors, "errors", ERROR_MODES)
        self.report = Report() if report is None else report
        self.outputs = outputs
        outputs.begin([path for path, _ in inputs])
        try:
            self.jobs = self._plan(inputs, overwrite)
        except BaseException:
            outputs.release()
            raise

    def _plan(self, inputs: Sequence[FileInput], overwrite: bool) -> list[FileJob]:
        """Name each input's outputs; keep existing ones; refuse an output named twice."""
        owners: dict[str, str] = {}
        jobs = []
        for path, output_dir in inputs:
            outputs = self.outputs.names(path, output_dir)
            keys = [self.outputs.key(o) for o in outputs.values()]
            error = self._clash(path, keys, owners)
            if error is not None:
                if not self.collect(path, error):
                    raise error
                continue
            owners.update(dict.fromkeys(keys, path))
            todo = {m: o for m, o in outputs.items() if overwrite or not self.outputs.exists(o)}
            if todo:
                jobs.append(FileJob(path, todo))
            else:
                logger.info(self.outputs.skip_message, ", ".join(outputs.values()))
                self.report.skipped.append(path)
        return jobs

    def _clash(self, path: str, keys: list[str], owners: dict[str, str]) -> OpenL3Error | None:
        """Return the error for an input whose output is itself or another input's, or None."""
        if path_key(path) in keys:
            return OpenL3Error(f"{path}: its output is the input itself; nothing is written for it.")
        clash = next((k for k in keys if k in owners), None)
        if clash is None:
            return None
        return OpenL3Error(
            f"{path}: its output {clash} is also the output of {owners[clash]} in this run; "
            f"nothing is written for it{self.outputs.clash_hint}."
        )

    def collect(self, path: str, exc: BaseException) -> bool:
        """Record the failure of input ``path``; False when the policy is to raise it instead."""
        if self.errors == "raise" or not isinstance(exc, OpenL3Error | OSError):
            return False
        self._failed(path, failure_reason(path, exc))
        return True

    def _failed(self, path: str, reason: str) -> None:
        logger.error("%s", reason)
        self.report.failed.append((path, reason))

    def _commit_failed(self, exc: CommitError) -> None:
        """Record every input of a failed commit as failed (none of them has outputs)."""
        for path in exc.paths:
            self._failed(path, f"{path}: its outputs could not be committed: {exc.cause}")

    def save(self, job: FileJob, arrays: Arrays) -> None:
        """Hand the arrays of ``job`` to the output layout; report the inputs it committed."""
        try:
            committed = self.outputs.save(job, arrays)
        except CommitError as exc:
            if self.errors == "raise" and not exc.fatal:
                raise
            self._commit_failed(exc)
            if exc.fatal:
                raise
            return
        except Exception as exc:
            if not self.collect(job.path, exc):
                raise
            return
        self.report.processed += committed

    def attempt(self, path: str, action: Callable[[], Any]) -> tuple[bool, Any]:
        """Run ``action`` for input ``path``: ``(True, result)``, or ``(False, None)`` if collected."""
        try:
            return True, action()
        except Exception as exc:
            if not self.collect(path, exc):
                raise
            return False, None

    def embed(
        self,
        open_source: Callable[[FileJob], WindowSource],
        predict: Callable[[np.ndarray], np.ndarray],
        arrays: Callable[[Any, np.ndarray], dict[str, np.ndarray]],
        batch_size: int,
        verbose: bool,
        unit: str,
        count: Callable[[str], int | None] | None = None,
    ) -> Report:
        """Embed the inputs in shared batches; save each as soon as its last item is embedded.

        ``arrays(source, embedding)`` gives the arrays of an input's single output. An
        input that fails while opened, read or saved is handled by the error policy; the
        other inputs of its batches are embedded and saved all the same. ``count(path)``
        gives an input's items from its header, for the progress total (:class:`RunProgress`).
        """
        started: list[tuple[FileJob, Any, _ReadCount] | None] = []

        def sources() -> Iterator[WindowSource]:
            for job in self.jobs:
                ok, source = self.attempt(job.path, lambda job=job: open_source(job))
                if not ok:
                    progress.dropped(job.path)
                    continue
                progress.opened(job.path, source.n_items)
                started.append((job, source, _ReadCount(source)))
                yield started[-1][2]

        def done(index: int, embedding: np.ndarray) -> None:
            job, source, _ = started[index]
            started[index] = None  # release the source
            [modality] = job.outputs
            self.save(job, {modality: arrays(source, embedding)})
            progress.finished()

        def failed(index: int, exc: Exception) -> bool:
            job, _, read = started[index]
            started[index] = None
            progress.dropped(job.path, read.count)
            return self.collect(job.path, exc)

        paths = [job.path for job in self.jobs]
        with self._closing(), RunProgress(paths, verbose, unit, count) as progress:
            embed_sources(predict, sources(), batch_size, done, progress.update, failed)
        return self.report

    def each(self, embed: Callable[[FileJob, Any], Arrays], verbose: bool, unit: str) -> Report:
        """Save ``embed(job, bar)`` for one input at a time, under the error policy.

        The progress total holds the items of the inputs opened so far (``embed`` adds
        them to the bar as it reads them: :func:`openl3.batching.embed_all`).
        """
        with self._closing(), RunProgress([job.path for job in self.jobs], verbose, unit) as progress:
            for job in self.jobs:
                ok, arrays = self.attempt(job.path, lambda job=job: embed(job, progress.bar))
                if ok:
                    self.save(job, arrays)
                progress.settle()
                progress.finished()
        return self.report

    @contextmanager
    def _closing(self) -> Iterator[None]:
        """End the run however it ends (Ctrl-C included): see :meth:`finish`."""
        try:
            yield
        except BaseException:
            self.finish(raising=True)
            raise
        self.finish(raising=False)

    def finish(self, raising: bool = False) -> None:
        """Commit what was saved, close the output layout and release it.

        What was saved is committed even when the run stops early (``raising``): saved
        inputs are whole. If that last commit fails, its inputs are reported failed, and
        the error is raised when the policy is to raise and nothing else is.
        """
        failure = None
        try:
            try:
                self.report.processed += self.outputs.flush()
            except CommitError as exc:
                self._commit_failed(exc)
                failure = exc
            self.outputs.close(self.report, [job.path for job in self.jobs])
        finally:
            self.outputs.release()
        if failure is not None and (self.errors == "raise" or failure.fatal) and not raising:
            raise failure

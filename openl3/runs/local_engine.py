"""The local engine: one run over input files in this process, under its error policy.

A run names each input's outputs through its output layout (:class:`openl3.runs.npz.NpzOutputs`,
or :class:`openl3.dataset.ParquetOutputs`), plans which are to be written (existing
outputs are kept unless ``overwrite``; two inputs never share an output), applies the
error policy (``errors="raise"`` stops at the first failure, ``"collect"`` reports it and
goes on) and hands each input's arrays to the layout, which writes them atomically.
Audio and image runs embed their inputs in shared model batches (:meth:`FileRun.embed`);
video runs take one input at a time (:meth:`FileRun.each`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Protocol, runtime_checkable

import numpy as np

from .._util.exceptions import CommitError, OpenL3Error
from .._util.identity import file_identity
from .._util.jobs import Arrays, FileInput, FileJob, OutputLayout, Report, failure_reason
from .._util.progress import add_to_total, progress_bar
from .._util.validation import check_choice
from ..models.batching import WindowSource, embed_sources

logger = logging.getLogger("openl3")

ERROR_MODES = ("raise", "collect")


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
        outputs: OutputLayout,
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
            error = self._clash(path, keys, owners) or self.outputs.conflict(path)
            if error is not None:
                if not self.collect(path, error):
                    raise error
                continue
            owners.update(dict.fromkeys(keys, path))
            todo = {m: o for m, o in outputs.items() if overwrite or not self.outputs.exists(o)}
            if todo:
                jobs.append(FileJob(path, todo))
            else:
                logger.debug(self.outputs.skip_message, ", ".join(outputs.values()))
                self.report.skipped.append(path)
        return jobs

    def _clash(self, path: str, keys: list[str], owners: dict[str, str]) -> OpenL3Error | None:
        """Return the error for an input whose output is itself or another input's, or None."""
        if file_identity(path) in keys:
            return OpenL3Error(f"{path}: its output is the input itself; nothing is written for it.")
        clash = next((k for k in keys if k in owners), None)
        if clash is None:
            return None
        return OpenL3Error(
            f"{path}: its output {clash} is also the output of {owners[clash]} in this run; "
            f"nothing is written for it{self.outputs.clash_hint}."
        )

    def collect(self, path: str, exc: BaseException, reading: bool = False) -> bool:
        """Record the failure of input ``path``; False when the policy is to raise it instead.

        Our errors and the system's are the input's; with ``reading`` (the input was being
        opened or decoded), any error but running out of memory is too: a decoder's own
        exception, whatever it is, fails that file and the run goes on.
        """
        if self.errors == "raise":
            return False
        ours = isinstance(exc, OpenL3Error | OSError)
        if not ours and not (reading and isinstance(exc, Exception) and not isinstance(exc, MemoryError)):
            return False
        if not ours:
            logger.debug("%s could not be read", path, exc_info=exc)
        self._failed(path, failure_reason(path, exc))
        return True

    def _failed(self, path: str, reason: str) -> None:
        logger.error("%s", reason, extra={"openl3_input": path})  # a caller that names them may drop it
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

    def attempt(self, path: str, action: Callable[[], Any], reading: bool = False) -> tuple[bool, Any]:
        """Run ``action`` for input ``path``: ``(True, result)``, or ``(False, None)`` if collected.

        ``reading``: ``action`` opens or decodes the input (see :meth:`collect`).
        """
        try:
            return True, action()
        except Exception as exc:
            if not self.collect(path, exc, reading):
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
                ok, source = self.attempt(job.path, lambda job=job: open_source(job), reading=True)
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
            return self.collect(job.path, exc, reading=True)

        paths = [job.path for job in self.jobs]
        with self._closing(), RunProgress(paths, verbose, unit, count) as progress:
            embed_sources(predict, sources(), batch_size, done, progress.update, failed)
        return self.report

    def each(self, embed: Callable[[FileJob, Any], Arrays], verbose: bool, unit: str) -> Report:
        """Save ``embed(job, bar)`` for one input at a time, under the error policy.

        The progress total holds the items of the inputs opened so far (``embed`` adds
        them to the bar as it reads them: :func:`openl3.models.batching.embed_all`).
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


@runtime_checkable
class WholeFiles(Protocol):
    """An embedder of whole files, one at a time (video: two outputs per file)."""

    verbose: bool
    unit: str

    def embed_file(self, job: FileJob, bar: Any = None) -> Arrays:
        """Return the arrays of each output of ``job`` that is to be written."""


class BatchedFiles(Protocol):
    """An embedder whose files' windows or frames share model batches (audio, images)."""

    verbose: bool
    file_unit: str
    batch_size: int

    def open_file(self, path: str) -> WindowSource:
        """Return the window source of a file."""

    def predict(self, items: np.ndarray) -> np.ndarray:
        """Embed a batch of items."""

    def file_arrays(self, source: Any, embedding: np.ndarray) -> dict[str, np.ndarray]:
        """Return the arrays of a file's output."""

    def count_items(self, path: str) -> int | None:
        """Return a file's items from its header, or None."""


def run_locally(
    embedder: BatchedFiles | WholeFiles,
    inputs: Sequence[FileInput],
    outputs: OutputLayout,
    overwrite: bool,
    errors: str,
    report: Report | None = None,
) -> Report:
    """Embed input files in this process and save their outputs (see the module's description)."""
    run = FileRun(inputs, outputs, overwrite, errors, report)
    if isinstance(embedder, WholeFiles):
        return run.each(embedder.embed_file, embedder.verbose, embedder.unit)
    return run.embed(
        lambda job: embedder.open_file(job.path),
        embedder.predict,
        embedder.file_arrays,
        embedder.batch_size,
        embedder.verbose,
        embedder.file_unit,
        embedder.count_items,
    )

"""The Ray engine: a Parquet dataset of audio or image files computed as a Ray Data job.

The job has three stages (``pip install openl3[ray]``; Ray is imported only here):

1. The inputs not yet in the dataset become a Ray dataset of paths.
2. CPU tasks decode each file: audio is downmixed and resampled to 48 kHz (the costly
   part), images are read and prepared as 224x224 frames. A file that cannot be decoded
   is recorded as a failure (path and reason) and dropped; the job goes on.
3. An actor pool (``map_batches`` with a callable class) runs the model, loaded once per
   actor; with GPUs in the cluster each actor takes one. Each call embeds a few whole
   files in shared model batches and returns their rows.

Ray's Parquet writer writes the rows into a staging folder of the dataset's own folder
(``_openl3/staging/ray-<host>-<pid>-<id>``, skipped by dataset discovery). Blocks are not
split, so each file written holds whole inputs. When the job ends, the files are renamed
into the dataset as parts of the run's generation, and the failures table is updated: the
same rows, in the same layout, as the local engine gives (their order may differ). A job
that is killed leaves only its staging folder, which the next run removes; that run
embeds the inputs again. The driver holds the dataset's writer lock for the whole job.

Only what a file can cause fails a file (a failure row; the job goes on); an error of the
model or the machine (out of memory, a broken worker) stops the job with its message.
"""

from __future__ import annotations

import logging
import os
import secrets
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

from .._util.exceptions import OpenL3Error
from .._util.identity import file_identity
from .._util.jobs import FileInput, Report, failure_reason
from .._util.owner import Owner, current, is_stale
from .._util.validation import check_audio
from ..audio.decode import decode_audio_file
from ..audio.windows import window_dtype
from ..dataset.manifest import OWN_FOLDER
from ..dataset.outputs import ParquetOutputs
from ..dataset.parts import COMPRESSION, PAGE_CHECKSUMS, row_schema, rows_table
from ..image.compute import open_image_file
from ..models.settings import EmbeddingSettings
from ..models.specs import TARGET_SR
from .local_engine import FileRun

logger = logging.getLogger("openl3")

#: Environment variables the workers get from the driver when they are set there.
FORWARDED_ENV = (
    "OPENL3_WEIGHTS_DIR",
    "OPENL3_CACHE_DIR",
    "OPENL3_WEIGHTS_URL",
    "KERAS_BACKEND",
    "TF_CPP_MIN_LOG_LEVEL",
)
#: Files embedded per call of a model actor.
FILES_PER_CALL = 8
#: The staging folders of Ray jobs, inside the dataset's own folder.
STAGING_FOLDER = "staging"
STAGING_PREFIX = "ray-"


def import_ray() -> Any:
    """Return the ``ray`` module, or raise an error that says how to install it."""
    try:
        import ray
        import ray.data
    except ImportError as exc:
        raise OpenL3Error("The Ray engine needs Ray Data: pip install 'openl3[ray]'.") from exc
    return ray


@contextmanager
def ray_session(address: str | None, verbose: bool) -> Iterator[Any]:
    """Yield ``ray``, connected: to ``address``, to the session already open, or to a new local one.

    A session this function starts is shut down at the end.
    """
    ray = import_ray()
    loggers = [logging.getLogger(name) for name in ("ray", "ray.data")]
    levels = [each.level for each in loggers]
    for each in loggers:  # Ray's progress lines and plans: only when verbose
        each.setLevel(logging.INFO if verbose else logging.WARNING)
    started = not ray.is_initialized()
    if started:
        env = {name: os.environ[name] for name in FORWARDED_ENV if name in os.environ}
        ray.init(
            address=address,
            runtime_env={"env_vars": env} if env else None,
            include_dashboard=False,
            log_to_driver=verbose,
            logging_level=logging.WARNING,
        )
    try:
        yield ray
    finally:
        if started:
            ray.shutdown()
        for each, level in zip(loggers, levels, strict=True):
            each.setLevel(level)


def decoded(path: str, settings: EmbeddingSettings) -> np.ndarray:
    """Return what the model stage needs of one file: 48 kHz mono samples, or prepared frames."""
    if settings.modality == "audio":
        return decode_audio_file(path, window_dtype(settings.frontend))
    frames = open_image_file(path)
    return frames.read(0, frames.n_items)


class FailureLog:
    """A Ray actor collecting the inputs that failed (path, reason), wherever they ran."""

    def __init__(self) -> None:
        self.failures: list[tuple[str, str]] = []

    def add(self, path: str, reason: str) -> None:
        """Record that input ``path`` failed."""
        self.failures.append((path, reason))

    def items(self) -> list[tuple[str, str]]:
        """Return the failures recorded."""
        return list(self.failures)


def decode_row(row: dict[str, Any], settings: EmbeddingSettings, log: Any) -> list[dict[str, Any]]:
    """Decode one input (a CPU task): ``[{"path", "data"}]``, or ``[]`` after logging its failure."""
    import ray

    path = row["path"]
    try:
        return [{"path": path, "data": decoded(path, settings)}]
    except Exception as exc:  # a bad input is a failure row, never the end of the job
        ray.get(log.add.remote(path, failure_reason(path, exc)))
        return []


class EmbedFiles:
    """The model stage: a callable class of Ray Data's actor pool, one model per actor.

    Each actor builds its computation from the dataset's settings, the one way every part of
    openl3 does (:meth:`openl3.models.computation.Embedder.from_settings`), so it computes
    exactly what the rows record (the layer taken as the embedding, the precision, the
    weights, checked against their recorded SHA-256).

    Parameters
    ----------
    factory : type
        The class of the driver's embedder (its ``from_settings`` builds the actor's).
    settings : EmbeddingSettings
        The dataset's settings, as the driver computed them.
    weights : str or None
        The weight file of weights other than the official ones (it must be readable from
        the workers: a shared filesystem).
    batch_size : int
        Windows or frames per model call.
    dtype : str
        The stored type of the embeddings.
    metadata : dict
        The schema metadata of the run's parts (:func:`openl3.dataset.parts.part_metadata`).
    log : ray actor handle
        The :class:`FailureLog` of the job.
    """

    def __init__(
        self,
        factory: type,
        settings: EmbeddingSettings,
        weights: str | None,
        batch_size: int,
        dtype: str,
        metadata: dict[bytes, bytes],
        log: Any,
    ):
        self.settings, self.dtype, self.metadata, self.log = settings, dtype, metadata, log
        self.embedder = factory.from_settings(settings, weights, batch_size=batch_size, verbose=False)

    def _source(self, path: str, data: np.ndarray) -> Any:
        """Return the window source of one decoded file (checked again: it crossed processes)."""
        if self.settings.modality == "audio":
            name = f"audio file {path}"
            return self.embedder.windows(check_audio(data, name), TARGET_SR, name)
        return PreparedFrames(data)

    def _rows(self, path: str, source: Any, embedding: np.ndarray) -> Any:
        arrays = {"embedding": embedding}
        if self.settings.modality == "audio":
            arrays["timestamps"] = source.timestamps
        return rows_table(path, arrays, self.dtype, self.metadata)

    def __call__(self, batch: dict[str, np.ndarray]) -> Any:
        """Embed the files of ``batch`` in shared model batches; return their rows.

        A file whose windows cannot be made is a failure; an error of the model call is
        not a file's and ends the job.
        """
        import pyarrow as pa
        import ray

        paths, sources = [], []
        for path, data in zip((str(p) for p in batch["path"]), batch["data"], strict=True):
            try:
                sources.append(self._source(path, data))
                paths.append(path)
            except OpenL3Error as exc:
                ray.get(self.log.add.remote(path, failure_reason(path, exc)))
        if not sources:
            return row_schema(self.embedder.dimension(), self.dtype, self.metadata).empty_table()
        embeddings = self.embedder.embed_sources(sources)
        return pa.concat_tables(
            [self._rows(p, s, e) for p, s, e in zip(paths, sources, embeddings, strict=True)]
        )


class PreparedFrames:
    """The frames of an image file, already prepared by the decoding stage (a window source)."""

    def __init__(self, frames: np.ndarray):
        self.frames, self.n_items = frames, len(frames)

    def read(self, start: int, count: int) -> np.ndarray:
        """Return frames ``start`` to ``start + count``."""
        return self.frames[start : start + count]


def _actor_pool(ray: Any) -> dict[str, Any]:
    """Return the ``map_batches`` arguments of the model actors: one per GPU, else one per node."""
    from ray.data import ActorPoolStrategy

    gpus = int(ray.cluster_resources().get("GPU", 0))
    if gpus:
        return {"compute": ActorPoolStrategy(min_size=1, max_size=gpus), "num_gpus": 1}
    nodes = max(1, sum(1 for node in ray.nodes() if node.get("Alive")))
    return {"compute": ActorPoolStrategy(min_size=1, max_size=nodes), "num_cpus": 1}


def staging_folder(outputs: ParquetOutputs) -> Any:
    """Return the folder of the Ray jobs' staging folders in the dataset of ``outputs``."""
    return outputs.top.child(OWN_FOLDER).child(STAGING_FOLDER)


def remove_stale_staging(staging: Any) -> None:
    """Remove the staging folders of Ray jobs whose driver is gone.

    Judged as temporaries are (:mod:`openl3._util.owner`): a driver of this kernel and pid
    namespace by its pid and start time; another's once the folder is a day old.
    """
    from pyarrow import fs

    infos = staging.fs.get_file_info(fs.FileSelector(staging.base, allow_not_found=True))
    for info in infos:
        if info.type != fs.FileType.Directory or not info.base_name.startswith(STAGING_PREFIX):
            continue
        owner = Owner.from_tag(info.base_name[len(STAGING_PREFIX) :].rpartition("-")[0])
        modified = info.mtime.timestamp() if info.mtime else time.time()
        if owner is not None and is_stale(owner.alive(), lambda modified=modified: time.time() - modified):
            staging.fs.delete_dir(info.path)


def run_on_ray(
    embedder: Any,
    inputs: Sequence[FileInput],
    outputs: ParquetOutputs,
    overwrite: bool,
    errors: str,
    report: Report | None = None,
    address: str | None = None,
) -> Report:
    """Embed files into the Parquet dataset ``outputs`` with a Ray Data job.

    Parameters
    ----------
    embedder : AudioEmbedder or ImageEmbedder
        The settings of the job (its model is loaded by name in each actor, so a model
        object given by the user cannot be used).
    inputs : sequence of (path, output directory)
        The input files (output directories are not used: rows go to the dataset).
    outputs : ParquetOutputs
        The dataset.
    overwrite : bool
        Whether inputs already in the dataset are embedded again (their old rows are
        then removed).
    errors : "raise" or "collect"
        With "raise", the job still runs to its end, then the first failure is raised.
    report : Report, optional
        Filled with what the job did.
    address : str, optional
        The Ray cluster (default: the session already open, else a new local one).

    Returns
    -------
    report : Report
    """
    if not isinstance(outputs, ParquetOutputs) or None not in outputs.folders:
        raise OpenL3Error("The Ray engine embeds audio or image files into a Parquet dataset.")
    if embedder.user_model is not None:
        raise OpenL3Error(
            "The Ray engine builds its model from the settings in each actor: pass no model object "
            "(a weight file, weights=..., works)."
        )
    run = FileRun(inputs, outputs, overwrite, errors, report)
    failures: list[tuple[str, str]] = []
    try:
        remove_stale_staging(staging_folder(outputs))
        if run.jobs:
            with ray_session(address, embedder.verbose) as ray:
                failures = _run_job(ray, run, outputs, embedder)
        run.report.failed += failures
        outputs.committed_elsewhere(replaced=overwrite)
        outputs.close(run.report, [job.path for job in run.jobs])
    finally:
        outputs.release()
    if errors == "raise" and run.report.failed:
        raise OpenL3Error(run.report.failed[0][1])
    return run.report


def _run_job(ray: Any, run: FileRun, outputs: ParquetOutputs, embedder: Any) -> list[tuple[str, str]]:
    """Run the Ray Data job of ``run``; move its files into the dataset as parts; return the failures.

    The inputs whose rows are moved into the dataset are reported processed as they are.
    """
    import pyarrow.compute as pc
    import pyarrow.parquet as pq
    from ray.data import DataContext

    context = DataContext.get_current()
    saved = context.target_max_block_size, context.enable_progress_bars
    context.target_max_block_size = None  # a block, hence a file, holds whole inputs
    context.enable_progress_bars = embedder.verbose
    log = ray.remote(FailureLog).remote()
    paths = [{"path": job.path} for job in run.jobs]
    folder, settings = outputs.folders[None], outputs.settings[None]
    value_bytes = 2 if outputs.dtype == "float16" else 4
    rows_per_part = max(1, outputs.part_bytes // ((settings.dimension() or 512) * value_bytes + 64))
    staged = staging_folder(outputs).child(f"{STAGING_PREFIX}{current().tag()}-{secrets.token_hex(4)}")
    actor = {
        "factory": type(embedder),
        "settings": settings,
        "weights": file_identity(embedder.weights_path) if embedder.weights_path else None,
        "batch_size": embedder.batch_size,
        "dtype": outputs.dtype,
        "metadata": outputs.metadata[None],
        "log": log,
    }
    dataset = (
        ray.data.from_items(paths, override_num_blocks=min(len(paths), 1000))
        .flat_map(decode_row, fn_kwargs={"settings": settings, "log": log})
        .map_batches(
            EmbedFiles,
            fn_constructor_kwargs=actor,
            batch_size=FILES_PER_CALL,
            batch_format="numpy",
            **_actor_pool(ray),
        )
    )
    try:
        try:
            dataset.write_parquet(
                staged.base,
                filesystem=folder.fs,
                compression=COMPRESSION,
                min_rows_per_file=rows_per_part,
                write_page_checksum=PAGE_CHECKSUMS,
            )
        except Exception as exc:  # the model's or the machine's: the job cannot go on
            raise OpenL3Error(f"The Ray job writing {outputs.root} stopped: {_cause(exc)}") from exc
        failures = ray.get(log.items.remote())
        if outputs.writer is not None:
            outputs.writer.check()
        for name in staged.names():
            if not name.endswith(".parquet"):
                continue
            try:
                table = pq.read_table(staged.path_of(name), columns=["path"], filesystem=folder.fs)
                folder.fs.move(staged.path_of(name), folder.path_of(outputs.namer.next()))
            except (OSError, ValueError) as exc:
                raise OpenL3Error(
                    f"The Ray job's rows could not be moved into {outputs.root}: {exc}. The inputs "
                    "already moved are complete; rerun to embed the others."
                ) from exc
            run.report.processed += pc.unique(table["path"]).to_pylist()
    finally:
        staged.remove()
        context.target_max_block_size, context.enable_progress_bars = saved
    return failures


def _cause(exc: BaseException) -> str:
    """Return the message of the error a Ray task raised (Ray wraps it in its own)."""
    cause = getattr(exc, "cause", None)
    return f"{type(cause).__name__}: {cause}" if isinstance(cause, BaseException) else str(exc)

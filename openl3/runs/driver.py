"""The run driver of ``process_*_file``, the object API and the command: layout and engine.

:func:`run_files` checks a run's arguments, selects its shard, picks the output layout
(:class:`openl3.runs.npz.NpzOutputs`, one ``.npz`` per input as OpenL3 0.4.2 names them, or
:class:`openl3.dataset.ParquetOutputs`, the rows of one Parquet dataset) and the engine
(:mod:`openl3.runs.local_engine` or :mod:`openl3.runs.ray_engine`), and runs it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import astuple, dataclass
from typing import Any

from .._util.exceptions import OpenL3Error
from .._util.jobs import FileInput, Report, as_path_list, prepare_output_dir
from .._util.shard import check_shard, select_shard
from .._util.validation import check_bool, check_choice, check_flag, check_suffix
from ..dataset.outputs import ParquetOutputs
from .local_engine import run_locally
from .npz import NpzOutputs, get_output_path
from .ray_engine import run_on_ray

__all__ = ["ENGINES", "OUTPUT_FORMATS", "Report", "RunOptions", "get_output_path", "run_files", "run_paths"]

OUTPUT_FORMATS = ("npz", "parquet")
ENGINES = ("local", "ray")


@dataclass(frozen=True)
class RunOptions:
    """Where and how a run writes its outputs: the run arguments of every ``process_*_file``.

    Attributes are in the order :func:`run_files` takes them; see
    :func:`openl3.process_audio_file` for each one.
    """

    output_dir: str | None = None
    suffix: str | None = None
    overwrite: bool = False
    errors: str = "raise"
    output_format: str = "npz"
    dtype: str = "float32"
    part_size_mb: float | None = None
    engine: str = "local"
    ray_address: str | None = None
    shard: Any = None
    break_lock: bool = False


def run_paths(embedder: Any, filepath: Any, options: RunOptions, report: Report | None = None) -> Report:
    """Run :func:`run_files` on one path or a list, all outputs in ``options.output_dir``."""
    inputs = [(path, options.output_dir) for path in as_path_list(filepath)]
    return run_files(embedder, inputs, *astuple(options), report=report)


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
    the inputs of shard K are embedded (:mod:`openl3._util.shard`).
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
        return run_on_ray(embedder, inputs, outputs, overwrite, errors, report, ray_address)
    return run_locally(embedder, inputs, outputs, overwrite, errors, report)


def output_layout(
    embedder: Any,
    output_dir: str | None,
    suffix: str | None,
    output_format: str = "npz",
    dtype: str = "float32",
    part_size_mb: float | None = None,
    shard: Any = None,
    break_lock: bool = False,
) -> NpzOutputs | ParquetOutputs:
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
    if not output_dir:
        raise OpenL3Error("output_format='parquet' needs an output directory (the dataset folder).")
    if suffix:
        raise OpenL3Error("suffix names .npz outputs; it cannot be used with output_format='parquet'.")
    return ParquetOutputs(output_dir, embedder.row_settings(), dtype, part_size_mb, shard, break_lock)

"""The run driver of ``process_*_file``, the object API and the command: layout and engine.

:func:`run_files` checks a run's arguments, selects its shard, picks the output layout
(:class:`openl3.runs.npz.NpzOutputs`, one ``.npz`` per input as OpenL3 0.4.2 names them, or
:class:`openl3.dataset.ParquetOutputs`, the rows of one Parquet dataset) and the engine
(:mod:`openl3.runs.local_engine` or :mod:`openl3.runs.ray_engine`), and runs it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from typing import Any

from .._util.exceptions import OpenL3Error
from .._util.identity import file_identity
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


@dataclass(frozen=True, kw_only=True)
class RunOptions:
    """Where and how a run writes its outputs: the run arguments of every ``process_*_file``.

    Built by keyword only (see :func:`openl3.process_audio_file` for each one), or with
    :meth:`of` from the arguments of a function that takes them all.

    Examples
    --------
    >>> options = RunOptions(output_dir="clips.l3", output_format="parquet", shard=(0, 4))
    >>> options.errors, options.shard
    ('raise', (0, 4))
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

    @classmethod
    def of(cls, arguments: dict[str, Any]) -> RunOptions:
        """Return the options among ``arguments`` (a caller's ``locals()``), which must hold them all.

        Raises
        ------
        TypeError
            Naming the run arguments missing from ``arguments`` (a caller that lost one).
        """
        names = [f.name for f in fields(cls)]
        missing = [name for name in names if name not in arguments]
        if missing:
            raise TypeError(f"run arguments missing: {', '.join(missing)}")
        return cls(**{name: arguments[name] for name in names})


def run_paths(embedder: Any, filepath: Any, options: RunOptions, report: Report | None = None) -> Report:
    """Run :func:`run_files` on one path or a list, all outputs in ``options.output_dir``."""
    inputs = [(path, options.output_dir) for path in as_path_list(filepath)]
    return run_files(embedder, inputs, options, report)


def run_files(
    embedder: Any, inputs: Sequence[FileInput], options: RunOptions, report: Report | None = None
) -> Report:
    """Embed input files with ``embedder`` into their outputs, on the engine asked for.

    ``options`` are those of ``process_*_file`` (``output_dir`` is the dataset folder of a
    Parquet run); ``report`` is filled as the run goes. With ``shard=(K, N)`` only the
    inputs of shard K are embedded (:mod:`openl3._util.shard`).
    """
    check_choice(options.engine, "engine", ENGINES)
    overwrite = check_flag(options.overwrite, "overwrite")
    if options.engine == "ray" and options.output_format != "parquet":
        raise OpenL3Error("engine='ray' writes a Parquet dataset: use output_format='parquet'.")
    shard = check_shard(options.shard)
    inputs = select_shard(inputs, shard, lambda item: file_identity(item[0]))
    outputs = output_layout(embedder, replace(options, shard=shard))
    if options.engine == "ray":
        return run_on_ray(embedder, inputs, outputs, overwrite, options.errors, report, options.ray_address)
    return run_locally(embedder, inputs, outputs, overwrite, options.errors, report)


def output_layout(embedder: Any, options: RunOptions) -> NpzOutputs | ParquetOutputs:
    """Return the output layout of a run of ``embedder``: ``.npz`` files or a Parquet dataset.

    Checks the arguments and creates the output directory, before any model work.
    """
    check_choice(options.output_format, "output_format", OUTPUT_FORMATS)
    check_bool(options.break_lock, "break_lock")
    check_suffix(options.suffix)
    if options.output_format == "npz":
        check_choice(options.dtype, "dtype", ("float32",))
        prepare_output_dir(options.output_dir)
        return NpzOutputs(options.suffix, embedder.output_modalities)
    if not options.output_dir:
        raise OpenL3Error("output_format='parquet' needs an output directory (the dataset folder).")
    if options.suffix:
        raise OpenL3Error("suffix names .npz outputs; it cannot be used with output_format='parquet'.")
    return ParquetOutputs(
        options.output_dir,
        embedder.row_settings(),
        dtype=options.dtype,
        part_size_mb=options.part_size_mb,
        shard=options.shard,
        break_lock=options.break_lock,
        weights_paths=embedder.row_weights(),
    )

"""The ``audio``, ``image`` and ``video`` subcommands: embeddings of files and folders.

Their flags are OpenL3 0.4.2's (defaults read from :func:`openl3.process_video_file`),
grouped as ``--help`` shows them, plus the collection flags (Parquet datasets, engines,
shards). A run collects the inputs, reports the paths that give no file, embeds the rest
through :func:`openl3.runs.driver.run_files` and prints a summary line.
"""

from __future__ import annotations

import argparse
import inspect
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from .._util import remote
from .._util.exceptions import OpenL3Error
from .._util.jobs import EXTENSIONS
from .._util.shard import parse_shard
from ..core import process_video_file
from ..dataset.outputs import DEFAULT_PART_SIZE_MB, DTYPES
from ..models import batching
from ..models.precision import PRECISIONS, describe
from ..models.specs import (
    AUDIO_TOWER,
    CONTENT_TYPES,
    DEFAULT_INPUT_REPR,
    FRONTENDS,
    IMAGE_TOWER,
    INPUT_REPRS,
    TARGET_SR,
)
from ..runs.driver import ENGINES, OUTPUT_FORMATS, FileInput, Report, RunOptions, run_files
from .compat import _embedder, _folder_files, positive_float, positive_int
from .console import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, _console

#: The help text of a flag whose default is worth showing.
_DEFAULT = "default: %(default)s"


class GivenBatchSize(argparse.Action):
    """Store a batch size the user gave, and add its name to ``batch_sizes_given``.

    The flags' default stays 0.4.2's 32 (what :func:`openl3.cli.parse_args` reports);
    :func:`_batch_size` replaces a batch size the user did not give by the device's.
    """

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        """Store ``values`` (the flag's value, parsed by its ``type``) and note the flag as given."""
        setattr(namespace, self.dest, values)
        namespace.batch_sizes_given = (*namespace.batch_sizes_given, self.dest)


def _batch_size(args: argparse.Namespace, name: str) -> int:
    """Return the batch size ``name``: the user's, else the device's (32 on CPUs, 256 on GPUs)."""
    if name in args.batch_sizes_given or not batching.has_accelerator():
        return getattr(args, name)
    return batching.ACCELERATOR_BATCH_SIZE


def shard_argument(value: str) -> tuple[int, int]:
    """Return the ``K/N`` text of ``--shard`` as ``(K, N)`` (argparse type)."""
    try:
        return parse_shard(value)
    except OpenL3Error as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def hop_size(value: Any) -> float:
    """Return a hop size in seconds if it is positive and at least one sample at 48 kHz."""
    seconds = positive_float(value)
    if int(seconds * TARGET_SR) < 1:
        raise argparse.ArgumentTypeError(f"{value!r} is shorter than one sample at {TARGET_SR} Hz")
    return seconds


def _collect_inputs(
    paths: Sequence[str], modality: str, recursive: bool, output_dir: str | None
) -> tuple[list[FileInput], list[str], list[str]]:
    """Return (inputs with their output directories, missing paths, folders without inputs)."""
    inputs, missing, empty = [], [], []
    extensions = tuple("." + e for e in EXTENSIONS[modality])
    for path in paths:
        found = remote.kind(path) if remote.is_uri(path) else _local_kind(path)
        if found == "directory":
            files = (
                [(uri, output_dir) for uri in remote.list_files(path, extensions, recursive)]
                if remote.is_uri(path)
                else list(_folder_files(path, extensions, recursive, output_dir))
            )
            inputs += files
            if not files:
                empty.append(path)
        elif found == "file":
            inputs.append((path, output_dir))
        else:
            missing.append(path)
    return inputs, missing, empty


def _local_kind(path: str) -> str | None:
    """Return "directory", "file" (anything else that exists) or None for a local path."""
    if os.path.isdir(path):
        return "directory"
    return "file" if os.path.exists(path) else None


def _report_inputs(args: argparse.Namespace, missing: list[str], empty: list[str], found: bool) -> None:
    """Print one line for each input path that gives no file: an error, or a warning.

    A folder without files of the modality is an error when no input gives any file
    (nothing is done), else a warning (not with ``--quiet``): it may be a mistake (a
    folder named ``x.wav``).
    """
    for path in missing:
        print(f"error: {path}: no such file or directory", file=sys.stderr)
    if found and args.quiet:
        return
    kind = "warning" if found else "error"
    where = "" if args.recursive else " (--recursive takes those of its subfolders)"
    for path in empty:
        print(f"{kind}: {path}: a folder with no {args.command} files in it{where}", file=sys.stderr)


def _defaults(function: Callable) -> dict:
    """Return the parameter defaults of a public function (one source of truth)."""
    signature = inspect.signature(function)
    return {
        name: p.default
        for name, p in signature.parameters.items()
        if p.default is not inspect.Parameter.empty
    }


def _embedding_parent() -> argparse.ArgumentParser:
    """Return a parser holding 0.4.2's flags, shared by ``audio``, ``image`` and ``video``."""
    video = _defaults(process_video_file)
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("inputs", nargs="+", metavar="INPUT", help="files, or folders of files")
    parent.add_argument(
        "--output-dir",
        "-o",
        default=None,
        help="directory for the outputs (default: beside each input); with --recursive, "
        "outputs keep each file's folder relative to the folder given",
    )
    parent.add_argument(
        "--suffix", "-x", default=None, help="appended to output names: <name>[_<suffix>].npz"
    )
    _add_model_options(parent, video)
    parent.add_argument("--overwrite", "-ow", action="store_true", help="recompute existing outputs")
    parent.add_argument("--quiet", "-q", action="store_true", help="print errors only")
    parent.add_argument(
        "--verbose", "-v", action="store_true", help="also name each input skipped (its outputs exist)"
    )
    parent.add_argument("--recursive", "-r", action="store_true", help="also take files in subfolders")
    parent.add_argument("--fail-fast", action="store_true", help="stop at the first input that fails")
    collection = parent.add_argument_group("collections (one dataset per run)")
    collection.add_argument(
        "--output-format",
        default="npz",
        choices=OUTPUT_FORMATS,
        help="npz: one file per input (0.4.2's outputs, the default); parquet: one row per window or "
        "frame of every input in a Parquet dataset in the folder --output-dir (needed), which a rerun "
        "completes",
    )
    collection.add_argument(
        "--dtype", default="float32", choices=DTYPES, help="embedding values in Parquet (default: float32)"
    )
    collection.add_argument(
        "--part-size-mb",
        type=positive_float,
        default=DEFAULT_PART_SIZE_MB,
        help="Parquet part files are committed at about this size (default: %(default)s)",
    )
    collection.add_argument(
        "--engine",
        default="local",
        choices=ENGINES,
        help="local: this process (default); ray: a Ray Data job (Parquet output; `pip install openl3[ray]`)",
    )
    collection.add_argument(
        "--ray-address", default=None, help="the Ray cluster to join (default: start a local Ray instance)"
    )
    collection.add_argument(
        "--shard",
        type=shard_argument,
        default=None,
        metavar="K/N",
        help="embed only shard K of N (from 0) of the inputs, split by a stable hash of each path: the N "
        "jobs of a job array may write into one Parquet dataset at once",
    )
    collection.add_argument(
        "--break-lock",
        action="store_true",
        help="remove the locks of other runs on the dataset that cover these inputs (runs you know are dead)",
    )
    return parent


def _add_model_options(parent: argparse.ArgumentParser, video: dict) -> None:
    """Add the model flags: shared ones, then audio and image options in their own groups."""
    parent.add_argument(
        "--input-repr", "-i", default=DEFAULT_INPUT_REPR, choices=tuple(INPUT_REPRS), help=_DEFAULT
    )
    parent.add_argument(
        "--content-type", "-c", default=video["content_type"], choices=CONTENT_TYPES, help=_DEFAULT
    )
    parent.add_argument(
        "--precision",
        default=video["precision"],
        choices=PRECISIONS,
        help="model precision: faithful float32 (default), tf32 (GPUs), bfloat16 (the tower), "
        "or fast (a reduced precision where measured faster here; says which)",
    )
    audio = parent.add_argument_group("audio options (audio files, and the audio of videos)")
    audio.add_argument(
        "--audio-embedding-size",
        "-as",
        type=int,
        default=video["audio_embedding_size"],
        choices=AUDIO_TOWER.embedding_sizes,
        help=_DEFAULT,
    )
    audio.add_argument("--no-audio-centering", "-n", action="store_true", help="timestamps are window starts")
    audio.add_argument(
        "--audio-hop-size",
        "-t",
        type=hop_size,
        default=video["audio_hop_size"],
        help="seconds between windows (default: %(default)s)",
    )
    audio.add_argument(
        "--audio-batch-size",
        "-ab",
        type=positive_int,
        action=GivenBatchSize,
        default=video["audio_batch_size"],
        help="default: 32 on CPUs, 256 on GPUs",
    )
    audio.add_argument(
        "--audio-frontend", "-af", default=video["audio_frontend"], choices=FRONTENDS, help=_DEFAULT
    )
    audio.add_argument(
        "--audio-weights",
        metavar="FILE",
        help="a weight file in the official layout for the audio model (default: the official one; "
        "what it embeds is recorded by its SHA-256): as weights= in Python",
    )
    parent.set_defaults(batch_sizes_given=())
    image = parent.add_argument_group("image options (image files, and the frames of videos)")
    image.add_argument(
        "--image-embedding-size",
        "-is",
        type=int,
        default=video["image_embedding_size"],
        choices=IMAGE_TOWER.embedding_sizes,
        help=_DEFAULT,
    )
    image.add_argument(
        "--image-batch-size",
        "-ib",
        type=positive_int,
        action=GivenBatchSize,
        default=video["image_batch_size"],
        help="default: 32 on CPUs, 256 on GPUs",
    )
    image.add_argument(
        "--image-weights",
        metavar="FILE",
        help="a weight file in the official layout for the image model (default: the official one)",
    )


def _output_usage(args: argparse.Namespace) -> str | None:
    """Return what is wrong with the output flags of ``audio|image|video`` together, or None."""
    parquet = args.output_format == "parquet"
    if parquet and not args.output_dir:
        return "--output-format parquet needs --output-dir (-o), the dataset folder"
    if parquet and args.suffix:
        return "--suffix (-x) names .npz outputs: it cannot be used with --output-format parquet"
    if not parquet and args.dtype != "float32":
        return f"--dtype {args.dtype} is the type of Parquet values: add --output-format parquet"
    if not parquet and args.engine == "ray":
        return "--engine ray writes a Parquet dataset: add --output-format parquet"
    return None


def _summary(command: str, report: Report, missing: int) -> str:
    failed = len(report.failed) + missing
    return (
        f"openl3 {command}: {len(report.processed)} processed, {len(report.skipped)} skipped "
        f"(outputs exist), {failed} failed"
    )


def _run_embeddings(args: argparse.Namespace) -> int:
    inputs, missing, empty = _collect_inputs(args.inputs, args.command, args.recursive, args.output_dir)
    _report_inputs(args, missing, empty, bool(inputs))
    if (missing and args.fail_fast) or not inputs:
        return EXIT_FAILED
    report = Report()
    errors = "raise" if args.fail_fast else "collect"
    try:
        with _console(args.quiet, args.verbose):
            embedder = _embedder(args.command, **_settings(args))
            if args.precision == "fast" and not args.quiet:
                print(f"openl3 {args.command}: {describe(args.precision)}", file=sys.stderr)
            run_files(embedder, inputs, _run_options(args, errors), report)
    except KeyboardInterrupt:
        print(f"openl3 {args.command}: interrupted", file=sys.stderr)
        print(_summary(args.command, report, len(missing)), file=sys.stderr)
        return EXIT_INTERRUPTED
    except OpenL3Error as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    failed = len(report.failed) + len(missing)
    if not args.quiet or failed:
        print(_summary(args.command, report, len(missing)), file=sys.stderr)
    return EXIT_FAILED if failed else EXIT_OK


def _run_options(args: argparse.Namespace, errors: str) -> RunOptions:
    """Return the run options of parsed ``audio|image|video`` arguments."""
    return RunOptions.of({**vars(args), "errors": errors})


def _settings(args: argparse.Namespace) -> dict:
    """Return the embedder settings of parsed ``audio|image|video`` arguments."""
    return {
        "input_repr": args.input_repr,
        "content_type": args.content_type,
        "audio_embedding_size": args.audio_embedding_size,
        "audio_center": not args.no_audio_centering,
        "audio_hop_size": args.audio_hop_size,
        "audio_batch_size": _batch_size(args, "audio_batch_size"),
        "image_embedding_size": args.image_embedding_size,
        "image_batch_size": _batch_size(args, "image_batch_size"),
        "audio_frontend": args.audio_frontend,
        "verbose": not args.quiet,
        "precision": args.precision,
        "audio_weights": args.audio_weights,
        "image_weights": args.image_weights,
    }


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Add the ``audio``, ``image`` and ``video`` subcommands to the command's subparsers."""
    parent = _embedding_parent()
    for modality, text in (
        ("audio", "audio embeddings of audio files"),
        ("image", "image embeddings of image files"),
        ("video", "audio and image embeddings of video files"),
    ):
        formats = ", ".join(EXTENSIONS[modality])
        command = commands.add_parser(
            modality,
            parents=[parent],
            help=text,
            description=f"Compute {text}. From folders, files of these formats are taken: {formats}. "
            "A file named explicitly is always attempted. Failures are reported and the run goes on "
            "(exit status 1 at the end) unless --fail-fast.",
            check=_output_usage,
        )
        command.set_defaults(handler=_run_embeddings)

"""The ``openl3`` command.

``openl3 audio|image|video INPUT...`` computes embeddings of files and folders, with
OpenL3 0.4.2's flags; ``openl3 models list|download|import|verify|path`` manages the
official weight files, and ``openl3 models export`` writes a model for other runtimes.
Exit status: 0 on success, 1 when any file failed, 2 for usage errors, 130 when
interrupted (Ctrl-C).

OpenL3 0.4.2's names in this module (``positive_int``, ``positive_float``,
``get_file_list``, ``parse_args``, ``run``, ``main``) keep their 0.4.2 behaviour.
"""

from __future__ import annotations

import argparse
import difflib
import logging
import math
import os
import sys
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from . import remote
from .console import quiet_tensorflow
from .dataset import DEFAULT_PART_SIZE_MB, DTYPES
from .exceptions import OpenL3Error
from .files import ENGINES, OUTPUT_FORMATS, FileInput, Report, run_files
from .interrupt import sigint_stops_between_batches
from .models import registry, store
from .models.specs import (
    AUDIO_TOWER,
    CONTENT_TYPES,
    DEFAULT_INPUT_REPR,
    FRONTENDS,
    IMAGE_TOWER,
    INPUT_REPRS,
    TARGET_SR,
)
from .models.weights import check_weight_file
from .precision import PRECISIONS
from .shard import parse_shard
from .version import version

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
#: The help text of a flag whose default is worth showing.
_DEFAULT = "default: %(default)s"
MODALITIES = ("audio", "image", "video")

#: File extensions taken from folders, per modality (a file named explicitly is always tried).
EXTENSIONS = {
    "audio": ("wav", "flac", "ogg", "oga", "opus", "mp3", "aif", "aiff", "au", "caf", "w64", "rf64"),
    "image": ("png", "jpg", "jpeg", "bmp", "gif", "tif", "tiff", "webp"),
    "video": ("mp4", "m4v", "mov", "avi", "mkv", "webm", "mpg", "mpeg", "wmv", "flv"),
}


class DefaultBatchSize(int):
    """The batch-size flags' default: equal to 0.4.2's 32, and known not to be the user's."""


def _batch_size(value: int) -> int:
    """Return the user's batch size, or the default for the device (32 on CPUs, 256 on GPUs)."""
    if not isinstance(value, DefaultBatchSize):
        return value
    from .batching import ACCELERATOR_BATCH_SIZE, has_accelerator

    return ACCELERATOR_BATCH_SIZE if has_accelerator() else int(value)


def positive_float(value: Any) -> float:
    """Return ``value`` as a float if it is a finite number greater than zero (argparse type).

    Raises
    ------
    argparse.ArgumentTypeError
        Otherwise (0.4.2 also let NaN and infinity through; they are refused here).
    """
    try:
        number = float(value)
    except (ValueError, TypeError) as exc:
        raise argparse.ArgumentTypeError(f"Expected a positive float, error message: {exc}") from None
    if not math.isfinite(number) or number <= 0:
        raise argparse.ArgumentTypeError(f"Expected a positive float, got {value!r}")
    return number


def shard_argument(value: str) -> tuple[int, int]:
    """Return the ``K/N`` text of ``--shard`` as ``(K, N)`` (argparse type)."""
    try:
        return parse_shard(value)
    except OpenL3Error as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def positive_int(value: Any) -> int:
    """Return ``value`` as an int if it is greater than zero (argparse type).

    Raises
    ------
    argparse.ArgumentTypeError
        Otherwise.
    """
    try:
        number = int(value)
    except (ValueError, TypeError, OverflowError) as exc:
        raise argparse.ArgumentTypeError(f"Expected a positive int, error message: {exc}") from None
    if number <= 0:
        raise argparse.ArgumentTypeError(f"Expected a positive int, got {value!r}")
    return number


def hop_size(value: Any) -> float:
    """Return a hop size in seconds if it is positive and at least one sample at 48 kHz."""
    seconds = positive_float(value)
    if int(seconds * TARGET_SR) < 1:
        raise argparse.ArgumentTypeError(f"{value!r} is shorter than one sample at {TARGET_SR} Hz")
    return seconds


def get_file_list(input_list: Iterable[str]) -> list[str]:
    """Return the files of a list of files and directories, as OpenL3 0.4.2 does.

    Files are given as absolute paths; a directory gives every file in it (not its
    subdirectories).

    Raises
    ------
    argparse.ArgumentTypeError
        If ``input_list`` is a string or not iterable.
    OpenL3Error
        If an item is neither a file nor a directory.
    """
    if isinstance(input_list, str | bytes) or not isinstance(input_list, Iterable):
        raise argparse.ArgumentTypeError("input_list must be iterable (and not string)")
    files = []
    for item in input_list:
        if os.path.isfile(item):
            files.append(os.path.abspath(item))
        elif os.path.isdir(item):
            files += [path for path, _ in _folder_files(item, None, False, None)]
        else:
            raise OpenL3Error(f"Could not find {item}")
    return files


def _folder_files(
    folder: str, extensions: tuple[str, ...] | None, recursive: bool, output_dir: str | None
) -> Iterator[FileInput]:
    """Yield the files of ``folder`` (of ``extensions``, if given) with their output directory.

    Under ``output_dir``, each file's outputs keep its folder relative to ``folder``.
    """
    walk = os.walk(folder) if recursive else [(folder, [], os.listdir(folder))]
    for directory, _, names in walk:
        relative = os.path.relpath(directory, folder)
        target = output_dir if not output_dir or relative == "." else os.path.join(output_dir, relative)
        for name in sorted(names):
            path = os.path.join(directory, name)
            if (extensions is None or name.lower().endswith(extensions)) and os.path.isfile(path):
                yield path, target


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


def _embedder(modality: str, **settings: Any) -> Any:
    """Return the embedder of ``modality`` for the command's settings (``run``'s arguments).

    Audio and image runs use the two halves of the video embedder, so every modality
    reads the settings the same way (and names the flags in its errors).
    """
    if modality not in MODALITIES:
        raise OpenL3Error(f"Invalid modality {modality!r}: expected one of {', '.join(MODALITIES)}.")
    from .video import VideoEmbedder

    video = VideoEmbedder(None, None, **settings)
    return video if modality == "video" else getattr(video, modality)


def run(
    modality: str,
    inputs: Any,
    output_dir: str | None = None,
    suffix: str | None = None,
    input_repr: str = "mel256",
    content_type: str = "music",
    audio_embedding_size: int = 6144,
    audio_center: bool = True,
    audio_hop_size: float = 0.1,
    audio_batch_size: int = 32,
    image_embedding_size: int = 8192,
    image_batch_size: int = 32,
    audio_frontend: str = "kapre",
    overwrite: bool = False,
    verbose: bool = False,
) -> None:
    """Compute and save embeddings of files, as OpenL3 0.4.2's ``openl3.cli.run``.

    ``inputs`` is a path, or a list of files and directories (see :func:`get_file_list`).
    The first failing file raises, as in 0.4.2. When no file is found, a message is
    printed and the process exits with status -1 (0.4.2's behaviour).

    Raises
    ------
    OpenL3Error
        For an invalid modality or input, a missing path, or a file that fails.
    """
    if isinstance(inputs, str):
        files = [inputs]
    elif isinstance(inputs, Iterable):
        files = get_file_list(inputs)
    else:
        raise OpenL3Error(f"Invalid input: {inputs}")
    embedder = _embedder(
        modality,
        input_repr=input_repr,
        content_type=content_type,
        audio_embedding_size=audio_embedding_size,
        audio_center=audio_center,
        audio_hop_size=audio_hop_size,
        audio_batch_size=audio_batch_size,
        image_embedding_size=image_embedding_size,
        image_batch_size=image_batch_size,
        audio_frontend=audio_frontend,
        verbose=verbose,
    )
    if not files:
        print(f"openl3: No files found in {inputs}. Aborting.")
        sys.exit(-1)
    run_files(embedder, [(path, output_dir) for path in files], output_dir, suffix, overwrite, "raise")
    if verbose:
        print("openl3: Done!")


def _defaults(function_name: str) -> dict:
    """Return the parameter defaults of ``openl3.<function_name>`` (one source of truth)."""
    import inspect

    import openl3

    signature = inspect.signature(getattr(openl3, function_name))
    return {
        name: p.default
        for name, p in signature.parameters.items()
        if p.default is not inspect.Parameter.empty
    }


def _embedding_parent() -> argparse.ArgumentParser:
    """Return a parser holding 0.4.2's flags, shared by ``audio``, ``image`` and ``video``."""
    video = _defaults("process_video_file")
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
        help="model precision on GPUs: true float32 (default) or fast (TF32 allowed)",
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
        default=DefaultBatchSize(video["audio_batch_size"]),
        help="default: 32 on CPUs, 256 on GPUs",
    )
    audio.add_argument(
        "--audio-frontend", "-af", default=video["audio_frontend"], choices=FRONTENDS, help=_DEFAULT
    )
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
        default=DefaultBatchSize(video["image_batch_size"]),
        help="default: 32 on CPUs, 256 on GPUs",
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


def _flags_like(name: str, flags: Sequence[str]) -> list[str]:
    """Return the flags ``name`` probably meant: those that contain it, else the closest one."""
    stem = name.split("=", 1)[0].lstrip("-")
    containing = [flag for flag in flags if stem and stem in flag.lstrip("-")]
    return containing[:3] or difflib.get_close_matches("--" + stem, flags, n=1, cutoff=0.7)


class _Parser(argparse.ArgumentParser):
    """An argument parser that refuses its own usage errors, a subcommand's included.

    argparse hands a subcommand's unknown arguments to the top-level parser, whose error
    shows the top-level usage (``openl3 audio f.wav --hop-size 0.5`` printed ``usage:
    openl3 [-h] [--version] COMMAND ...``). Here the parser given them refuses them with
    its own usage and the flags meant (``did you mean --audio-hop-size?``), and
    ``check(namespace)`` (a message, or None) refuses flags that do not go together.
    Both exit with status 2, as argparse's usage errors do.
    """

    def __init__(
        self, *args: Any, check: Callable[[argparse.Namespace], str | None] | None = None, **kw: Any
    ):
        super().__init__(*args, **kw)
        self.check = check

    def parse_known_args(
        self, args: Any = None, namespace: Any = None
    ) -> tuple[argparse.Namespace, list[str]]:
        namespace, extras = super().parse_known_args(args, namespace)
        if extras:
            self.error(self._unrecognized(extras))
        problem = self.check(namespace) if self.check is not None else None
        if problem:
            self.error(problem)
        return namespace, extras

    def _unrecognized(self, extras: list[str]) -> str:
        flags = [flag for action in self._actions for flag in action.option_strings if flag.startswith("--")]
        hints = [
            f"{extra}: did you mean {' or '.join(like)}?"
            for extra in extras
            if extra.startswith("-") and (like := _flags_like(extra, flags))
        ]
        return f"unrecognized arguments: {' '.join(extras)}" + (f" ({'; '.join(hints)})" if hints else "")


class _LevelPrefix(logging.Formatter):
    """Format log records as one line, errors and warnings prefixed as the command prints them."""

    def format(self, record: logging.LogRecord) -> str:
        prefix = {logging.ERROR: "error: ", logging.WARNING: "warning: "}.get(record.levelno, "")
        return prefix + record.getMessage()


def _write_line(text: str) -> None:
    """Write a line on stderr above the progress bar (tqdm's ``write``), never inside it."""
    from tqdm import tqdm

    tqdm.write(text, file=sys.stderr)


class _LineHandler(logging.Handler):
    """Write each log record as a line of its own (see :func:`_write_line`)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            _write_line(self.format(record))
        except Exception:
            self.handleError(record)


@contextmanager
def _console(quiet: bool) -> Iterator[None]:
    """Print the library's log and warnings as one line each on stderr; hide TensorFlow's logs.

    Lines are written above the progress bar, not inside it. Warnings show without
    source lines; TensorFlow's native logs (e.g. its CUDA probe on machines without a
    GPU) are off unless ``TF_CPP_MIN_LOG_LEVEL`` is set, and its Python logger shows
    errors only.
    """
    quiet_tensorflow()
    tensorflow_logger = logging.getLogger("tensorflow")  # its Python-side warnings
    tensorflow_level = tensorflow_logger.level
    tensorflow_logger.setLevel(logging.ERROR)
    logger = logging.getLogger("openl3")
    handler = _LineHandler()
    handler.setFormatter(_LevelPrefix())
    saved = logger.level, logger.propagate
    logger.addHandler(handler)
    logger.setLevel(logging.ERROR if quiet else logging.INFO)
    logger.propagate = False

    def show(message: Any, category: type, filename: str, lineno: int, file: Any = None, line: Any = None):
        _write_line(f"warning: {message}")

    try:
        with warnings.catch_warnings():
            warnings.showwarning = show
            if quiet:
                warnings.simplefilter("ignore")
            yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(saved[0])
        tensorflow_logger.setLevel(tensorflow_level)
        logger.propagate = saved[1]


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
        with _console(args.quiet):
            embedder = _embedder(args.command, **_settings(args))
            run_files(
                embedder,
                inputs,
                args.output_dir,
                args.suffix,
                args.overwrite,
                errors,
                **_collection(args),
                report=report,
            )
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


def _collection(args: argparse.Namespace) -> dict:
    """Return the output settings of parsed ``audio|image|video`` arguments."""
    names = ("output_format", "dtype", "part_size_mb", "engine", "ray_address", "shard", "break_lock")
    return {name: getattr(args, name) for name in names}


def _settings(args: argparse.Namespace) -> dict:
    """Return the embedder settings of parsed ``audio|image|video`` arguments."""
    return {
        "input_repr": args.input_repr,
        "content_type": args.content_type,
        "audio_embedding_size": args.audio_embedding_size,
        "audio_center": not args.no_audio_centering,
        "audio_hop_size": args.audio_hop_size,
        "audio_batch_size": _batch_size(args.audio_batch_size),
        "image_embedding_size": args.image_embedding_size,
        "image_batch_size": _batch_size(args.image_batch_size),
        "audio_frontend": args.audio_frontend,
        "verbose": not args.quiet,
        "precision": args.precision,
    }


def _add_filters(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--modality", choices=["audio", "image"], help="only files of this modality")
    parser.add_argument("--input-repr", choices=INPUT_REPRS, help="only files of this input representation")
    parser.add_argument("--content-type", choices=CONTENT_TYPES, help="only files of this content type")


def _selected(args: argparse.Namespace) -> list[registry.WeightFile]:
    wanted = {"modality": args.modality, "input_repr": args.input_repr, "content_type": args.content_type}
    return [
        entry
        for entry in registry.REGISTRY.values()
        if all(value is None or getattr(entry, key) == value for key, value in wanted.items())
    ]


def _models_list(args: argparse.Namespace) -> int:
    for entry in _selected(args):
        state, path = store.status(entry)
        size = f"{os.path.getsize(path) / 1e6:7.1f} MB" if state != "missing" else "      -   "
        print(f"{state:11s} {size}  {path}")
    return EXIT_OK


def _models_download(args: argparse.Namespace) -> int:
    failed = 0
    for entry in _selected(args):
        if store.cache_status(entry)[0] == "cached":
            print(f"cached      {store.cached_path(entry)}")
            continue
        try:
            print(f"downloaded  {store.download(entry, progress=not args.quiet)}")
        except OpenL3Error as exc:
            print(f"error: {exc}", file=sys.stderr)
            failed += 1
    return EXIT_FAILED if failed else EXIT_OK


def _import_candidates(paths: Sequence[str]) -> list[str]:
    files = []
    for path in paths:
        if os.path.isdir(path):
            files += sorted(
                os.path.join(path, name)
                for name in os.listdir(path)
                if store.match_official(name) and os.path.isfile(os.path.join(path, name))
            )
        else:
            files.append(path)
    return files


def _models_import(args: argparse.Namespace) -> int:
    failed = 0
    files = _import_candidates(args.paths)
    if not files:
        print("error: no official weight files found in the given folders.", file=sys.stderr)
        return EXIT_FAILED
    for path in files:
        try:
            if not os.path.isfile(path):
                raise OpenL3Error(f"{path} does not exist.")
            print(f"imported    {store.import_file(path, verify=not args.no_verify)}")
        except OpenL3Error as exc:
            print(f"error: {exc}", file=sys.stderr)
            failed += 1
    return EXIT_FAILED if failed else EXIT_OK


def _models_verify(args: argparse.Namespace) -> int:
    bad = 0
    for entry in _selected(args):
        state, path = store.cache_status(entry)
        if state != "missing":
            bad += state != "cached"
            note = " (imported with --no-verify: not the official file)" if state == "unverified" else ""
            print(f"{'ok' if state == 'cached' else 'MISMATCH':12s}{path}{note}")
        user_path = store.find_in_weights_dir(entry)
        if user_path is not None:
            verdict, good = _verify_user_file(entry, user_path)
            bad += not good
            print(verdict)
    return EXIT_FAILED if bad else EXIT_OK


def _verify_user_file(entry: registry.WeightFile, path: str) -> tuple[str, bool]:
    """Return the ``models verify`` line of a file in the user's weights folder, and if it is good.

    A published ``.h5.gz`` is compared with its git blob id; a decompressed file has none,
    so it is read whole as a weight file of its tower ("unchecked" if it reads, "BAD" if
    it does not: not HDF5, a link to something else, truncated).
    """
    if path.endswith(".gz"):
        if store.git_blob_id(path) == entry.blob_id:
            return f"{'ok':12s}{path}", True
        return f"{'MISMATCH':12s}{path} (not the official file; used as it is)", False
    try:
        check_weight_file(path, AUDIO_TOWER if entry.modality == "audio" else IMAGE_TOWER)
    except OpenL3Error as exc:
        return f"{'BAD':12s}{path} ({exc})", False
    return f"{'unchecked':12s}{path} (decompressed: it reads whole; no published id to compare)", True


def _models_path(args: argparse.Namespace) -> int:
    print(f"cache: {store.cache_dir()}")
    print(f"{registry.WEIGHTS_DIR_ENV}: {os.environ.get(registry.WEIGHTS_DIR_ENV) or '(not set)'}")
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of the ``openl3`` command."""
    parser = _Parser(
        prog="openl3", description="Deep audio and image embeddings with the OpenL3 L3-Net models."
    )
    parser.add_argument("--version", action="version", version=f"openl3 {version}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
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
    models = commands.add_parser(
        "models",
        help="manage the official weight files",
        description="Manage the official OpenL3 v0_4_0 weight files: the cache "
        f"({store.CACHE_DIR_ENV}, else the OS user cache), downloads (from the official URL, or "
        f"{store.WEIGHTS_URL_ENV}) and the user's own directory ({registry.WEIGHTS_DIR_ENV}).",
    )
    actions = models.add_subparsers(dest="action", required=True, metavar="ACTION")
    for name, handler, text in (
        (
            "list",
            _models_list,
            f"each file: where it is taken from ({registry.WEIGHTS_DIR_ENV}: weights-dir; "
            "the cache: cached / corrupt / missing), size, path",
        ),
        (
            "download",
            _models_download,
            "download files into the cache (all, or filtered); a corrupt cached file is replaced",
        ),
        (
            "verify",
            _models_verify,
            f"check cached and {registry.WEIGHTS_DIR_ENV} files against the published ids",
        ),
        ("path", _models_path, "print the cache directory"),
    ):
        action = actions.add_parser(name, help=text, description=text)
        action.set_defaults(handler=handler)
        if name != "path":
            _add_filters(action)
        if name == "download":
            action.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    importer = actions.add_parser(
        "import", help="verify files (or folders of them) and copy them into the cache", description=None
    )
    importer.add_argument(
        "paths", nargs="+", metavar="PATH", help="published .h5.gz files, or folders of them"
    )
    importer.add_argument(
        "--no-verify", action="store_true", help="import files that do not match the published ids"
    )
    importer.set_defaults(handler=_models_import)
    _add_export(actions)
    return parser


def _add_export(actions: Any) -> None:
    """Add ``openl3 models export``."""
    from .export import FORMATS

    text = "export an embedding model (official weights) to SavedModel, ONNX or TFLite"
    exporter = actions.add_parser("export", help=text, description=text + " (see docs/export.md)")
    exporter.add_argument("--modality", required=True, choices=["audio", "image"])
    exporter.add_argument(
        "--input-repr", default=DEFAULT_INPUT_REPR, choices=INPUT_REPRS, help="default: mel256"
    )
    exporter.add_argument("--content-type", default="music", choices=CONTENT_TYPES, help="default: music")
    exporter.add_argument(
        "--embedding-size",
        type=int,
        choices=sorted({*AUDIO_TOWER.embedding_sizes, *IMAGE_TOWER.embedding_sizes}),
        help="default: 6144 (audio) or 8192 (image)",
    )
    exporter.add_argument("--format", required=True, choices=tuple(FORMATS))
    exporter.add_argument(
        "--weights", help="a weight file in the official layout (default: the official one)"
    )
    exporter.add_argument(
        "-o", "--output", required=True, help="the SavedModel folder, or the .onnx / .tflite file"
    )
    exporter.set_defaults(handler=_models_export)


def _models_export(args: argparse.Namespace) -> int:
    from .export import export_model

    try:
        with _console(quiet=True):
            path = export_model(
                args.output,
                args.modality,
                args.input_repr,
                args.content_type,
                args.embedding_size,
                args.format,
                args.weights,
            )
    except OpenL3Error as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    print(f"exported    {path}")
    return EXIT_OK


def parse_args(args: Sequence[str]) -> argparse.Namespace:
    """Parse the command's arguments as 0.4.2's ``parse_args``.

    For ``audio|image|video`` the namespace also has 0.4.2's ``modality`` attribute.
    Usage errors exit with status 2, as argparse does.
    """
    parsed = build_parser().parse_args(args)
    if parsed.command in MODALITIES:
        parsed.modality = parsed.command
    return parsed


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``openl3`` command on ``argv`` (default: ``sys.argv[1:]``); return its exit status."""
    try:
        try:
            args = parse_args(sys.argv[1:] if argv is None else argv)
        except SystemExit as exc:  # argparse exits 2 on usage errors, 0 for --help/--version
            return int(exc.code or 0)
        with sigint_stops_between_batches():
            return args.handler(args)
    except KeyboardInterrupt:
        print("openl3: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())

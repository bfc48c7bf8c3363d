"""The ``openl3`` command.

``openl3 audio|image|video INPUT...`` computes embeddings of files and folders, with
OpenL3 0.4.2's flags; ``openl3 models list|download|import|verify|path`` manages the
official weight files. Exit status: 0 on success, 1 when any file failed, 2 for usage
errors.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import warnings
from collections.abc import Sequence

from .exceptions import OpenL3Error
from .models import registry, store
from .validation import CONTENT_TYPES, INPUT_REPRS
from .version import version

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

#: File extensions taken from folders, per modality (a file named explicitly is always tried).
EXTENSIONS = {
    "audio": ("wav", "flac", "ogg", "oga", "opus", "mp3", "aif", "aiff", "au", "caf", "w64", "rf64"),
    "image": ("png", "jpg", "jpeg", "bmp", "gif", "tif", "tiff", "webp"),
    "video": ("mp4", "m4v", "mov", "avi", "mkv", "webm", "mpg", "mpeg", "wmv", "flv"),
}


def _defaults(function_name: str) -> dict:
    """Return the parameter defaults of an ``openl3.outputs`` function (one source of truth)."""
    import inspect

    from . import outputs

    signature = inspect.signature(getattr(outputs, function_name))
    return {
        name: p.default
        for name, p in signature.parameters.items()
        if p.default is not inspect.Parameter.empty
    }


def _positive(kind: type, text: str) -> float:
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive {kind.__name__}, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive {kind.__name__}, got {text!r}")
    return value


def _embedding_parent() -> argparse.ArgumentParser:
    """Return a parser holding 0.4.2's flags, shared by ``audio``, ``image`` and ``video``."""
    video = _defaults("process_video_file")
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("inputs", nargs="+", metavar="INPUT", help="files, or folders of files")
    parent.add_argument(
        "--output-dir", "-o", default=None, help="directory for the outputs (default: beside each input)"
    )
    parent.add_argument(
        "--suffix", "-x", default=None, help="appended to output names: <name>[_<suffix>].npz"
    )
    parent.add_argument(
        "--input-repr", "-i", default="mel256", choices=INPUT_REPRS, help="default: %(default)s"
    )
    parent.add_argument("--content-type", "-c", default=video["content_type"], choices=CONTENT_TYPES)
    parent.add_argument(
        "--audio-embedding-size", "-as", type=int, default=video["audio_embedding_size"], choices=(6144, 512)
    )
    parent.add_argument(
        "--no-audio-centering", "-n", action="store_true", help="timestamps are window starts"
    )
    parent.add_argument(
        "--audio-hop-size",
        "-t",
        type=lambda t: _positive(float, t),
        default=video["audio_hop_size"],
        help="seconds",
    )
    parent.add_argument(
        "--audio-batch-size", "-ab", type=lambda t: _positive(int, t), default=video["audio_batch_size"]
    )
    parent.add_argument(
        "--image-embedding-size", "-is", type=int, default=video["image_embedding_size"], choices=(8192, 512)
    )
    parent.add_argument(
        "--image-batch-size", "-ib", type=lambda t: _positive(int, t), default=video["image_batch_size"]
    )
    parent.add_argument(
        "--audio-frontend", "-af", default=video["audio_frontend"], choices=("kapre", "librosa")
    )
    parent.add_argument("--overwrite", "-ow", action="store_true", help="recompute existing outputs")
    parent.add_argument("--quiet", "-q", action="store_true", help="print errors only")
    parent.add_argument("--recursive", "-r", action="store_true", help="also take files in subfolders")
    parent.add_argument("--fail-fast", action="store_true", help="stop at the first input that fails")
    return parent


def _collect_inputs(paths: Sequence[str], modality: str, recursive: bool) -> tuple[list[str], list[str]]:
    """Return (files to process, missing paths): folders give their supported files."""
    files, missing = [], []
    extensions = tuple("." + e for e in EXTENSIONS[modality])
    for path in paths:
        if os.path.isdir(path):
            walk = os.walk(path) if recursive else [(path, [], os.listdir(path))]
            for folder, _, names in walk:
                files += sorted(
                    os.path.join(folder, n)
                    for n in names
                    if n.lower().endswith(extensions) and os.path.isfile(os.path.join(folder, n))
                )
        elif os.path.exists(path):
            files.append(path)
        else:
            missing.append(path)
    return files, missing


def _run_embeddings(args: argparse.Namespace) -> int:
    from . import outputs

    if args.quiet:  # only errors: also TensorFlow's native log lines and Python warnings
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
        warnings.simplefilter("ignore")
    else:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    logging.getLogger("openl3").setLevel(logging.ERROR if args.quiet else logging.INFO)
    files, missing = _collect_inputs(args.inputs, args.command, args.recursive)
    for path in missing:
        print(f"error: {path}: no such file or directory", file=sys.stderr)
    if missing and args.fail_fast:
        return EXIT_FAILED
    if not files:
        print(f"error: no {args.command} files found in {' '.join(args.inputs)}", file=sys.stderr)
        return EXIT_FAILED
    common = {
        "output_dir": args.output_dir,
        "suffix": args.suffix,
        "input_repr": args.input_repr,
        "content_type": args.content_type,
        "overwrite": args.overwrite,
        "verbose": not args.quiet,
        "errors": "raise" if args.fail_fast else "collect",
    }
    audio = {"center": not args.no_audio_centering, "hop_size": args.audio_hop_size}
    try:
        if args.command == "audio":
            report = outputs.process_audio_file(
                files,
                embedding_size=args.audio_embedding_size,
                batch_size=args.audio_batch_size,
                frontend=args.audio_frontend,
                **audio,
                **common,
            )
        elif args.command == "image":
            report = outputs.process_image_file(
                files, embedding_size=args.image_embedding_size, batch_size=args.image_batch_size, **common
            )
        else:
            report = outputs.process_video_file(
                files,
                audio_embedding_size=args.audio_embedding_size,
                audio_center=audio["center"],
                audio_hop_size=audio["hop_size"],
                image_embedding_size=args.image_embedding_size,
                audio_batch_size=args.audio_batch_size,
                image_batch_size=args.image_batch_size,
                audio_frontend=args.audio_frontend,
                **common,
            )
    except OpenL3Error as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    failed = len(report.failed) + len(missing)
    if not args.quiet or failed:
        print(
            f"openl3 {args.command}: {len(report.processed)} processed, {len(report.skipped)} skipped "
            f"(outputs exist), {failed} failed",
            file=sys.stderr,
        )
    return EXIT_FAILED if failed else EXIT_OK


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
        print(f"{state:8s} {size}  {path}")
    return EXIT_OK


def _models_download(args: argparse.Namespace) -> int:
    failed = 0
    for entry in _selected(args):
        if store.status(entry)[0] == "cached":
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
        state, path = store.status(entry)
        if state != "missing":
            bad += state == "corrupt"
            print(f"{'ok' if state == 'cached' else 'MISMATCH':12s}{path}")
        user_path = store.find_in_weights_dir(entry)
        if user_path is None:
            continue
        if not user_path.endswith(".gz"):
            print(f"{'unchecked':12s}{user_path} (decompressed: no published id to compare)")
        elif store.git_blob_id(user_path) == entry.blob_id:
            print(f"{'ok':12s}{user_path}")
        else:
            bad += 1
            print(f"{'MISMATCH':12s}{user_path} (not the official file; used as it is)")
    return EXIT_FAILED if bad else EXIT_OK


def _models_path(args: argparse.Namespace) -> int:
    print(f"cache: {store.cache_dir()}")
    print(f"{registry.WEIGHTS_DIR_ENV}: {os.environ.get(registry.WEIGHTS_DIR_ENV) or '(not set)'}")
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of the ``openl3`` command."""
    parser = argparse.ArgumentParser(
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
        ("list", _models_list, "each file: cached / missing / corrupt, size, path"),
        ("download", _models_download, "download files into the cache (all, or filtered)"),
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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``openl3`` command; return its exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on usage errors, 0 for --help/--version
        return int(exc.code or 0)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())

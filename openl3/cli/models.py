"""The ``models`` subcommands: the official weight files and exported models.

``list``, ``path``, ``download``, ``import`` and ``verify`` manage the weight files
(:mod:`openl3.models.store`: the cache, downloads and the user's ``OPENL3_WEIGHTS_DIR``);
``random`` writes seeded random weights in the official layout, to try every command
without the official files (:mod:`openl3.models.random_weights`); ``export`` writes a model
for other runtimes (:mod:`openl3.models.export`).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from .._util.exceptions import OpenL3Error
from ..models import registry, store
from ..models.export import FORMATS, export_model
from ..models.random_weights import (
    DEFAULT_CONTENT_TYPES,
    DEFAULT_INPUT_REPRS,
    DEFAULT_MODALITIES,
    write_random_weights,
)
from ..models.specs import AUDIO_TOWER, CONTENT_TYPES, DEFAULT_INPUT_REPR, IMAGE_TOWER, INPUT_REPRS
from ..models.weights import check_weight_file
from .console import EXIT_FAILED, EXIT_OK, _console


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Add the ``models`` subcommand and its actions to the command's subparsers."""
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
    _add_random(actions)
    _add_export(actions)


def _add_random(actions: argparse._SubParsersAction) -> None:
    text = (
        "write seeded random weights in the official layout into DIR, named as "
        f"{registry.WEIGHTS_DIR_ENV} takes them: every command then runs without the official files "
        "(what they embed is recorded as made with these weights, by SHA-256, never as OpenL3's)"
    )
    random = actions.add_parser("random", help="write seeded random weights to try openl3", description=text)
    random.add_argument(
        "folder", metavar="DIR", help=f"the folder to write (then {registry.WEIGHTS_DIR_ENV}=DIR)"
    )
    random.add_argument("--seed", type=int, default=0, help="seed of the values (default: 0)")
    random.add_argument(
        "--modality",
        nargs="+",
        choices=["audio", "image"],
        default=list(DEFAULT_MODALITIES),
        help="default: both",
    )
    random.add_argument(
        "--input-repr",
        nargs="+",
        choices=INPUT_REPRS,
        default=list(DEFAULT_INPUT_REPRS),
        help=f"default: {' '.join(DEFAULT_INPUT_REPRS)}",
    )
    random.add_argument(
        "--content-type",
        nargs="+",
        choices=CONTENT_TYPES,
        default=list(DEFAULT_CONTENT_TYPES),
        help=f"default: {' '.join(DEFAULT_CONTENT_TYPES)}",
    )
    random.set_defaults(handler=_models_random)


def _models_random(args: argparse.Namespace) -> int:
    try:
        paths = write_random_weights(
            args.folder, args.seed, args.modality, args.input_repr, args.content_type
        )
    except (OpenL3Error, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    for path in paths:
        print(path)
    print(f"then: export {registry.WEIGHTS_DIR_ENV}={os.path.abspath(args.folder)}", file=sys.stderr)
    return EXIT_OK


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


def _add_export(actions: argparse._SubParsersAction) -> None:
    """Add ``openl3 models export``."""
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

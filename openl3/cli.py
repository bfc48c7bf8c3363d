"""The ``openl3`` command.

``openl3 models list|download|import|verify|path`` manages the official weight files.
Exit status: 0 on success, 1 when any file failed, 2 for usage errors.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from .exceptions import OpenL3Error
from .models import registry, store
from .validation import CONTENT_TYPES, INPUT_REPRS
from .version import version

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


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
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())

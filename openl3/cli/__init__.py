"""The ``openl3`` command.

``openl3 audio|image|video INPUT...`` computes embeddings of files and folders, with
OpenL3 0.4.2's flags; ``openl3 models list|download|import|verify|path`` manages the
official weight files, and ``openl3 models export`` writes a model for other runtimes.
Exit status: 0 on success, 1 when any file failed, 2 for usage errors, 130 when
interrupted (Ctrl-C).

OpenL3 0.4.2's names in this module (``positive_int``, ``positive_float``,
``get_file_list``, ``parse_args``, ``run``, ``main``) keep their 0.4.2 behaviour.

The package: :mod:`~openl3.cli.embed` (``audio``, ``image``, ``video``),
:mod:`~openl3.cli.models` (``models``), :mod:`~openl3.cli.classify` (``classify train|predict``:
classifiers on embeddings), :mod:`~openl3.cli.search` (``index``, ``search``,
``map``: similar moments and a map of a dataset), :mod:`~openl3.cli.compat` (0.4.2's names) and
:mod:`~openl3.cli.console` (what a run prints); this module builds the parser and runs it.
"""

from __future__ import annotations

import argparse
import difflib
import sys
from collections.abc import Callable, Sequence
from typing import Any

from .._util.interrupt import sigint_stops_between_batches
from ..version import version
from . import classify, embed, models, search
from .compat import MODALITIES, get_file_list, positive_float, positive_int, run
from .console import EXIT_INTERRUPTED

__all__ = ["build_parser", "get_file_list", "main", "parse_args", "positive_float", "positive_int", "run"]


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of the ``openl3`` command.

    Examples
    --------
    >>> parser = build_parser()
    >>> parser.parse_args(["audio", "a.wav", "-o", "out"]).output_dir
    'out'
    """
    parser = _Parser(
        prog="openl3", description="Deep audio and image embeddings with the OpenL3 L3-Net models."
    )
    parser.add_argument("--version", action="version", version=f"openl3 {version}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    embed.add_commands(commands)
    models.add_commands(commands)
    classify.add_commands(commands)
    search.add_commands(commands)
    return parser


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


def parse_args(args: Sequence[str]) -> argparse.Namespace:
    """Parse the command's arguments as 0.4.2's ``parse_args``.

    For ``audio|image|video`` the namespace also has 0.4.2's ``modality`` attribute.
    Usage errors exit with status 2, as argparse does.

    Examples
    --------
    >>> args = parse_args(["audio", "a.wav", "--audio-hop-size", "0.5"])
    >>> args.modality, args.audio_hop_size
    ('audio', 0.5)
    """
    parsed = build_parser().parse_args(args)
    if parsed.command in MODALITIES:
        parsed.modality = parsed.command
    return parsed


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``openl3`` command on ``argv`` (default: ``sys.argv[1:]``); return its exit status.

    Examples
    --------
    >>> main(["audio", "clips/", "-o", "out", "-r", "-q"])      # as the command ``openl3`` runs it
    0
    """
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

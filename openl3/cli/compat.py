"""OpenL3 0.4.2's ``openl3.cli`` names, with their 0.4.2 behaviour.

``positive_float`` and ``positive_int`` (argparse types), ``get_file_list`` and ``run``
are here; the subcommands build on them (their flags' types, folder listing and the
embedder of a run). 0.4.2's ``parse_args`` and ``main`` need the whole parser: they are
in :mod:`openl3.cli`, which hands all six names on.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import Iterable, Iterator
from typing import Any

from .._util.exceptions import InvalidArgumentError, OpenL3Error
from .._util.jobs import folder_files
from ..embedders import VideoEmbedder
from ..runs.driver import FileInput, RunOptions, run_files
from ..video.compute import audio_embedder, image_embedder

MODALITIES = ("audio", "image", "video")


def positive_float(value: Any) -> float:
    """Return ``value`` as a float if it is a finite number greater than zero (argparse type).

    Raises
    ------
    argparse.ArgumentTypeError
        Otherwise (0.4.2 also let NaN and infinity through; they are refused here).

    Examples
    --------
    >>> positive_float("0.5")
    0.5
    >>> positive_float("0")
    Traceback (most recent call last):
    ...
    argparse.ArgumentTypeError: Expected a positive float, got '0'
    """
    try:
        number = float(value)
    except (ValueError, TypeError) as exc:
        raise argparse.ArgumentTypeError(f"Expected a positive float, error message: {exc}") from None
    if not math.isfinite(number) or number <= 0:
        raise argparse.ArgumentTypeError(f"Expected a positive float, got {value!r}")
    return number


def positive_int(value: Any) -> int:
    """Return ``value`` as an int if it is greater than zero (argparse type).

    Raises
    ------
    argparse.ArgumentTypeError
        Otherwise.

    Examples
    --------
    >>> positive_int("32")
    32
    >>> positive_int("-1")
    Traceback (most recent call last):
    ...
    argparse.ArgumentTypeError: Expected a positive int, got '-1'
    """
    try:
        number = int(value)
    except (ValueError, TypeError, OverflowError) as exc:
        raise argparse.ArgumentTypeError(f"Expected a positive int, error message: {exc}") from None
    if number <= 0:
        raise argparse.ArgumentTypeError(f"Expected a positive int, got {value!r}")
    return number


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

    Examples
    --------
    >>> get_file_list(["birds/", "extra/crow.wav"])    # the files of birds/ (not its subfolders), then crow
    ['/data/birds/jay.wav', '/data/birds/wren.wav', '/data/extra/crow.wav']
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
    for path, relative in folder_files(folder, extensions, recursive):
        yield path, output_dir if not output_dir or relative == "." else os.path.join(output_dir, relative)


def _embedder(modality: str, **settings: Any) -> Any:
    """Return the embedder of ``modality`` for the command's settings (``run``'s arguments).

    Every modality reads the settings the same way, through the functions video files
    use for their two halves (and names the flags in its errors).
    """
    if modality not in MODALITIES:
        raise InvalidArgumentError(f"Invalid modality {modality!r}: expected one of {', '.join(MODALITIES)}.")
    build = {"audio": audio_embedder, "image": image_embedder, "video": VideoEmbedder}[modality]
    return build(**settings)


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

    Examples
    --------
    >>> run("audio", ["a.wav", "b.wav"], output_dir="out", input_repr="mel128", audio_embedding_size=512)
    """
    if isinstance(inputs, str):
        files = [inputs]
    elif isinstance(inputs, Iterable):
        files = get_file_list(inputs)
    else:
        raise InvalidArgumentError(f"Invalid input: {inputs}")
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
    options = RunOptions(output_dir=output_dir, suffix=suffix, overwrite=overwrite, errors="raise")
    run_files(embedder, [(path, output_dir) for path in files], options)
    if verbose:
        print("openl3: Done!")

"""The embeddings a classifier works on: settings, a dataset that keeps them, pooled features.

A classifier is trained and applied on one set of embedding settings (modality, input
representation, content type, embedding size, hop size...). The embeddings of its files
live in a Parquet dataset: files already there are read back (nothing recomputed), the
others are embedded into it first, and a dataset made with other settings is refused.
"""

from __future__ import annotations

import inspect
import logging
import os
import tempfile
import warnings
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

from .._util.exceptions import OpenL3Error, OpenL3Warning
from .._util.jobs import EXTENSIONS, folder_files
from .._util.remote import is_uri
from ..dataset.parts import PartFolder
from ..dataset.rows import MODALITY_FOLDERS, DatasetRows, EmbeddingRows
from ..embedders import AudioEmbedder, ImageEmbedder
from ..models.specs import DEFAULT_INPUT_REPR
from .labels import first_few, match_paths, path_key, unmatched_paths
from .pooling import pool_rows

logger = logging.getLogger("openl3")

#: The settings that make the embeddings of each modality.
SETTING_NAMES = {
    "audio": ("input_repr", "content_type", "embedding_size", "hop_size", "center", "frontend", "precision"),
    "image": ("input_repr", "content_type", "embedding_size", "precision"),
}


def _defaults(build: Any, names: tuple[str, ...]) -> dict[str, Any]:
    """Return the defaults of the parameters ``names`` of ``build`` (one source of truth)."""
    parameters = inspect.signature(build).parameters
    return {name: parameters[name].default for name in names}


#: The settings of each modality with their defaults: the embedders' (0.4.2's).
DEFAULT_SETTINGS: dict[str, dict[str, Any]] = {
    "audio": {**_defaults(AudioEmbedder, SETTING_NAMES["audio"]), "input_repr": DEFAULT_INPUT_REPR},
    "image": _defaults(ImageEmbedder, SETTING_NAMES["image"]),
}


def make_embedder(settings: dict[str, Any], batch_size: int = 32, verbose: bool = False) -> Any:
    """Return the embedder of ``settings`` (its model loads on first use)."""
    modality = settings.get("modality", "audio")
    if modality not in DEFAULT_SETTINGS:
        raise OpenL3Error(f"Invalid modality {modality!r}: use audio or image.")
    known = {k: v for k, v in settings.items() if k in DEFAULT_SETTINGS[modality]}
    build = AudioEmbedder if modality == "audio" else ImageEmbedder
    return build(**known, batch_size=batch_size, verbose=verbose)


def embedding_settings(modality: str = "audio", **given: Any) -> dict[str, Any]:
    """Return the full, checked settings of embeddings: ``given`` ones, the defaults for the rest.

    Raises
    ------
    OpenL3Error
        For an unknown setting or modality, or an invalid value (named as the embedders name it).
    """
    if modality not in DEFAULT_SETTINGS:
        raise OpenL3Error(f"Invalid modality {modality!r}: use audio or image.")
    unknown = sorted(set(given) - set(DEFAULT_SETTINGS[modality]))
    if unknown:
        raise OpenL3Error(
            f"Unknown {modality} embedding settings: {', '.join(unknown)} "
            f"(known: {', '.join(DEFAULT_SETTINGS[modality])})."
        )
    settings = {**DEFAULT_SETTINGS[modality], **{k: v for k, v in given.items() if v is not None}}
    return make_embedder({"modality": modality, **settings}).settings()


def check_settings(found: dict[str, Any], wanted: dict[str, Any], where: str) -> None:
    """Refuse embeddings made with other settings than ``wanted``, naming ``where`` they are.

    Only the settings that make embeddings are compared (not the storage type nor the
    version that wrote them).
    """
    differences = [
        f"{key}={found.get(key)!r} (wanted {value!r})"
        for key, value in wanted.items()
        if found.get(key) != value
    ]
    if differences:
        raise OpenL3Error(f"{where} holds embeddings made with other settings: {', '.join(differences)}.")


def has_rows(location: str) -> bool:
    """Whether ``location`` is a dataset folder with rows (a folder not yet written has none)."""
    if not is_uri(location) and not os.path.isdir(location):
        return False
    top = PartFolder(location)
    return bool(top.parts()) or any(top.child(name).parts() for name in MODALITY_FOLDERS)


def open_dataset(location: str | None, modality: str | None = None) -> DatasetRows | None:
    """Return the rows of dataset ``location``, or None if it has none yet."""
    if location is None or not has_rows(location):
        return None
    return DatasetRows(location, modality)


def dataset_settings(location: str | None, modality: str) -> dict[str, Any] | None:
    """Return the embedding settings of the rows of dataset ``location``, or None if it has none."""
    rows = open_dataset(location, modality)
    if rows is None:
        return None
    names = DEFAULT_SETTINGS.get(rows.modality or modality, {})
    return {
        "modality": rows.modality or modality,
        **{k: rows.settings[k] for k in names if k in rows.settings},
    }


def media_files(inputs: Sequence[str], modality: str) -> list[str]:
    """Return the files of ``inputs``: files as given, folders' files of ``modality`` (recursive).

    Raises
    ------
    OpenL3Error
        Naming an input that does not exist.
    """
    files: list[str] = []
    extensions = tuple("." + e for e in EXTENSIONS[modality])
    for path in inputs:
        if os.path.isdir(path):
            files += [name for name, _ in folder_files(path, extensions, recursive=True)]
        elif is_uri(path) or os.path.isfile(path):
            files.append(path)
        else:
            raise OpenL3Error(f"{path}: no such file or folder.")
    return files


class Embedded(NamedTuple):
    """The rows of files asked of an :class:`EmbeddingStore`, and the files left out.

    Attributes
    ----------
    positions : list of int
        The positions, among the paths asked for, of the files that have rows (all of
        them unless files were left out).
    names : list of str
        The dataset's name of each of those files, in their order.
    rows : EmbeddingRows
        Their rows.
    failed : list of dict
        ``{"path": ..., "reason": ...}`` of each file that could not be embedded and was
        left out (only with ``skip_failed``).
    """

    positions: list[int]
    names: list[str]
    rows: EmbeddingRows
    failed: list[dict[str, str]]


class EmbeddingStore:
    """The embeddings of files with ``settings``, kept in the dataset at ``location``.

    Parameters
    ----------
    settings : dict
        Full embedding settings (:func:`embedding_settings`).
    location : str or None
        The dataset folder; None keeps the embeddings in a temporary folder for one call.
    batch_size : int
        Windows per model call when files are embedded.
    verbose : bool
        Whether to show progress while embedding.
    skip_failed : bool
        Leave out the files that cannot be embedded, with an :class:`~openl3.OpenL3Warning`
        naming them (False: refuse them with an :class:`~openl3.OpenL3Error`).
    """

    def __init__(
        self,
        settings: dict[str, Any],
        location: str | None,
        batch_size: int = 32,
        verbose: bool = False,
        skip_failed: bool = False,
    ):
        self.settings, self.location = settings, location
        self.batch_size, self.verbose, self.skip_failed = batch_size, verbose, skip_failed
        found = dataset_settings(location, settings["modality"])
        if found is not None:
            check_settings(found, settings, f"Dataset {location}")

    def embedded(self, paths: Sequence[str], source: str = "inputs") -> Embedded:
        """Return the rows of ``paths``, embedding the files not there yet, and the files left out."""
        if self.location is None:
            with tempfile.TemporaryDirectory(prefix="openl3-classify-") as folder:
                return self._rows(paths, os.path.join(folder, "embeddings"), source)
        return self._rows(paths, self.location, source)

    def rows(self, paths: Sequence[str], source: str = "inputs") -> tuple[list[str], EmbeddingRows]:
        """Return the dataset's names of ``paths`` and their rows, embedding the files not there yet.

        With ``skip_failed``, the names are those of the files not left out (see :meth:`embedded`).
        """
        found = self.embedded(paths, source)
        return found.names, found.rows

    def features(self, paths: Sequence[str], pooling: str, source: str = "inputs") -> np.ndarray:
        """Return one pooled feature row per file of ``paths``, in their order."""
        names, rows = self.rows(paths, source)
        return pooled_features(names, rows, pooling)

    def _rows(self, paths: Sequence[str], location: str, source: str) -> Embedded:
        dataset = open_dataset(location, self.settings["modality"])
        held = [] if dataset is None else dataset.table(["path"])["path"].unique().to_pylist()
        missing = list({path_key(p): p for p in unmatched_paths(paths, held)}.values())  # each file once
        failed: list[dict[str, str]] = []
        if missing:
            failed = self._embed(missing, location)
        if len(failed) < len(missing):
            dataset = DatasetRows(location, self.settings["modality"])
            check_settings(dataset.settings, self.settings, f"Dataset {location}")
            held = dataset.table(["path"])["path"].unique().to_pylist()
        left_out = {path_key(item["path"]) for item in failed}
        positions = [i for i, path in enumerate(paths) if path_key(path) not in left_out]
        if failed and not positions:
            raise OpenL3Error(f"{source}: no file could be embedded: {_reasons(failed)}.")
        if dataset is None:
            raise OpenL3Error(f"{source}: no files to embed.")
        names = match_paths([paths[i] for i in positions], held, source)
        return Embedded(positions, names, dataset.rows(list(dict.fromkeys(names))), failed)

    def _embed(self, paths: list[str], location: str) -> list[dict[str, str]]:
        """Embed ``paths`` into the dataset at ``location``; refuse files that fail, or return them.

        With ``skip_failed``, the files that fail are returned (``{"path", "reason"}``) and named
        in a warning; otherwise they are refused. Either way the embedder logs each one's reason.
        """
        logger.info("Embedding %d files into %s", len(paths), location)
        embedder = make_embedder(self.settings, self.batch_size, self.verbose)
        report = embedder.embed_files(paths, output_dir=location, output_format="parquet", errors="collect")
        failed = [{"path": path, "reason": reason} for path, reason in report.failed]
        if failed and not self.skip_failed:
            raise OpenL3Error(f"{files(len(failed))} could not be embedded: {_reasons(failed)}.")
        if failed:
            verb = "is" if len(failed) == 1 else "are"
            message = f"{files(len(failed))} could not be embedded and {verb} left out: {_reasons(failed)}."
            warnings.warn(message, OpenL3Warning, stacklevel=2)
        return failed


def files(count: int) -> str:
    """Return "1 file" or "N files"."""
    return "1 file" if count == 1 else f"{count} files"


def _reasons(failed: list[dict[str, str]]) -> str:
    """Return the reasons of the first five failed files, and how many more there are."""
    return first_few([item["reason"].rstrip(".") for item in failed], 5, "; ")


def pooled_features(names: Sequence[str], rows: EmbeddingRows, pooling: str) -> np.ndarray:
    """Return one pooled feature row per file of ``names`` (the dataset's names), in their order."""
    inputs, features = pool_rows(rows, pooling)
    position = {name: i for i, name in enumerate(inputs)}
    return features[[position[name] for name in names]]

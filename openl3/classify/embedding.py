"""The embeddings a classifier works on: settings, a dataset that keeps them, pooled features.

A classifier is trained and applied on one set of embedding settings
(:class:`~openl3.models.settings.EmbeddingSettings`: modality, input representation,
content type, embedding size, hop size, the layer, the precision and the weights, as
computed). The embeddings of its files live in a Parquet dataset: files already there (the
same files, however named) are read back, nothing recomputed; the others are embedded into
it first; and a dataset made with other settings is refused, naming each difference.
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

from .._util.exceptions import InvalidArgumentError, OpenL3Error, OpenL3Warning
from .._util.identity import file_identity
from .._util.jobs import EXTENSIONS, failure_reason, folder_files
from .._util.remote import is_uri
from ..dataset.parts import PartFolder
from ..dataset.rows import MODALITY_FOLDERS, DatasetRows, EmbeddingRows
from ..embedders import AudioEmbedder, ImageEmbedder, embedder_for
from ..models.settings import ARGUMENTS, EmbeddingSettings
from ..models.specs import DEFAULT_INPUT_REPR
from .labels import counted, first_few, match_paths, unmatched_paths
from .pooling import pool_rows

logger = logging.getLogger("openl3")

#: The settings a classifier takes for each modality: those of the embedders' constructors,
#: and the weight file (``weights``: a path, for weights other than the official ones).
SETTING_NAMES = {modality: (*names, "weights") for modality, names in ARGUMENTS.items()}


def _defaults(build: Any, names: tuple[str, ...]) -> dict[str, Any]:
    """Return the defaults of the parameters ``names`` of ``build`` (one source of truth)."""
    parameters = inspect.signature(build).parameters
    return {name: parameters[name].default for name in names}


#: The settings of each modality with their defaults: the embedders' (0.4.2's).
DEFAULT_SETTINGS: dict[str, dict[str, Any]] = {
    "audio": {**_defaults(AudioEmbedder, SETTING_NAMES["audio"]), "input_repr": DEFAULT_INPUT_REPR},
    "image": _defaults(ImageEmbedder, SETTING_NAMES["image"]),
}


def check_modality(modality: Any) -> str:
    """Return ``modality`` if a classifier can work on it ("audio" or "image"), else raise."""
    if modality not in DEFAULT_SETTINGS:
        raise InvalidArgumentError(f"Invalid modality {modality!r}: use audio or image.")
    return modality


def embedding_settings(modality: str = "audio", **given: Any) -> EmbeddingSettings:
    """Return the full settings of embeddings, as computed: ``given`` ones, the defaults for the rest.

    Parameters
    ----------
    modality : {"audio", "image"}
    **given
        Settings of :data:`SETTING_NAMES` (None: the default), ``weights`` a weight file.

    Returns
    -------
    EmbeddingSettings
        What an embedder of these settings computes here (the precision resolved, the
        weights named by the official file's name or a SHA-256).

    Raises
    ------
    OpenL3Error
        For an unknown setting or modality, or an invalid value (named as the embedders name it).

    Examples
    --------
    >>> settings = embedding_settings("audio", input_repr="mel128", embedding_size=512)
    >>> settings.input_repr, settings.embedding_size, settings.hop_size
    ('mel128', 512, 0.1)
    """
    return make_embedder(modality, **given).settings()


def make_embedder(modality: str, batch_size: int = 32, verbose: bool = False, **given: Any) -> Any:
    """Return the embedder of the arguments ``given`` (over the defaults), its model loaded on first use.

    Arguments, as the embedders' constructors take them (what a user asks for, ``"fast"``
    included); recorded settings build theirs with :func:`openl3.embedders.embedder_for`.
    """
    check_modality(modality)
    unknown = sorted(set(given) - set(DEFAULT_SETTINGS[modality]))
    if unknown:
        raise InvalidArgumentError(
            f"Unknown {modality} embedding settings: {', '.join(unknown)} "
            f"(known: {', '.join(DEFAULT_SETTINGS[modality])})."
        )
    settings = {**DEFAULT_SETTINGS[modality], **{k: v for k, v in given.items() if v is not None}}
    build = AudioEmbedder if modality == "audio" else ImageEmbedder
    return build(**settings, batch_size=batch_size, verbose=verbose)


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


def dataset_settings(location: str | None, modality: str) -> tuple[EmbeddingSettings, str | None] | None:
    """Return the settings of the rows of dataset ``location`` and its weight file; None if it has no rows."""
    rows = open_dataset(location, modality)
    return None if rows is None else (rows.settings, rows.weights_file)


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
    settings : EmbeddingSettings
        Full embedding settings (:func:`embedding_settings`, or a classifier's).
    location : str or None
        The dataset folder; None keeps the embeddings in a temporary folder for one call.
    batch_size : int
        Windows per model call when files are embedded.
    verbose : bool
        Whether to show progress while embedding.
    skip_failed : bool
        Leave out the files that cannot be embedded, with an :class:`~openl3.OpenL3Warning`
        naming them (False: refuse them with an :class:`~openl3.OpenL3Error`).
    weights : str or None
        The weight file of settings made with weights other than the official ones
        (default: the one the dataset records).

    Raises
    ------
    OpenL3Error
        If the dataset holds embeddings made with other settings.

    Examples
    --------
    >>> settings = embedding_settings("audio", input_repr="mel128", embedding_size=512)
    >>> store = EmbeddingStore(settings, "birds.l3")
    >>> features = store.features(["sounds/crow/1.wav", "sounds/wren/1.wav"], "mean")   # (2, 512)
    """

    def __init__(
        self,
        settings: EmbeddingSettings,
        location: str | None,
        batch_size: int = 32,
        verbose: bool = False,
        skip_failed: bool = False,
        weights: str | None = None,
    ):
        self.settings, self.location, self.weights = settings, location, weights
        self.batch_size, self.verbose, self.skip_failed = batch_size, verbose, skip_failed
        found = open_dataset(location, settings.modality)
        if found is not None:
            self._check(found)
            self.weights = weights or found.weights_file

    def _check(self, dataset: DatasetRows) -> None:
        dataset.settings.check_same(
            self.settings,
            f"Dataset {dataset.location} holds embeddings made with other settings",
            "Use another dataset folder (--dataset), or the settings of this one.",
        )

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
        dataset = open_dataset(location, self.settings.modality)
        missing = list({file_identity(p): p for p in unmatched_paths(paths, dataset)}.values())  # each once
        failed: list[dict[str, str]] = []
        if missing:
            failed = self._embed(missing, location)
        if len(failed) < len(missing):
            dataset = DatasetRows(location, self.settings.modality)
            self._check(dataset)
        left_out = {file_identity(item["path"]) for item in failed}
        positions = [i for i, path in enumerate(paths) if file_identity(path) not in left_out]
        if failed and not positions:
            raise OpenL3Error(f"{source}: no file could be embedded: {_reasons(failed)}.")
        if dataset is None:
            raise OpenL3Error(f"{source}: no files to embed.")
        names = match_paths([paths[i] for i in positions], dataset, source)
        return Embedded(positions, names, dataset.rows(list(dict.fromkeys(names))), failed)

    def _embed(self, paths: list[str], location: str) -> list[dict[str, str]]:
        """Embed ``paths`` into the dataset at ``location``; refuse files that fail, or return them.

        Without ``skip_failed``, every file is opened first and the files that cannot be
        are refused before anything is embedded; those that fail later are refused too.
        With it, the files that fail are returned (``{"path", "reason"}``) and named in a
        warning.
        """
        embedder = embedder_for(self.settings, self.weights, batch_size=self.batch_size, verbose=self.verbose)
        if not self.skip_failed:
            self._refuse(self._unreadable(embedder, paths), "so nothing was embedded")
        logger.info("Embedding %d files into %s", len(paths), location)
        report = embedder.embed_files(paths, output_dir=location, output_format="parquet", errors="collect")
        failed = [{"path": path, "reason": reason} for path, reason in report.failed]
        if not self.skip_failed:
            self._refuse(failed, "")
        if failed:
            verb = "is" if len(failed) == 1 else "are"
            count = counted(len(failed), "file")
            message = f"{count} could not be embedded and {verb} left out: {_reasons(failed)}."
            warnings.warn(message, OpenL3Warning, stacklevel=2)
        return failed

    @staticmethod
    def _unreadable(embedder: Any, paths: list[str]) -> list[dict[str, str]]:
        """Return the files of ``paths`` that cannot be opened (their header read), with why."""
        failed = []
        with warnings.catch_warnings():  # short or silent files warn when they are embedded
            warnings.simplefilter("ignore", OpenL3Warning)
            for path in paths:
                try:
                    embedder.open_file(path)
                except Exception as exc:  # a decoder's own error is the file's too
                    failed.append({"path": path, "reason": failure_reason(path, exc)})
        return failed

    @staticmethod
    def _refuse(failed: list[dict[str, str]], what: str) -> None:
        if failed:
            verb = "cannot be read" if what else "could not be embedded"
            raise OpenL3Error(
                f"{counted(len(failed), 'file')} {verb}{', ' + what if what else ''}: {_reasons(failed)}. "
                "Leave out the files that cannot be embedded with --skip-failed (skip_failed=True)."
            )


def _reasons(failed: list[dict[str, str]]) -> str:
    """Return the reasons of the first five failed files, and how many more there are."""
    return first_few([item["reason"].rstrip(".") for item in failed], 5, "; ")


def pooled_features(names: Sequence[str], rows: EmbeddingRows, pooling: str) -> np.ndarray:
    """Return one pooled feature row per file of ``names`` (the dataset's names), in their order."""
    inputs, features = pool_rows(rows, pooling)
    position = {name: i for i, name in enumerate(inputs)}
    return features[[position[name] for name in names]]

"""OpenL3 0.4.2's outputs: one ``.npz`` file per input, named as 0.4.2 names them, written whole."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from .._util.atomic import remove_stale_temporaries, replacing
from .._util.exceptions import OpenL3Error
from .._util.identity import file_identity
from .._util.jobs import Arrays, FileJob, Report
from .._util.remote import is_uri


def get_output_path(filepath: str, suffix: str, output_dir: str | None = None) -> str:
    """Return the path of the output file for a given input file.

    Parameters
    ----------
    filepath : str
        Path to the input file.
    suffix : str
        String to append to the file name (including extension): ``"_suffix.npz"``
        style suffixes starting with "." are appended as they are, others after "_".
    output_dir : str or None
        Directory of the output file. If None, the directory of ``filepath``.

    Returns
    -------
    output_path : str
        Path to the output file.

    Examples
    --------
    >>> get_output_path("/data/birds/crow.wav", "audio.npz")
    '/data/birds/crow_audio.npz'
    >>> get_output_path("/data/birds/crow.wav", "l3.npz", output_dir="/out")
    '/out/crow_l3.npz'
    """
    base = os.path.splitext(os.path.basename(filepath))[0]
    directory = output_dir if output_dir else os.path.dirname(filepath)
    name = base + suffix if suffix.startswith(".") else f"{base}_{suffix}"
    return os.path.join(directory, name)


def npz_suffix(suffix: str | None, modality: str | None = None) -> str:
    """Return the ``get_output_path`` suffix of a ``modality`` output with a user suffix."""
    parts = [p for p in (modality, suffix) if p]
    return "_".join(parts) + ".npz" if parts else ".npz"


class _Folders:
    """Each output folder listed once per run; stale temporaries removed on that listing."""

    def __init__(self) -> None:
        self._names: dict[str, set[str]] = {}

    def exists(self, path: str) -> bool:
        folder, name = os.path.split(os.path.abspath(path))
        if folder not in self._names:
            names = os.listdir(folder) if os.path.isdir(folder) else []
            if names:
                remove_stale_temporaries(folder, names)
            self._names[folder] = set(names)
        return name in self._names[folder]


class NpzOutputs:
    """OpenL3 0.4.2's outputs: ``<name>[_<modality>][_<suffix>].npz`` for each input.

    Parameters
    ----------
    suffix : str or None
        The user's suffix of the output names.
    modalities : sequence of str or None
        The outputs of each input: ``[None]`` for one ``<name>.npz``, ``["audio",
        "image"]`` for a video's two.
    """

    def __init__(self, suffix: str | None, modalities: Sequence[str | None]):
        self.suffix, self.modalities = suffix, list(modalities)
        self._folders = _Folders()

    def names(self, path: str, output_dir: str | None) -> dict[str | None, str]:
        """Return the output file of each modality of input ``path``."""
        if is_uri(output_dir or path):
            raise OpenL3Error(
                f"{path}: .npz outputs are written to a local folder: give one as output_dir "
                "(--output-dir), or write a Parquet dataset, which may be a URI."
            )
        return {m: get_output_path(path, npz_suffix(self.suffix, m), output_dir) for m in self.modalities}

    #: Logged for an input whose outputs exist.
    skip_message = "%s exists, skipping."
    #: What the user can do about two inputs with one output.
    clash_hint = " (rename the input, or keep folders apart with --recursive and --output-dir)"

    @staticmethod
    def key(name: str) -> str:
        """Return the form of output ``name`` by which two names of one output compare equal."""
        return file_identity(name)

    def exists(self, name: str) -> bool:
        """Whether output ``name`` exists (its folder is listed once per run)."""
        return self._folders.exists(name)

    @staticmethod
    def conflict(path: str) -> None:
        """No input's ``.npz`` output takes another file's place (outputs are named after inputs)."""
        return None

    def begin(self, paths: Sequence[str]) -> None:
        """Nothing to lock: each output is its own file, written atomically."""

    def save(self, job: FileJob, arrays: Arrays) -> list[str]:
        """Write the outputs of ``job``: all of them, or none (see :func:`openl3._util.atomic.replacing`)."""
        if len(job.outputs) == 1:
            [(modality, path)] = job.outputs.items()
            save_npz(path, **arrays[modality])
        else:
            with replacing(*job.outputs.values()) as temporaries:
                for modality, temporary in zip(job.outputs, temporaries, strict=True):
                    write_npz(temporary, **arrays[modality])
        return [job.path]

    def flush(self) -> list[str]:
        """Nothing is buffered: every output was written when its input was saved."""
        return []

    def close(self, report: Report, attempted: Sequence[str]) -> None:
        """Nothing to do: every output was written when its input was saved."""

    def release(self) -> None:
        """Nothing to release."""


def save_npz(path: str, **arrays: Any) -> None:
    """Write ``arrays`` to ``path`` as an ``.npz`` file, atomically (``atomic.replacing``)."""
    with replacing(path) as [temporary]:
        write_npz(temporary, **arrays)


def write_npz(path: str, **arrays: Any) -> None:
    """Write ``arrays`` to exactly ``path`` as ``np.savez`` does, without copying them.

    The file is the archive ``np.savez`` writes (uncompressed zip of ``.npy`` entries,
    read back by ``np.load``), but each array goes from its own memory to the file:
    ``np.savez`` passes arrays through a 16 MB buffer and a copy of it, which doubled or
    tripled the peak memory of saving a long file's embedding.
    """
    import zipfile

    import numpy as np

    with (
        open(path, "wb") as stream,
        zipfile.ZipFile(stream, "w", zipfile.ZIP_STORED, allowZip64=True) as archive,
    ):
        for name, value in arrays.items():
            array = np.asarray(value)
            array = array if array.flags.c_contiguous else array.copy(order="C")
            if array.dtype.hasobject:
                raise TypeError(f"{name}: arrays of Python objects are not written")
            with archive.open(f"{name}.npy", "w", force_zip64=True) as entry:
                np.lib.format.write_array_header_1_0(entry, np.lib.format.header_data_from_array_1_0(array))
                entry.write(memoryview(array.reshape(-1)).cast("B"))

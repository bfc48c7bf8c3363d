"""Finding, fetching, verifying and installing the official weight files.

A model's file is looked for in ``$OPENL3_WEIGHTS_DIR`` (the user's own files, used as
they are), then in the cache (``$OPENL3_CACHE_DIR``, else the OS user cache), then
downloaded into the cache from the official URL (or the mirror ``$OPENL3_WEIGHTS_URL``).
The cache only ever holds complete files whose git blob id was verified: downloads go
to a temporary file in the cache directory (:mod:`openl3._util.atomic`), are verified, then
renamed into place, under a file lock so that concurrent processes download a file once.
The one exception, a file imported with ``verify=False`` that does not match, is marked
by a file ``<name>.unverified`` beside it, put there before the file itself: it is listed
as unverified, and each use of it logs a warning, until a verified file replaces it.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager, suppress

from .._util.atomic import remove_stale_temporaries, replacing, write_whole
from .._util.console import warn_once
from .._util.exceptions import OpenL3Error
from . import registry
from .registry import WEIGHTS_DIR_ENV, WeightFile
from .settings import DIGEST_PREFIX

logger = logging.getLogger("openl3")

CACHE_DIR_ENV = "OPENL3_CACHE_DIR"
#: Appended to a cached file's name to mark it unverified (``import_file(verify=False)``).
UNVERIFIED_SUFFIX = ".unverified"
WEIGHTS_URL_ENV = "OPENL3_WEIGHTS_URL"
#: Seconds to wait for a server, and for another process's download of the same file.
DOWNLOAD_TIMEOUT = 60
LOCK_TIMEOUT = 900


def cache_dir() -> str:
    """Return the weights cache directory (``$OPENL3_CACHE_DIR``, else the OS user cache)."""
    configured = os.environ.get(CACHE_DIR_ENV)
    if configured:
        return configured
    import pooch

    return str(pooch.os_cache("openl3"))


def base_url() -> str:
    """Return the base URL weight files are downloaded from."""
    url = os.environ.get(WEIGHTS_URL_ENV) or registry.OFFICIAL_BASE_URL
    return url if url.endswith("/") else url + "/"


def git_blob_id(path: str) -> str:
    """Return the git blob id of a file: SHA-1 of ``b"blob <size>"``, a NUL byte, the content."""
    digest = hashlib.sha1(f"blob {os.path.getsize(path)}\0".encode())
    with open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def cached_path(entry: WeightFile) -> str:
    """Return where the cache keeps ``entry`` (its published name)."""
    return os.path.join(cache_dir(), entry.filename)


def is_marked_unverified(path: str) -> bool:
    """Whether the cached file ``path`` was imported unverified (and not replaced since)."""
    return os.path.isfile(path + UNVERIFIED_SUFFIX)


def _unmark(path: str) -> None:
    """Remove the unverified mark of ``path``, if any: a verified file is in place."""
    with suppress(FileNotFoundError):
        os.unlink(path + UNVERIFIED_SUFFIX)


def find_in_weights_dir(entry: WeightFile) -> str | None:
    """Return the path of ``entry`` in ``$OPENL3_WEIGHTS_DIR``, or None."""
    directory = os.environ.get(WEIGHTS_DIR_ENV)
    if not directory:
        return None
    for name in entry.candidate_names():
        path = os.path.join(directory, name)
        if os.path.isfile(path):
            return path
    return None


def looked_in(entry: WeightFile) -> str:
    """Return the folders where ``entry`` was looked for, as a message names them.

    ``/w ($OPENL3_WEIGHTS_DIR, as openl3_audio_mel128_music.h5[.gz]) and /c (the cache)``.
    """
    directory = os.environ.get(WEIGHTS_DIR_ENV)
    user = (
        f"{directory} (${WEIGHTS_DIR_ENV}, as {entry.stem}.h5[.gz])"
        if directory
        else f"${WEIGHTS_DIR_ENV} (not set)"
    )
    return f"{user} and {cache_dir()} (the cache)"


def offline_error(entry: WeightFile, url: str, reason: str) -> OpenL3Error:
    """Return the error for a weight file that could not be downloaded, with the remedies."""
    return OpenL3Error(
        f"Could not download the OpenL3 weight file {entry.filename} from {url}: {reason}. "
        f"It is not in {looked_in(entry)}. To work offline, put the file in a directory named by "
        f"the environment variable {WEIGHTS_DIR_ENV}, or copy it into the cache with `openl3 models "
        "import PATH`; to try openl3 without it, `openl3 models random DIR` writes random weights."
    )


@contextmanager
def _locked(path: str) -> Iterator[None]:
    """Hold an inter-process lock for ``path`` (a ``.lock`` file beside it)."""
    from filelock import FileLock, Timeout

    try:
        with FileLock(path + ".lock", timeout=LOCK_TIMEOUT):
            yield
    except Timeout as exc:
        raise OpenL3Error(f"Timed out waiting for another process to finish writing {path}.") from exc


def _check_blob_id(entry: WeightFile, path: str) -> None:
    """Raise unless the file at ``path`` has the published blob id of ``entry``."""
    blob_id = git_blob_id(path)
    if blob_id != entry.blob_id:
        raise OpenL3Error(
            f"{entry.filename}: git blob id {blob_id} does not match the "
            f"published {entry.blob_id}; the file is corrupt or not the official one."
        )


def _is_verified(entry: WeightFile, path: str) -> bool:
    return os.path.isfile(path) and git_blob_id(path) == entry.blob_id


def download(entry: WeightFile, progress: bool = True) -> str:
    """Download ``entry`` into the cache unless a verified copy is there already.

    A cached file that does not verify is replaced. Concurrent processes download a
    file once.

    Returns
    -------
    str
        Path of the verified file in the cache.

    Raises
    ------
    OpenL3Error
        If the download fails or its content does not match the published blob id; the
        message names the file, the URL, the reason and the offline remedies.
    """
    import pooch
    import requests

    target = cached_path(entry)
    os.makedirs(os.path.dirname(target), exist_ok=True)
    url = base_url() + entry.filename
    with _locked(target):
        if _is_verified(entry, target):  # another process finished it while we waited
            return target
        remove_stale_temporaries(os.path.dirname(target))
        with replacing(target) as [temporary]:  # a corrupt cached file is replaced
            logger.info("Downloading %s from %s", entry.filename, url)
            downloader = pooch.HTTPDownloader(progressbar=progress, timeout=DOWNLOAD_TIMEOUT)
            try:
                downloader(url, temporary, None)
            except requests.HTTPError as exc:
                raise offline_error(
                    entry, url, f"the server answered HTTP {exc.response.status_code}"
                ) from exc
            except (requests.RequestException, OSError) as exc:
                raise offline_error(entry, url, f"{type(exc).__name__}: {exc}") from exc
            try:
                _check_blob_id(entry, temporary)
            except OpenL3Error as exc:
                raise offline_error(entry, url, str(exc)) from exc
        _unmark(target)
    return target


def resolve(entry: WeightFile, fetch: bool = True, progress: bool = True) -> str:
    """Return a local path for ``entry``: the user's directory, the cache, or a download."""
    path = find_in_weights_dir(entry)
    if path is not None:
        return path
    cached = cached_path(entry)
    if os.path.isfile(cached):  # verified when it was written, unless marked
        if is_marked_unverified(cached):
            logger.warning(
                "Using %s, imported unverified: it is not the published file (openl3 models "
                "download replaces it).",
                cached,
            )
        return cached
    if not fetch:
        raise OpenL3Error(f"Weight file {entry.filename} is not in {looked_in(entry)}.")
    return download(entry, progress)


def status(entry: WeightFile) -> tuple[str, str]:
    """Return where ``entry`` would be taken from, and its state there.

    ``("weights-dir", path)`` for a file in ``$OPENL3_WEIGHTS_DIR`` (used as it is),
    else ``("cached" | "corrupt" | "missing", path)`` for the cache.
    """
    user_path = find_in_weights_dir(entry)
    if user_path is not None:
        return "weights-dir", user_path
    return cache_status(entry)


def cache_status(entry: WeightFile) -> tuple[str, str]:
    """Return (state, path) of ``entry`` in the cache.

    The state is ``"cached"`` (verified), ``"missing"``, ``"unverified"`` (imported with
    ``verify=False`` and not the published file) or ``"corrupt"``.
    """
    path = cached_path(entry)
    if not os.path.isfile(path):
        return "missing", path
    if git_blob_id(path) == entry.blob_id:
        return "cached", path
    return ("unverified" if is_marked_unverified(path) else "corrupt"), path


def match_official(path: str) -> WeightFile | None:
    """Return the registry entry whose published name ``path`` has, or None."""
    name = os.path.basename(path)
    return next((e for e in registry.REGISTRY.values() if name in e.candidate_names()), None)


def import_file(path: str, verify: bool = True) -> str:
    """Copy a published ``.h5.gz`` weight file into the cache after checking its blob id.

    With ``verify=False``, a file that does not match is imported all the same and
    marked unverified (see the module's notes).

    Raises
    ------
    OpenL3Error
        If the file is not named as an official file, is decompressed (its blob id
        cannot be checked: such files belong in ``$OPENL3_WEIGHTS_DIR``), or does not
        match the published blob id and ``verify`` is True.
    """
    entry = match_official(path)
    if entry is None:
        raise OpenL3Error(f"{path} is not named as an official OpenL3 weight file.")
    if not path.endswith(".gz"):
        raise OpenL3Error(
            f"{path} is decompressed, so it cannot be checked against the published file; "
            f"use it from a directory named by {WEIGHTS_DIR_ENV} instead."
        )
    target = cached_path(entry)
    os.makedirs(os.path.dirname(target), exist_ok=True)
    with _locked(target):
        with replacing(target) as [temporary]:
            shutil.copyfile(path, temporary)
            try:
                _check_blob_id(entry, temporary)
                verified = True
            except OpenL3Error:
                if verify:
                    raise
                verified = False
                note = f"imported unverified from {os.path.abspath(path)}\n".encode()
                write_whole(target + UNVERIFIED_SUFFIX, lambda stream: stream.write(note))  # before the file
        if verified:
            _unmark(target)
    return target


_IDENTITIES: dict[tuple[str, int, int, str | None], str] = {}


def sha256_of(path: str) -> str:
    """Return the SHA-256 of a file, read in blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def weights_identity(path: str, entry: WeightFile | None = None) -> str:
    """Return how embedding settings name the weight file ``path``.

    The published name of ``entry`` when the file is that official file: the cache's files
    were verified when they were written (unless imported unverified), a ``.h5.gz`` file
    elsewhere is checked against the published git blob id, and a decompressed file against
    the decompressed file's SHA-256 where it is known. Any other file (a decompressed one
    that cannot be checked included) is named ``sha256:<its SHA-256>``.
    Computed once per file, state (size, modification time) and ``entry`` per process.

    Raises
    ------
    OpenL3Error
        If the file cannot be read.
    """
    try:
        stat = os.stat(path)
    except OSError as exc:
        raise OpenL3Error(f"Cannot read weight file {path}: {exc.strerror}.") from exc
    key = (os.path.realpath(path), stat.st_size, stat.st_mtime_ns, None if entry is None else entry.filename)
    if key not in _IDENTITIES:
        _IDENTITIES[key] = _identify(path, entry)
    return _IDENTITIES[key]


def _identify(path: str, entry: WeightFile | None) -> str:
    try:
        if entry is not None:
            in_cache = os.path.realpath(path) == os.path.realpath(cached_path(entry))
            if in_cache and not is_marked_unverified(path):
                return entry.filename
            if path.endswith(".gz") and git_blob_id(path) == entry.blob_id:
                return entry.filename
        digest = sha256_of(path)
    except OSError as exc:
        raise OpenL3Error(f"Cannot read weight file {path}: {exc.strerror}.") from exc
    if entry is not None and digest == entry.decompressed_sha256:
        return entry.filename
    return DIGEST_PREFIX + digest


def _short(identity: str) -> str:
    """Return the start of a weights identity, enough to tell digests apart in a message."""
    return identity[: len(DIGEST_PREFIX) + 12]


def warn_unofficial(path: str, entry: WeightFile, identity: str) -> None:
    """Say once per file and process that the file used for ``entry`` is not the official one."""
    why = "a decompressed file, which cannot be checked" if not path.endswith(".gz") else "its hash differs"
    warn_once(
        f"{path} is not OpenL3's official {entry.filename} ({why}): what it embeds is recorded as "
        f"made with weights {_short(identity)}..."
    )


def locate(identity: str, entry: WeightFile | None, given: str | None = None) -> str:
    """Return a weight file whose identity is ``identity``: ``given``, or ``entry``'s file here.

    Raises
    ------
    OpenL3Error
        Naming the weights and where they were looked for, when no such file is found.
    """
    looked: list[str] = []
    candidates = [given] if given is not None else []
    if entry is not None:
        found = find_in_weights_dir(entry)
        candidates += [found] if found else []
        candidates += [cached_path(entry)] if os.path.isfile(cached_path(entry)) else []
    for path in candidates:
        looked.append(path)
        if weights_identity(path, entry) == identity:
            return path
    where = ", ".join(looked) if looked else f"{WEIGHTS_DIR_ENV} and the cache (empty)"
    raise OpenL3Error(
        f"The embeddings were made with weights {_short(identity)}... (not OpenL3's official ones), and no "
        f"file with those weights is here (looked at {where}): give that weight file "
        "(weights=..., --weights)."
    )

"""Which file a path names: the one answer every run, dataset, label, query and map uses.

Two paths name the same file when their identities are equal. The identity of a local path
is its real path (absolute, symbolic links followed, case folded where the platform folds
it); a ``file://`` URI names a local file, so it has that file's identity; any other URI
(``s3://bucket/x.wav``) names a file of its filesystem and is its own identity, as written.
A relative path is taken from the current folder, or from ``base`` when the path was named
elsewhere (a label file's folder, the folder a dataset's writer ran in).

A dataset records, for the inputs it names by a relative path, the folder its writer ran in
and the few inputs reached through a link (:class:`NamedFrom`), so that a reader anywhere
tells which file each input is.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

from .remote import is_uri

__all__ = ["NamedFrom", "file_identity", "same_file"]


def file_identity(path: str | os.PathLike, base: str | None = None) -> str:
    """Return the identity of the file ``path`` names (see the module's description).

    Parameters
    ----------
    path : str or os.PathLike
        A local path (relative or absolute) or a URI.
    base : str, optional
        The folder a relative ``path`` is taken from (default: the current folder).

    Returns
    -------
    str
        The file's real path, or the URI of a file on another filesystem.

    Examples
    --------
    >>> file_identity("s3://bucket/clips/a.wav")
    's3://bucket/clips/a.wav'
    >>> file_identity("clips/../a.wav", base="/data") == file_identity("/data/a.wav")
    True
    >>> file_identity("file:///data/a%20b.wav") == file_identity("/data/a b.wav")
    True
    """
    text = os.fspath(path)
    if is_uri(text):
        parts = urlsplit(text)
        if parts.scheme.lower() != "file":
            return text
        text = unquote(parts.path)
    if base is not None and not os.path.isabs(text):
        text = os.path.join(base, text)
    return os.path.normcase(os.path.realpath(text))


def same_file(first: str | os.PathLike, second: str | os.PathLike) -> bool:
    """Whether two paths name the same file (their identities are equal).

    Examples
    --------
    >>> same_file("/data/a.wav", "/data/./a.wav")
    True
    >>> same_file("s3://bucket/a.wav", "s3://other/a.wav")
    False
    """
    return file_identity(first) == file_identity(second)


def _plain(name: str, folder: str) -> str:
    """Return what ``name`` names from ``folder`` without looking at the filesystem."""
    if is_uri(name):
        return file_identity(name) if urlsplit(name).scheme.lower() == "file" else name
    return os.path.normcase(os.path.normpath(os.path.join(folder, name)))


def _linked_prefix(plain: str, cache: dict[str, str]) -> tuple[str, str] | None:
    """Return the first folder of ``plain`` that is a link, and where it leads; None if none is.

    ``cache`` keeps the real path of each folder looked at (one ``realpath`` per folder).
    """
    parts = plain.split(os.sep)
    for end in range(2, len(parts)):
        prefix = os.sep.join(parts[:end]) or os.sep
        if prefix not in cache:
            cache[prefix] = os.path.normcase(os.path.realpath(prefix))
        if cache[prefix] != prefix:
            return prefix, cache[prefix]
    return None


def _through(prefixes: Mapping[str, str], plain: str) -> str:
    """Return ``plain`` with its first linked folder of ``prefixes`` replaced by where it leads."""
    for prefix, real in prefixes.items():
        if plain.startswith(prefix + os.sep):
            return real + plain[len(prefix) :]
    return plain


@dataclass(frozen=True)
class NamedFrom:
    """How the inputs of one writer were named: its folder, its linked folders, the other links.

    A reader finds each input's identity from this record without the writer's filesystem:
    ``folder`` joined to the name, with a linked folder of ``prefixes`` replaced by where it
    led (``/home`` -> ``/gpfs/home``: a few entries, however many inputs are under it),
    unless the name is in ``links`` (an input whose identity is neither: a link to a file,
    ``..`` after a link).

    Attributes
    ----------
    folder : str
        The real path of the folder the writer ran in.
    prefixes : dict
        Each linked folder the inputs were named through, and where it led.
    links : dict
        The identity of each input whose identity the two above do not give.

    Examples
    --------
    >>> named = NamedFrom("/runs", {"/home": "/gpfs/home"}, {"latest.wav": "/data/take7.wav"})
    >>> named.identity("clips/a.wav"), named.identity("/home/me/b.wav"), named.identity("latest.wav")
    ('/runs/clips/a.wav', '/gpfs/home/me/b.wav', '/data/take7.wav')
    """

    folder: str
    prefixes: Mapping[str, str] = field(default_factory=dict)
    links: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def here(cls, names: Iterable[str]) -> NamedFrom:
        """Return the record of inputs ``names`` named from the current folder (resolved now)."""
        folder = file_identity(os.getcwd())
        prefixes: dict[str, str] = {}
        links: dict[str, str] = {}
        cache: dict[str, str] = {}
        for name in names:
            identity, plain = file_identity(name, folder), _plain(name, folder)
            if identity == _through(prefixes, plain) or is_uri(name):
                continue
            linked = _linked_prefix(plain, cache)
            if linked is not None and identity == _through(dict([linked]), plain):
                prefixes[linked[0]] = linked[1]
            else:
                links[name] = identity
        return cls(folder, prefixes, links)

    def identity(self, name: str) -> str:
        """Return the identity of input ``name`` as its writer resolved it."""
        return self.links.get(name) or _through(self.prefixes, _plain(name, self.folder))

    def only(self, names: Iterable[str]) -> NamedFrom:
        """Return the record of ``names`` only (the links of other inputs left out)."""
        return NamedFrom(self.folder, self.prefixes, {n: self.links[n] for n in names if n in self.links})

    def record(self) -> dict[str, Any]:
        """Return the record as JSON-able data (see :meth:`from_record`)."""
        return {"folder": self.folder, "prefixes": dict(self.prefixes), "links": dict(self.links)}

    @classmethod
    def from_record(cls, record: Any) -> NamedFrom | None:
        """Return the record saved by :meth:`record`, or None if ``record`` is not one."""
        if not isinstance(record, dict) or not isinstance(record.get("folder"), str):
            return None
        tables = [record.get(key) or {} for key in ("prefixes", "links")]
        if not all(isinstance(table, dict) for table in tables):
            return None
        prefixes, links = ({str(k): str(v) for k, v in table.items()} for table in tables)
        return cls(record["folder"], prefixes, links)

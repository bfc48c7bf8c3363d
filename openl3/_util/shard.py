"""Shards of a run: the inputs split deterministically among the N jobs of a job array.

An input belongs to shard ``K`` of ``N`` when ``path_hash(identity) % N == K``, where
``identity`` is the file its path names (:func:`openl3._util.identity.file_identity`: its
real path, or its URI), however it is named. The hash is a fixed function of those bytes
(BLAKE2b, 8 bytes), so every job of an array agrees on the split without talking to the
others, on any host and Python version, and a file named two ways is in one shard. The same
hash keys the inputs a dataset writer locks (:mod:`openl3.dataset.locks`).
"""

from __future__ import annotations

import hashlib
import numbers
import os
from collections.abc import Sequence
from typing import Any, TypeVar

from .exceptions import InvalidArgumentError

Item = TypeVar("Item")

#: A shard: (K, N), the K-th of N, counted from 0.
Shard = tuple[int, int]


def path_hash(path: str) -> int:
    """Return the stable 64-bit hash of a text (an input's identity, for shards and locks)."""
    return int.from_bytes(hashlib.blake2b(os.fsencode(path), digest_size=8).digest(), "big")


def check_shard(shard: Any, name: str = "shard") -> Shard | None:
    """Return ``shard`` as ``(K, N)`` with ``0 <= K < N``; None for no sharding.

    Accepts a pair of integers or the command's ``"K/N"`` text.
    """
    if shard is None:
        return None
    if isinstance(shard, str):
        return parse_shard(shard, name)
    if isinstance(shard, Sequence) and len(shard) == 2:
        index, count = shard
        integral = all(isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in shard)
        if integral and 0 <= index < count:
            return int(index), int(count)
    raise InvalidArgumentError(f"Invalid {name} {shard!r}: expected (K, N) with 0 <= K < N, e.g. (0, 4).")


def parse_shard(text: str, name: str = "--shard") -> Shard:
    """Return the shard of a ``"K/N"`` text, or raise naming ``name``."""
    index, slash, count = text.partition("/")
    if slash and index.strip().isdigit() and count.strip().isdigit():
        shard = int(index), int(count)
        if shard[0] < shard[1]:
            return shard
    raise InvalidArgumentError(f"Invalid {name} {text!r}: expected K/N with 0 <= K < N, e.g. 0/4.")


def in_shard(path: str, shard: Shard | None) -> bool:
    """Whether input ``path`` belongs to ``shard`` (every input does without sharding)."""
    return shard is None or path_hash(path) % shard[1] == shard[0]


def select_shard(inputs: Sequence[Item], shard: Shard | None, path_of: Any = None) -> list[Item]:
    """Return the inputs of ``shard``, in order; ``path_of(item)`` gives an item's path."""
    path_of = (lambda item: item) if path_of is None else path_of
    return [item for item in inputs if in_shard(path_of(item), shard)]


def describe(shard: Shard | None) -> str:
    """Return the ``K/N`` text of a shard, or "all inputs"."""
    return "all inputs" if shard is None else f"shard {shard[0]}/{shard[1]}"

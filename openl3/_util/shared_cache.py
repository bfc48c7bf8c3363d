"""Module-level caches that threads share: each entry is built once, by one thread."""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, MutableMapping
from typing import TypeVar

Value = TypeVar("Value")


def build_once(
    cache: MutableMapping, lock: threading.Lock, key: Hashable, build: Callable[[], Value]
) -> Value:
    """Return ``cache[key]``, calling ``build()`` to fill it first if it is missing.

    The check and the fill happen under ``lock``, so threads asking for the same missing
    key at once build it once: the others wait for it and get the same value.

    Parameters
    ----------
    cache : MutableMapping
        The cache (a dict, or a ``weakref.WeakKeyDictionary``); only filled under ``lock``.
    lock : threading.Lock
        The cache's own lock.
    key : Hashable
        The entry wanted.
    build : callable
        Makes the entry; called with ``lock`` held, at most once per missing key.

    Returns
    -------
    object
        The cached entry.
    """
    with lock:
        if key not in cache:
            cache[key] = build()
        return cache[key]

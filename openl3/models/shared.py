"""Models built once per process: what every caller that passes no model object uses.

:func:`shared_audio_model` and :func:`shared_image_model` build a model and read its
weights once per weight file (and its state), representation, embedding size, frontend,
``output``, computed precision and Keras backend; :func:`clear_model_cache` forgets them.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any

from .load import checked_path, load_audio_embedding_model_from_path, load_image_embedding_model_from_path
from .precision import resolve_precision
from .reduced import TOWER_POLICIES, reduced_copy
from .specs import AUDIO_TOWER, IMAGE_TOWER, resolve_spectrogram

__all__ = ["clear_model_cache", "shared_audio_model", "shared_image_model"]


_SHARED: dict[tuple, Any] = {}
_SHARED_LOCK = threading.Lock()


def _shared(key: tuple, path: str, load: Callable[[], Any], precision: str) -> Any:
    """Return the model of ``key`` built from ``path`` in ``precision``, loading it once per process.

    The model is cached per dtype of its tower (``"fast"`` resolved first): a
    bfloat16 model is its own copy (:func:`openl3.models.reduced.reduced_copy`).
    A weight file that changed since (size or modification time) is loaded again.
    """
    import keras

    precision = resolve_precision(precision)
    key = (*key, TOWER_POLICIES.get(precision, "float32"))  # "tf32" shares the float32 model

    stat = os.stat(path)
    full_key = (*key, os.path.realpath(path), stat.st_size, stat.st_mtime_ns, keras.backend.backend())
    with _SHARED_LOCK:
        if full_key not in _SHARED:
            for stale in [k for k in _SHARED if k[: len(key)] == key]:
                del _SHARED[stale]
            _SHARED[full_key] = reduced_copy(load(), precision)
        return _SHARED[full_key]


def shared_audio_model(
    input_repr: str,
    content_type: str,
    embedding_size: int,
    frontend: str = "kapre",
    *,
    output: str | None = None,
    precision: str = "faithful",
    path: str | None = None,
    spectrogram: str = "auto",
) -> Any:
    """Return the audio model :func:`load_audio_embedding_model` loads, built once per process.

    Calls of ``get_audio_embedding``, ``process_*_file`` and the CLI that pass no model
    use this: a model is built and its weights read once per weight file,
    representation, embedding size, frontend, ``output``, computed precision
    (:mod:`openl3.models.precision`; bfloat16 models have their own dtype policy) and Keras backend.
    ``path``: a weight file of the user's, in place of the official one; ``spectrogram``:
    what computes the kapre frontend's spectrogram (:func:`load_audio_embedding_model_from_path`).

    Examples
    --------
    >>> first = shared_audio_model("mel128", "music", 512)
    >>> first is shared_audio_model("mel128", "music", 512)      # built once per process
    True
    """
    if path is None:
        path = checked_path(AUDIO_TOWER, input_repr, content_type, embedding_size, output)
    spectrogram = resolve_spectrogram(spectrogram)
    key = ("audio", input_repr, content_type, embedding_size, frontend, output, spectrogram)
    return _shared(
        key,
        path,
        lambda: load_audio_embedding_model_from_path(
            path, input_repr, embedding_size, frontend, spectrogram, output=output
        ),
        precision,
    )


def shared_image_model(
    input_repr: str,
    content_type: str,
    embedding_size: int,
    *,
    output: str | None = None,
    precision: str = "faithful",
    path: str | None = None,
) -> Any:
    """Return the image model :func:`load_image_embedding_model` loads, built once per process.

    Cached as :func:`shared_audio_model` caches audio models (``precision`` and ``path``
    included).

    Examples
    --------
    >>> shared_image_model("mel256", "music", 512) is shared_image_model("mel256", "music", 512)
    True
    """
    if path is None:
        path = checked_path(IMAGE_TOWER, input_repr, content_type, embedding_size, output)
    key = ("image", input_repr, content_type, embedding_size, output)
    return _shared(
        key,
        path,
        lambda: load_image_embedding_model_from_path(path, embedding_size, output=output),
        precision,
    )


def clear_model_cache() -> None:
    """Forget the models built by :func:`shared_audio_model` and :func:`shared_image_model`.

    Examples
    --------
    >>> clear_model_cache()     # the next call builds its model again (after replacing a weight file)
    """
    with _SHARED_LOCK:
        _SHARED.clear()

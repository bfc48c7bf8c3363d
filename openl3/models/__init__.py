"""L3-Net embedding models: building the towers and loading the official weights.

TensorFlow, Keras and kapre are imported only when a model is built.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any

from ..validation import check_choice
from .frontends import kapre_frontend, kapre_v0_1_4_magnitude_to_decibel
from .specs import AUDIO_TOWER, FRONTENDS, IMAGE_TOWER, Tower, input_repr_spec
from .store import resolve
from .tower import build_tower
from .weights import assign_weights, read_weight_file

__all__ = [
    "clear_model_cache",
    "get_audio_embedding_model_path",
    "get_image_embedding_model_path",
    "kapre_v0_1_4_magnitude_to_decibel",
    "load_audio_embedding_model",
    "load_audio_embedding_model_from_path",
    "load_image_embedding_model",
    "load_image_embedding_model_from_path",
    "shared_audio_model",
    "shared_image_model",
]


def get_audio_embedding_model_path(input_repr: str, content_type: str) -> str:
    """Return the local path to the weight file of an audio model.

    Parameters
    ----------
    input_repr : "linear", "mel128", or "mel256"
        Spectrogram representation used for model.
    content_type : "music" or "env"
        Type of content used to train embedding.

    Returns
    -------
    output_path : str
        Path to the weight file.
    """
    return resolve(AUDIO_TOWER.weight_file(input_repr, content_type))


def get_image_embedding_model_path(input_repr: str, content_type: str) -> str:
    """Return the local path to the weight file of an image model.

    Parameters
    ----------
    input_repr : "linear", "mel128", or "mel256"
        Spectrogram representation of the audio tower the image model was trained with.
    content_type : "music" or "env"
        Type of content used to train embedding.

    Returns
    -------
    output_path : str
        Path to the weight file.
    """
    return resolve(IMAGE_TOWER.weight_file(input_repr, content_type))


def build_audio_model(
    input_repr: str, embedding_size: int, frontend: str = "kapre", spectrogram: str = "auto"
) -> tuple[Any, list]:
    """Build an audio embedding model with random weights.

    Returns the model and its 16 weight-bearing tower layers in the order of the
    official weight files. Used by the loaders, and by benchmarks that need no weights.
    ``spectrogram`` chooses the in-graph spectrogram of the kapre frontend (see
    :func:`load_audio_embedding_model_from_path`).
    """
    import keras

    spec = input_repr_spec(input_repr)
    pool = AUDIO_TOWER.final_pool(input_repr, embedding_size)
    check_choice(frontend, "frontend", FRONTENDS)
    inputs = keras.Input(shape=AUDIO_TOWER.input_shape(input_repr, frontend), dtype="float32")
    x = kapre_frontend(inputs, spec, spectrogram) if frontend == "kapre" else inputs
    embedding, weighted = build_tower(x, AUDIO_TOWER, pool)
    name = f"openl3_audio_{input_repr}_{embedding_size}_{frontend}"
    return keras.Model(inputs, embedding, name=name), weighted


def build_image_model(embedding_size: int) -> tuple[Any, list]:
    """Build an image embedding model with random weights (see :func:`build_audio_model`)."""
    import keras

    pool = IMAGE_TOWER.final_pool(input_repr=None, embedding_size=embedding_size)
    inputs = keras.Input(shape=IMAGE_TOWER.input_shape(), dtype="float32")
    embedding, weighted = build_tower(inputs, IMAGE_TOWER, pool)
    return keras.Model(inputs, embedding, name=f"openl3_image_{embedding_size}"), weighted


def _load(build: Callable[[], tuple[Any, list]], path: str, tower: Tower) -> Any:
    """Read the weight file (failing early on a bad one), build the model, assign the weights."""
    file_layers = read_weight_file(path)
    model, weighted = build()
    assign_weights(weighted, file_layers, path, tower)
    return model


def load_audio_embedding_model_from_path(
    model_path: str, input_repr: str, embedding_size: int, frontend: str = "kapre", spectrogram: str = "auto"
) -> Any:
    """Load an audio embedding model with the weights of a given file.

    Parameters
    ----------
    model_path : str
        Path to the weights (``.h5``, or ``.h5.gz`` as published).
    input_repr : "linear", "mel128", or "mel256"
        Spectrogram representation used for audio model.
    embedding_size : 6144 or 512
        Embedding dimensionality.
    frontend : "kapre" or "librosa"
        With "kapre" the spectrogram is computed inside the model, which then takes
        (batch, 1, 48000) audio; with "librosa" the model takes (batch, freq, time, 1)
        spectrograms computed beforehand.
    spectrogram : "auto", "kapre" or "keras"
        How the kapre frontend computes its spectrogram in the model: with kapre's
        layers (TensorFlow only, as 0.4.2), or with their ``keras.ops`` twin, which runs
        on every Keras backend (JAX, PyTorch) and equals kapre's within float32
        rounding. "auto" takes kapre on TensorFlow and the twin elsewhere.

    Returns
    -------
    model : keras.Model
        Model object.
    """
    return _load(
        lambda: build_audio_model(input_repr, embedding_size, frontend, spectrogram), model_path, AUDIO_TOWER
    )


def load_audio_embedding_model(
    input_repr: str, content_type: str, embedding_size: int, frontend: str = "kapre"
) -> Any:
    """Return an audio embedding model with the given characteristics.

    Parameters
    ----------
    input_repr : "linear", "mel128", or "mel256"
        Spectrogram representation used for audio model.
    content_type : "music" or "env"
        Type of content used to train embedding.
    embedding_size : 6144 or 512
        Embedding dimensionality.
    frontend : "kapre" or "librosa"
        The audio frontend (see :func:`load_audio_embedding_model_from_path`).

    Returns
    -------
    model : keras.Model
        Model object.
    """
    AUDIO_TOWER.final_pool(input_repr, embedding_size)
    path = get_audio_embedding_model_path(input_repr, content_type)
    return load_audio_embedding_model_from_path(path, input_repr, embedding_size, frontend)


def load_image_embedding_model_from_path(model_path: str, embedding_size: int) -> Any:
    """Load an image embedding model with the weights of a given file.

    Parameters
    ----------
    model_path : str
        Path to the weights (``.h5``, or ``.h5.gz`` as published).
    embedding_size : 8192 or 512
        Embedding dimensionality.

    Returns
    -------
    model : keras.Model
        Model object, taking (batch, 224, 224, 3) images.
    """
    return _load(lambda: build_image_model(embedding_size), model_path, IMAGE_TOWER)


def load_image_embedding_model(input_repr: str, content_type: str, embedding_size: int) -> Any:
    """Return an image embedding model with the given characteristics.

    Parameters
    ----------
    input_repr : "linear", "mel128", or "mel256"
        Spectrogram representation of the audio tower the model was trained with.
    content_type : "music" or "env"
        Type of content used to train embedding.
    embedding_size : 8192 or 512
        Embedding dimensionality.

    Returns
    -------
    model : keras.Model
        Model object.
    """
    IMAGE_TOWER.final_pool(input_repr, embedding_size)
    path = get_image_embedding_model_path(input_repr, content_type)
    return load_image_embedding_model_from_path(path, embedding_size)


_SHARED: dict[tuple, Any] = {}
_SHARED_LOCK = threading.Lock()


def _shared(key: tuple, path: str, load: Callable[[], Any]) -> Any:
    """Return the model of ``key`` built from ``path``, loading it once per process.

    A weight file that changed since (size or modification time) is loaded again.
    """
    import keras

    stat = os.stat(path)
    full_key = (*key, os.path.realpath(path), stat.st_size, stat.st_mtime_ns, keras.backend.backend())
    with _SHARED_LOCK:
        if full_key not in _SHARED:
            for stale in [k for k in _SHARED if k[: len(key)] == key]:
                del _SHARED[stale]
            _SHARED[full_key] = load()
        return _SHARED[full_key]


def shared_audio_model(
    input_repr: str, content_type: str, embedding_size: int, frontend: str = "kapre"
) -> Any:
    """Return the audio model :func:`load_audio_embedding_model` loads, built once per process.

    Calls of ``get_audio_embedding``, ``process_*_file`` and the CLI that pass no model
    use this: a model is built and its weights read once per weight file,
    representation, embedding size, frontend and Keras backend.
    """
    AUDIO_TOWER.final_pool(input_repr, embedding_size)
    path = get_audio_embedding_model_path(input_repr, content_type)
    key = ("audio", input_repr, content_type, embedding_size, frontend)
    return _shared(
        key, path, lambda: load_audio_embedding_model_from_path(path, input_repr, embedding_size, frontend)
    )


def shared_image_model(input_repr: str, content_type: str, embedding_size: int) -> Any:
    """Return the image model :func:`load_image_embedding_model` loads, built once per process."""
    IMAGE_TOWER.final_pool(input_repr, embedding_size)
    path = get_image_embedding_model_path(input_repr, content_type)
    key = ("image", input_repr, content_type, embedding_size)
    return _shared(key, path, lambda: load_image_embedding_model_from_path(path, embedding_size))


def clear_model_cache() -> None:
    """Forget the models built by :func:`shared_audio_model` and :func:`shared_image_model`."""
    with _SHARED_LOCK:
        _SHARED.clear()

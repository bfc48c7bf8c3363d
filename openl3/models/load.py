"""Building the towers and loading weight files: the loaders OpenL3 0.4.2 documents.

Keras (and its backend) is imported only when a model is built; kapre only where its layers
are asked for (:mod:`openl3.models.kapre_layers`). Every loader takes
``output``: None for the embedding of OpenL3 0.4.2, or the name of a layer of the tower
(``AUDIO_TOWER.layers`` / ``IMAGE_TOWER.layers`` in :mod:`openl3.models.specs`), whose
activations max-pooled over frequency and time (height and width for images) become the
embedding, one value per channel of that layer.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from .._util.exceptions import OpenL3Error
from .._util.validation import check_choice
from .kapre_layers import KAPRE_CLASSES, kapre_classes_in, kapre_layers, missing_kapre
from .registry import weight_file
from .specs import AUDIO_TOWER, FRONTENDS, IMAGE_TOWER, Tower, input_repr_spec
from .store import resolve
from .tower import build_tower
from .weights import assign_weights, read_weight_file

__all__ = [
    "build_audio_model",
    "build_image_model",
    "checked_path",
    "get_audio_embedding_model_path",
    "get_image_embedding_model_path",
    "load_audio_embedding_model",
    "load_audio_embedding_model_from_path",
    "load_image_embedding_model",
    "load_image_embedding_model_from_path",
    "load_keras_model",
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

    Examples
    --------
    >>> get_audio_embedding_model_path("mel256", "music")     # found, or downloaded and verified
    '/home/me/.cache/openl3/openl3_audio_mel256_music-v0_4_0.h5.gz'
    """
    return resolve(weight_file(AUDIO_TOWER.modality, input_repr, content_type))


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

    Examples
    --------
    >>> get_image_embedding_model_path("mel256", "env")
    '/home/me/.cache/openl3/openl3_image_mel256_env-v0_4_0.h5.gz'
    """
    return resolve(weight_file(IMAGE_TOWER.modality, input_repr, content_type))


def build_audio_model(
    input_repr: str,
    embedding_size: int,
    frontend: str = "kapre",
    spectrogram: str = "auto",
    *,
    output: str | None = None,
) -> tuple[Any, list]:
    """Build an audio embedding model with random weights.

    Returns the model and its 16 weight-bearing tower layers in the order of the
    official weight files. Used by the loaders, and by benchmarks that need no weights.
    ``spectrogram`` chooses the in-graph spectrogram of the kapre frontend and
    ``output`` the layer taken as the embedding (see
    :func:`load_audio_embedding_model_from_path`).
    """
    import keras

    from .layers import kapre_frontend  # imports Keras at its top: deferred with it

    spec = input_repr_spec(input_repr)
    pool = AUDIO_TOWER.final_pool(input_repr, embedding_size)
    AUDIO_TOWER.output_layer(output)
    check_choice(frontend, "frontend", FRONTENDS)
    inputs = keras.Input(shape=AUDIO_TOWER.input_shape(input_repr, frontend), dtype="float32")
    x = kapre_frontend(inputs, spec, spectrogram) if frontend == "kapre" else inputs
    embedding, weighted = build_tower(x, AUDIO_TOWER, pool, output)
    name = f"openl3_audio_{input_repr}_{output or embedding_size}_{frontend}"
    return keras.Model(inputs, embedding, name=name), weighted


def build_image_model(embedding_size: int, *, output: str | None = None) -> tuple[Any, list]:
    """Build an image embedding model with random weights (see :func:`build_audio_model`)."""
    import keras

    pool = IMAGE_TOWER.final_pool(input_repr=None, embedding_size=embedding_size)
    IMAGE_TOWER.output_layer(output)
    inputs = keras.Input(shape=IMAGE_TOWER.input_shape(), dtype="float32")
    embedding, weighted = build_tower(inputs, IMAGE_TOWER, pool, output)
    return keras.Model(inputs, embedding, name=f"openl3_image_{output or embedding_size}"), weighted


def _load(build: Callable[[], tuple[Any, list]], path: str, tower: Tower) -> Any:
    """Read the weight file (failing early on a bad one), build the model, assign the weights."""
    file_layers = read_weight_file(path)
    model, weighted = build()
    assign_weights(weighted, file_layers, path, tower)
    return model


def checked_path(
    tower: Tower, input_repr: str, content_type: str, embedding_size: int, output: str | None
) -> str:
    """Check the model's arguments, then return the path of its official weight file."""
    tower.final_pool(input_repr, embedding_size)
    tower.output_layer(output)
    return resolve(weight_file(tower.modality, input_repr, content_type))


def load_audio_embedding_model_from_path(
    model_path: str,
    input_repr: str,
    embedding_size: int,
    frontend: str = "kapre",
    spectrogram: str = "auto",
    *,
    output: str | None = None,
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
    spectrogram : "auto", "keras" or "kapre"
        How the kapre frontend computes its spectrogram in the model: with openl3's
        ``keras.ops`` twin of kapre's layers ("keras", and "auto"), which runs on every
        Keras backend, or with kapre's own layers ("kapre": TensorFlow only, where
        ``openl3[kapre]`` is installed, as 0.4.2). Both give 0.4.2's numbers within
        float32 rounding.
    output : str, optional
        None (default) for the embedding of OpenL3 0.4.2, or the name of a layer of the
        tower (``AUDIO_TOWER.layers`` in :mod:`openl3.models.specs`: "conv1", "relu6",
        "pool3", "audio_embedding_layer", ...; a wrong name is an OpenL3Error listing
        them): the model then returns that layer's activations max-pooled over frequency
        and time, one value per channel of the layer (``embedding_size`` is checked but
        has no effect).

    Returns
    -------
    model : keras.Model
        Model object.

    Examples
    --------
    The activations of block 3 (256 channels), max-pooled over frequency and time:

    >>> model = load_audio_embedding_model_from_path(path, "mel128", 512, output="relu6")
    >>> model.output_shape
    (None, 256)
    """
    return _load(
        lambda: build_audio_model(input_repr, embedding_size, frontend, spectrogram, output=output),
        model_path,
        AUDIO_TOWER,
    )


def load_audio_embedding_model(
    input_repr: str,
    content_type: str,
    embedding_size: int,
    frontend: str = "kapre",
    *,
    output: str | None = None,
    spectrogram: str = "auto",
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
    output : str, optional
        A layer whose max-pooled activations are the embedding (see
        :func:`load_audio_embedding_model_from_path`).
    spectrogram : "auto", "keras" or "kapre"
        What computes the kapre frontend's spectrogram (see
        :func:`load_audio_embedding_model_from_path`).

    Returns
    -------
    model : keras.Model
        Model object.

    Examples
    --------
    >>> model = load_audio_embedding_model("mel128", "music", 512)
    >>> model.input_shape, model.output_shape
    ((None, 1, 48000), (None, 512))
    >>> embedding, timestamps = openl3.get_audio_embedding(audio, sr, model=model)
    """
    path = checked_path(AUDIO_TOWER, input_repr, content_type, embedding_size, output)
    return load_audio_embedding_model_from_path(
        path, input_repr, embedding_size, frontend, spectrogram, output=output
    )


def load_image_embedding_model_from_path(
    model_path: str, embedding_size: int, *, output: str | None = None
) -> Any:
    """Load an image embedding model with the weights of a given file.

    Parameters
    ----------
    model_path : str
        Path to the weights (``.h5``, or ``.h5.gz`` as published).
    embedding_size : 8192 or 512
        Embedding dimensionality.
    output : str, optional
        None (default) for the embedding, or the name of a layer of the tower
        (``IMAGE_TOWER.layers``: "conv1", "relu6", "pool3", "vision_embedding_layer", ...),
        whose activations max-pooled over height and width are the embedding.

    Returns
    -------
    model : keras.Model
        Model object, taking (batch, 224, 224, 3) images.

    Examples
    --------
    >>> model = load_image_embedding_model_from_path("openl3_image_mel256_music.h5", 8192)
    >>> model.output_shape
    (None, 8192)
    """
    return _load(lambda: build_image_model(embedding_size, output=output), model_path, IMAGE_TOWER)


def load_image_embedding_model(
    input_repr: str, content_type: str, embedding_size: int, *, output: str | None = None
) -> Any:
    """Return an image embedding model with the given characteristics.

    Parameters
    ----------
    input_repr : "linear", "mel128", or "mel256"
        Spectrogram representation of the audio tower the model was trained with.
    content_type : "music" or "env"
        Type of content used to train embedding.
    embedding_size : 8192 or 512
        Embedding dimensionality.
    output : str, optional
        A layer whose max-pooled activations are the embedding (see
        :func:`load_image_embedding_model_from_path`).

    Returns
    -------
    model : keras.Model
        Model object.

    Examples
    --------
    >>> model = load_image_embedding_model("mel256", "music", 512)
    >>> model.input_shape, model.output_shape
    ((None, 224, 224, 3), (None, 512))
    """
    path = checked_path(IMAGE_TOWER, input_repr, content_type, embedding_size, output)
    return load_image_embedding_model_from_path(path, embedding_size, output=output)


def load_keras_model(path: str | os.PathLike) -> Any:
    """Load a Keras model saved from an openl3 model (``model.save("l3.keras")``).

    openl3's own layers are registered first; kapre's layers, where the file holds them,
    are taken from kapre.

    Parameters
    ----------
    path : str or os.PathLike
        A ``.keras`` file (or a legacy ``.h5`` model file).

    Returns
    -------
    keras.Model

    Raises
    ------
    OpenL3Error
        For a file that does not exist, or that holds kapre's layers where kapre cannot be
        used (naming the layers and what to install).

    Examples
    --------
    >>> model = openl3.models.load_keras_model("l3.keras")
    >>> embedding, timestamps = openl3.get_audio_embedding(audio, sr, model=model)
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise OpenL3Error(f"{path}: no such model file.")
    import keras

    from . import layers  # noqa: F401 (registers openl3's layers with Keras)

    custom: dict[str, Any] = {}
    names = kapre_classes_in(path)
    if names:
        why = missing_kapre()
        if why:
            raise OpenL3Error(
                f"{path} holds kapre's layers ({', '.join(names)}), and {why}. Or, where kapre is "
                'installed, build the model again with spectrogram="keras" (the same numbers, on every '
                "backend), copy the weights into it and save that."
            )
        custom = dict(zip(KAPRE_CLASSES, kapre_layers(), strict=True))
    return keras.saving.load_model(path, custom_objects=custom)

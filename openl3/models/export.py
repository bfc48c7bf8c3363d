"""Exported models for use outside Python: SavedModel, ONNX and TFLite (LiteRT).

:func:`export_model` builds a model from the official weights (found as
:func:`openl3.models.load_audio_embedding_model` finds them, or from a weight file) and
writes it with Keras 3's ``Model.export``, on the TensorFlow backend.

The contract of every export:

- **audio**: input ``window``, float32 (batch, 48000): one-second windows of mono audio
  at 48 kHz, as :class:`openl3.audio.AudioWindows` frames them (downmixed, resampled
  with resampy's ``kaiser_best``, centred or not, zero-padded at the end). The
  spectrogram is computed in the graph (the ``keras.ops`` twin of kapre's layers, its
  magnitude as one ``ComplexAbs`` so that ONNX converters translate it). Output
  ``embedding``, float32 (batch, D).
- **image**: input ``image``, float32 (batch, 224, 224, 3): frames as openl3 prepares
  them for the model (:func:`openl3.image.prepare_frame`, then 0.4.2's scaling).
  Output ``embedding``, float32 (batch, D).

The batch size is free. TFLite models take one batch size at a time: resize the input
tensor before allocating (``resize_tensor_input``).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from .._util.atomic import discard, rename_into_place, temporary_name
from .._util.backends import installed, require_tensorflow
from .._util.console import captured_output
from .._util.exceptions import OpenL3Error
from .._util.validation import check_choice
from . import (
    get_audio_embedding_model_path,
    get_image_embedding_model_path,
    load_audio_embedding_model_from_path,
    load_image_embedding_model_from_path,
)
from .specs import AUDIO_TOWER, CONTENT_TYPES, IMAGE_TOWER, input_repr_spec

#: Our format names and Keras 3's.
__all__ = ["FORMATS", "export_model"]

FORMATS = {"savedmodel": "tf_saved_model", "onnx": "onnx", "tflite": "litert"}
#: What each format needs besides TensorFlow.
REQUIREMENTS = {"savedmodel": (), "onnx": ("tf2onnx", "onnx"), "tflite": ()}
#: The ONNX opset: tf2onnx translates TensorFlow's real FFT at 13 (not with the DFT op of 17+).
ONNX_OPSET = 13


def _audio_model(input_repr: str, content_type: str, embedding_size: int, weights: str | None) -> Any:
    import keras

    from .layers import Spectrogram

    path = weights or get_audio_embedding_model_path(input_repr, content_type)
    model = load_audio_embedding_model_from_path(
        path, input_repr, embedding_size, "kapre", spectrogram="keras"
    )
    for layer in model._flatten_layers():
        if isinstance(layer, Spectrogram):
            layer.complex_abs = True
    window = keras.Input((48_000,), name="window")
    embedding = model(keras.layers.Reshape((1, 48_000))(window))
    return keras.Model(window, keras.layers.Identity(name="embedding")(embedding), name="openl3_audio")


def _image_model(input_repr: str, content_type: str, embedding_size: int, weights: str | None) -> Any:
    import keras

    path = weights or get_image_embedding_model_path(input_repr, content_type)
    model = load_image_embedding_model_from_path(path, embedding_size)
    image = keras.Input((224, 224, 3), name="image")
    return keras.Model(image, keras.layers.Identity(name="embedding")(model(image)), name="openl3_image")


def export_model(
    path: str,
    modality: str,
    input_repr: str = "mel256",
    content_type: str = "music",
    embedding_size: int | None = None,
    format: str = "savedmodel",
    weights: str | None = None,
) -> str:
    """Export an embedding model to ``path``; return ``path``.

    Parameters
    ----------
    path : str
        The SavedModel folder, or the ``.onnx`` / ``.tflite`` file. It must not exist;
        it appears whole or not at all (written beside it, then renamed).
    modality : "audio" or "image"
    input_repr : "linear", "mel128" or "mel256"
    content_type : "music" or "env"
    embedding_size : int, optional
        6144 or 512 (audio), 8192 or 512 (image); default the larger.
    format : "savedmodel", "onnx" or "tflite"
    weights : str, optional
        A weight file in the official layout (default: the official file, found as the
        loaders find it).

    Returns
    -------
    path : str

    Examples
    --------
    >>> export_model("audio", "mel128", "music", 512, "l3.onnx", format="onnx")
    >>> import onnxruntime
    >>> session = onnxruntime.InferenceSession("l3.onnx")
    """
    import keras

    check_choice(modality, "modality", ("audio", "image"))
    check_choice(format, "format", tuple(FORMATS))
    check_choice(content_type, "content_type", CONTENT_TYPES)
    input_repr_spec(input_repr)
    tower = AUDIO_TOWER if modality == "audio" else IMAGE_TOWER
    embedding_size = embedding_size or max(tower.embedding_sizes)
    tower.final_pool(input_repr, embedding_size)
    require_tensorflow(f"Exporting to {format}")
    if keras.backend.backend() != "tensorflow":
        raise OpenL3Error(
            f"Exporting to {format} needs TensorFlow as Keras' backend, and Keras runs on "
            f"{keras.backend.backend()} here: set KERAS_BACKEND=tensorflow."
        )
    for module in REQUIREMENTS[format]:
        if not installed(module):
            raise OpenL3Error(f"Exporting to {format} needs {module}: pip install 'openl3[export]'.")
    if os.path.exists(path):
        raise OpenL3Error(f"{path} exists: export to a new path.")
    build = _audio_model if modality == "audio" else _image_model
    model = build(input_repr, content_type, embedding_size, weights)
    _export_atomically(model, path, format)
    return path


def _name_onnx_output(path: str) -> None:
    """Name the ONNX graph's output ``embedding`` and its first dimension ``batch``."""
    import onnx

    graph_model = onnx.load(path)
    graph = graph_model.graph
    old = graph.output[0].name
    for node in graph.node:
        node.output[:] = ["embedding" if name == old else name for name in node.output]
    graph.output[0].name = "embedding"
    for value in (graph.input[0], graph.output[0]):
        value.type.tensor_type.shape.dim[0].dim_param = "batch"
    onnx.checker.check_model(graph_model)
    onnx.save(graph_model, path)


def _export_atomically(model: Any, path: str, format: str) -> None:
    """Export beside ``path``, then rename into place; leave nothing behind on failure."""
    temporary = temporary_name(os.path.abspath(path))
    if format == "tflite":
        temporary += ".tflite"  # LiteRT's exporter wants the suffix
    options = {"opset_version": ONNX_OPSET} if format == "onnx" else {}
    try:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        model.predict(np.zeros((1, *model.input_shape[1:]), np.float32), verbose=0)  # traced once
        with captured_output(f"the {format} exporter"):  # Keras' and the converters' messages
            model.export(temporary, format=FORMATS[format], verbose=False, **options)
        if format == "onnx":
            _name_onnx_output(temporary)
        rename_into_place(temporary, path)
    except BaseException as exc:
        discard(temporary)
        if isinstance(exc, Exception) and not isinstance(exc, OpenL3Error):
            raise OpenL3Error(f"Cannot export to {path} as {format}: {type(exc).__name__}: {exc}") from exc
        raise

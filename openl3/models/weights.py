"""Reading official OpenL3 weight files (Keras 2 ``save_weights`` HDF5, plain or gzip).

Layer names in the official files are auto-generated and differ between files, so
weights are matched to the tower by the order of the weight-bearing layers.
"""

from __future__ import annotations

import gzip
import io
import os
from typing import Any

import numpy as np

from .._util.exceptions import OpenL3Error
from .specs import DEFAULT_INPUT_REPR, N_WEIGHTED_LAYERS, Tower

LayerWeights = tuple[str, dict[str, np.ndarray]]


def _open_hdf5(path: str) -> Any:
    """Open ``path`` as HDF5, decompressing ``.gz`` files in memory."""
    import h5py

    if not os.path.isfile(path):
        raise OpenL3Error(f"Weight file not found: {path}")
    try:
        if path.endswith(".gz"):
            with gzip.open(path, "rb") as compressed:
                return h5py.File(io.BytesIO(compressed.read()), "r")
        return h5py.File(path, "r")
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise OpenL3Error(f"Cannot read weight file {path}: not a valid HDF5 file ({exc}).") from exc


def _as_str(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def read_weight_file(path: str) -> list[LayerWeights]:
    """Return ``(layer name, {variable: array})`` for each weight-bearing layer, in order.

    Raises
    ------
    OpenL3Error
        If the file is missing, not HDF5, or not in the Keras ``save_weights`` layout.
    """
    with _open_hdf5(path) as h5:
        if "layer_names" not in h5.attrs:
            raise OpenL3Error(
                f"Cannot read weight file {path}: no 'layer_names' attribute (not a Keras weights file)."
            )
        layers = []
        try:
            for layer_name in map(_as_str, h5.attrs["layer_names"]):
                group = h5[layer_name]
                names = [_as_str(n) for n in group.attrs.get("weight_names", [])]
                if names:
                    values = {n.split("/")[-1].split(":")[0]: np.asarray(group[n]) for n in names}
                    layers.append((layer_name, values))
        except (KeyError, OSError) as exc:
            raise OpenL3Error(f"Cannot read weight file {path}: damaged layout ({exc}).") from exc
    return layers


def _describe(layer_weights: LayerWeights) -> str:
    name, values = layer_weights
    shapes = ", ".join(f"{k} {tuple(v.shape)}" for k, v in values.items())
    return f"{name} [{shapes}]"


def _check_layer_count(file_layers: list[LayerWeights], path: str, tower: Tower) -> None:
    """Raise unless the file has as many weight-bearing layers as the tower."""
    if len(file_layers) != N_WEIGHTED_LAYERS:
        raise OpenL3Error(
            f"Weight file {path} has {len(file_layers)} weight-bearing layers; "
            f"the L3-Net {tower.modality} tower has {N_WEIGHTED_LAYERS}. "
            "It is not an OpenL3 weight file."
        )


def check_weight_file(path: str, tower: Tower) -> None:
    """Raise unless ``path`` reads whole as a weight file with the tower's layer count.

    Every array is read, so a truncated or damaged file fails; a file that is not HDF5
    (or a link to one) fails at once. Without building a model, only the channels of the
    first layer are compared with the tower's input (the other shapes are compared by
    :func:`assign_weights` when the file is loaded).

    Raises
    ------
    OpenL3Error
        Naming the file and what is wrong with it.
    """
    layers = read_weight_file(path)
    _check_layer_count(layers, path, tower)
    channels = tower.input_shape(DEFAULT_INPUT_REPR, "librosa")[-1]
    gamma = layers[0][1].get("gamma")
    if gamma is None or gamma.shape != (channels,):
        found = "no gamma" if gamma is None else f"gamma of shape {gamma.shape}"
        raise OpenL3Error(
            f"Weight file {path} does not fit the L3-Net {tower.modality} tower: its first layer has "
            f"{found}, the tower's input has {channels} channel(s)."
        )


def assign_weights(model_layers: list, file_layers: list[LayerWeights], path: str, tower: Tower) -> None:
    """Copy the file's weights into the tower's weight-bearing layers, by order.

    Raises
    ------
    OpenL3Error
        Naming the file and the first layer whose count, variables or shapes disagree.
    """
    _check_layer_count(file_layers, path, tower)
    for index, (layer, file_layer) in enumerate(zip(model_layers, file_layers, strict=True)):
        expected = {v.path.split("/")[-1]: tuple(v.shape) for v in layer.weights}
        got = {k: tuple(v.shape) for k, v in file_layer[1].items()}
        if expected != got:
            hint = ""
            if index == 0 and "gamma" in got and got["gamma"] != expected.get("gamma"):
                other = "image" if tower.modality == "audio" else "audio"
                hint = f" It looks like a weight file of the {other} tower."
            raise OpenL3Error(
                f"Weight file {path} does not fit the L3-Net {tower.modality} tower: "
                f"weight-bearing layer {index + 1} ({layer.__class__.__name__}) expects "
                f"{expected}, the file has {_describe(file_layer)}.{hint}"
            )
        layer.set_weights([file_layer[1][v.path.split("/")[-1]] for v in layer.weights])

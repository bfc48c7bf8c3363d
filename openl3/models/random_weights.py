"""Seeded random weights in the official layout: to try every command without the official files.

The official weight files cannot be downloaded everywhere, and a newcomer wants to see the
commands work first. :func:`write_random_weights` writes files in the layout of the
official ones (Keras 2 ``save_weights`` HDF5: the same layers, names and shapes), under
the names ``$OPENL3_WEIGHTS_DIR`` takes (``openl3_audio_mel128_music.h5``), filled with
seeded random values of realistic scales (``openl3 models random DIR``). Embeddings made
with them are meaningless but computed exactly as with the official files; every dataset,
index and classifier records them by their SHA-256, never as OpenL3's, and a warning says
so where they are used.
"""

from __future__ import annotations

import gzip
import os
import shutil
from collections.abc import Sequence
from typing import Any

import numpy as np

from .._util.atomic import replacing
from .._util.exceptions import InvalidArgumentError
from .registry import REGISTRY
from .specs import BLOCK_FILTERS, CONTENT_TYPES

__all__ = ["official_layout", "weight_values", "write_random_weights", "write_weight_file"]

#: Filters of the eight convolutions of both towers (two per block).
FILTERS = tuple(f for filters in BLOCK_FILTERS for f in (filters, filters))
#: What :func:`write_random_weights` writes when not told: the defaults' files and mel128's.
DEFAULT_MODALITIES = ("audio", "image")
DEFAULT_INPUT_REPRS = ("mel128", "mel256")
DEFAULT_CONTENT_TYPES = ("music",)

Layout = list[tuple[str, list[tuple[str, tuple[int, ...]]]]]


def official_layout(modality: str) -> Layout:
    """Return the layers of an official weight file, weightless ones included, in model order.

    Names are offset from a fresh model's auto-generated names, as in the published files,
    so that only loading by order can work (as it must for the official files).

    Examples
    --------
    >>> layout = official_layout("audio")
    >>> layout[1][0], [name for name, _ in layout[1][1]]
    ('batch_normalization_41', ['gamma', 'beta', 'moving_mean', 'moving_variance'])
    >>> layout[-1]
    ('audio_embedding_layer', [('kernel', (3, 3, 512, 512)), ('bias', (512,))])
    """
    channels = 1 if modality == "audio" else 3
    counters = {"batch_normalization": 40, "conv2d": 60, "activation": 80, "max_pooling2d": 20}

    def name(kind: str) -> str:
        counters[kind] += 1
        return f"{kind}_{counters[kind]}"

    def norm(c: int) -> tuple[str, list]:
        return name("batch_normalization"), [
            (v, (c,)) for v in ("gamma", "beta", "moving_mean", "moving_variance")
        ]

    layers: Layout = [("input_1", []), norm(channels)]
    for i, filters in enumerate(FILTERS):
        conv = [("kernel", (3, 3, channels, filters)), ("bias", (filters,))]
        channels = filters
        if i == len(FILTERS) - 1:
            layers.append((f"{modality if modality == 'audio' else 'vision'}_embedding_layer", conv))
            break
        layers.append((name("conv2d"), conv))
        after = [norm(filters), (name("activation"), [])]
        if modality == "image" and i == 1:  # the image tower's block 1 quirk: ReLU before BN
            after.reverse()
        layers += after
        if i % 2 == 1:
            layers.append((name("max_pooling2d"), []))
    return layers


def weight_values(modality: str, seed: int) -> dict[str, dict[str, np.ndarray]]:
    """Return seeded weights of realistic scales for every weight-bearing layer (float32).

    Kernels have He scales, the first batch normalisation of the audio tower takes the
    decibel range of the spectrogram, so that activations stay in float32's comfortable range.

    Examples
    --------
    >>> values = weight_values("image", seed=0)
    >>> values["vision_embedding_layer"]["kernel"].shape
    (3, 3, 512, 512)
    """
    rng = np.random.default_rng(seed)
    values: dict[str, dict[str, np.ndarray]] = {}
    for index, (layer, variables) in enumerate(e for e in official_layout(modality) if e[1]):
        values[layer] = {
            var: _value(var, shape, index == 0 and modality == "audio", rng) for var, shape in variables
        }
    return values


def _value(var: str, shape: tuple[int, ...], spectrogram: bool, rng: np.random.Generator) -> np.ndarray:
    if var == "kernel":
        value = rng.normal(0, np.sqrt(2.0 / np.prod(shape[:3])), shape)
    elif var == "bias":
        value = rng.normal(0, 0.02, shape)
    elif var == "gamma":
        value = rng.uniform(0.7, 1.3, shape)
    elif var == "beta":
        value = rng.normal(0, 0.1, shape)
    elif var == "moving_mean":
        value = rng.normal(-40 if spectrogram else 0, 0.2, shape)
    else:
        value = rng.uniform(300, 400, shape) if spectrogram else rng.uniform(0.5, 2, shape)
    return value.astype(np.float32)


def write_weight_file(
    path: str | os.PathLike,
    modality: str = "audio",
    seed: int = 0,
    layout: Layout | None = None,
    values: Any = None,
) -> str:
    """Write one weight file in the official layout (``.gz`` paths gzipped, as published), whole.

    ``layout`` and ``values`` default to :func:`official_layout` and :func:`weight_values`.

    Examples
    --------
    >>> import tempfile, os
    >>> path = write_weight_file(os.path.join(tempfile.mkdtemp(), "openl3_audio_mel128_music.h5"))
    >>> os.path.getsize(path) > 18_000_000
    True
    """
    import h5py

    layout = official_layout(modality) if layout is None else layout
    values = weight_values(modality, seed) if values is None else values
    path = os.fspath(path)
    with replacing(path) as [temporary]:
        plain = temporary + ".h5" if path.endswith(".gz") else temporary
        with h5py.File(plain, "w") as h5:
            h5.attrs["backend"] = "tensorflow"
            h5.attrs["keras_version"] = "2.15.0"
            h5.attrs["layer_names"] = np.array([n.encode() for n, _ in layout], dtype=object)
            for layer, variables in layout:
                group = h5.create_group(layer)
                names = [f"{layer}/{var}:0" for var, _ in variables]
                encoded = np.array([n.encode() for n in names], dtype=object)
                group.attrs["weight_names"] = encoded if names else np.array([], dtype=np.float64)
                for (var, _), full in zip(variables, names, strict=True):
                    group.create_dataset(full, data=values[layer][var])
        if plain != temporary:
            with open(plain, "rb") as source, gzip.open(temporary, "wb") as target:
                shutil.copyfileobj(source, target)
            os.unlink(plain)
    return path


def write_random_weights(
    folder: str | os.PathLike,
    seed: int = 0,
    modalities: Sequence[str] = DEFAULT_MODALITIES,
    input_reprs: Sequence[str] = DEFAULT_INPUT_REPRS,
    content_types: Sequence[str] = DEFAULT_CONTENT_TYPES,
) -> list[str]:
    """Write seeded random weight files in the official layout into ``folder``; return their paths.

    One file per modality, representation and content type, named as
    ``$OPENL3_WEIGHTS_DIR`` takes them (``openl3_audio_mel128_music.h5``), each of its own
    seed (``seed`` and the file's place in the registry), so two calls with one seed write
    the same files.

    Examples
    --------
    >>> paths = write_random_weights("weights", input_reprs=["mel128"])
    >>> [os.path.basename(p) for p in paths]
    ['openl3_audio_mel128_music.h5', 'openl3_image_mel128_music.h5']
    >>> os.environ["OPENL3_WEIGHTS_DIR"] = "weights"     # now every command runs, on these
    """
    os.makedirs(folder, exist_ok=True)
    paths = []
    for number, (modality, input_repr, content_type) in enumerate(REGISTRY):
        if modality in modalities and input_repr in input_reprs and content_type in content_types:
            name = f"openl3_{modality}_{input_repr}_{content_type}.h5"
            paths.append(write_weight_file(os.path.join(folder, name), modality, seed * 1000 + number))
    if not paths:
        raise InvalidArgumentError(
            f"No weight file is of modalities {list(modalities)}, input_reprs {list(input_reprs)} and "
            f"content types {list(content_types)} (content types: {', '.join(CONTENT_TYPES)})."
        )
    return paths

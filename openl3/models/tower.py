"""The one L3-Net tower builder, shared by the audio and the image networks."""

from __future__ import annotations

from typing import Any

from .specs import Tower, TowerLayer

#: Kinds of layer that carry weights in the official files.
WEIGHTED_KINDS = ("bn", "conv")


def _keras_layer(layer: TowerLayer, pool_padding: str) -> Any:
    """Return the Keras layer of one tower layer, under its stable name."""
    from keras import layers

    if layer.kind == "conv":
        return layers.Conv2D(layer.channels, 3, padding="same", name=layer.name)
    if layer.kind == "bn":
        return layers.BatchNormalization(name=layer.name)
    if layer.kind == "relu":
        return layers.Activation("relu", name=layer.name)
    return layers.MaxPooling2D(2, strides=2, padding=pool_padding, name=layer.name)


def build_tower(
    x: Any, tower: Tower, pool_size: tuple[int, int], output: str | None = None
) -> tuple[Any, list]:
    """Stack an L3-Net tower on the tensor ``x``.

    The layers are those of ``tower.layers``: input batch normalisation, then four
    blocks of two 3x3 convolutions; blocks 1-3 end in 2x2 max-pooling, block 4 ends in
    the embedding convolution (linear). A final max-pooling of ``pool_size`` and a
    flatten give the embedding.

    Parameters
    ----------
    x : tensor
        Input tensor, (batch, height, width, channels).
    tower : Tower
        Settings of the audio or the image tower.
    pool_size : tuple of int
        Final max-pooling size, which sets the embedding size.
    output : str, optional
        Name of a layer of ``tower.layers`` (already checked): its activations,
        max-pooled over both spatial axes (frequency and time for audio), are returned
        instead of the embedding. The whole tower is built either way.

    Returns
    -------
    embedding : tensor
        (batch, embedding_size), or (batch, channels of ``output``).
    weighted_layers : list of keras.layers.Layer
        The 16 weight-bearing layers in the order of the official weight files.
    """
    from keras import layers

    weighted, activations = [], {}
    for layer in tower.layers:
        keras_layer = _keras_layer(layer, tower.block_pool_padding)
        x = activations[layer.name] = keras_layer(x)
        if layer.kind in WEIGHTED_KINDS:
            weighted.append(keras_layer)
    if output is not None:
        return layers.GlobalMaxPooling2D(name=f"{output}_max")(activations[output]), weighted
    x = layers.MaxPooling2D(pool_size, padding="same")(x)
    return layers.Flatten()(x), weighted

"""The one L3-Net tower builder, shared by the audio and the image networks."""

from __future__ import annotations

from typing import Any

from .specs import BLOCK_FILTERS, Tower


def build_tower(x: Any, tower: Tower, pool_size: tuple[int, int]) -> tuple[Any, list]:
    """Stack an L3-Net tower on the tensor ``x``.

    Input batch normalisation, then four blocks of two 3x3 convolutions: blocks 1-3 end
    in 2x2 max-pooling, block 4 ends in the embedding convolution (linear). A final
    max-pooling of ``pool_size`` and a flatten give the embedding.

    Parameters
    ----------
    x : tensor
        Input tensor, (batch, height, width, channels).
    tower : Tower
        Settings of the audio or the image tower.
    pool_size : tuple of int
        Final max-pooling size, which sets the embedding size.

    Returns
    -------
    embedding : tensor
        (batch, embedding_size).
    weighted_layers : list of keras.layers.Layer
        The 16 weight-bearing layers in the order of the official weight files.
    """
    from keras import layers

    weighted = [layers.BatchNormalization()]
    x = weighted[-1](x)
    for block, filters in enumerate(BLOCK_FILTERS):
        for position in range(2):
            if block == len(BLOCK_FILTERS) - 1 and position == 1:
                conv = layers.Conv2D(filters, 3, padding="same", name=tower.embedding_layer)
                weighted.append(conv)
                x = conv(x)
                break
            conv, norm = layers.Conv2D(filters, 3, padding="same"), layers.BatchNormalization()
            weighted += [conv, norm]
            x = conv(x)
            if tower.block1_relu_first and block == 0 and position == 1:
                x = norm(layers.Activation("relu")(x))
            else:
                x = layers.Activation("relu")(norm(x))
        else:
            x = layers.MaxPooling2D(2, strides=2, padding=tower.block_pool_padding)(x)
    x = layers.MaxPooling2D(pool_size, padding="same")(x)
    return layers.Flatten()(x), weighted

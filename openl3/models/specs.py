"""The constants of every L3-Net model, in one table.

Each spectrogram representation binds its frontend settings and its final pooling per
embedding size; each tower binds what differs between the audio and the image network.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..exceptions import OpenL3Error

#: Sample rate of the audio models, in Hz.
TARGET_SR = 48000
#: Length of one analysis window, in samples (one second).
WINDOW_SAMPLES = TARGET_SR
#: Spectrogram hop, in samples, shared by every representation.
SPEC_HOP = 242
#: Side of the square image the image tower takes.
IMAGE_SIZE = 224
#: Filters of the four convolution blocks, shared by both towers.
BLOCK_FILTERS = (64, 128, 256, 512)


@dataclass(frozen=True)
class InputRepr:
    """Frontend settings and pooling of one spectrogram representation.

    Attributes
    ----------
    name : str
        "linear", "mel128" or "mel256".
    n_fft : int
        FFT size, also the analysis window length.
    n_mels : int or None
        Mel bands, or None for the linear-frequency magnitude spectrogram.
    n_frames : int
        Spectrogram frames per one-second window.
    audio_pools : dict
        Final max-pooling size of the audio tower per embedding size.
    """

    name: str
    n_fft: int
    n_mels: int | None
    n_frames: int
    audio_pools: dict[int, tuple[int, int]]

    @property
    def n_bins(self) -> int:
        """Frequency bins of the spectrogram."""
        return self.n_mels if self.n_mels else self.n_fft // 2 + 1

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """Shape of one window's spectrogram as the tower takes it: (freq, time, 1)."""
        return (self.n_bins, self.n_frames, 1)


INPUT_REPRS: dict[str, InputRepr] = {
    "linear": InputRepr("linear", 512, None, 197, {6144: (8, 8), 512: (32, 24)}),
    "mel128": InputRepr("mel128", 2048, 128, 199, {6144: (4, 8), 512: (16, 24)}),
    "mel256": InputRepr("mel256", 2048, 256, 199, {6144: (8, 8), 512: (32, 24)}),
}


@dataclass(frozen=True)
class Tower:
    """What distinguishes the audio and the image L3-Net towers.

    Attributes
    ----------
    modality : str
        "audio" or "image".
    input_channels : int
        Channels of the tower's input (1 spectrogram channel, or RGB).
    embedding_layer : str
        Name of the last convolution, as in the official models.
    block_pool_padding : str
        Padding of the 2x2 max-pooling after blocks 1-3.
    block1_relu_first : bool
        Whether the second convolution of block 1 is followed by ReLU then batch
        normalisation (the image tower's quirk) instead of the reverse.
    """

    modality: str
    input_channels: int
    embedding_layer: str
    block_pool_padding: str
    block1_relu_first: bool


AUDIO_TOWER = Tower("audio", 1, "audio_embedding_layer", "valid", False)
IMAGE_TOWER = Tower("image", 3, "vision_embedding_layer", "same", True)
TOWERS = {"audio": AUDIO_TOWER, "image": IMAGE_TOWER}

#: Final pooling of the image tower per embedding size.
IMAGE_POOLS: dict[int, tuple[int, int]] = {8192: (7, 7), 512: (28, 28)}

#: Weight-bearing layers of every tower: input BN, (conv, BN) x 7, final conv.
N_WEIGHTED_LAYERS = 16


def input_repr_spec(name: str) -> InputRepr:
    """Return the settings of a representation, or raise naming the bad value."""
    try:
        return INPUT_REPRS[name]
    except (KeyError, TypeError):
        allowed = ", ".join(repr(k) for k in INPUT_REPRS)
        raise OpenL3Error(f"Invalid input_repr {name!r}: expected one of {allowed}.") from None


def final_pool(tower: Tower, input_repr: InputRepr | None, embedding_size: int) -> tuple[int, int]:
    """Return the final pooling size for a tower, representation and embedding size."""
    pools = IMAGE_POOLS if tower is IMAGE_TOWER else input_repr.audio_pools
    if isinstance(embedding_size, bool) or embedding_size not in pools:
        allowed = ", ".join(str(k) for k in pools)
        raise OpenL3Error(
            f"Invalid embedding_size {embedding_size!r} for the {tower.modality} model: "
            f"expected one of {allowed}."
        )
    return pools[embedding_size]

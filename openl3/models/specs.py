"""The constants of every L3-Net model, in one table.

Each spectrogram representation binds its frontend settings and the audio tower's final
pooling per embedding size; each tower binds what differs between the audio and the
image network, its embedding sizes (the first is the default) and its weight files.
The CLI's choices and the argument checks are derived from these tables.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property

from .._util.exceptions import InvalidArgumentError
from .._util.validation import check_choice

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
#: Weight-bearing layers of every tower: input BN, (conv, BN) x 7, final conv.
N_WEIGHTED_LAYERS = 16
#: Content types the official models were trained on.
CONTENT_TYPES = ("music", "env")
#: Audio frontends: spectrograms inside the model (kapre) or computed before it (librosa).
FRONTENDS = ("kapre", "librosa")
#: What computes the kapre frontend's spectrogram: openl3's keras.ops twin of kapre's layers
#: (also "auto", the default), or kapre's own layers (optional: openl3[kapre], TensorFlow only).
SPECTROGRAMS = ("auto", "keras", "kapre")


def resolve_spectrogram(spectrogram: str, name: str = "spectrogram") -> str:
    """Return what computes the spectrogram ``spectrogram`` asks for: "keras" ("auto" too) or "kapre".

    Raises
    ------
    InvalidArgumentError
        Naming ``name``, unless ``spectrogram`` is one of :data:`SPECTROGRAMS`.

    Examples
    --------
    >>> resolve_spectrogram("auto"), resolve_spectrogram("kapre")
    ('keras', 'kapre')
    """
    check_choice(spectrogram, name, SPECTROGRAMS)
    return "keras" if spectrogram == "auto" else spectrogram


#: input_repr used when none is given: by the kapre frontend (0.4.2 behaviour; its
#: documentation says mel128) and by the image models.
DEFAULT_INPUT_REPR = "mel256"

Pool = tuple[int, int]


@dataclass(frozen=True)
class TowerLayer:
    """One layer of an L3-Net tower, as the builder names it.

    Attributes
    ----------
    name : str
        Stable Keras layer name: "input_bn"; "conv<n>", "bn<n>", "relu<n>" for the n-th
        convolution (1-7) and what follows it; "pool<b>" after block b (1-3); the 8th
        convolution keeps its official name (``audio_embedding_layer`` or
        ``vision_embedding_layer``).
    kind : str
        The Keras layer it is: "bn" (BatchNormalization), "conv" (Conv2D 3x3, ``same``),
        "relu" (Activation) or "pool" (the 2x2 MaxPooling2D after blocks 1-3).
    channels : int
        Channels of the layer's activations.
    """

    name: str
    kind: str
    channels: int


@dataclass(frozen=True)
class InputRepr:
    """Frontend settings and audio pooling of one spectrogram representation.

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
        Final max-pooling size of the audio tower per embedding size (default first).
    """

    name: str
    n_fft: int
    n_mels: int | None
    n_frames: int
    audio_pools: Mapping[int, Pool]

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
    """One kind of L3-Net model: the audio or the image tower.

    Attributes
    ----------
    modality : str
        "audio" or "image".
    embedding_layer : str
        Name of the last convolution, as in the official models.
    block_pool_padding : str
        Padding of the 2x2 max-pooling after blocks 1-3.
    block1_relu_first : bool
        Whether the second convolution of block 1 is followed by ReLU then batch
        normalisation (the image tower's quirk) instead of the reverse.
    fixed_pools : dict or None
        Final pooling per embedding size when it does not depend on the representation
        (image tower); None when each representation has its own (audio tower).
    """

    modality: str
    embedding_layer: str
    block_pool_padding: str
    block1_relu_first: bool
    fixed_pools: Mapping[int, Pool] | None = None

    def pools(self, input_repr: str) -> Mapping[int, Pool]:
        """Return the final pooling per embedding size of a representation (default size first)."""
        return self.fixed_pools if self.fixed_pools is not None else input_repr_spec(input_repr).audio_pools

    @property
    def embedding_sizes(self) -> tuple[int, ...]:
        """Embedding sizes of this tower, the default first (the same for every representation)."""
        return tuple(self.pools(DEFAULT_INPUT_REPR))

    @property
    def default_embedding_size(self) -> int:
        """The embedding size used when none is given (6144 audio, 8192 image)."""
        return self.embedding_sizes[0]

    def input_shape(self, input_repr: str | None = None, frontend: str = "kapre") -> tuple[int, ...]:
        """Return the shape of one model input, batch excluded.

        Image models take (224, 224, 3) images; audio models take (1, 48000) raw windows
        with the kapre frontend (the spectrogram is in the model) or the (freq, time, 1)
        spectrogram of ``input_repr`` with librosa.
        """
        if self.fixed_pools is not None:
            return (IMAGE_SIZE, IMAGE_SIZE, 3)
        return (1, WINDOW_SAMPLES) if frontend == "kapre" else input_repr_spec(input_repr).input_shape

    @cached_property
    def layers(self) -> tuple[TowerLayer, ...]:
        """The tower's layers in order, from the input batch normalisation to the embedding convolution.

        The builder (:func:`openl3.models.tower.build_tower`) makes exactly these layers,
        and each name is a valid ``output`` of the loaders.
        """
        channels = self.input_shape(DEFAULT_INPUT_REPR, "librosa")[-1]
        layers = [TowerLayer("input_bn", "bn", channels)]
        for conv in range(1, 2 * len(BLOCK_FILTERS)):  # the 8th convolution is the embedding layer
            filters = BLOCK_FILTERS[(conv - 1) // 2]
            after = ("relu", "bn") if self.block1_relu_first and conv == 2 else ("bn", "relu")
            layers += [TowerLayer(f"{kind}{conv}", kind, filters) for kind in ("conv", *after)]
            if conv % 2 == 0:
                layers.append(TowerLayer(f"pool{conv // 2}", "pool", filters))
        return (*layers, TowerLayer(self.embedding_layer, "conv", BLOCK_FILTERS[-1]))

    def output_layer(self, output: str | None) -> TowerLayer | None:
        """Return the layer named ``output`` (None for None: the embedding), or raise.

        Raises
        ------
        OpenL3Error
            Naming the argument and listing the valid names, for any other value.
        """
        if output is None:
            return None
        for layer in self.layers:
            if layer.name == output:
                return layer
        allowed = ", ".join(repr(layer.name) for layer in self.layers)
        raise InvalidArgumentError(
            f"Invalid output {output!r} for the {self.modality} model: expected None (the embedding) "
            f"or a layer of the tower: {allowed}."
        )

    def final_pool(self, input_repr: str, embedding_size: int) -> Pool:
        """Return the final pooling size for a representation and embedding size, or raise."""
        pools = self.pools(input_repr)
        if isinstance(embedding_size, bool) or embedding_size not in pools:
            allowed = ", ".join(str(k) for k in pools)
            raise InvalidArgumentError(
                f"Invalid embedding_size {embedding_size!r} for the {self.modality} model: "
                f"expected one of {allowed}."
            )
        return pools[embedding_size]


AUDIO_TOWER = Tower("audio", "audio_embedding_layer", "valid", False)
IMAGE_TOWER = Tower("image", "vision_embedding_layer", "same", True, {8192: (7, 7), 512: (28, 28)})


def input_repr_spec(name: str) -> InputRepr:
    """Return the settings of a representation, or raise naming the bad value."""
    try:
        return INPUT_REPRS[name]
    except (KeyError, TypeError):
        allowed = ", ".join(repr(k) for k in INPUT_REPRS)
        raise InvalidArgumentError(f"Invalid input_repr {name!r}: expected one of {allowed}.") from None

"""Reduced-precision copies of a model: the tower in bfloat16, the frontend and the output in float32.

A copy has the original's graph and weights; the layers of its tower (convolutions,
batch normalisations, activations and max-poolings: :data:`TOWER_CLASSES`) get their
own Keras dtype policy (``bfloat16``: weights rounded to bfloat16, bfloat16 compute), not
Keras' global one. Each batch normalisation that follows a convolution is folded into
it (the convolution's kernel and bias scaled and shifted in float64, then rounded once):
a frozen batch normalisation is an affine map per channel, so the copy computes the same
function with one rounding less and eight layers fewer (mel128 model alone: 1.5x float32
with the layers kept, 1.7x folded, on a 2-core EPYC with AVX512_BF16). The spectrogram
frontend keeps float32, so the windows and the spectrogram keep 0.4.2's numbers, and the
layers after the tower (the final flatten or global pooling, float32) cast the embedding
back to float32.
"""

from __future__ import annotations

import threading
import weakref
from typing import Any

#: Keras layer classes of the L3-Net tower, whose computations a reduced precision changes.
TOWER_CLASSES = ("Conv2D", "BatchNormalization", "Activation", "MaxPooling2D")

#: The Keras dtype policy of the tower for each precision that needs a copy of the model.
TOWER_POLICIES = {"bfloat16": "bfloat16"}

_COPIES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_COPIES_LOCK = threading.Lock()


def is_tower_layer(layer: Any) -> bool:
    """Whether ``layer`` is one of the tower's kinds (:data:`TOWER_CLASSES`)."""
    return type(layer).__name__ in TOWER_CLASSES


def has_policy(model: Any, policy: str) -> bool:
    """Whether some layer of ``model`` computes under the dtype policy named ``policy``."""
    return any(
        getattr(layer, "dtype_policy", None) is not None and layer.dtype_policy.name == policy
        for layer in model.layers
    )


def reduced_copy(model: Any, precision: str) -> Any:
    """Return a copy of ``model`` whose tower computes in ``precision``, with the same weights.

    Parameters
    ----------
    model : keras.Model
        A functional model (what openl3 builds, or a user's model of the same kind).
    precision : str
        A computed precision: "faithful", "tf32" (no copy needed: ``model`` is returned)
        or "bfloat16".

    Returns
    -------
    keras.Model
        ``model`` itself when ``precision`` needs no copy or ``model`` already computes in
        it, else the copy.
    """
    policy = TOWER_POLICIES.get(precision)
    if policy is None or has_policy(model, policy):
        return model
    import keras

    from .layers import Passthrough

    folded = folded_normalisations(model)
    convolutions = {conv.name for conv in folded.values()}

    def clone(layer: Any) -> Any:
        if layer.name in folded:
            return Passthrough(name=layer.name)
        if not is_tower_layer(layer):
            return layer.__class__.from_config(layer.get_config())
        config = {**layer.get_config(), "dtype": keras.DTypePolicy(policy)}
        return layer.__class__.from_config(
            {**config, "use_bias": True} if layer.name in convolutions else config
        )

    copy = keras.models.clone_model(model, clone_function=clone)
    for original, layer in zip(model.layers, copy.layers, strict=True):
        if original.weights and original.name not in folded and original.name not in convolutions:
            layer.set_weights(original.get_weights())
    for name, conv in folded.items():
        copy.get_layer(conv.name).set_weights(fold(conv, model.get_layer(name)))
    return copy


def folded_normalisations(model: Any) -> dict[str, Any]:
    """Return the batch normalisations of ``model`` that can be folded, by name, with their convolution.

    A batch normalisation is folded only where folding computes the same function: its
    input is the output of a ``Conv2D`` that feeds nothing else and applies no activation
    of its own (``linear``: a ReLU between the two is not affine), and it normalises the
    convolution's channels (its axis is the channel axis, -1 or 3 of the NHWC output). The
    one after the spectrogram is kept (it precedes a convolution with zero padding, which
    an affine map cannot move across). A user's model whose pairs are otherwise is copied
    with those layers kept, each under the reduced policy.
    """
    consumers: dict[int, int] = {}
    for layer in model.layers:
        for tensor in _inputs_of(layer):
            consumers[id(tensor)] = consumers.get(id(tensor), 0) + 1
    pairs = {}
    for previous, layer in zip(model.layers, model.layers[1:], strict=False):
        inputs = _inputs_of(layer)
        if (
            type(layer).__name__ == "BatchNormalization"
            and type(previous).__name__ == "Conv2D"
            and len(inputs) == 1
            and inputs[0] is previous.output
            and consumers.get(id(previous.output)) == 1
            and _foldable(previous, layer)
        ):
            pairs[layer.name] = previous
    return pairs


def _foldable(conv: Any, normalisation: Any) -> bool:
    """Whether ``normalisation`` after ``conv`` is an affine map of the convolution's linear output."""
    conv_config, norm_config = conv.get_config(), normalisation.get_config()
    axis = norm_config.get("axis", -1)
    axes = axis if isinstance(axis, list | tuple) else [axis]
    linear = conv_config.get("activation") in ("linear", None)
    channels_last = conv_config.get("data_format", "channels_last") == "channels_last"
    return linear and channels_last and [a % 4 for a in axes] == [3]


def _inputs_of(layer: Any) -> list[Any]:
    """Return the tensors a layer of a functional model is called on (none for an input layer)."""
    if type(layer).__name__ == "InputLayer":
        return []
    inputs = layer.input
    return list(inputs) if isinstance(inputs, list | tuple) else [inputs]


def fold(conv: Any, norm: Any) -> list[Any]:
    """Return the kernel and bias of ``conv`` followed by the frozen batch normalisation ``norm``."""
    import numpy as np

    weights = [np.asarray(w, np.float64) for w in conv.get_weights()]
    kernel, bias = weights[0], weights[1] if len(weights) > 1 else np.zeros(weights[0].shape[-1])
    values = dict(zip(("gamma", "beta", "moving_mean", "moving_variance"), _norm_weights(norm), strict=True))
    scale = values["gamma"] / np.sqrt(values["moving_variance"] + norm.epsilon)
    return [kernel * scale, (bias - values["moving_mean"]) * scale + values["beta"]]


def _norm_weights(norm: Any) -> list[Any]:
    """Return gamma, beta, moving mean and moving variance of ``norm`` (ones and zeros where absent)."""
    import numpy as np

    weights = [np.asarray(w, np.float64) for w in norm.get_weights()]
    channels = weights[-1].shape[0]
    gamma = weights.pop(0) if norm.scale else np.ones(channels)
    beta = weights.pop(0) if norm.center else np.zeros(channels)
    return [gamma, beta, *weights]


def model_for_precision(model: Any, precision: str) -> Any:
    """Return ``model``'s copy for ``precision`` (:func:`reduced_copy`), made once per model.

    The copies are kept while ``model`` lives (a weak dictionary keyed by the model), so a
    model given by the user is copied on its first use only.

    Examples
    --------
    >>> model = openl3.models.load_audio_embedding_model("mel128", "music", 512)
    >>> model_for_precision(model, "faithful") is model
    True
    >>> model_for_precision(model, "bfloat16").layers[-1].dtype_policy.compute_dtype
    'bfloat16'
    """
    if TOWER_POLICIES.get(precision) is None or has_policy(model, TOWER_POLICIES[precision]):
        return model
    with _COPIES_LOCK:
        copies = _COPIES.setdefault(model, {})
        if precision not in copies:
            copies[precision] = reduced_copy(model, precision)
        return copies[precision]

"""Matrix-multiply precision of the model on GPUs: faithful float32 by default, fast on request.

On recent NVIDIA GPUs, TensorFlow (since 2.4), JAX and PyTorch may run float32 matrix
multiplies and convolutions in TF32 (a 10-bit mantissa), which is not what OpenL3 0.4.2
computed. ``precision="faithful"`` turns that off for the backend in use around each
model call and restores the previous setting afterwards; ``precision="fast"`` allows it.
Nothing is changed globally, and CPUs compute float32 either way.

:func:`simulated_tf32` lets a CPU estimate what ``"fast"`` costs: it rounds the operands
of TensorFlow's convolutions and matrix products to TF32, as a GPU's tensor cores do, and
keeps the float32 accumulation (``scripts/precision_error.py`` uses it).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from .validation import check_choice

PRECISIONS = ("faithful", "fast")


def check_precision(precision: str) -> str:
    """Return ``precision`` if it is "faithful" or "fast", else raise naming it."""
    return check_choice(precision, "precision", PRECISIONS)


@contextmanager
def matmul_precision(precision: str, backend: str | None = None) -> Iterator[None]:
    """Run the block with TF32 off ("faithful") or allowed ("fast") on ``backend``.

    Parameters
    ----------
    precision : "faithful" or "fast"
        True float32, or TF32 allowed.
    backend : str, optional
        "tensorflow", "jax" or "torch"; the active Keras backend when None.
    """
    allow_tf32 = check_precision(precision) == "fast"
    if backend is None:
        import keras

        backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        previous = tf.config.experimental.tensor_float_32_execution_enabled()
        tf.config.experimental.enable_tensor_float_32_execution(allow_tf32)
        try:
            yield
        finally:
            tf.config.experimental.enable_tensor_float_32_execution(previous)
    elif backend == "jax":
        import jax

        with jax.default_matmul_precision("tensorfloat32" if allow_tf32 else "float32"):
            yield
    elif backend == "torch":
        import torch

        previous = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = allow_tf32
        try:
            yield
        finally:
            torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = previous
    else:
        yield


TF32_ROUNDINGS = ("nearest", "truncate")
_TF32_DROPPED_BITS = 13  # float32 keeps 23 mantissa bits, TF32 keeps 10


def round_to_tf32(x: Any, rounding: str = "nearest") -> Any:
    """Round a float32 TensorFlow tensor to TF32's 10-bit mantissa (kept as float32).

    Parameters
    ----------
    x : tensor
        float32 values (a tensor or anything ``tf.convert_to_tensor`` takes).
    rounding : "nearest" or "truncate"
        Round to nearest, ties to even, or drop the low 13 bits (what tensor cores do
        with float32 operands that were not converted first).

    Returns
    -------
    tensor
        float32 values that TF32 represents exactly.
    """
    import tensorflow as tf

    check_choice(rounding, "rounding", TF32_ROUNDINGS)
    bits = tf.bitcast(tf.convert_to_tensor(x, tf.float32), tf.int32)
    if rounding == "nearest":
        kept_lsb = tf.bitwise.bitwise_and(tf.bitwise.right_shift(bits, _TF32_DROPPED_BITS), 1)
        bits = bits + (1 << (_TF32_DROPPED_BITS - 1)) - 1 + kept_lsb
    mask = tf.constant(~((1 << _TF32_DROPPED_BITS) - 1), tf.int32)
    return tf.bitcast(tf.bitwise.bitwise_and(bits, mask), tf.float32)


@contextmanager
def simulated_tf32(rounding: str = "nearest") -> Iterator[None]:
    """Run TensorFlow's convolutions and matrix products on TF32-rounded operands.

    A CPU stand-in for a GPU under ``precision="fast"``, to estimate its error: the
    inputs and kernels of ``tf.nn.convolution``, ``tf.matmul`` and ``tf.tensordot`` (what
    Keras' convolutions and kapre's mel filterbank call) are rounded to TF32, and the
    products are summed in float32, as tensor cores do. The order of the sums differs from
    a GPU's, which is float32 rounding. The three functions are restored on leaving.
    This patches TensorFlow for the whole process while it lasts, and only eager calls
    or functions traced inside the block see it: it is a measuring tool, not a mode.

    Parameters
    ----------
    rounding : "nearest" or "truncate"
        How operands become TF32 (see :func:`round_to_tf32`).
    """
    import tensorflow as tf

    check_choice(rounding, "rounding", TF32_ROUNDINGS)
    targets = [(tf.nn, "convolution"), (tf, "matmul"), (tf, "tensordot")]
    originals = [getattr(module, name) for module, name in targets]

    def on_tf32(function: Any) -> Any:
        def rounded(a: Any, b: Any, *args: Any, **kwargs: Any) -> Any:
            return function(round_to_tf32(a, rounding), round_to_tf32(b, rounding), *args, **kwargs)

        return rounded

    for (module, name), original in zip(targets, originals, strict=True):
        setattr(module, name, on_tf32(original))
    try:
        yield
    finally:
        for (module, name), original in zip(targets, originals, strict=True):
            setattr(module, name, original)

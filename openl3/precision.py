"""Matrix-multiply precision of the model on GPUs: faithful float32 by default, fast on request.

On recent NVIDIA GPUs, TensorFlow (since 2.4), JAX and PyTorch may run float32 matrix
multiplies and convolutions in TF32 (a 10-bit mantissa), which is not what OpenL3 0.4.2
computed. ``precision="faithful"`` turns that off for the backend in use around each
model call and restores the previous setting afterwards; ``precision="fast"`` allows it.
Nothing is changed globally, and CPUs compute float32 either way.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

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

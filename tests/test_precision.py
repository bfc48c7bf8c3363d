"""Model precision: true float32 by default (TF32 off), TF32 allowed on request, always restored."""

from __future__ import annotations

import numpy as np
import pytest

import openl3
import openl3.cli
from openl3 import OpenL3Error
from openl3.precision import matmul_precision


@pytest.mark.parametrize("initial", [True, False])
def test_tensorflow_tf32_is_set_for_the_block_and_restored(initial):
    import tensorflow as tf

    flag = tf.config.experimental.tensor_float_32_execution_enabled
    tf.config.experimental.enable_tensor_float_32_execution(initial)
    try:
        with matmul_precision("faithful", "tensorflow"):
            assert flag() is False
        assert flag() is initial
        with matmul_precision("fast", "tensorflow"):
            assert flag() is True
        assert flag() is initial
        with pytest.raises(RuntimeError), matmul_precision("faithful", "tensorflow"):
            raise RuntimeError("a failing model call")
        assert flag() is initial
    finally:
        tf.config.experimental.enable_tensor_float_32_execution(True)  # TensorFlow's default


def test_jax_matmul_precision_is_set_for_the_block_and_restored():
    jax = pytest.importorskip("jax")
    before = jax.config.jax_default_matmul_precision
    with matmul_precision("faithful", "jax"):
        assert jax.config.jax_default_matmul_precision == "float32"
    with matmul_precision("fast", "jax"):
        assert jax.config.jax_default_matmul_precision == "tensorfloat32"
    assert jax.config.jax_default_matmul_precision == before


def test_torch_tf32_is_set_for_the_block_and_restored():
    torch = pytest.importorskip("torch")
    before = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    with matmul_precision("faithful", "torch"):
        assert (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32) == (False, False)
    assert (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32) == before


@pytest.mark.parametrize(("precision", "during"), [("faithful", False), ("fast", True)])
def test_every_model_call_runs_under_the_precision(precision, during):
    import keras
    import tensorflow as tf

    from openl3 import batching

    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(2)(inputs))
    seen = []

    def recorder(batch):
        seen.append(tf.config.experimental.tensor_float_32_execution_enabled())
        return tf.zeros((len(batch), 2))

    batching._COMPILED[model] = recorder
    predict = batching.model_predictor(model, precision)
    assert predict(np.ones((3, 4))).shape == (3, 2)
    assert seen == [during]
    assert tf.config.experimental.tensor_float_32_execution_enabled() is True  # restored


def test_bad_precision_is_an_error(mel128_model, capsys):
    with pytest.raises(OpenL3Error, match="Invalid precision 'half'"):
        openl3.get_audio_embedding(np.ones(48000), 48000, model=mel128_model, precision="half")
    with pytest.raises(OpenL3Error, match="Invalid precision"):
        openl3.get_image_embedding(np.ones((224, 224, 3)), precision=None)
    assert openl3.cli.main(["audio", "x.wav", "--precision", "half"]) == 2
    assert openl3.cli.parse_args(["audio", "x.wav", "--precision", "fast"]).precision == "fast"
    assert openl3.cli.parse_args(["audio", "x.wav"]).precision == "faithful"


def test_fast_precision_gives_float32_results_on_cpu(mel128_model):
    audio = np.random.default_rng(0).normal(0, 0.1, 48000)
    faithful, _ = openl3.get_audio_embedding(audio, 48000, model=mel128_model, verbose=False)
    fast, _ = openl3.get_audio_embedding(audio, 48000, model=mel128_model, verbose=False, precision="fast")
    np.testing.assert_array_equal(fast, faithful)  # CPUs have no TF32


def tf32_oracle(x: np.ndarray, rounding: str) -> np.ndarray:
    """Round normal float32 values to 11 significant bits in float64 (numpy rounds ties to even)."""
    mantissa, exponent = np.frexp(x.astype(np.float64))  # x = mantissa * 2**exponent, 0.5 <= |mantissa| < 1
    scaled = mantissa * 2.0**11
    kept = np.round(scaled) if rounding == "nearest" else np.trunc(scaled)
    return np.ldexp(kept, exponent - 11).astype(np.float32)


@pytest.mark.parametrize("rounding", ["nearest", "truncate"])
def test_round_to_tf32_matches_an_arithmetic_oracle(rounding):
    from openl3.precision import round_to_tf32

    rng = np.random.default_rng(0)
    values = (rng.normal(0, 1, 20000) * 10.0 ** rng.uniform(-30, 30, 20000)).astype(np.float32)
    ulp = np.float32(2.0**-10)  # TF32's spacing at 1.0
    ties = np.float32(1.0) + ulp * np.array(
        [0.5, 1.5, 2.5, -0.25, 0.75], np.float32
    )  # halfway, even/odd below
    values = np.concatenate([values, ties, -ties, [0.0, 1.0, -2.0]]).astype(np.float32)
    rounded = np.asarray(round_to_tf32(values, rounding))
    nonzero = values != 0
    np.testing.assert_array_equal(rounded[nonzero], tf32_oracle(values[nonzero], rounding))
    assert np.all(rounded[~nonzero] == 0)
    np.testing.assert_array_equal(np.asarray(round_to_tf32(rounded, rounding)), rounded)  # idempotent
    assert not np.array_equal(rounded, values)
    with pytest.raises(OpenL3Error, match="Invalid rounding 'up'"):
        round_to_tf32(values, "up")


def test_simulated_tf32_rounds_the_operands_of_convolutions_and_products_then_restores():
    import keras
    import tensorflow as tf

    from openl3.precision import round_to_tf32, simulated_tf32

    rng = np.random.default_rng(1)
    images = rng.normal(0, 1, (2, 9, 9, 3)).astype(np.float32)
    conv = keras.layers.Conv2D(4, 3, use_bias=False)
    conv.build(images.shape)
    matrix = rng.normal(0, 1, (3, 5)).astype(np.float32)
    originals = tf.nn.convolution, tf.matmul, tf.tensordot

    def on_rounded(function, a, b, **kwargs):
        return np.asarray(function(round_to_tf32(a), round_to_tf32(b), **kwargs))

    with simulated_tf32():
        simulated_conv = np.asarray(conv(images))
        simulated_dense = np.asarray(keras.ops.matmul(images, matrix))
        simulated_tensordot = np.asarray(tf.tensordot(images, matrix, axes=(3, 0)))
    assert (tf.nn.convolution, tf.matmul, tf.tensordot) == originals
    np.testing.assert_array_equal(
        simulated_conv, on_rounded(tf.nn.convolution, images, conv.kernel, padding="VALID")
    )
    np.testing.assert_array_equal(simulated_dense, on_rounded(tf.matmul, images, matrix))
    np.testing.assert_array_equal(simulated_tensordot, on_rounded(tf.tensordot, images, matrix, axes=(3, 0)))
    faithful = np.asarray(conv(images))
    assert 1e-5 < np.abs(simulated_conv - faithful).max() / np.abs(faithful).max() < 1e-2

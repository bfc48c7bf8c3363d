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

"""Model precision: true float32 by default (TF32 off), TF32 allowed on request, always restored."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

import openl3
import openl3.cli
from helpers import assert_close_to_faithful
from openl3 import OpenL3Error
from openl3.models import model_for_precision
from openl3.models.precision import describe, matmul_precision, resolve_precision
from openl3.models.reduced import has_policy


@pytest.mark.parametrize("initial", [True, False])
def test_tensorflow_tf32_is_set_for_the_block_and_restored(initial):
    import tensorflow as tf

    flag = tf.config.experimental.tensor_float_32_execution_enabled
    tf.config.experimental.enable_tensor_float_32_execution(initial)
    try:
        with matmul_precision("faithful", "tensorflow"):
            assert flag() is False
        assert flag() is initial
        with matmul_precision("tf32", "tensorflow"):
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
    with matmul_precision("tf32", "jax"):
        assert jax.config.jax_default_matmul_precision == "tensorfloat32"
    assert jax.config.jax_default_matmul_precision == before


def test_torch_tf32_is_set_for_the_block_and_restored():
    torch = pytest.importorskip("torch")
    before = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    with matmul_precision("faithful", "torch"):
        assert (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32) == (False, False)
    assert (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32) == before


@pytest.mark.parametrize(("precision", "during"), [("faithful", False), ("tf32", True), ("bfloat16", False)])
def test_every_model_call_runs_under_the_precision(precision, during):
    import keras
    import tensorflow as tf

    from openl3.models import batching

    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(2)(inputs))
    seen = []

    def recorder(batch):
        seen.append(tf.config.experimental.tensor_float_32_execution_enabled())
        return tf.zeros((len(batch), 2))

    batching._COMPILED[model_for_precision(model, precision)] = recorder
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


def _embed(model, precision, seed=0):
    audio = np.random.default_rng(seed).normal(0, 0.1, 3 * 48000)
    return openl3.get_audio_embedding(audio, 48000, model=model, verbose=False, precision=precision)[0]


def test_fast_precision_computes_what_it_resolves_to(mel128_model):
    chosen = resolve_precision("fast")
    np.testing.assert_array_equal(_embed(mel128_model, "fast"), _embed(mel128_model, chosen))


def test_bfloat16_is_close_to_faithful_and_faithful_is_unchanged(mel128_model):
    faithful = _embed(mel128_model, "faithful")
    assert_close_to_faithful(_embed(mel128_model, "bfloat16"), faithful)
    np.testing.assert_array_equal(_embed(mel128_model, "faithful"), faithful)
    assert not has_policy(mel128_model, "bfloat16")  # the user's model is left alone


def _windows():
    """Four windows of seeded noise."""
    return list(np.random.default_rng(0).normal(0, 0.1, (4, 48000)).astype(np.float32))


def test_a_given_model_is_copied_once_per_reduced_precision(mel128_model):
    copy = model_for_precision(mel128_model, "bfloat16")
    assert copy is not mel128_model and has_policy(copy, "bfloat16")
    assert model_for_precision(mel128_model, "bfloat16") is copy
    assert model_for_precision(copy, "bfloat16") is copy
    assert model_for_precision(mel128_model, "faithful") is mel128_model
    assert model_for_precision(mel128_model, "tf32") is mel128_model


def test_the_spectrogram_of_a_bfloat16_model_is_float32_and_equal(mel128_model):
    import keras

    copy = model_for_precision(mel128_model, "bfloat16")
    first_tower = next(i for i, layer in enumerate(copy.layers) if layer.dtype_policy.name != "float32")
    windows = np.stack([w[None] for w in _windows()[:4]])

    def spectrogram(model):
        frontend = keras.Model(model.inputs, model.layers[first_tower - 1].output)
        return np.asarray(frontend(windows))

    assert all(layer.dtype_policy.name == "float32" for layer in copy.layers[:first_tower])
    assert spectrogram(copy).dtype == np.float32
    np.testing.assert_array_equal(spectrogram(copy), spectrogram(mel128_model))


def test_two_threads_with_different_precisions_both_compute_theirs(mel128_model):
    from concurrent.futures import ThreadPoolExecutor

    expected = {p: _embed(mel128_model, p) for p in ("faithful", "bfloat16")}
    with ThreadPoolExecutor(2) as pool:
        runs = [pool.submit(_embed, mel128_model, p) for _ in range(3) for p in expected]
    for run, precision in zip(runs, [p for _ in range(3) for p in expected], strict=True):
        np.testing.assert_array_equal(run.result(), expected[precision])


def test_two_threads_see_their_own_tf32_setting_for_the_whole_call():
    import threading
    import time

    import tensorflow as tf

    flag = tf.config.experimental.tensor_float_32_execution_enabled
    seen = {"faithful": set(), "tf32": set()}
    start = threading.Barrier(2)

    def calls(precision):
        start.wait()
        for _ in range(40):
            with matmul_precision(precision, "tensorflow"):
                seen[precision].add(flag())
                time.sleep(0.001)  # another thread switching now would show below
                seen[precision].add(flag())

    threads = [threading.Thread(target=calls, args=(p,)) for p in seen]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert seen == {"faithful": {False}, "tf32": {True}}
    assert flag() is True  # TensorFlow's default, restored


@pytest.mark.parametrize(("flags", "chosen"), [((), "faithful"), (("avx512_bf16",), "bfloat16")])
def test_fast_uses_bfloat16_only_on_a_cpu_that_computes_it(monkeypatch, flags, chosen):
    from openl3.models import precision

    monkeypatch.setattr(precision, "cpu_bfloat16_flags", lambda: flags)
    monkeypatch.setattr(precision, "has_accelerator", lambda backend=None: False)
    assert resolve_precision("fast", "tensorflow") == chosen
    assert f"-> {chosen!r}" in describe("fast", "tensorflow")
    assert resolve_precision("fast", "jax") == "faithful"  # not measured faster there
    assert resolve_precision("fast", "torch") == chosen  # measured faster where native
    assert "1.5-1.9x" in describe("fast", "torch") or chosen == "faithful"
    monkeypatch.setattr(precision, "has_accelerator", lambda backend=None: True)
    assert resolve_precision("fast", "torch") == "tf32"
    assert resolve_precision("bfloat16", "torch") == "bfloat16"


def test_cpu_flags_are_read_from_cpuinfo(tmp_path):
    from openl3.models.precision import cpu_bfloat16_flags

    info = tmp_path / "cpuinfo"
    info.write_text("processor : 0\nflags\t\t: fpu avx512f amx_bf16 avx512_bf16\n")
    assert cpu_bfloat16_flags(str(info)) == ("avx512_bf16", "amx_bf16")
    other = tmp_path / "cpuinfo-avx2"  # results are cached per file
    other.write_text("flags : fpu avx2\n")
    assert cpu_bfloat16_flags(str(other)) == ()
    assert cpu_bfloat16_flags(str(tmp_path / "missing")) == ()


def test_describe_on_this_machine():
    text = describe("fast")
    chosen = resolve_precision("fast")
    assert f"-> {chosen!r} on tensorflow" in text
    assert "chosen by the caller" in describe("bfloat16")


def tf32_oracle(x: np.ndarray, rounding: str) -> np.ndarray:
    """Round normal float32 values to 11 significant bits in float64 (numpy rounds ties to even)."""
    mantissa, exponent = np.frexp(x.astype(np.float64))  # x = mantissa * 2**exponent, 0.5 <= |mantissa| < 1
    scaled = mantissa * 2.0**11
    kept = np.round(scaled) if rounding == "nearest" else np.trunc(scaled)
    return np.ldexp(kept, exponent - 11).astype(np.float32)


@pytest.mark.parametrize("rounding", ["nearest", "truncate"])
def test_round_to_tf32_matches_an_arithmetic_oracle(rounding):
    from openl3.models.precision import round_to_tf32

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

    from openl3.models.precision import round_to_tf32, simulated_tf32

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


BFLOAT16_ON_BACKEND = """
import numpy as np
import openl3
model = openl3.models.load_audio_embedding_model_from_path({path!r}, "mel128", 512, frontend="kapre")
audio = np.random.default_rng(0).normal(0, 0.1, 96000).astype(np.float32)
out = {{p: openl3.get_audio_embedding(audio, 48000, model=model, hop_size=0.5, verbose=False, precision=p)[0]
       for p in ("faithful", "bfloat16")}}
np.save({target!r}, np.stack([out["faithful"], out["bfloat16"]]))
"""


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_bfloat16_on_the_other_backends(backend, weights_dir, tmp_path):
    pytest.importorskip(backend)
    target = str(tmp_path / "out.npy")
    code = BFLOAT16_ON_BACKEND.format(path=str(weights_dir / "openl3_audio_mel128_music.h5"), target=target)
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr[-3000:]
    faithful, reduced = np.load(target)
    assert_close_to_faithful(reduced, faithful)


@pytest.mark.parametrize("modality", ["audio", "image"])
def test_a_folded_normalisation_is_its_convolution_then_itself(mel128_model, weights_env, modality):
    import keras

    from openl3.models.reduced import fold, folded_normalisations

    model = (
        mel128_model
        if modality == "audio"
        else openl3.models.load_image_embedding_model("mel256", "music", 512)
    )
    pairs = folded_normalisations(model)
    # each convolution's normalisation is folded, but none follows the embedding layer, the
    # audio model's first one follows the spectrogram, and the image model's conv2 is
    # followed by its ReLU first (SPEC.md): those are kept
    kept = {"audio": [], "image": ["conv2"]}[modality]
    convolutions = [layer.name for layer in model.layers if type(layer).__name__ == "Conv2D"][:-1]
    assert [conv.name for conv in pairs.values()] == [name for name in convolutions if name not in kept]
    rng = np.random.default_rng(3)
    for name, conv in pairs.items():
        norm = model.get_layer(name)
        x = rng.normal(size=(2, 7, 6, conv.input.shape[-1])).astype(np.float32)
        expected = keras.ops.convert_to_numpy(norm(conv(x), training=False))
        folded = keras.layers.Conv2D(conv.filters, 3, padding="same")
        folded.build(x.shape)
        folded.set_weights(fold(conv, norm))
        got = keras.ops.convert_to_numpy(folded(x))
        np.testing.assert_allclose(got, expected, rtol=0, atol=2e-5 * np.abs(expected).max())


def users_model(activation, axis):
    """A user's model: input, Conv2D(activation), BatchNormalization(axis), the kind reduced_copy takes."""
    import keras

    inputs = keras.Input((8, 6, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", activation=activation, name="conv")(inputs)
    x = keras.layers.BatchNormalization(axis=axis, name="bn")(x)
    model = keras.Model(inputs, keras.layers.GlobalMaxPooling2D()(x))
    rng = np.random.default_rng(5)
    norm = model.get_layer("bn")
    shape = norm.gamma.shape
    norm.set_weights(
        [
            rng.uniform(0.5, 2, shape),
            rng.normal(size=shape),
            rng.normal(size=shape),
            rng.uniform(0.5, 2, shape),
        ]
    )
    return model


@pytest.mark.parametrize(
    ("activation", "axis", "folded"),
    [
        ("linear", -1, True),
        ("linear", 3, True),
        ("relu", -1, False),
        ("linear", 1, False),
        ("linear", 2, False),
    ],
)
def test_bfloat16_folds_only_a_normalisation_that_is_affine_after_its_convolution(activation, axis, folded):
    """Folding BN into a conv with activation="relu" was off by 1.27 (a numpy check)."""
    from openl3.models.reduced import folded_normalisations, reduced_copy

    model = users_model(activation, axis)
    assert bool(folded_normalisations(model)) is folded
    x = np.random.default_rng(6).normal(size=(4, 8, 6, 3)).astype(np.float32)
    faithful = np.asarray(model.predict_on_batch(x))
    reduced = np.asarray(reduced_copy(model, "bfloat16").predict_on_batch(x), np.float32)
    np.testing.assert_allclose(
        reduced, faithful, rtol=0, atol=0.05 * np.abs(faithful).max()
    )  # bfloat16's 8 bits

"""The HEAR 2021 API (``openl3.audio.hear``), on the active backend and on JAX and PyTorch."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

import openl3
from helpers import assert_close_to_faithful, noise
from openl3 import OpenL3Error
from openl3.audio import hear

SMALL = {"input_repr": "mel128", "embedding_size": 512, "hop_size": 0.25}


@pytest.fixture(scope="module")
def model(weights_dir):
    return hear.load_model(str(weights_dir / "openl3_audio_mel128_music.h5"), **SMALL)


def sounds(n=3, seconds=1.7):
    return np.stack([noise(seconds, 48000, seed=k) for k in range(n)]).astype(np.float32)


def test_the_model_carries_the_rate_and_sizes(model):
    import tensorflow as tf

    assert model.sample_rate == 48000
    assert model.scene_embedding_size == model.timestamp_embedding_size == 512
    assert isinstance(model.scene_embedding_size, int)
    assert isinstance(model, tf.Module)  # what HEAR tools ask of TensorFlow models


def test_timestamp_embeddings_are_get_audio_embedding_of_each_sound(model, mel128_model):
    audio = sounds()
    embeddings, timestamps = hear.get_timestamp_embeddings(audio, model)
    assert embeddings.shape == (3, 6, 512) and timestamps.shape == (3, 6)
    assert embeddings.dtype == np.float32 and timestamps.dtype == np.float32
    for k, sound in enumerate(audio):
        expected, times = openl3.get_audio_embedding(
            sound, 48000, model=mel128_model, hop_size=0.25, verbose=False
        )
        # the sounds share model batches here: equal to the model's batch-size rounding
        np.testing.assert_allclose(embeddings[k], expected, rtol=0, atol=1e-5 * np.abs(expected).max())
        np.testing.assert_allclose(timestamps[k], 1000 * times)


def test_a_bfloat16_model_computes_in_bfloat16(model, weights_dir):
    reduced = hear.load_model(
        str(weights_dir / "openl3_audio_mel128_music.h5"), precision="bfloat16", **SMALL
    )
    audio = sounds(2)
    faithful, _ = hear.get_timestamp_embeddings(audio, model)
    embeddings, _ = hear.get_timestamp_embeddings(audio, reduced)
    assert_close_to_faithful(embeddings.reshape(-1, 512), faithful.reshape(-1, 512))


def test_scene_embeddings_are_the_mean_over_time(model):
    audio = sounds(2, 2.3)
    embeddings, _ = hear.get_timestamp_embeddings(audio, model)
    scene = hear.get_scene_embeddings(audio, model)
    assert scene.shape == (2, 512)
    np.testing.assert_allclose(scene, embeddings.mean(axis=1), rtol=1e-6)


def test_backend_tensors_in_give_backend_tensors_out(model):
    import keras

    audio = keras.ops.convert_to_tensor(sounds(2, 1.0))
    embeddings, timestamps = hear.get_timestamp_embeddings(audio, model)
    assert keras.ops.is_tensor(embeddings) and keras.ops.is_tensor(timestamps)
    assert tuple(embeddings.shape) == (2, 3, 512)
    assert keras.ops.is_tensor(hear.get_scene_embeddings(audio, model))


def test_official_weights_by_default_and_options_checked(weights_env):
    model = hear.load_model(**SMALL)  # found in OPENL3_WEIGHTS_DIR by name
    assert model.timestamp_embedding_size == 512
    with pytest.raises(OpenL3Error, match="Invalid options of openl3.audio.hear.load_model: sr"):
        hear.load_model(sr=16000)
    with pytest.raises(OpenL3Error, match=r"expected \(n_sounds, n_samples\)"):
        hear.get_scene_embeddings(np.zeros(48000), model)


CHECK_ON_BACKEND = """
import numpy as np, openl3, keras
from openl3.audio import hear
model = hear.load_model({path!r}, input_repr="mel128", embedding_size=512, hop_size=0.5)
rng = np.random.default_rng(0)
audio = (rng.random((2, 72000)) * 2 - 1).astype(np.float32)
emb, ts = hear.get_timestamp_embeddings(keras.ops.convert_to_tensor(audio), model)
scene = hear.get_scene_embeddings(audio, model)
emb = keras.ops.convert_to_numpy(emb)
ref, _ = openl3.get_audio_embedding(audio[1], 48000, model=model.embedder.model, hop_size=0.5, verbose=False)
error = float(np.abs(emb[1] - ref).max())
print(type(model).__mro__[2].__module__, emb.shape, tuple(ts.shape), scene.shape, error)
"""


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_other_backends(backend, weights_dir):
    pytest.importorskip(backend)
    code = CHECK_ON_BACKEND.format(path=str(weights_dir / "openl3_audio_mel128_music.h5"))
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr[-3000:]
    words = result.stdout.strip().splitlines()[-1]
    assert "(2, 3, 512) (2, 3) (2, 512)" in words
    assert float(words.rsplit(" ", 1)[1]) <= 1e-5
    assert words.startswith("torch" if backend == "torch" else "builtins")


@pytest.mark.slow
def test_the_hear_validator_accepts_the_module(weights_dir):
    """HEAR's own validator (it imports TensorFlow and PyTorch: run where both are installed)."""
    pytest.importorskip("hearvalidator")
    pytest.importorskip("torch")
    weights = str(weights_dir / "openl3_audio_mel256_music.h5")
    command = [sys.executable, "-m", "hearvalidator.validate", "openl3.audio.hear", "-m", weights]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=1800)
    assert result.returncode == 0 and "Looks good!" in result.stdout, (
        result.stdout[-2000:] + result.stderr[-2000:]
    )


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_nan_or_infinite_audio_is_refused(model, value):
    audio = sounds(2, 1.0)
    audio[1, 100] = value
    for call in (hear.get_timestamp_embeddings, hear.get_scene_embeddings):
        with pytest.raises(OpenL3Error, match="NaN or infinite"):
            call(audio, model)


def test_an_empty_batch_gives_empty_results_of_the_right_shapes(model):
    embeddings, timestamps = hear.get_timestamp_embeddings(np.zeros((0, 48000), np.float32), model)
    assert embeddings.shape == (0, 3, 512) and timestamps.shape == (0, 3)  # 1 s: 3 windows at hop 0.25
    assert embeddings.dtype == timestamps.dtype == np.float32
    assert hear.get_scene_embeddings(np.zeros((0, 48000), np.float32), model).shape == (0, 512)
    assert hear.get_timestamp_embeddings(sounds(1, 1.0), model)[0].shape == (1, 3, 512)


@pytest.mark.parametrize(
    ("audio", "model_given", "message"),
    [
        (
            [[0.1] * 48000],
            True,
            "Invalid audio: expected a tensor of the Keras backend or a numpy array, got list",
        ),
        (np.ones((1, 48000), dtype=bool), True, "expected real numbers, got dtype bool"),
        (
            np.ones((1, 48000), np.float32),
            False,
            "Invalid model: expected the model of openl3.audio.hear.load_model",
        ),
    ],
)
def test_bad_audio_and_models_are_errors(model, audio, model_given, message):
    for call in (hear.get_timestamp_embeddings, hear.get_scene_embeddings):
        with pytest.raises(OpenL3Error, match=message):
            call(audio, model if model_given else None)

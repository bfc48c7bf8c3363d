"""The towers, the frontends, and loading official-layout weight files."""

from __future__ import annotations

import gzip
import importlib.util
import itertools
import os
import re
import shutil
import subprocess
import sys
import warnings

import numpy as np
import pytest

import openl3
from helpers import official_layout, skip_without_kapre, weight_values, write_weight_file
from openl3 import OpenL3Error
from openl3._util.exceptions import InvalidArgumentError
from openl3.models import kapre_v0_1_4_magnitude_to_decibel

load_audio = openl3.models.load_audio_embedding_model_from_path
load_image = openl3.models.load_image_embedding_model_from_path


def _tower_kinds(model):
    """Layer kinds after the frontend, e.g. ['BN', 'Conv', 'BN', 'ReLU', ...]."""
    names = {"BatchNormalization": "BN", "Conv2D": "Conv", "Activation": "ReLU", "MaxPooling2D": "Pool"}
    kinds = [names.get(type(layer).__name__, type(layer).__name__) for layer in model.layers]
    return kinds[kinds.index("BN") :]


def _weighted(model):
    return [layer for layer in model.layers if type(layer).__name__ in ("BatchNormalization", "Conv2D")]


BLOCK = ["Conv", "BN", "ReLU", "Conv", "BN", "ReLU", "Pool"]
LAST = ["Conv", "BN", "ReLU", "Conv", "Pool", "Flatten"]


def test_audio_tower_layer_order(mel128_librosa_model):
    assert _tower_kinds(mel128_librosa_model) == ["BN", *BLOCK * 3, *LAST]
    assert mel128_librosa_model.layers[-3].name == "audio_embedding_layer"
    assert mel128_librosa_model.get_layer("audio_embedding_layer").activation.__name__ == "linear"


def test_image_tower_layer_order_keeps_block_1_quirk(weights_dir):
    model = load_image(str(weights_dir / "openl3_image_mel256_music.h5"), 512)
    block1 = ["Conv", "BN", "ReLU", "Conv", "ReLU", "BN", "Pool"]
    assert _tower_kinds(model) == ["BN", *block1, *BLOCK * 2, *LAST]
    assert model.layers[-3].name == "vision_embedding_layer"
    assert model.input_shape == (None, 224, 224, 3)
    assert model.output_shape == (None, 512)


@pytest.mark.parametrize(
    ("input_repr", "size", "feature_map", "pool"),
    [
        ("linear", 6144, (32, 24, 512), (8, 8)),
        ("linear", 512, (32, 24, 512), (32, 24)),
        ("mel128", 6144, (16, 24, 512), (4, 8)),
        ("mel128", 512, (16, 24, 512), (16, 24)),
        ("mel256", 6144, (32, 24, 512), (8, 8)),
        ("mel256", 512, (32, 24, 512), (32, 24)),
    ],
)
def test_audio_pooling_per_representation(weights_dir, input_repr, size, feature_map, pool):
    model = load_audio(
        str(weights_dir / f"openl3_audio_{input_repr}_music.h5"), input_repr, size, frontend="librosa"
    )
    embedding_layer = model.get_layer("audio_embedding_layer")
    assert tuple(embedding_layer.output.shape[1:]) == feature_map
    assert tuple(model.layers[-2].pool_size) == pool
    assert model.output_shape == (None, size)


def test_kapre_model_takes_raw_windows(mel128_model):
    assert mel128_model.input_shape == (None, 1, 48000)
    assert tuple(mel128_model.get_layer("magnitude_to_decibel").output.shape[1:]) == (128, 199, 1)


def test_weights_land_in_order_with_any_layer_names(weights_dir, mel128_librosa_model):
    values = weight_values("audio", 1)  # the seed of the mel128 file in conftest
    file_layers = [name for name, variables in official_layout("audio") if variables]
    for layer, file_layer in zip(_weighted(mel128_librosa_model), file_layers, strict=True):
        for variable in layer.weights:
            np.testing.assert_array_equal(variable.numpy(), values[file_layer][variable.name])


def test_weights_land_where_the_official_layout_puts_them(reference, reference_weights):
    import h5py

    model = load_audio(reference_weights["mel256"], "mel256", 6144)
    with h5py.File(reference_weights["mel256"], "r") as h5:
        names = [n.decode() if isinstance(n, bytes) else n for n in h5.attrs["layer_names"]]
        weighted = [n for n in names if len(h5[n].attrs["weight_names"])]
        first_bn, last_conv = h5[weighted[0]], h5[weighted[-1]]
        mean = np.asarray(first_bn[f"{weighted[0]}/moving_mean:0"])
        kernel = np.asarray(last_conv[f"{weighted[-1]}/kernel:0"])
    assert weighted[-1] == "audio_embedding_layer" and weighted[0] != "batch_normalization"
    layers = _weighted(model)
    np.testing.assert_array_equal(layers[0].moving_mean.numpy(), mean)
    np.testing.assert_array_equal(model.get_layer("audio_embedding_layer").kernel.numpy(), kernel)


def test_gzip_files_load_like_plain_ones(tmp_path, weights_dir, mel128_librosa_model):
    plain = weights_dir / "openl3_audio_mel128_music.h5"
    compressed = tmp_path / "openl3_audio_mel128_music-v0_4_0.h5.gz"
    with open(plain, "rb") as source, gzip.open(compressed, "wb") as target:
        shutil.copyfileobj(source, target)
    model = load_audio(str(compressed), "mel128", 512, frontend="librosa")
    for mine, theirs in zip(model.weights, mel128_librosa_model.weights, strict=True):
        np.testing.assert_array_equal(mine.numpy(), theirs.numpy())


def test_image_file_for_audio_model_is_named_as_such(weights_dir):
    with pytest.raises(OpenL3Error, match=r"layer 1 .*image tower"):
        load_audio(str(weights_dir / "openl3_image_mel256_music.h5"), "mel256", 512)
    with pytest.raises(OpenL3Error, match=r"layer 1 .*audio tower"):
        load_image(str(weights_dir / "openl3_audio_mel256_music.h5"), 512)


def test_wrong_layer_count_is_an_error(tmp_path):
    layout = [entry for entry in official_layout("audio") if entry[0] != "batch_normalization_44"]
    path = write_weight_file(tmp_path / "short.h5", "audio", layout=layout)
    with pytest.raises(OpenL3Error, match="has 15 weight-bearing layers"):
        load_audio(path, "mel128", 512)


def test_wrong_shape_names_the_layer(tmp_path):
    layout = official_layout("audio")
    values = weight_values("audio", 0)
    index = next(i for i, (name, _) in enumerate(layout) if name == "conv2d_63")
    name = layout[index][0]
    layout[index] = (name, [("kernel", (3, 3, 128, 200)), ("bias", (200,))])
    values[name] = {"kernel": np.zeros((3, 3, 128, 200), np.float32), "bias": np.zeros(200, np.float32)}
    path = write_weight_file(tmp_path / "bad.h5", layout=layout, values=values)
    with pytest.raises(OpenL3Error, match=r"layer 6 \(Conv2D\).*conv2d_63.*kernel \(3, 3, 128, 200\)"):
        load_audio(path, "mel128", 512)


@pytest.mark.parametrize("kind", ["text", "truncated", "truncated_gzip", "missing", "not_keras"])
def test_unreadable_weight_files_are_errors(tmp_path, weights_dir, kind):
    import h5py

    path = tmp_path / "openl3_audio_mel128_music.h5"
    source = (weights_dir / "openl3_audio_mel128_music.h5").read_bytes()
    if kind == "text":
        path.write_text("this is not a weight file")
    elif kind == "truncated":
        path.write_bytes(source[: len(source) // 2])
    elif kind == "truncated_gzip":
        path = tmp_path / "openl3_audio_mel128_music.h5.gz"
        path.write_bytes(gzip.compress(source)[:5000])
    elif kind == "not_keras":
        with h5py.File(path, "w") as h5:
            h5.create_dataset("x", data=np.ones(3))
    with pytest.raises(OpenL3Error, match="openl3_audio_mel128_music"):
        load_audio(str(path), "mel128", 512)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda p: load_audio(p, "mel64", 512), "input_repr 'mel64'"),
        (lambda p: load_audio(p, "mel128", 8192), "embedding_size 8192 for the audio model"),
        (lambda p: load_audio(p, "mel128", 512, frontend="essentia"), "frontend 'essentia'"),
        (lambda p: load_image(p, 6144), "embedding_size 6144 for the image model"),
    ],
)
def test_bad_model_arguments_are_errors(weights_dir, call, message):
    with pytest.raises(OpenL3Error, match=message):
        call(str(weights_dir / "openl3_audio_mel128_music.h5"))


def test_decibel_rule_of_kapre_0_1_4():
    x = np.array([[[1.0, 0.1, 1e-12]], [[10.0, 1.0, 0.0]]], dtype=np.float32)
    expected = np.array([[[0.0, -10.0, -80.0]], [[0.0, -10.0, -80.0]]], dtype=np.float32)
    np.testing.assert_allclose(kapre_v0_1_4_magnitude_to_decibel(x), expected, atol=1e-5)
    from keras import ops

    tensor_result = ops.convert_to_numpy(kapre_v0_1_4_magnitude_to_decibel(ops.convert_to_tensor(x)))
    np.testing.assert_allclose(tensor_result, expected, atol=1e-5)
    wide = kapre_v0_1_4_magnitude_to_decibel(np.array([[1.0, 1e-3]]), dynamic_range=120.0)
    np.testing.assert_allclose(wide, [[0.0, -30.0]])


@pytest.mark.parametrize("sr", [16000, 22050, 48000, 96000])
def test_the_mel_filterbank_is_librosa_0_11s_bit_for_bit(sr):
    """Our own filterbank, so that the numbers do not hang on the librosa installed.

    librosa 1.0 computes the bins' frequencies another way: there the last bit may differ.
    """
    import librosa

    from openl3.models.frontends import slaney_mel_filterbank

    bit_for_bit = librosa.__version__.startswith("0.")
    for n_fft, n_mels, fmin, fmax in itertools.product(
        (400, 2048), (1, 40, 128, 256), (0.0, 300.0, 1000.0), (sr / 3, sr / 2)
    ):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # librosa: "empty filters" for 256 narrow bands
            expected = librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax)
        basis = slaney_mel_filterbank(sr, n_fft, n_mels, fmin, fmax)
        assert basis.dtype == np.float32
        if bit_for_bit:
            np.testing.assert_array_equal(basis, expected, err_msg=f"{n_fft=} {n_mels=} {fmin=} {fmax=}")
        else:
            np.testing.assert_array_max_ulp(basis, expected, maxulp=1)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ((48000, 2048, 0, 0.0, 24000.0), "Invalid n_mels 0"),
        ((48000, 0, 128, 0.0, 24000.0), "Invalid n_fft 0"),
        ((0, 2048, 128, 0.0, 24000.0), "Invalid sr 0"),
        ((48000, 2048, 128, 300.0, 300.0), "Invalid mel range 300.0 to 300.0 Hz"),
        ((48000, 2048, 128, -1.0, 24000.0), "Invalid mel range -1.0"),
        ((48000, 2048, 128, 0.0, 30000.0), "fmax <= sr / 2"),
        ((48000, 2048, 128, float("nan"), 24000.0), "Invalid mel range nan"),
    ],
)
def test_a_mel_filterbank_of_no_bands_or_an_empty_range_is_refused(arguments, message):
    from openl3.models.frontends import slaney_mel_filterbank

    with pytest.raises(InvalidArgumentError, match=re.escape(message)):
        slaney_mel_filterbank(*arguments)


def test_threads_asking_at_once_build_a_mel_basis_once(monkeypatch):
    from helpers import CountingBuilder, race
    from openl3.models import frontends

    monkeypatch.setattr(frontends, "_MEL_BASES", {})
    build = CountingBuilder(frontends.slaney_mel_filterbank)
    monkeypatch.setattr(frontends, "slaney_mel_filterbank", build)
    bases = race(lambda: frontends.mel_basis(2048, 128))
    assert build.calls == 1
    for basis in bases:
        np.testing.assert_array_equal(basis, bases[0])


def _scale_in_place(basis):
    basis *= 2


def test_a_mel_basis_is_read_only_and_its_cache_cannot_be_changed(monkeypatch):
    from openl3.models import frontends

    monkeypatch.setattr(frontends, "_MEL_BASES", {})
    basis = frontends.mel_basis(2048, 256)
    for write in (lambda: basis.__setitem__((0, 0), 1.0), lambda: _scale_in_place(basis)):
        with pytest.raises(ValueError, match="read-only"):
            write()
    with pytest.raises(ValueError, match="WRITEABLE"):
        basis.setflags(write=True)
    np.testing.assert_array_equal(
        frontends.mel_basis(2048, 256), frontends.slaney_mel_filterbank(48000, 2048, 256, 0.0, 24000.0)
    )


def test_kapre_and_librosa_linear_spectrograms_agree(weights_dir):
    import keras

    from helpers import noise

    model = load_audio(str(weights_dir / "openl3_audio_linear_music.h5"), "linear", 512)
    frontend = keras.Model(model.input, model.get_layer("magnitude_to_decibel").output)
    windows = openl3.preprocess_audio(noise(1.0, 48000, seed=8), 48000, hop_size=0.5)
    kapre = frontend.predict(windows, verbose=0)
    librosa = openl3.preprocess_audio(noise(1.0, 48000, seed=8), 48000, hop_size=0.5, input_repr="linear")
    assert kapre.shape == librosa.shape == (2, 257, 197, 1)
    np.testing.assert_allclose(kapre, librosa, atol=1e-3)


def test_model_paths_come_from_the_weights_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENL3_WEIGHTS_DIR", str(tmp_path))
    for name in (
        "openl3_audio_linear_env.h5.gz",
        "openl3_image_mel128_music-v0_4_0.h5",
        "openl3_image_mel128_music.h5",
    ):
        (tmp_path / name).write_bytes(b"x")
    assert openl3.models.get_audio_embedding_model_path("linear", "env") == str(
        tmp_path / "openl3_audio_linear_env.h5.gz"
    )
    assert openl3.models.get_image_embedding_model_path("mel128", "music") == str(
        tmp_path / "openl3_image_mel128_music-v0_4_0.h5"
    )
    with pytest.raises(
        OpenL3Error, match="Could not download the OpenL3 weight file openl3_audio_mel128_env-v0_4_0"
    ):
        openl3.models.get_audio_embedding_model_path("mel128", "env")


def test_calls_without_a_model_load_it_once(weights_env, monkeypatch):
    from openl3 import models
    from openl3.models import load

    models.clear_model_cache()
    reads = []
    real_read = load.read_weight_file
    monkeypatch.setattr(load, "read_weight_file", lambda path: reads.append(path) or real_read(path))
    audio = np.random.default_rng(0).normal(0, 0.1, 48000)
    first, _ = openl3.get_audio_embedding(
        audio, 48000, input_repr="mel128", embedding_size=512, verbose=False
    )
    second, _ = openl3.get_audio_embedding(
        audio, 48000, input_repr="mel128", embedding_size=512, verbose=False
    )
    np.testing.assert_array_equal(first, second)
    assert len(reads) == 1
    openl3.get_audio_embedding(audio, 48000, input_repr="mel128", embedding_size=6144, verbose=False)
    assert len(reads) == 2  # another embedding size is another model
    weight_file = weights_env / "openl3_audio_mel128_music.h5"
    os.utime(weight_file, ns=(weight_file.stat().st_atime_ns, weight_file.stat().st_mtime_ns + 10**9))
    openl3.get_audio_embedding(audio, 48000, input_repr="mel128", embedding_size=512, verbose=False)
    assert len(reads) == 3  # a changed file is read again
    image = np.random.default_rng(1).uniform(0, 1, (224, 224, 3))
    for _ in range(2):
        openl3.get_image_embedding(image, embedding_size=512, verbose=False)
    assert len(reads) == 4
    assert models.load_audio_embedding_model("mel128", "music", 512) is not models.load_audio_embedding_model(
        "mel128", "music", 512
    )  # the public loaders return a fresh model, as in 0.4.2
    models.clear_model_cache()


@pytest.mark.parametrize("n_fft", [512, 2048])
def test_shipped_windows_are_tensorflow_s_bit_for_bit(n_fft):
    import tensorflow as tf

    from openl3.models.layers import periodic_hann

    expected = tf.signal.hann_window(n_fft, periodic=True, dtype=tf.float32).numpy()
    assert periodic_hann(n_fft).dtype == np.float32
    assert periodic_hann(n_fft).tobytes() == expected.tobytes()


TORCH_SPECTROGRAMS = """
import sys, numpy as np, torch
from openl3.models.layers import Spectrogram
windows = torch.from_numpy(np.load(sys.argv[1]))
out = {r: Spectrogram(r)(windows).numpy() for r in ("linear", "mel128", "mel256")}
with_grad = windows.clone().requires_grad_(True)
linear = Spectrogram("linear")(with_grad)
linear.sum().backward()
out["linear_with_grad"] = linear.detach().numpy()
out["has_grad"] = np.array(with_grad.grad is not None)
np.savez(sys.argv[2], **out)
"""


def test_torch_cpu_spectrogram_is_tensorflow_s(tmp_path):
    if importlib.util.find_spec("torch") is None:
        pytest.skip("torch is not installed")
    import keras

    from openl3.models.layers import Spectrogram

    windows = np.random.default_rng(4).normal(0, 0.1, (3, 1, 48000)).astype(np.float32)
    windows[1, 0] = 0.3 * np.sin(2 * np.pi * 440 * np.arange(48000) / 48000)
    np.save(tmp_path / "windows.npy", windows)
    result = subprocess.run(
        [sys.executable, "-c", TORCH_SPECTROGRAMS, str(tmp_path / "windows.npy"), str(tmp_path / "out.npz")],
        env={**os.environ, "KERAS_BACKEND": "torch"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    torch_out = np.load(tmp_path / "out.npz")
    for input_repr in ("linear", "mel128", "mel256"):
        expected = np.asarray(Spectrogram(input_repr)(keras.ops.convert_to_tensor(windows)))
        if input_repr == "linear":  # pocketfft and a correctly rounded sqrt: TensorFlow's bits
            assert torch_out["linear"].tobytes() == expected.tobytes()
        else:  # then a matrix product, whose summation order differs
            np.testing.assert_allclose(torch_out[input_repr], expected, rtol=0, atol=1e-6 * expected.max())
    # With a gradient to compute, torch's own STFT (differentiable) is used: FFT rounding apart, the same.
    assert bool(torch_out["has_grad"])
    linear = torch_out["linear_with_grad"]
    np.testing.assert_allclose(linear, torch_out["linear"], rtol=0, atol=1e-5 * linear.max())


@pytest.mark.parametrize("input_repr", ["linear", "mel128", "mel256"])
def test_keras_twin_of_kapre_equals_kapre_layers(input_repr):
    import keras

    skip_without_kapre()

    from openl3.models.layers import kapre_frontend
    from openl3.models.specs import INPUT_REPRS

    windows = np.random.default_rng(3).normal(0, 0.1, (3, 1, 48000)).astype(np.float32)
    windows[1, 0] = 0.3 * np.sin(2 * np.pi * 440 * np.arange(48000) / 48000)  # tonal: the hard case
    outputs = {}
    for implementation in ("kapre", "keras"):
        inputs = keras.Input((1, 48000))
        model = keras.Model(inputs, kapre_frontend(inputs, INPUT_REPRS[input_repr], implementation))
        outputs[implementation] = np.asarray(model(windows))
    assert outputs["keras"].shape == (3, *INPUT_REPRS[input_repr].input_shape)
    np.testing.assert_allclose(outputs["keras"], outputs["kapre"], rtol=0, atol=1e-4)  # decibels


# Any layer as the embedding (issue 18): ``output`` names a layer of the tower.

AUDIO_LAYERS = {
    "input_bn": 1,
    "relu2": 64,
    "pool2": 128,
    "conv5": 256,
    "bn7": 512,
    "audio_embedding_layer": 512,
}
IMAGE_LAYERS = {"relu2": 64, "bn2": 64, "pool3": 256, "vision_embedding_layer": 512}


def _max_over_layer(model, name, inputs):
    """The oracle: a Keras sub-model up to layer ``name``, then numpy's max over the two spatial axes."""
    import keras

    activations = keras.Model(model.input, model.get_layer(name).output).predict(inputs, verbose=0)
    return activations.max(axis=(1, 2))


def _spectrograms(n, seed=0):
    return np.random.default_rng(seed).uniform(-80, 0, (n, 128, 199, 1)).astype(np.float32)


@pytest.mark.parametrize(("name", "channels"), AUDIO_LAYERS.items())
def test_an_audio_layer_as_the_embedding_is_its_max_over_frequency_and_time(
    weights_dir, mel128_librosa_model, name, channels
):
    model = load_audio(
        str(weights_dir / "openl3_audio_mel128_music.h5"), "mel128", 512, "librosa", output=name
    )
    spectrograms = _spectrograms(3)
    embedding = model.predict(spectrograms, verbose=0)
    assert (
        embedding.shape == (3, channels) == (3, openl3.models.specs.AUDIO_TOWER.output_layer(name).channels)
    )
    np.testing.assert_array_equal(embedding, _max_over_layer(mel128_librosa_model, name, spectrograms))


def test_an_audio_layer_as_the_embedding_with_the_kapre_frontend(mel128_model, weights_dir):
    model = load_audio(str(weights_dir / "openl3_audio_mel128_music.h5"), "mel128", 512, output="relu4")
    windows = np.random.default_rng(1).normal(0, 0.1, (2, 1, 48000)).astype(np.float32)
    assert model.input_shape == (None, 1, 48000) and model.output_shape == (None, 128)
    np.testing.assert_array_equal(
        model.predict(windows, verbose=0), _max_over_layer(mel128_model, "relu4", windows)
    )


def test_the_last_layer_as_the_embedding_is_the_512_embedding(weights_dir, mel128_librosa_model):
    # The 512 embedding max-pools the whole last map: the same maximum, bit for bit.
    model = load_audio(
        str(weights_dir / "openl3_audio_mel128_music.h5"),
        "mel128",
        6144,
        "librosa",
        output="audio_embedding_layer",
    )
    spectrograms = _spectrograms(2, seed=2)
    np.testing.assert_array_equal(
        model.predict(spectrograms, verbose=0), mel128_librosa_model.predict(spectrograms, verbose=0)
    )


def test_image_layers_as_the_embedding_keep_block_1_s_order(weights_dir):
    path = str(weights_dir / "openl3_image_mel256_music.h5")
    full = load_image(path, 8192)
    images = np.random.default_rng(3).uniform(0, 1, (2, 224, 224, 3)).astype(np.float32)
    for name, channels in IMAGE_LAYERS.items():
        embedding = load_image(path, 8192, output=name).predict(images, verbose=0)
        assert embedding.shape == (2, channels)
        np.testing.assert_array_equal(embedding, _max_over_layer(full, name, images))
    names = [layer.name for layer in full.layers]
    assert names.index("relu2") < names.index("bn2")  # block 1: ReLU, then BN


def test_layer_names_are_stable_and_the_default_model_unchanged(mel128_librosa_model):
    from openl3.models.specs import AUDIO_TOWER, IMAGE_TOWER

    audio = [layer.name for layer in AUDIO_TOWER.layers]
    image = [layer.name for layer in IMAGE_TOWER.layers]
    assert audio[:8] == ["input_bn", "conv1", "bn1", "relu1", "conv2", "bn2", "relu2", "pool1"]
    assert image[4:7] == ["conv2", "relu2", "bn2"]  # the image tower's block 1 quirk
    assert audio[-4:] == ["conv7", "bn7", "relu7", "audio_embedding_layer"]
    assert image[8:] == [*audio[8:-1], "vision_embedding_layer"]
    assert len(set(audio)) == 26
    # The default model: these layers, then the final pooling and flatten, as before.
    assert [layer.name for layer in mel128_librosa_model.layers[1:-2]] == audio
    assert mel128_librosa_model.output_shape == (None, 512)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda p: load_audio(p, "mel128", 512, output="conv9"),
            r"output 'conv9' for the audio model.*'relu6'",
        ),
        (lambda p: load_audio(p, "mel128", 512, output="vision_embedding_layer"), "'audio_embedding_layer'"),
        (
            lambda p: load_image(p, 512, output="audio_embedding_layer"),
            "output 'audio_embedding_layer' for the image",
        ),
        (lambda p: load_audio(p, "mel128", 512, output="spectrogram"), "output 'spectrogram'"),
        (lambda p: load_audio(p, "mel128", 512, output=3), "output 3"),
        (
            lambda p: openl3.models.load_audio_embedding_model("mel128", "env", 512, output="relu"),
            "output 'relu'",
        ),
        (
            lambda p: openl3.models.shared_image_model("mel256", "music", 512, output="pool4"),
            "output 'pool4'",
        ),
    ],
)
def test_bad_layer_names_are_refused(weights_dir, call, message):
    with pytest.raises(OpenL3Error, match=message):
        call(str(weights_dir / "openl3_audio_mel128_music.h5"))


def test_shared_models_are_built_once_per_output(weights_env):
    from openl3 import models

    models.clear_model_cache()
    relu6 = models.shared_audio_model("mel128", "music", 512, "librosa", output="relu6")
    assert models.shared_audio_model("mel128", "music", 512, "librosa", output="relu6") is relu6
    assert relu6.output_shape == (None, 256)
    default = models.shared_audio_model("mel128", "music", 512, "librosa")
    assert default is not relu6 and default.output_shape == (None, 512)
    image = models.shared_image_model("mel256", "music", 8192, output="pool1")
    assert image.output_shape == (None, 64) and image is models.shared_image_model(
        "mel256", "music", 8192, output="pool1"
    )
    models.clear_model_cache()


def test_shared_models_are_built_once_per_precision(weights_env):
    from openl3 import models
    from openl3.models.reduced import has_policy

    models.clear_model_cache()
    faithful = models.shared_audio_model("mel128", "music", 512, "librosa")
    bfloat16 = models.shared_audio_model("mel128", "music", 512, "librosa", precision="bfloat16")
    assert has_policy(bfloat16, "bfloat16") and not has_policy(faithful, "bfloat16")
    assert models.shared_audio_model("mel128", "music", 512, "librosa", precision="bfloat16") is bfloat16
    assert models.shared_audio_model("mel128", "music", 512, "librosa", precision="tf32") is faithful
    assert models.shared_audio_model("mel128", "music", 512, "librosa") is faithful
    image = models.shared_image_model("mel256", "music", 512, precision="bfloat16")
    assert has_policy(image, "bfloat16") and image.output.dtype == "float32"
    models.clear_model_cache()


ON_BACKEND = """
import sys, keras, numpy as np
import openl3
path, windows = sys.argv[1], np.load(sys.argv[2])
full = openl3.models.load_audio_embedding_model_from_path(path, "mel128", 512)
layer = openl3.models.load_audio_embedding_model_from_path(path, "mel128", 512, output="pool3")
sub = keras.Model(full.input, full.get_layer("pool3").output)
oracle = keras.ops.convert_to_numpy(sub(windows)).max(axis=(1, 2))
np.savez(sys.argv[3], layer=keras.ops.convert_to_numpy(layer(windows)), oracle=oracle)
"""


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_a_layer_as_the_embedding_on_other_backends(tmp_path, weights_dir, backend):
    pytest.importorskip(backend)
    np.save(
        tmp_path / "windows.npy", np.random.default_rng(5).normal(0, 0.1, (2, 1, 48000)).astype(np.float32)
    )
    arguments = [str(weights_dir / "openl3_audio_mel128_music.h5"), str(tmp_path / "windows.npy")]
    result = subprocess.run(
        [sys.executable, "-c", ON_BACKEND, *arguments, str(tmp_path / "out.npz")],
        env={**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    out = np.load(tmp_path / "out.npz")
    assert out["layer"].shape == (2, 256)
    np.testing.assert_array_equal(out["layer"], out["oracle"])

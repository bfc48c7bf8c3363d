"""Exports: each loaded with its own runtime and compared with the Keras model."""

from __future__ import annotations

import os

import numpy as np
import pytest

import openl3
from openl3 import OpenL3Error
from openl3.cli import main

#: ONNX and LiteRT on tonal audio: their FFTs (a matrix product in tf2onnx) round
#: unlike TensorFlow's in the noise bins 0.4.2's spectrogram keeps (docs/export.md).
OTHER_FFT_BOUND = 1e-2


def audio_windows():
    """Broadband noise, then two tones (tonal audio shows FFT rounding the most)."""
    rng = np.random.default_rng(0)
    t = np.arange(48000) / 48000
    tones = [
        0.3 * np.sin(2 * np.pi * 440 * t),
        0.2 * np.sin(2 * np.pi * 1000 * t) * np.sin(2 * np.pi * 3 * t),
    ]
    return np.stack([0.1 * rng.standard_normal(48000), *tones]).astype(np.float32)


def relative_errors(got, want):
    return np.abs(got - want).max(axis=1) / np.abs(want).max(axis=1)


def run_saved_model(path, x):
    import tensorflow as tf

    loaded = tf.saved_model.load(path)
    return loaded.serve(x).numpy()


def run_onnx(path, x):
    ort = pytest.importorskip("onnxruntime")
    session = ort.InferenceSession(path)
    [inp], [out] = session.get_inputs(), session.get_outputs()
    assert inp.name in ("window", "image") and out.name == "embedding"
    assert inp.shape[0] == out.shape[0] == "batch"
    return session.run(None, {inp.name: x})[0]


def run_tflite(path, x):
    interpreter_module = pytest.importorskip("ai_edge_litert.interpreter")
    interpreter = interpreter_module.Interpreter(model_path=path)
    [detail] = interpreter.get_input_details()
    interpreter.resize_tensor_input(detail["index"], x.shape)
    interpreter.allocate_tensors()
    interpreter.set_tensor(detail["index"], x)
    interpreter.invoke()
    return interpreter.get_tensor(interpreter.get_output_details()[0]["index"])


@pytest.fixture(scope="module")
def audio_reference(weights_dir):
    model = openl3.models.load_audio_embedding_model_from_path(
        str(weights_dir / "openl3_audio_mel128_music.h5"), "mel128", 512
    )  # kapre's own layers: the model exports are compared with
    x = audio_windows()
    return x, model.predict(x[:, np.newaxis], verbose=0)


@pytest.mark.parametrize(
    ("fmt", "runner", "bounds"),
    [
        ("savedmodel", run_saved_model, (1e-5, 1e-5)),
        ("onnx", run_onnx, (1e-5, OTHER_FFT_BOUND)),
        ("tflite", run_tflite, (1e-5, OTHER_FFT_BOUND)),
    ],
)
def test_audio_exports_match_the_keras_model(
    fmt, runner, bounds, audio_reference, weights_env, tmp_path, capsys
):
    x, want = audio_reference
    path = str(tmp_path / {"savedmodel": "model", "onnx": "model.onnx", "tflite": "model.tflite"}[fmt])
    args = ["models", "export", "--modality", "audio", "--input-repr", "mel128", "--embedding-size", "512"]
    assert main([*args, "--format", fmt, "-o", path]) == 0, capsys.readouterr().err
    errors = relative_errors(runner(path, x), want)
    measured = f"{fmt}: relative error noise {errors[0]:.2e}, tones {errors[1:].max():.2e}"
    assert errors[0] <= bounds[0] and errors[1:].max() <= bounds[1], measured
    assert os.listdir(tmp_path) == [os.path.basename(path)]  # no temporary left


def test_image_export_matches_the_keras_model(weights_env, weights_dir, tmp_path):
    from openl3.models.export import export_model

    rng = np.random.default_rng(1)
    frames = rng.uniform(-1, 1, (2, 224, 224, 3)).astype(np.float32)
    model = openl3.models.load_image_embedding_model_from_path(
        str(weights_dir / "openl3_image_mel256_music.h5"), 512
    )
    want = model.predict(frames, verbose=0)
    path = export_model(str(tmp_path / "image.onnx"), "image", "mel256", "music", 512, "onnx")
    assert relative_errors(run_onnx(path, frames), want).max() <= 1e-5


def test_bad_requests_are_errors(weights_env, tmp_path):
    from openl3.models.export import export_model

    (tmp_path / "taken.onnx").write_bytes(b"x")
    with pytest.raises(OpenL3Error, match="exists"):
        export_model(str(tmp_path / "taken.onnx"), "audio", "mel128", "music", 512, "onnx")
    with pytest.raises(OpenL3Error, match="format"):
        export_model(str(tmp_path / "m"), "audio", "mel128", "music", 512, "pickle")
    with pytest.raises(OpenL3Error, match="embedding_size"):
        export_model(str(tmp_path / "m"), "image", "mel128", "music", 6144, "onnx")
    assert (
        main(
            [
                "models",
                "export",
                "--modality",
                "audio",
                "--format",
                "onnx",
                "-o",
                str(tmp_path / "taken.onnx"),
            ]
        )
        == 1
    )

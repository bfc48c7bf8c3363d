"""Keras' backend where TensorFlow is missing, and the errors of what needs TensorFlow.

These tests run in the main environment (TensorFlow installed: its absence is simulated,
``sys.modules["tensorflow"] = None`` making its import fail) and in CI's environment
without TensorFlow (requirements/jax.txt), where ``OPENL3_EXPECT_NO_TENSORFLOW=1`` also
checks that it is really absent.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from openl3._util import backends
from openl3._util.exceptions import OpenL3Error

#: Set by CI in its environment without TensorFlow.
EXPECT_NO_TENSORFLOW = os.environ.get("OPENL3_EXPECT_NO_TENSORFLOW") == "1"


@pytest.mark.skipif(not EXPECT_NO_TENSORFLOW, reason="CI's environment without TensorFlow checks this")
def test_the_environment_without_tensorflow_has_none_and_runs_on_jax():
    import keras  # openl3 is imported: it chose the backend

    with pytest.raises(ImportError):
        import tensorflow  # noqa: F401
    assert keras.backend.backend() == "jax"


@pytest.fixture
def no_user_choice(monkeypatch, tmp_path):
    """No backend chosen by the user (no KERAS_BACKEND, an empty Keras home), Keras not imported."""
    monkeypatch.delenv("KERAS_BACKEND", raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras-home"))
    monkeypatch.delitem(sys.modules, "keras", raising=False)


def _installed_except(*missing):
    return lambda module: module not in missing


def test_without_tensorflow_keras_runs_on_jax_else_torch(no_user_choice, monkeypatch):
    monkeypatch.setattr(backends, "installed", _installed_except("tensorflow"))
    assert backends.choose_backend() == "jax" and os.environ["KERAS_BACKEND"] == "jax"
    monkeypatch.delenv("KERAS_BACKEND")
    monkeypatch.setattr(backends, "installed", _installed_except("tensorflow", "jax"))
    assert backends.choose_backend() == "torch" and os.environ["KERAS_BACKEND"] == "torch"
    monkeypatch.delenv("KERAS_BACKEND")
    monkeypatch.setattr(backends, "installed", _installed_except("tensorflow", "jax", "torch"))
    assert backends.choose_backend() is None and "KERAS_BACKEND" not in os.environ


def test_a_users_choice_of_backend_is_kept(no_user_choice, monkeypatch, tmp_path):
    monkeypatch.setattr(backends, "installed", _installed_except("tensorflow"))
    monkeypatch.setenv("KERAS_BACKEND", "torch")
    assert backends.choose_backend() is None and os.environ["KERAS_BACKEND"] == "torch"
    monkeypatch.delenv("KERAS_BACKEND")
    home = tmp_path / "keras-home"
    home.mkdir()
    (home / "keras.json").write_text(json.dumps({"backend": "torch", "floatx": "float32"}))
    assert backends.choose_backend() is None and "KERAS_BACKEND" not in os.environ
    (home / "keras.json").write_text("{not json")  # Keras' own default then: nothing chosen
    assert backends.choose_backend() == "jax"
    monkeypatch.delenv("KERAS_BACKEND")
    # Keras writes its default the first time it is imported: that is no choice.
    (home / "keras.json").write_text(json.dumps({"backend": "tensorflow", "floatx": "float32"}))
    assert backends.choose_backend() == "jax"


def test_with_tensorflow_or_keras_imported_nothing_is_chosen(no_user_choice, monkeypatch):
    monkeypatch.setattr(backends, "installed", _installed_except())
    assert backends.choose_backend() is None
    monkeypatch.setattr(backends, "installed", _installed_except("tensorflow"))
    monkeypatch.setitem(sys.modules, "keras", object())
    assert backends.choose_backend() is None and "KERAS_BACKEND" not in os.environ


def test_installed_looks_up_without_importing(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorflow", None)  # what a failed import leaves
    assert not backends.installed("tensorflow")
    assert backends.installed("json") and not backends.installed("no_such_module_here.sub")
    assert "no_such_module_here" not in sys.modules


def test_what_needs_tensorflow_names_it_where_it_is_missing(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorflow", None)
    with pytest.raises(OpenL3Error, match=r"Exporting to onnx needs TensorFlow, which is not installed"):
        backends.require_tensorflow("Exporting to onnx")
    from openl3.models import export, precision

    with pytest.raises(OpenL3Error, match="Exporting to savedmodel needs TensorFlow.*pip install tensorflow"):
        export.export_model("out", "image", embedding_size=512)
    with pytest.raises(OpenL3Error, match="Simulating TF32 needs TensorFlow"), precision.simulated_tf32():
        pass
    with pytest.raises(OpenL3Error, match="Rounding to TF32 needs TensorFlow"):
        precision.round_to_tf32(np.ones(2, np.float32))


def test_the_export_command_names_tensorflow_where_it_is_missing(monkeypatch, capsys, tmp_path):
    from openl3.cli import main

    monkeypatch.setitem(sys.modules, "tensorflow", None)
    flags = ["--modality", "image", "--format", "tflite", "-o", str(tmp_path / "m")]
    status = main(["models", "export", *flags])
    err = capsys.readouterr().err
    assert status == 1 and "Exporting to tflite needs TensorFlow" in err and not (tmp_path / "m").exists()


def test_an_install_without_tensorflow_embeds_on_jax(weights_dir, tmp_path):
    """A process where TensorFlow cannot be imported: openl3 picks JAX and embeds a file."""
    import soundfile as sf

    if not backends.installed("jax"):
        pytest.skip("JAX is not installed (it is in the tests extra)")

    from helpers import tone

    sf.write(tmp_path / "a.wav", tone(2.0, 16000), 16000)
    code = """
import json, os, sys
sys.modules["tensorflow"] = None           # as where TensorFlow is not installed
import openl3
embedding, timestamps = openl3.get_audio_embedding(
    __import__("soundfile").read(sys.argv[1])[0], 16000, input_repr="mel128", embedding_size=512,
    hop_size=0.5, verbose=False)
import keras
settings = openl3.AudioEmbedder(input_repr="mel128", embedding_size=512).settings()
print(json.dumps({"backend": keras.backend.backend(), "shape": embedding.shape,
                  "spectrogram": settings.spectrogram, "tf": "tensorflow" in sys.modules
                  and sys.modules["tensorflow"] is not None}))
"""
    environment = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    environment.update(OPENL3_WEIGHTS_DIR=str(weights_dir), KERAS_HOME=str(tmp_path / "keras-home"))
    result = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "a.wav")],
        capture_output=True,
        text=True,
        env=environment,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert figures == {"backend": "jax", "shape": [4, 512], "spectrogram": "keras", "tf": False}

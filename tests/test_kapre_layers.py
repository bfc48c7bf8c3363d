"""kapre is optional: openl3's spectrogram by default, kapre's layers on request, saved models.

The tests that need kapre's own layers run where kapre is installed on TensorFlow (CI's
oldest-versions environment, requirements/oldest.txt); the others run everywhere, kapre's
absence simulated (``sys.modules["kapre"] = None``).
"""

from __future__ import annotations

import json
import sys
import zipfile

import numpy as np
import pytest
import soundfile as sf

import openl3
from helpers import AUDIO, skip_without_kapre, tone
from openl3._util.exceptions import OpenL3Error
from openl3.models import load_keras_model
from openl3.models.kapre_layers import kapre_classes_in, spectrogram_of


@pytest.fixture
def no_kapre(monkeypatch):
    """kapre cannot be imported (as where openl3[kapre] is not installed)."""
    monkeypatch.setitem(sys.modules, "kapre", None)


def _outputs(model, windows):
    """The model's outputs as numpy, on any backend."""
    import keras

    return keras.ops.convert_to_numpy(model.predict(windows, verbose=0))


def _windows():
    windows = np.random.default_rng(5).normal(0, 0.1, (2, 1, 48000)).astype(np.float32)
    windows[1, 0] = 0.3 * np.sin(2 * np.pi * 440 * np.arange(48000) / 48000)
    return windows


def test_the_models_compute_their_spectrogram_with_openl3s_layer_by_default(weights_env, no_kapre):
    model = openl3.models.load_audio_embedding_model("mel128", "music", 512)
    assert spectrogram_of(model) == "keras"
    assert "kapre" not in {type(layer).__module__.split(".")[0] for layer in model._flatten_layers()}
    librosa = openl3.models.load_audio_embedding_model("mel128", "music", 512, frontend="librosa")
    assert spectrogram_of(librosa) is None
    embedder = openl3.AudioEmbedder(**AUDIO)
    assert embedder.settings().spectrogram == "keras"
    assert openl3.AudioEmbedder(**AUDIO, frontend="librosa").settings().spectrogram is None


def test_kapres_layers_asked_for_without_kapre_say_what_to_install(weights_env, no_kapre):
    with pytest.raises(OpenL3Error, match=r"kapre is not installed: pip install 'openl3\[kapre\]'") as error:
        openl3.models.load_audio_embedding_model("mel128", "music", 512, spectrogram="kapre")
    assert 'spectrogram="keras" (the default) computes the same numbers' in str(error.value)
    embedder = openl3.AudioEmbedder(**AUDIO, spectrogram="kapre")
    with pytest.raises(OpenL3Error, match="kapre is not installed"):
        embedder.embed(tone(1.0, 48000), 48000)
    with pytest.raises(OpenL3Error, match="Invalid spectrogram 'tf'"):
        openl3.AudioEmbedder(**AUDIO, spectrogram="tf")


def test_kapres_layers_on_another_backend_say_they_need_tensorflow(monkeypatch):
    import keras

    from openl3.models import kapre_layers

    monkeypatch.setattr(kapre_layers, "installed", lambda module: True)
    monkeypatch.setattr(keras.backend, "backend", lambda: "jax")
    with pytest.raises(OpenL3Error, match="kapre's layers run on TensorFlow only, and Keras runs on jax"):
        kapre_layers.kapre_layers()


def test_a_saved_model_reloads_with_the_same_numbers(weights_env, tmp_path):
    model = openl3.models.load_audio_embedding_model("mel128", "music", 512)
    model.save(tmp_path / "l3.keras")
    again = load_keras_model(tmp_path / "l3.keras")
    assert kapre_classes_in(str(tmp_path / "l3.keras")) == []
    np.testing.assert_array_equal(_outputs(again, _windows()), _outputs(model, _windows()))


def _with_kapre_layer(source, target):
    """Copy a saved model, its spectrogram layer turned into kapre's STFT (as kapre saves it)."""
    with zipfile.ZipFile(source) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    config = members["config.json"].decode()
    config = config.replace('"module": "openl3.models.layers", "class_name": "Spectrogram"', "@")
    assert config.count("@") == 1, "the saved model's spectrogram layer was not found"
    config = config.replace("@", '"module": "kapre.time_frequency", "class_name": "STFT"')
    members["config.json"] = config.encode()
    with zipfile.ZipFile(target, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)


def test_a_saved_model_holding_kapres_layers_says_what_to_install(weights_env, tmp_path, no_kapre):
    model = openl3.models.load_audio_embedding_model("mel128", "music", 512)
    model.save(tmp_path / "ours.keras")
    _with_kapre_layer(tmp_path / "ours.keras", tmp_path / "kapre.keras")
    assert kapre_classes_in(str(tmp_path / "kapre.keras")) == ["STFT"]
    with pytest.raises(OpenL3Error, match=r"kapre\.keras holds kapre's layers \(STFT\), and kapre is not"):
        load_keras_model(tmp_path / "kapre.keras")
    with pytest.raises(OpenL3Error, match="no such model file"):
        load_keras_model(tmp_path / "missing.keras")


def test_kapres_own_layers_save_reload_and_are_recorded(weights_env, tmp_path):
    skip_without_kapre()
    model = openl3.models.load_audio_embedding_model("mel128", "music", 512, spectrogram="kapre")
    assert spectrogram_of(model) == "kapre"
    model.save(tmp_path / "kapre.keras")
    assert kapre_classes_in(str(tmp_path / "kapre.keras")) == ["ApplyFilterbank", "Magnitude", "STFT"]
    again = load_keras_model(tmp_path / "kapre.keras")
    np.testing.assert_array_equal(_outputs(again, _windows()), _outputs(model, _windows()))
    assert openl3.AudioEmbedder(model=again).settings().spectrogram == "kapre"


def test_a_dataset_of_kapres_layers_takes_rows_of_openl3s_and_records_which(weights_env, tmp_path):
    """The two spectrograms give the same numbers within float32 rounding: one dataset holds both."""
    skip_without_kapre()
    import pyarrow.parquet as pq

    from openl3.rows import DatasetRows

    for name in ("a", "b"):
        sf.write(tmp_path / f"{name}.wav", tone(2.0, 22050, 300 if name == "a" else 900), 22050)
    out = tmp_path / "ds.l3"
    for name, spectrogram in (("a", "kapre"), ("b", "keras")):
        embedder = openl3.AudioEmbedder(**AUDIO, spectrogram=spectrogram)
        path = str(tmp_path / f"{name}.wav")
        report = embedder.embed_files([path], output_dir=str(out), output_format="parquet")
        assert report.failed == []
    parts = out.glob("part-*.parquet")
    recorded = {json.loads(pq.read_schema(part).metadata[b"openl3"])["spectrogram"] for part in parts}
    assert recorded == {"kapre", "keras"}
    rows = DatasetRows(str(out)).rows()
    for name in ("a", "b"):
        expected, _ = openl3.AudioEmbedder(**AUDIO).embed(*sf.read(tmp_path / f"{name}.wav"))
        mine = rows.embeddings[[p.endswith(f"{name}.wav") for p in rows.paths]]
        np.testing.assert_allclose(mine, expected, rtol=0, atol=1e-5 * np.abs(expected).max())

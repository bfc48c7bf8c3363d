"""Embedding settings: one type, as computed; one comparison; recorded by datasets under their lock."""

import hashlib
import json
import shutil

import pytest

import openl3
from helpers import AUDIO, write_clips, write_weight_file
from openl3 import EmbeddingSettings, OpenL3Error
from openl3.dataset.rows import DatasetRows
from openl3.models import precision
from openl3.models.settings import official_weights

OFFICIAL = official_weights("audio", "mel128", "music")
BASE = EmbeddingSettings("audio", "mel128", "music", 512, 0.5, True, "kapre", "faithful", None, OFFICIAL)


def test_a_record_round_trips_and_differences_name_each_key():
    changed = {
        "input_repr": "mel256",
        "content_type": "env",
        "embedding_size": 6144,
        "hop_size": 0.25,
        "center": False,
        "frontend": "librosa",
        "precision": "bfloat16",
        "output": "relu6",
        "weights": "sha256:" + "0" * 64,
    }
    assert EmbeddingSettings.from_record(BASE.record()) == BASE
    for key, value in changed.items():
        other = BASE.replace(**{key: value})
        assert EmbeddingSettings.from_record(json.loads(json.dumps(other.record()))) == other
        assert BASE.differences(other) == [f"{key}={getattr(BASE, key)!r} (now {value!r})"]
        with pytest.raises(OpenL3Error, match=f"DS holds other: {key}="):
            BASE.check_same(other, "DS holds other")


def test_records_of_earlier_versions_are_read_as_they_are():
    """No weights: not recorded (never taken for the official ones); a bare digest: a SHA-256."""
    old = {**BASE.record(), "dtype": "float16", "openl3": "0.5.0.dev0"}
    del old["weights"]
    legacy = EmbeddingSettings.from_record(old)
    assert legacy == BASE.replace(weights=None) and legacy.unrecorded_weights and not legacy.official
    assert EmbeddingSettings.from_record({**old, "weights": "ab" * 32}).weights == "sha256:" + "ab" * 32
    mine = EmbeddingSettings.from_record({"modality": "audio", "model": "mine"})
    assert mine.weights is None and not mine.unrecorded_weights
    with pytest.raises(OpenL3Error, match="does not know \\(spectrum\\)"):
        EmbeddingSettings.from_record({**old, "spectrum": 1}, "DS")


def test_weights_not_recorded_match_any_with_a_warning(caplog):
    legacy = BASE.replace(weights=None)
    with caplog.at_level("WARNING", logger="openl3"):
        legacy.check_same(BASE.replace(weights="sha256:" + "0" * 64), "DS")
    assert "weights were not recorded" in caplog.text
    assert BASE.differences(BASE.replace(weights="sha256:" + "0" * 64)) != []


def test_precision_fast_of_an_earlier_record_matches_any_computed_precision(caplog):
    legacy = BASE.replace(precision="fast")
    with caplog.at_level("WARNING", logger="openl3"):
        legacy.check_same(BASE.replace(precision="bfloat16"), "DS")
    assert "as asked, not as computed" in caplog.text
    assert BASE.differences(BASE.replace(precision="tf32")) == ["precision='faithful' (now 'tf32')"]


# Every setting through a dataset: what the embedder computes is what the dataset records, and a
# run of any other value is refused naming that setting.
CHANGES = [
    ("input_repr", {"input_repr": "mel256"}),
    ("content_type", {"content_type": "env"}),
    ("embedding_size", {"embedding_size": 6144}),
    ("hop_size", {"hop_size": 0.25}),
    ("center", {"center": False}),
    ("frontend", {"frontend": "librosa"}),
    ("precision", {"precision": "bfloat16"}),
    ("output", {"output": "pool2"}),
]


@pytest.mark.parametrize(("key", "change"), CHANGES, ids=[key for key, _ in CHANGES])
def test_every_setting_round_trips_through_a_dataset_and_another_value_is_refused(
    key, change, weights_env, tmp_path, monkeypatch
):
    if key == "content_type":  # the seeded files are music ones: an env file beside them
        folder = tmp_path / "weights"
        shutil.copytree(weights_env, folder)
        write_weight_file(folder / "openl3_audio_mel128_env.h5", "audio", seed=7)
        monkeypatch.setenv("OPENL3_WEIGHTS_DIR", str(folder))
    clip = write_clips(tmp_path / "in", [1.5])[0]
    out = str(tmp_path / "out")
    embedder = openl3.AudioEmbedder(**{**AUDIO, **change})
    embedder.embed_files(clip, output_dir=out, output_format="parquet")
    recorded = DatasetRows(out).settings
    assert recorded == embedder.settings() and getattr(recorded, key) == change[key]
    with pytest.raises(OpenL3Error, match=f"other settings: {key}="):
        openl3.AudioEmbedder(**AUDIO).embed_files(clip, output_dir=out, output_format="parquet")


def test_a_weight_file_of_the_users_is_recorded_by_its_digest_and_found_again(weights_env, tmp_path):
    clip = write_clips(tmp_path / "in", [1.5])[0]
    mine = tmp_path / "fine-tuned.h5"
    write_weight_file(mine, "audio", seed=77)  # not the file in OPENL3_WEIGHTS_DIR
    out = str(tmp_path / "out")
    openl3.AudioEmbedder(**AUDIO, weights=str(mine)).embed_files(
        clip, output_dir=out, output_format="parquet"
    )
    rows = DatasetRows(out)
    assert rows.settings.weights == "sha256:" + hashlib.sha256(mine.read_bytes()).hexdigest()
    assert rows.weights_file == str(mine)
    rebuilt = openl3.embedders.embedder_for(rows.settings, rows.weights_file)
    assert rebuilt.settings() == rows.settings and rebuilt.weights_path == str(mine)
    mine.write_bytes(b"changed")
    with pytest.raises(OpenL3Error, match="no file with those weights"):
        openl3.embedders.embedder_for(rows.settings, str(mine))


def fast_resolves_to(monkeypatch, kind):
    """Make this machine one where "fast" resolves as on a device of ``kind``."""
    monkeypatch.setattr(precision, "device_kind", lambda backend=None: kind)


def test_precision_is_recorded_as_computed_and_a_shard_that_computes_otherwise_is_refused(
    weights_env, tmp_path, monkeypatch
):
    clips = write_clips(tmp_path / "in", [1.5, 1.5])
    out = str(tmp_path / "out")
    fast_resolves_to(monkeypatch, "cpu-bf16")  # a machine with native bfloat16: "fast" is bfloat16
    settings = {**AUDIO, "precision": "fast"}
    openl3.process_audio_file(clips[0], output_dir=out, output_format="parquet", **settings)
    assert DatasetRows(out).settings.precision == "bfloat16"
    fast_resolves_to(monkeypatch, "cpu")  # another machine, one "fast" keeps in float32
    with pytest.raises(OpenL3Error, match=r"precision='bfloat16' \(now 'faithful'\)"):
        openl3.process_audio_file(clips[1], output_dir=out, output_format="parquet", shard=(0, 1), **settings)

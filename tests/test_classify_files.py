"""The files of a classifier: its outputs never overwrite one another or a user's other files,
and a damaged record is refused with a message, never a traceback."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from helpers import write_clips
from openl3._util.exceptions import OpenL3Error
from openl3.classify import Classifier, embedding_settings, load_model, predict, train
from openl3.classify.model import checksum
from openl3.cli import main

pytest.importorskip("sklearn")
pytest.importorskip("skops")


@pytest.fixture
def saved(tmp_path, weights_env) -> str:
    """A small model fitted on random features (no embedding), saved as ``m.skops``."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(0)
    features, labels = rng.normal(size=(12, 512)), ["dog", "cat", "owl"] * 4
    pipeline = Pipeline([("scale", StandardScaler()), ("classifier", LogisticRegression())])
    settings = embedding_settings("audio", input_repr="mel128", embedding_size=512, hop_size=0.5)
    path = str(tmp_path / "m.skops")
    Classifier(pipeline.fit(features, labels), settings, "mean").save(path)
    return path


def listing(folder: Path) -> dict[str, bytes]:
    """Return every file under ``folder`` with its bytes."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_the_record_never_replaces_a_users_other_file(saved, tmp_path, capsys):
    notes = tmp_path / "notes.json"
    notes.write_text("my notes\n")
    model = load_model(saved)
    with pytest.raises(OpenL3Error, match=r"its record would replace .*notes.json, which is not an openl3"):
        model.save(str(tmp_path / "notes"))
    before = listing(tmp_path)
    assert main(["classify", "train", str(tmp_path), "-o", str(tmp_path / "notes"), "-q"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "notes.json" in err and "Traceback" not in err
    assert listing(tmp_path) == before and notes.read_text() == "my notes\n"
    model.save(Path(saved))  # its own record is replaced: saving twice to one name works
    assert load_model(Path(saved)).classes == ["cat", "dog", "owl"]


def test_outputs_sharing_a_path_are_refused_before_any_work(saved, tmp_path, capsys):
    before = listing(tmp_path)
    model = str(tmp_path / "new.skops")
    clashes = [
        ({"report": model}, "The model and the report would both be"),
        ({"report": model + ".json"}, "The model record and the report would both be"),
        ({"confusion": model}, "The model and the confusion matrix would both be"),
        ({"dataset": model}, "The model and the dataset would both be"),
        ({"report": str(tmp_path)}, "Cannot write the report to .*: it is a folder"),
    ]
    for given, message in clashes:  # refused before the labels are read: "nowhere" is never looked at
        with pytest.raises(OpenL3Error, match=message):
            train(["nowhere"], model=model, **given)
    with pytest.raises(OpenL3Error, match="Cannot write the model to .*: it is a folder"):
        train(["nowhere"], model=str(tmp_path))
    same = str(tmp_path / "p.csv")
    with pytest.raises(OpenL3Error, match="predictions and the per-window predictions would both be"):
        predict(saved, ["nowhere.wav"], output=same, windows_output=same)
    assert listing(tmp_path) == before
    assert main(["classify", "train", "nowhere", "-o", model, "--report", model, "-q"]) == 1
    assert capsys.readouterr().err.startswith("error: The model and the report would both be")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"settings": "x"}, "is damaged: settings not as saved"),
        ({"pooling": 3}, "is damaged: pooling not as saved"),
        ({"classes": "cat"}, "is damaged: classes not as saved"),
        ({"format_version": "1"}, "is damaged: format_version '1' is not a number"),
        ({"settings": {"input_repr": "mel128"}}, "invalid embedding settings: .* records no modality"),
        ({"settings.input_repr": "bogus"}, "invalid embedding settings: Invalid input_repr 'bogus'"),
        ({"pooling": "mean+std"}, "does not match its model: .* gives 1024 features, the model takes 512"),
        ({"settings.embedding_size": 6144}, "does not match its model: embedding_size=6144"),
    ],
)
def test_a_damaged_record_is_refused_by_name(saved, tmp_path, capsys, change, message):
    record = json.loads(Path(saved + ".json").read_text())
    for key, value in change.items():
        if key.startswith("settings."):
            record["settings"][key.split(".", 1)[1]] = value
        else:
            record[key] = value
    # its checksum made again for the record as it is: what a damaged record that passes it holds
    record["sha256"] = checksum(Path(saved).read_bytes(), record)
    Path(saved + ".json").write_text(json.dumps(record))
    with pytest.raises(OpenL3Error, match=message):
        load_model(saved)
    assert main(["classify", "predict", saved, "x.wav", "-o", str(tmp_path / "p.csv"), "-q"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "m.skops.json" in err and "Traceback" not in err


def test_a_missing_model_is_named_as_missing(tmp_path):
    with pytest.raises(OpenL3Error, match=r"Cannot read model .*nope.skops: No such file"):
        load_model(str(tmp_path / "nope.skops"))
    assert not os.listdir(tmp_path)


@pytest.mark.parametrize(("key", "value"), [("hop_size", 0.25), ("content_type", "env"), ("pooling", "max")])
def test_a_record_edited_by_hand_is_refused_by_the_command(saved, tmp_path, capsys, key, value):
    """Issue 25: an edited hop, content type or pooling was accepted, and predictions changed."""
    record = json.loads(Path(saved + ".json").read_text())
    if key == "pooling":
        record[key] = value
    else:
        record["settings"][key] = value
    Path(saved + ".json").write_text(json.dumps(record))
    clip = write_clips(tmp_path / "in", [1.5])[0]  # a clip it could embed: only the record stops it
    out = tmp_path / "p.csv"
    assert main(["classify", "predict", saved, clip, "-o", str(out), "-q"]) == 1
    err = capsys.readouterr().err
    assert "SHA-256 differs" in err and "m.skops" in err and not out.exists()

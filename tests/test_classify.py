"""Classifiers on a generated 4-class collection: cross-validation, saving, predicting, the command."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

import openl3
from helpers import write_weight_file
from openl3._util.exceptions import OpenL3Error, OpenL3Warning
from openl3.classify import (
    Classifier,
    EmbeddingPooler,
    EmbeddingStore,
    embedding_settings,
    load_model,
    predict,
    train,
)
from openl3.classify.labels import FileLabels, read_label_csv
from openl3.classify.training import splits
from openl3.cli import main
from openl3.dataset.rows import DatasetRows

pytest.importorskip("sklearn")
pytest.importorskip("skops")

#: The classes of the generated collection, and the embedding settings of CI (the cheapest model).
KINDS = ("tone", "chirp", "noise", "clicks")
SETTINGS = {"input_repr": "mel128", "embedding_size": 512, "hop_size": 0.5}
RATES = (8000, 16000, 22050, 44100)


def synthetic_sound(kind: str, rng: np.random.Generator) -> tuple[np.ndarray, int]:
    """Return one seeded sound of ``kind`` (0.6 to 1.8 s, a random rate) and its sample rate."""
    sr = int(rng.choice(RATES))
    n = int(rng.uniform(0.6, 1.8) * sr)
    t = np.arange(n) / sr
    top = min(4000.0, 0.4 * sr)
    if kind == "tone":  # a steady harmonic tone
        f = np.exp(rng.uniform(np.log(150), np.log(top / 3)))
        x = sum(np.sin(2 * np.pi * k * f * t) / k for k in (1, 2, 3))
    elif kind == "chirp":  # a train of quick rising or falling sweeps
        length = rng.uniform(0.06, 0.15)
        every = length + rng.uniform(0.03, 0.15)
        f0, f1 = sorted(np.exp(rng.uniform(np.log(300), np.log(top), 2)))
        f1 = max(f1, 2.5 * f0) if 2.5 * f0 < top else f1
        f0, f1 = (f0, f1) if rng.random() < 0.5 else (f1, f0)
        local = np.mod(t, every)
        x = np.sin(2 * np.pi * (f0 * local + (f1 - f0) * local**2 / (2 * length))) * (local < length)
    elif kind == "noise":  # a band of noise
        spectrum = np.fft.rfft(rng.normal(size=n))
        centre, width = rng.uniform(400, top), rng.uniform(300, 1500)
        spectrum[np.abs(np.fft.rfftfreq(n, 1 / sr) - centre) > width / 2] = 0
        x = np.fft.irfft(spectrum, n)
    else:  # clicks at a random rate
        x = np.zeros(n)
        period = int(sr / rng.uniform(4, 25))
        decay = np.exp(-np.arange(int(0.004 * sr)) / (0.0008 * sr))
        for start in range(int(rng.integers(0, period)), n - len(decay), period):
            x[start : start + len(decay)] += decay
    x = rng.uniform(0.2, 0.8) * x / (np.abs(x).max() + 1e-9) + 0.005 * rng.normal(size=n)
    return x.astype(np.float32), sr


def write_collection(folder, per_class: int, seed: int) -> list[str]:
    """Write ``folder/<kind>/<kind>NNN.wav`` for each kind; return the paths, class by class."""
    rng = np.random.default_rng(seed)
    paths = []
    for kind in KINDS:
        os.makedirs(folder / kind, exist_ok=True)
        for i in range(per_class):
            audio, sr = synthetic_sound(kind, rng)
            paths.append(str(folder / kind / f"{kind}{i:03d}.wav"))
            sf.write(paths[-1], audio, sr)
    return paths


class Trained:
    """The collection, its dataset, and the model trained on it (once per module)."""

    def __init__(self, folder):
        self.folder = folder
        self.sounds = folder / "sounds"
        self.paths = write_collection(self.sounds, 40, seed=0)
        self.model_path = str(folder / "m.skops")
        self.report_path = str(folder / "report.json")
        self.dataset = str(folder / "m.embeddings")
        self.model = train([str(self.sounds)], model=self.model_path, report=self.report_path, **SETTINGS)


@pytest.fixture(scope="module")
def trained(tmp_path_factory, weights_dir):
    with pytest.MonkeyPatch.context() as patch, warnings.catch_warnings():
        patch.setenv("OPENL3_WEIGHTS_DIR", str(weights_dir))
        warnings.simplefilter("ignore", OpenL3Warning)  # clips shorter than a window are padded
        yield Trained(tmp_path_factory.mktemp("classify"))


def no_embedding(monkeypatch):
    """Make any embedding fail: what follows must read the dataset only."""

    def refuse(self, paths, location):
        raise AssertionError(f"embedded {len(paths)} files again")

    monkeypatch.setattr(EmbeddingStore, "_embed", refuse)


def test_cross_validation_separates_the_classes(trained):
    report = trained.model.report
    assert report["macro_f1"] >= 0.95 and report["accuracy"] >= 0.95
    assert (report["split"], report["folds"], report["files"]) == ("file", 5, 160)
    assert report["classes"] == sorted(KINDS)
    assert [sum(row) for row in report["confusion"]] == [40] * 4
    assert np.trace(report["confusion"]) == round(report["accuracy"] * 160)
    assert all(score["recall"] >= 0.85 and score["support"] == 40 for score in report["per_class"].values())
    assert [fold["files"] for fold in report["per_fold"]] == [32] * 5
    assert json.loads(Path(trained.report_path).read_text()) == json.loads(json.dumps(report))


def test_shuffled_labels_score_at_chance(trained, monkeypatch):
    no_embedding(monkeypatch)
    shuffled = list(
        np.random.default_rng(1).permutation([os.path.basename(os.path.dirname(p)) for p in trained.paths])
    )
    control = train(labels=FileLabels(trained.paths, shuffled), dataset=trained.dataset)
    assert control.report["macro_f1"] <= 0.45


def test_saved_files_record_settings_and_hash(trained, weights_env):
    record = json.loads(Path(trained.model_path + ".json").read_text())
    expected = {"modality": "audio", "content_type": "music", "precision": "faithful", "center": True}
    weights = openl3.AudioEmbedder(**SETTINGS).settings().weights  # the seeded file's SHA-256
    assert record["settings"] == {
        **expected,
        **SETTINGS,
        "frontend": "kapre",
        "spectrogram": "keras",
        "weights": weights,
    }
    assert record["classes"] == sorted(KINDS) and record["pooling"] == "mean"
    import hashlib

    covered = json.dumps([record["settings"], record["pooling"], record["classes"]], sort_keys=True)
    digest = hashlib.sha256(Path(trained.model_path).read_bytes() + covered.encode()).hexdigest()
    assert record["sha256"] == digest
    png = (trained.folder / "m.confusion.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    assert width >= 300 and height >= 300


def test_second_training_reads_the_dataset(trained, monkeypatch, tmp_path):
    no_embedding(monkeypatch)
    again = train(
        [str(trained.sounds)], dataset=trained.dataset, classifier="svm", pooling="max", pca=32, folds=4
    )
    assert again.report["macro_f1"] >= 0.9 and again.report["folds"] == 4
    assert again.settings == trained.model.settings


def test_a_fresh_process_predicts_the_same(trained, tmp_path):
    here = predict(trained.model_path, trained.paths[::7], dataset=trained.dataset)
    script = (
        "import sys, numpy as np\nfrom openl3.classify import predict\n"
        f"r = predict({trained.model_path!r}, {trained.paths[::7]!r}, dataset={trained.dataset!r})\n"
        f"np.save({str(tmp_path / 'p.npy')!r}, r.probabilities); print('\\n'.join(r.labels))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == here.labels
    np.testing.assert_array_equal(np.load(tmp_path / "p.npy"), here.probabilities)
    truth = [os.path.basename(os.path.dirname(p)) for p in trained.paths[::7]]
    assert np.mean(np.array(here.labels) == truth) >= 0.9


def test_changed_bytes_and_disallowed_types_are_refused(trained, tmp_path):
    model = str(tmp_path / "m.skops")
    shutil.copy(trained.model_path, model)
    shutil.copy(trained.model_path + ".json", model + ".json")
    assert load_model(model).classes == sorted(KINDS)
    data = bytearray(Path(model).read_bytes())
    data[len(data) // 2] ^= 0xFF
    Path(model).write_bytes(bytes(data))
    with pytest.raises(OpenL3Error, match="SHA-256 differs"):
        load_model(model)
    os.remove(model + ".json")
    with pytest.raises(OpenL3Error, match="has no record"):
        load_model(model)

    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer

    evil = Pipeline([("run", FunctionTransformer(eval)), ("classifier", trained.model.pipeline[-1])])
    Classifier(evil, trained.model.settings, "mean").save(str(tmp_path / "evil.skops"))
    with pytest.raises(OpenL3Error, match="types that are not allowed: builtins.eval"):
        load_model(str(tmp_path / "evil.skops"))


def test_other_settings_are_refused(trained, monkeypatch):
    no_embedding(monkeypatch)
    with pytest.raises(OpenL3Error, match=r"other settings: hop_size=0.5 \(now 0.25\)"):
        train([str(trained.sounds)], dataset=trained.dataset, hop_size=0.25)
    other = Classifier(trained.model.pipeline, trained.model.settings.replace(input_repr="mel256"), "mean")
    with pytest.raises(
        OpenL3Error, match="m.embeddings holds embeddings made with other settings: input_repr"
    ):
        predict(other, trained.paths[:2], dataset=trained.dataset)


def test_grouped_and_given_folds_keep_groups_apart(trained, tmp_path):
    lines = ["path,label,group"] + [
        f"{os.path.relpath(p, tmp_path)},{os.path.basename(os.path.dirname(p))},rec{i // 4}"
        for i, p in enumerate(trained.paths)
    ]
    (tmp_path / "labels.csv").write_text("\n".join(lines) + "\n")
    labels = read_label_csv(str(tmp_path / "labels.csv"))
    assert labels.paths == trained.paths
    groups = np.array(labels.groups)
    made, how = splits(labels, 5)
    assert how == "group" and len(made) == 5
    assert all(not set(groups[train]) & set(groups[test]) for train, test in made)
    folds = FileLabels(labels.paths, labels.labels, folds=[i % 3 for i in range(160)])
    made, how = splits(folds, 5)
    assert how == "fold" and [len(test) for _, test in made] == [54, 53, 53]
    report = train(labels=str(tmp_path / "labels.csv"), dataset=trained.dataset).report
    assert report["split"] == "group" and report["macro_f1"] >= 0.9


def test_label_errors_name_the_problem(trained, tmp_path):
    one = FileLabels(trained.paths[:10], ["tone"] * 10, source="one.csv")
    with pytest.raises(
        OpenL3Error, match="one.csv: a classifier needs two classes or more; all files are 'tone'"
    ):
        train(labels=one, dataset=trained.dataset)
    few = FileLabels(trained.paths[:43], ["tone"] * 40 + ["chirp"] * 3, source="few.csv")
    with pytest.raises(OpenL3Error, match=r"fewer files than the 5 folds: 'chirp' \(3 files\)"):
        train(labels=few, dataset=trained.dataset)
    (tmp_path / "l.csv").write_text("path,label\nmissing.wav,tone\n" + f"{trained.paths[0]},tone\n")
    with pytest.raises(OpenL3Error, match=r"l.csv: 1 labelled file does not exist: .*missing.wav"):
        train(labels=str(tmp_path / "l.csv"), dataset=trained.dataset)


def test_transformer_in_a_users_grid_search(trained, weights_env, monkeypatch):
    from sklearn.base import clone
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import Pipeline

    no_embedding(monkeypatch)
    pooler = EmbeddingPooler(dataset=trained.dataset, **SETTINGS)
    assert clone(pooler).get_params() == pooler.get_params()
    assert repr(pooler).startswith("EmbeddingPooler(input_repr='mel128', embedding_size=512, hop_size=0.5")
    paths, labels = trained.paths[::2], [os.path.basename(os.path.dirname(p)) for p in trained.paths[::2]]
    pipeline = Pipeline([("embed", pooler), ("classify", LogisticRegression(max_iter=2000))])
    search = GridSearchCV(pipeline, {"embed__pooling": ["mean", "max"]}, cv=3)
    search.fit(paths, labels)
    assert search.best_score_ >= 0.9
    features = pooler.transform(paths[:3])
    assert features.shape == (3, 512) and features.dtype == np.float32
    rows = trained.model  # the arrays path: one file's windows
    windows = np.random.default_rng(0).normal(size=(4, 512)).astype(np.float32)
    np.testing.assert_allclose(pooler.set_params(pooling="max").transform([windows])[0], windows.max(0))
    assert rows.predict_embeddings([windows])[1].shape == (1, 4)


def test_command_trains_and_predicts(trained, tmp_path, monkeypatch, capsys):
    no_embedding(monkeypatch)
    model = str(tmp_path / "cli.skops")
    args = ["classify", "train", str(trained.sounds), "-o", model, "--dataset", trained.dataset]
    assert main([*args, "--report", str(tmp_path / "r.json"), "--pooling", "max"]) == 0
    assert "macro-F1" in capsys.readouterr().err
    assert json.loads((tmp_path / "r.json").read_text())["pooling"] == "max"
    assert os.path.isfile(str(tmp_path / "cli.confusion.png")) and os.path.isfile(model + ".json")
    inputs = [*trained.paths[:3], trained.paths[-1]]
    out, windows = str(tmp_path / "p.parquet"), str(tmp_path / "w.csv")
    command = ["classify", "predict", model, *inputs, "-o", out, "--dataset", trained.dataset, "-q"]
    assert main([*command, "--per-window", windows]) == 0
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    table = pq.read_table(out)
    assert table.column_names[:3] == ["path", "label", "probability"]
    assert table["path"].to_pylist() == inputs
    assert table["label"].to_pylist() == ["tone", "tone", "tone", "clicks"]
    probabilities = np.stack([table[f"probability_{k}"].to_numpy() for k in sorted(KINDS)], 1)
    np.testing.assert_allclose(probabilities.sum(1), 1, rtol=1e-6)
    per_window = pcsv.read_csv(windows)
    counts = [1 + int(sf.info(p).duration / 0.5) for p in inputs]
    assert per_window["path"].to_pylist() == [
        p for p, c in zip(inputs, counts, strict=True) for _ in range(c)
    ]
    assert per_window["timestamp"].to_pylist()[: counts[0]] == [0.5 * i for i in range(counts[0])]


def test_command_usage_and_errors(trained, tmp_path, capsys):
    model = str(tmp_path / "m.skops")
    assert main(["classify", "train", str(trained.sounds), "-o", model, "--folds", "1"]) == 2
    (tmp_path / "l.csv").write_text("path,label\nnope.wav,tone\n")
    assert main(["classify", "train", "-o", model, "--labels", str(tmp_path / "l.csv"), "-q"]) == 1
    assert "nope.wav" in capsys.readouterr().err
    assert main(["classify", "predict", model, trained.paths[0], "-o", str(tmp_path / "p.txt")]) == 1
    assert "Cannot read model" in capsys.readouterr().err
    out = str(tmp_path / "p.txt")
    assert main(["classify", "predict", trained.model_path, trained.paths[0], "-o", out, "-q"]) == 1
    assert "name a .csv or .parquet file" in capsys.readouterr().err


def test_per_window_needs_mean_or_max(trained):
    model = Classifier(trained.model.pipeline, trained.model.settings, "mean+std")
    with pytest.raises(OpenL3Error, match="mean or max pooling"):
        predict(model, trained.paths[:1], dataset=trained.dataset, per_window=True)


#: A fenced block of a Markdown page: its language and its text.
FENCE = re.compile(r"^```(\w+)\n(.*?)^```", re.MULTILINE | re.DOTALL)


def test_tutorial_page_runs_in_order(weights_env, tmp_path, monkeypatch, capsys):
    page = Path(__file__).resolve().parents[1] / "docs" / "classify.md"
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "classify_tutorial"}
    commands = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", OpenL3Warning)
        for number, (language, block) in enumerate(FENCE.findall(page.read_text()), 1):
            if language == "python":
                exec(compile(block, f"classify.md, block {number}", "exec"), namespace)
            for line in block.splitlines() if language == "bash" else []:
                assert main(shlex.split(line)[1:]) == 0, capsys.readouterr().err[-2000:]
                commands += 1
    assert commands == 3
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["classes"] == ["chirp", "hiss", "hum"] and report["macro_f1"] >= 0.9
    predictions = (tmp_path / "predictions.csv").read_text().splitlines()
    assert [line.split(",")[:2] for line in predictions[1:]] == [
        ['"new/a_chirp.wav"', '"chirp"'],
        ['"new/a_hiss.wav"', '"hiss"'],
        ['"new/a_hum.wav"', '"hum"'],
    ]
    assert (tmp_path / "sounds.confusion.png").is_file() and (tmp_path / "grouped.skops.json").is_file()
    assert namespace["search"].best_score_ >= 0.9


@pytest.mark.parametrize("classifier", ["svm", "mlp"])
def test_every_classifier_saves_and_reloads_within_the_allow_list(trained, tmp_path, monkeypatch, classifier):
    no_embedding(monkeypatch)
    path = str(tmp_path / f"{classifier}.skops")
    model = train(
        [str(trained.sounds)], dataset=trained.dataset, classifier=classifier, folds=None, model=path
    )
    assert model.report is None and not (tmp_path / f"{classifier}.confusion.png").exists()
    features = EmbeddingStore(model.settings, trained.dataset).features(trained.paths[::5], "mean")
    loaded = load_model(path)
    assert loaded.info["classifier"] == classifier
    np.testing.assert_array_equal(loaded.predict_proba(features), model.predict_proba(features))
    truth = [os.path.basename(os.path.dirname(p)) for p in trained.paths[::5]]
    assert np.mean(loaded.pipeline.predict(features) == np.array(truth)) >= 0.9


def test_importing_the_package_and_command_loads_no_scikit_learn():
    code = "import sys, openl3, openl3.cli, openl3.classify; "
    code += "print(sorted(m for m in ('sklearn', 'skops', 'matplotlib') if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


@pytest.mark.slow  # the image model: about 30 s on 2 cores
def test_images_through_the_same_path(weights_env, tmp_path):
    from skimage.io import imsave

    rng = np.random.default_rng(0)
    for i in range(4):
        (tmp_path / "in" / "flat").mkdir(parents=True, exist_ok=True)
        (tmp_path / "in" / "stripes").mkdir(exist_ok=True)
        flat = np.full((224, 224, 3), rng.integers(100, 255, 3), np.uint8)
        stripes = ((np.indices((224, 224))[1] // (4 + 5 * i)) % 2 * 255).astype(np.uint8)
        imsave(tmp_path / "in" / "flat" / f"{i}.png", flat, check_contrast=False)
        imsave(tmp_path / "in" / "stripes" / f"{i}.png", np.dstack([stripes] * 3), check_contrast=False)
    model = train(
        [str(tmp_path / "in")], modality="image", model=str(tmp_path / "i.skops"), embedding_size=512, folds=2
    )
    assert model.settings.modality == "image" and model.report["macro_f1"] >= 0.75
    paths = [str(tmp_path / "in" / "flat" / "0.png"), str(tmp_path / "in" / "stripes" / "3.png")]
    result = predict(str(tmp_path / "i.skops"), paths, per_window=True)
    assert result.labels == ["flat", "stripes"] and np.isnan(result.windows.timestamps).all()


def test_inputs_restrict_a_label_file_to_their_files(tmp_path):
    from openl3.classify.workflow import resolve_labels

    for name in ("a/x.wav", "a/y.wav", "b/z.wav", "ab/w.wav"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "l.csv").write_text("path,label\na/x.wav,1\na/y.wav,2\nb/z.wav,1\nab/w.wav,2\n")
    chosen = resolve_labels(
        [str(tmp_path / "a"), str(tmp_path / "b" / "z.wav")], str(tmp_path / "l.csv"), "audio"
    )
    assert [os.path.relpath(p, tmp_path) for p in chosen.paths] == ["a/x.wav", "a/y.wav", "b/z.wav"]
    assert len(resolve_labels([], str(tmp_path / "l.csv"), "audio")) == 4
    with pytest.raises(OpenL3Error, match="no labelled file is in"):
        resolve_labels([str(tmp_path / "c")], str(tmp_path / "l.csv"), "audio")


def test_a_fold_missing_a_class_is_not_scored_down_for_it():
    from openl3.classify.report import fold_scores

    assert fold_scores(["a", "a", "b"], ["a", "a", "b"], ["a", "b", "c"])["macro_f1"] == 1.0


@pytest.fixture(scope="module")
def damaged(tmp_path_factory, weights_dir):
    """4 classes of 3 clips, their dataset, and two files in class folders that are not audio."""
    folder = tmp_path_factory.mktemp("damaged")
    good = write_collection(folder / "sounds", 3, seed=1)
    bad = [str(folder / "sounds" / "tone" / "bad.wav"), str(folder / "sounds" / "noise" / "broken.wav")]
    for path in bad:
        Path(path).write_bytes(b"not audio")
    dataset = str(folder / "d.embeddings")
    with pytest.MonkeyPatch.context() as patch, warnings.catch_warnings():
        patch.setenv("OPENL3_WEIGHTS_DIR", str(weights_dir))
        warnings.simplefilter("ignore", OpenL3Warning)  # clips shorter than a window are padded
        EmbeddingStore(embedding_settings("audio", **SETTINGS), dataset).rows(good)
    return str(folder / "sounds"), good, bad, dataset


def test_skip_failed_command_trains_and_predicts_the_rest_and_exits_1(damaged, weights_env, tmp_path, capsys):
    sounds, good, bad, dataset = damaged
    model, report = str(tmp_path / "m.skops"), tmp_path / "r.json"
    flags = ["-i", "mel128", "-as", "512", "-t", "0.5", "--folds", "2", "--dataset", dataset, "-q"]
    command = ["classify", "train", sounds, "-o", model, "--report", str(report), *flags]
    assert main(command) == 1  # by default, a file that cannot be embedded stops the training
    [line] = capsys.readouterr().err.splitlines()  # the error once (the embedder's lines are in it)
    assert line.startswith("error: 2 files cannot be read, so nothing was embedded: ") and "bad.wav" in line
    assert "broken.wav" in line and "--skip-failed" in line
    assert not os.path.exists(model) and not report.exists()
    assert main([*command, "--skip-failed"]) == 1
    last = capsys.readouterr().err.splitlines()[-1]
    assert "train: 2 files could not be embedded and were left out: " in last
    assert "bad.wav" in last and "broken.wav" in last
    written = json.loads(report.read_text())
    assert sorted(item["path"] for item in written["failed"]) == sorted(bad)
    assert all(os.path.basename(item["path"]) in item["reason"] for item in written["failed"])
    assert written["files"] == 12 and written["classes"] == sorted(KINDS)
    assert [sum(row) for row in written["confusion"]] == [3] * 4
    record = json.loads(Path(model + ".json").read_text())
    assert (record["failed"], record["files"], record["classes"]) == (2, 12, sorted(KINDS))
    assert os.path.isfile(str(tmp_path / "m.confusion.png"))
    out = str(tmp_path / "p.csv")
    predicting = ["classify", "predict", model, sounds, "-o", out, "--dataset", dataset, "-q"]
    assert main(predicting) == 1 and not os.path.exists(out)
    [line] = capsys.readouterr().err.splitlines()  # said before any file is embedded
    assert line.startswith("error: 2 files cannot be read, so nothing was embedded")
    assert "--skip-failed" in line
    assert main([*predicting, "--skip-failed"]) == 1
    last = capsys.readouterr().err.splitlines()[-1]
    assert "predict: 2 files could not be embedded and were left out: " in last and "bad.wav" in last
    import pyarrow.csv as pcsv

    assert sorted(pcsv.read_csv(out)["path"].to_pylist()) == sorted(good)


def test_a_training_without_failures_reports_none_and_exits_0(damaged, weights_env, tmp_path, capsys):
    _, good, _, dataset = damaged
    report = tmp_path / "r.json"
    model = str(tmp_path / "m.skops")
    labels = tmp_path / "l.csv"
    labels.write_text("path,label\n" + "".join(f"{p},{os.path.basename(os.path.dirname(p))}\n" for p in good))
    command = ["classify", "train", "-o", model, "--labels", str(labels), "--report", str(report)]
    assert main([*command, "--dataset", dataset, "--folds", "2", "--skip-failed", "-q"]) == 0
    assert capsys.readouterr().err == ""
    assert json.loads(report.read_text())["failed"] == []
    assert json.loads(Path(model + ".json").read_text())["failed"] == 0


def test_skip_failed_in_python_warns_and_keeps_the_checks(damaged, weights_env):
    sounds, good, bad, dataset = damaged
    with pytest.warns(OpenL3Warning, match=r"2 files could not be embedded and are left out: .*bad.wav"):
        model = train([sounds], dataset=dataset, folds=2, skip_failed=True, **SETTINGS)
    assert sorted(item["path"] for item in model.failed) == sorted(bad)
    assert model.report["failed"] == model.failed and model.report["files"] == 12
    assert model.info["failed"] == 2 and model.classes == sorted(KINDS)
    with pytest.warns(OpenL3Warning, match="broken.wav"):
        result = predict(model, [sounds], dataset=dataset, skip_failed=True, per_window=True)
    assert sorted(result.paths) == sorted(good) and len(result.failed) == 2
    assert set(result.windows.paths) == set(good)
    with pytest.warns(OpenL3Warning), pytest.raises(OpenL3Error, match=r"no file could be embedded: .*bad"):
        predict(model, bad, skip_failed=True)
    tone = [p for p in good if os.path.basename(p).startswith("tone")]
    kept = [p for p in good if p != tone[0]] + [bad[0]]  # 'tone': two clips and bad.wav
    labels = FileLabels(kept, [os.path.basename(os.path.dirname(p)) for p in kept], source="l.csv")
    with (
        pytest.warns(OpenL3Warning, match="^1 file could not be embedded and is"),
        pytest.raises(OpenL3Error, match=r"3 folds: 'tone' \(2 files\)"),
    ):
        train(labels=labels, dataset=dataset, folds=3, skip_failed=True)


def test_the_confusion_matrix_shows_class_names_as_they_are(tmp_path):
    from openl3.classify.report import write_confusion_png

    path = str(tmp_path / "confusion.png")
    # mathtext read "$...$" in class names: this one stopped the training with a traceback
    write_confusion_png([[2, 0], [1, 1]], [r"bad $\foo{$", "price $5 or $"], path, title="$x^2$")
    assert os.path.getsize(path) > 0


@pytest.mark.parametrize(
    ("key", "value"),
    [("content_type", "env"), ("hop_size", 0.25), ("center", False), ("pooling", "max"), ("classes", ["x"])],
)
def test_a_record_edited_to_embed_otherwise_is_refused(trained, tmp_path, key, value):
    """The SHA-256 covers the record's settings, pooling and classes, not only the model file."""
    model = str(tmp_path / "m.skops")
    shutil.copy(trained.model_path, model)
    record = json.loads(Path(trained.model_path + ".json").read_text())
    if key in ("pooling", "classes"):
        record[key] = value
    else:
        record["settings"][key] = value
    Path(model + ".json").write_text(json.dumps(record))
    with pytest.raises(OpenL3Error, match="SHA-256 differs"):
        load_model(model)


def test_a_model_of_an_earlier_version_loads_with_a_warning(trained, tmp_path):
    """Record format 1: its SHA-256 covers the model file only."""
    import hashlib

    model = str(tmp_path / "m.skops")
    shutil.copy(trained.model_path, model)
    record = json.loads(Path(trained.model_path + ".json").read_text())
    record["format_version"], record["sha256"] = 1, hashlib.sha256(Path(model).read_bytes()).hexdigest()
    del record["settings"]["weights"]  # written before weights were recorded: unknown
    Path(model + ".json").write_text(json.dumps(record))
    with pytest.warns(OpenL3Warning, match="save it again"):
        loaded = load_model(model)
    assert loaded.settings.weights is None and loaded.settings.unrecorded_weights
    assert loaded.classes == trained.model.classes


def test_a_dataset_of_another_layer_trains_a_model_of_that_layer_never_taken_for_the_embedding(
    trained, weights_env, tmp_path, capsys
):
    """classify train --dataset once took a dataset made with output= (or weights=) as the embeddings."""
    from openl3.cli import main

    dataset = str(tmp_path / "relu6")
    sounds = trained.sounds
    mine = tmp_path / "mine.h5"
    write_weight_file(mine, "audio", seed=5)
    openl3.AudioEmbedder(**SETTINGS, output="relu6", weights=str(mine), verbose=False).embed_files(
        trained.paths, output_dir=dataset, output_format="parquet"
    )
    model = str(tmp_path / "m.skops")
    flags = ["-i", "mel128", "-as", "512", "-t", "0.5", "--folds", "2"]
    assert main(["classify", "train", str(sounds), "-o", model, "--dataset", dataset, *flags, "-q"]) == 0
    record = json.loads(Path(model + ".json").read_text())
    assert record["settings"]["output"] == "relu6" and record["weights_file"] == str(mine)
    assert (
        record["settings"]["weights"]
        == DatasetRows(dataset).settings.weights
        != trained.model.settings.weights
    )
    assert load_model(model).pipeline.n_features_in_ == 256  # relu6's channels
    status = main(["classify", "train", str(sounds), "-o", model, "--dataset", dataset, "-t", "0.25", "-q"])
    assert status == 1 and "other settings: hop_size=0.5 (now 0.25)" in capsys.readouterr().err


def test_a_linked_twin_is_one_file_to_the_command(trained, tmp_path, monkeypatch, capsys):
    """Issue 25: hum/link.wav -> hum0.wav was two files, one recording on both sides of a split.

    The class folders here hold links to the trained collection's files: the same files, so the
    dataset's rows serve them and nothing is embedded again.
    """
    from openl3.cli import main

    no_embedding(monkeypatch)
    links = tmp_path / "links"
    for kind in KINDS:
        (links / kind).mkdir(parents=True)
        for i in range(4):
            os.symlink(trained.sounds / kind / f"{kind}{i:03d}.wav", links / kind / f"{i}.wav")
    os.symlink(trained.sounds / "tone" / "tone000.wav", links / "tone" / "twin.wav")
    model, report = str(tmp_path / "m.skops"), tmp_path / "r.json"
    flags = ["--dataset", trained.dataset, "--report", str(report), "--folds", "2", "-q"]
    assert main(["classify", "train", str(links), "-o", model, *flags]) == 0
    assert json.loads(report.read_text())["files"] == 4 * len(KINDS)
    os.symlink(trained.sounds / "chirp" / "chirp001.wav", links / "noise" / "twin.wav")
    assert main(["classify", "train", str(links), "-o", model, *flags]) == 1
    assert "has two labels" in capsys.readouterr().err

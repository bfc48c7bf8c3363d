"""Search: the index of a dataset's embeddings, kept in the dataset and in step with it; queries."""

import csv
import os
import shutil

import numpy as np
import pytest

import openl3
from helpers import COLLECTION_SETTINGS as SETTINGS
from openl3._util.exceptions import OpenL3Error
from openl3.cli import main
from openl3.dataset.rows import DatasetRows, EmbeddingRows

pytest.importorskip("faiss")
from openl3.search import Index, make_query, open_index, search, update_index
from openl3.search.index import normalised
from openl3.search.store import INDEX_NAME, stale

#: The command's flags of the collection's settings.
FLAGS = ["-i", "mel128", "-as", "512", "-t", "0.5", "--no-audio-centering"]


@pytest.fixture
def dataset(search_collection, tmp_path):
    """A copy of the collection's dataset, for a test that changes it."""
    shutil.copytree(search_collection[1], tmp_path / "out")
    return str(tmp_path / "out")


def same_file(a, b, paths):
    return a == b or {a, b} == {paths[0], paths[4]}


def test_nearest_neighbour_of_each_window_is_a_window_of_its_file_or_its_duplicate(search_collection):
    paths, out = search_collection
    rows = DatasetRows(out).rows()
    index = Index.build(DatasetRows(out))
    assert not index.approximate and len(index) == len(rows) > 15
    similarities, ids = index.query(rows.embeddings, 2)
    assert (ids[:, 0] == np.arange(len(rows))).all() or np.allclose(similarities[:, 0], 1, atol=1e-5)
    for row, (first, second) in enumerate(ids):
        nearest = second if first == row else first
        assert same_file(index.paths[nearest], rows.paths[row], paths), (row, rows.paths[row])
    assert (np.diff(similarities, axis=1) <= 1e-6).all()  # best first


def clustered(n, dim, seed):
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 1, (20, dim))
    vectors = centres[rng.integers(0, 20, n)] + rng.normal(0, 1.5, (n, dim))
    return EmbeddingRows(
        np.array([f"f{i // 10}.wav" for i in range(n)], dtype=object),
        np.arange(n, dtype=np.int32) % 10,
        (np.arange(n) % 10) * 0.5,
        vectors.astype(np.float32),
    )


def test_approximate_index_agrees_with_exact_search_on_small_data():
    rows, queries = clustered(6000, 32, 0), clustered(100, 32, 1).embeddings
    exact, approximate = Index.build(rows, approximate=False), Index.build(rows, approximate=True)
    assert approximate.approximate and approximate._faiss.nprobe < approximate._faiss.nlist
    truth, found = exact.query(queries, 10)[1], approximate.query(queries, 10)[1]
    recall = np.mean([len(set(t) & set(f)) / 10 for t, f in zip(truth, found, strict=True)])
    assert recall >= 0.9
    assert approximate.recall is not None and abs(approximate.recall - recall) < 0.1
    assert Index.build(rows).approximate is False  # below the limit: exact unless asked
    approximate.nprobe = approximate._faiss.nlist  # every list: exact but for float16 rounding
    found = approximate.query(queries, 10)[1]
    assert np.mean([len(set(t) & set(f)) / 10 for t, f in zip(truth, found, strict=True)]) >= 0.99 > recall
    with pytest.raises(OpenL3Error, match="approximate index only"):
        exact.nprobe = 4


def test_building_from_rows_leaves_them_as_they_are():
    rows = clustered(300, 16, 2)
    rows.embeddings[5] = 0  # a zero row stays zero in the index, and in the rows
    before = rows.embeddings.copy()
    index = Index.build(rows)
    np.testing.assert_array_equal(rows.embeddings, before)
    assert index.query(rows.embeddings[7], 1)[1][0, 0] == 7 and index._faiss.reconstruct(5).any() == 0


def test_index_is_saved_in_the_dataset_registered_and_loads(dataset):
    index, done = update_index(DatasetRows(dataset))
    assert done == "built"
    folder = os.path.join(dataset, INDEX_NAME)
    names = sorted(os.listdir(folder))
    assert names[0] == "index.parquet" and names[1].startswith("vectors-") and len(names) == 2
    assert INDEX_NAME in DatasetRows(dataset).manifest.registered()
    loaded, now = open_index(DatasetRows(dataset))
    assert now is None and len(loaded) == len(index)
    rows = DatasetRows(dataset).rows()
    np.testing.assert_array_equal(loaded.query(rows.embeddings, 3)[1], index.query(rows.embeddings, 3)[1])
    assert update_index(DatasetRows(dataset))[1] == "current"
    assert update_index(DatasetRows(dataset), rebuild=True)[1] == "rebuilt"
    assert len([n for n in os.listdir(folder) if n.startswith("vectors-")]) == 1
    assert main(["index", dataset, "--approximate", "-q"]) == 0
    approximate, _ = open_index(DatasetRows(dataset))
    # some 25 rows make one list, which every query searches: only float16 rounding reorders near ties
    assert approximate.approximate and approximate.lists == 1 and approximate.recall >= 0.95


def test_an_index_made_with_other_settings_is_refused(search_collection, dataset, weights_env, tmp_path):
    paths, _ = search_collection
    other = str(tmp_path / "other")
    openl3.process_audio_file(
        paths[3], output_dir=other, output_format="parquet", **{**SETTINGS, "hop_size": 1.0}
    )
    update_index(DatasetRows(dataset))
    shutil.copytree(os.path.join(dataset, INDEX_NAME), os.path.join(other, INDEX_NAME))
    with pytest.raises(OpenL3Error, match="other settings: hop_size=0.5"):
        open_index(DatasetRows(other))
    assert main(["search", other, f"{paths[3]}@0", "-q"]) == 1
    assert update_index(DatasetRows(other))[1] == "rebuilt"
    assert open_index(DatasetRows(other))[0].settings["hop_size"] == 1.0


def test_parts_added_after_indexing_are_added_and_rewritten_ones_rebuild(
    search_collection, dataset, weights_env
):
    paths, _ = search_collection
    shutil.rmtree(dataset)
    openl3.process_audio_file(paths[:2], output_dir=dataset, output_format="parquet", **SETTINGS)
    first, _ = update_index(DatasetRows(dataset))
    openl3.process_audio_file(paths[:3], output_dir=dataset, output_format="parquet", **SETTINGS)
    index, _ = open_index(DatasetRows(dataset))
    assert stale(index, DatasetRows(dataset)) == "added"
    index, done = update_index(DatasetRows(dataset))
    assert done == "added" and len(index) == len(DatasetRows(dataset).rows()) > len(first)
    assert paths[2] in set(index.paths) and stale(index, DatasetRows(dataset)) is None
    openl3.process_audio_file(
        paths[1], output_dir=dataset, output_format="parquet", overwrite=True, **SETTINGS
    )
    assert stale(open_index(DatasetRows(dataset))[0], DatasetRows(dataset)) == "changed"
    assert update_index(DatasetRows(dataset))[1] == "rebuilt"


def test_an_exact_index_grows_below_its_limit_and_is_rebuilt_at_it(
    search_collection, dataset, weights_env, monkeypatch
):
    paths, _ = search_collection
    shutil.rmtree(dataset)
    for count, margin, done in [(2, None, "built"), (3, 0, "rebuilt"), (4, 1, "added")]:
        openl3.process_audio_file(paths[:count], output_dir=dataset, output_format="parquet", **SETTINGS)
        total = len(DatasetRows(dataset).rows())
        if margin is not None:  # an index that reaches the limit is rebuilt (exact here: build's own limit)
            monkeypatch.setattr("openl3.search.store.EXACT_LIMIT", total + margin)
        index, result = update_index(DatasetRows(dataset))
        assert result == done and len(index) == total and not index.approximate
        assert stale(index, DatasetRows(dataset)) is None


def test_the_kind_asked_for_stays_through_updates(search_collection, dataset, weights_env, monkeypatch):
    paths, _ = search_collection
    shutil.rmtree(dataset)
    openl3.process_audio_file(paths[:2], output_dir=dataset, output_format="parquet", **SETTINGS)
    few = len(DatasetRows(dataset).rows())
    for module in ("store", "index"):  # the dataset is past the size limit from its next run
        monkeypatch.setattr(f"openl3.search.{module}.EXACT_LIMIT", few + 1)
    assert main(["index", dataset, "--exact", "-q"]) == 0
    openl3.process_audio_file(paths[:3], output_dir=dataset, output_format="parquet", **SETTINGS)
    index, done = update_index(DatasetRows(dataset))  # as a stale search does
    assert done == "added" and not index.approximate and index.asked is False
    assert not update_index(DatasetRows(dataset), rebuild=True)[0].approximate
    openl3.process_audio_file(paths[:4], output_dir=dataset, output_format="parquet", **SETTINGS)
    index, done = update_index(DatasetRows(dataset), approximate=True)  # asked again: the new kind
    assert done == "rebuilt" and index.approximate and open_index(DatasetRows(dataset))[0].asked is True
    index.nprobe = 10_000
    assert index.nprobe == index.lists == index._faiss.nlist  # every list, at the most


def test_search_says_how_many_lists_it_searches(search_collection, dataset, capsys):
    paths, _ = search_collection
    assert main(["index", dataset, "-q"]) == 0
    assert main(["search", dataset, f"{paths[0]}@0", "--nprobe", "2", "-k", "1"]) == 0
    assert "--nprobe is ignored: the index is exact" in capsys.readouterr().err
    assert main(["index", dataset, "--approximate", "-q"]) == 0
    measured = open_index(DatasetRows(dataset))[0].nprobe
    assert main(["search", dataset, f"{paths[0]}@0", "--nprobe", "2", "-k", "1"]) == 0
    err = capsys.readouterr().err
    lists = open_index(DatasetRows(dataset))[0].lists
    assert f"approximate search of {min(2, lists)} of {lists} lists (recall@10 " in err
    assert f"at build searching {measured})" in err
    assert main(["search", dataset, f"{paths[0]}@0", "-k", "1"]) == 0
    assert f"of {measured} of {lists} lists (recall@10" in capsys.readouterr().err


def test_a_video_dataset_keeps_an_index_per_modality(weights_env, tmp_path, capsys):
    from helpers import write_video

    video = write_video(tmp_path / "v.mp4", seconds=2.0, fps=2)
    out = str(tmp_path / "out")
    settings = {"input_repr": "mel256", "audio_embedding_size": 512, "image_embedding_size": 512}
    openl3.process_video_file(video, output_dir=out, output_format="parquet", verbose=False, **settings)
    assert main(["index", out, "-q"]) == 1 and "name which to read" in capsys.readouterr().err
    for modality in ("audio", "image"):
        assert main(["index", out, "--modality", modality, "-q"]) == 0
    from openl3.dataset.manifest import Manifest
    from openl3.dataset.parts import PartFolder

    top = PartFolder(out)
    registered = Manifest(top.fs, top.base, out).registered()
    assert {f"audio/{INDEX_NAME}", f"image/{INDEX_NAME}"} <= set(registered)
    sizes = {m: len(open_index(DatasetRows(out, m))[0]) for m in ("audio", "image")}
    assert sizes == {m: len(DatasetRows(out, m).rows()) for m in ("audio", "image")}
    assert sizes["audio"] != sizes["image"]  # windows of 0.1 s hop vs frames at 2 fps: two indexes
    capsys.readouterr()
    assert main(["search", out, "--modality", "audio", f"{video}@0.5", "-k", "3"]) == 0
    header, *hits = capsys.readouterr().out.splitlines()
    assert header.split() == ["similarity", "seconds", "path"]
    assert len(hits) == 3 and all(line.endswith(video) for line in hits)
    # Named by its subfolder, the audio dataset is the same: one index, the run's manifest and locks.
    subfolder = DatasetRows(os.path.join(out, "audio"))
    assert subfolder.top.base == DatasetRows(out, "audio").top.base == top.base
    assert update_index(subfolder, rebuild=True)[1] == "rebuilt"
    assert set(Manifest(top.fs, top.base, out).registered()) == set(registered)
    assert not os.path.exists(os.path.join(out, "audio", "_openl3", "dataset.json"))
    assert len(open_index(DatasetRows(out, "audio"))[0]) == sizes["audio"]


def read_hits(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_search_a_segment_leaves_out_its_windows_and_writes_csv(search_collection, dataset, tmp_path, capsys):
    paths, _ = search_collection
    assert main(["index", dataset, "-q"]) == 0
    hits_csv = str(tmp_path / "hits.csv")
    assert (
        main(["search", dataset, paths[2], "--start", "0.5", "--end", "1.5", "-k", "30", "-o", hits_csv]) == 0
    )
    hits = read_hits(hits_csv)
    assert list(hits[0]) == ["path", "timestamp", "similarity"]
    similarities = [float(h["similarity"]) for h in hits]
    assert similarities == sorted(similarities, reverse=True)
    own = [float(h["timestamp"]) for h in hits if h["path"] == paths[2]]
    assert own and not {0.5, 1.0} & set(own)  # the segment's windows are left out, the others stay
    assert hits[0]["path"] == paths[2]
    assert capsys.readouterr().out.count(paths[2]) == len(own)


def test_search_a_row_and_per_file(search_collection, dataset):
    paths, _ = search_collection
    update_index(DatasetRows(dataset))
    index, _ = open_index(DatasetRows(dataset))
    query = make_query(DatasetRows(dataset), f"{paths[0]}@1.2")
    assert query.own == [(paths[0], 2)]  # the window nearest 1.2 s: 1.0 s
    hits = search(index, query, k=3)
    assert hits[0].path == paths[4] and hits[0].timestamp == 1.0 and hits[0].similarity > 0.9999
    assert (paths[0], 1.0) not in {(h.path, h.timestamp) for h in hits}
    files = search(index, query, k=5, per_file=True)
    assert len({h.path for h in files}) == len(files) == 5
    assert sorted(h.path for h in files) == sorted(paths)


def test_query_of_a_file_outside_the_dataset_is_embedded_with_its_settings(
    search_collection, dataset, weights_env
):
    paths, _ = search_collection
    update_index(DatasetRows(dataset))
    index, _ = open_index(DatasetRows(dataset))
    outside = os.path.join(os.path.dirname(dataset), "query.wav")
    shutil.copyfile(paths[3], outside)
    query = make_query(DatasetRows(dataset), outside)
    assert query.own == []
    windows = int((index.paths == paths[3]).sum())
    hits = search(index, query, k=windows)
    assert [h.path for h in hits] == [paths[3]] * windows  # all its windows, none left out


def test_queries_of_another_modality_or_nothing_are_refused(search_collection, dataset, tmp_path):
    from skimage.io import imsave

    image = str(tmp_path / "photo.png")
    imsave(image, np.random.default_rng(0).integers(0, 255, (8, 8, 3), dtype=np.uint8))
    with pytest.raises(OpenL3Error, match="image file"):
        make_query(DatasetRows(dataset), image)
    with pytest.raises(OpenL3Error, match="no input of"):
        make_query(DatasetRows(dataset), str(tmp_path / "missing.wav@1.0"))
    with pytest.raises(OpenL3Error, match="no window"):
        make_query(DatasetRows(dataset), search_collection[0][3], start=10.0)
    with pytest.raises(OpenL3Error, match="has no index"):
        open_index(DatasetRows(dataset))


def test_image_queries_are_embedded_with_the_datasets_settings(image_collection, weights_env, tmp_path):
    paths, out = image_collection
    dataset = str(tmp_path / "images")
    shutil.copytree(out, dataset)
    assert main(["index", dataset, "-q"]) == 0
    outside = str(tmp_path / "query.png")
    shutil.copyfile(paths[1], outside)
    hits_csv = str(tmp_path / "hits.csv")
    assert main(["search", dataset, outside, "-k", "3", "-o", hits_csv]) == 0
    hits = read_hits(hits_csv)
    assert hits[0]["path"] == paths[1] and float(hits[0]["similarity"]) > 0.9999
    assert [h["timestamp"] for h in hits] == ["", "", ""]
    with pytest.raises(OpenL3Error, match="audio file"):
        make_query(DatasetRows(dataset), str(tmp_path / "sound.wav"))


def test_bad_times_and_segments_are_refused_by_line(search_collection, dataset, capsys):
    paths, _ = search_collection
    rows = DatasetRows(dataset)
    for text, message in (
        ("@1000", "ends before 1000.0 s"),
        ("@-1", "invalid time '-1'"),
        ("@x", "invalid time"),
    ):
        with pytest.raises(OpenL3Error, match=message):
            make_query(rows, paths[0] + text)
    assert make_query(rows, f"{paths[0]}@0.9").own == [(paths[0], 2)]  # inside the file: nearest
    for start, end in ((2.0, 1.0), (-1.0, 1.0), (None, 0.0), (1.0, 1.0)):
        with pytest.raises(OpenL3Error, match="Invalid segment"):
            make_query(rows, paths[0], start=start, end=end)
    assert main(["search", dataset, paths[0], "-k", "0"]) == 2  # a usage error
    assert "positive int" in capsys.readouterr().err


def test_saving_an_index_removes_only_its_own_old_vectors_files(search_collection, tmp_path):
    folder = tmp_path / "index"
    Index.build(DatasetRows(search_collection[1])).save(str(folder))
    (folder / "vectors-mine.txt").write_text("the user's")
    (folder / "vectors-notes.faiss").write_text("the user's")
    Index.build(DatasetRows(search_collection[1])).save(str(folder))
    names = set(os.listdir(folder))
    assert {"index.parquet", "vectors-mine.txt", "vectors-notes.faiss"} < names and len(names) == 4
    assert len(Index.load(str(folder))) == len(DatasetRows(search_collection[1]).rows())


def test_a_load_during_a_save_reads_the_new_index(tmp_path, monkeypatch):
    import pyarrow.parquet as pq

    folder = str(tmp_path / "index")
    old, new = Index.build(clustered(40, 8, 0)), Index.build(clustered(60, 8, 1))
    old.save(folder)
    real, saves = pq.read_table, []

    def read_then_save(*args, **kwargs):
        table = real(*args, **kwargs)  # the old rows, naming the old vectors file...
        if not saves:
            saves.append(new.save(folder))  # ...which this save removes before they are read
        return table

    monkeypatch.setattr(pq, "read_table", read_then_save)
    loaded = Index.load(folder)
    assert saves and len(loaded) == 60 and loaded._faiss.ntotal == 60


def test_an_approximate_index_of_fewer_rows_than_ten_measures_its_recall(search_collection):
    rows = DatasetRows(search_collection[1]).rows()
    few = EmbeddingRows(rows.paths[:3], rows.index[:3], rows.timestamps[:3], rows.embeddings[:3])
    index = Index.build(few, approximate=True)
    # three rows make one list, which every query searches: each finds the other two, as exact search does
    assert index.approximate and len(index) == 3 and index.lists == 1 and index.recall == 1.0
    assert index.query(few.embeddings[0], 3)[1][0][0] >= 0


def test_a_damaged_index_is_refused_by_search_and_built_again_by_index(dataset, capsys):
    update_index(DatasetRows(dataset))
    folder = os.path.join(dataset, INDEX_NAME)
    [vectors] = [n for n in os.listdir(folder) if n.startswith("vectors-")]
    with open(os.path.join(folder, vectors), "wb") as handle:
        handle.write(b"junk")
    with pytest.raises(OpenL3Error, match="Cannot read the index.*openl3 index"):
        open_index(DatasetRows(dataset))
    assert main(["search", dataset, f"{DatasetRows(dataset).rows().paths[0]}@0", "-q"]) == 1
    assert "Cannot read the index" in capsys.readouterr().err
    index, done = update_index(DatasetRows(dataset))
    assert done == "rebuilt" and len(index) == len(DatasetRows(dataset).rows())
    assert open_index(DatasetRows(dataset))[1] is None


def test_an_output_that_cannot_be_written_is_one_line(search_collection, dataset, tmp_path, capsys):
    paths, out = search_collection[0], dataset
    update_index(DatasetRows(out))
    (tmp_path / "afile").write_text("the user's")
    query = f"{paths[0]}@0"
    for command in (
        ["search", out, query, "-o", str(tmp_path)],
        ["map", out, "-o", str(tmp_path / "afile/m.html")],
    ):
        assert main([*command, "-q"]) == 1
        err = capsys.readouterr().err
        assert err.startswith("error: ") and len(err.strip().splitlines()) == 1 and "Traceback" not in err
        assert "Is a directory" in err or "File exists" in err
    assert (tmp_path / "afile").read_text() == "the user's"


def test_a_modality_the_dataset_does_not_hold_is_refused(search_collection, tmp_path, capsys):
    out = search_collection[1]
    assert main(["map", out, "-o", str(tmp_path / "unused.html"), "--modality", "image", "-q"]) == 1
    assert "holds audio rows, not image ones" in capsys.readouterr().err
    assert DatasetRows(out, "audio").modality == "audio"


def test_a_file_named_like_an_input_from_another_folder_is_embedded_not_answered_with_its_rows(
    weights_env, tmp_path, monkeypatch, capsys
):
    """`openl3 search DS sounds/hum/hum00.wav` from a folder with its own file of that name (a hiss)."""
    import soundfile as sf

    from helpers import noise, tone

    here, elsewhere = tmp_path / "here", tmp_path / "elsewhere"
    for root, signal in ((here, tone(2.0, 16000, 220)), (elsewhere, noise(2.0, 16000, seed=9))):
        (root / "sounds" / "hum").mkdir(parents=True)
        sf.write(root / "sounds" / "hum" / "hum00.wav", signal, 16000)
    sf.write(here / "sounds" / "hum" / "hum01.wav", tone(2.0, 16000, 233), 16000)
    monkeypatch.chdir(here)
    assert main(["audio", "sounds", "-r", "-o", "../DS", "--output-format", "parquet", "-q", *FLAGS]) == 0
    dataset = str(tmp_path / "DS")
    assert main(["index", dataset, "-q"]) == 0
    monkeypatch.chdir(elsewhere)
    query = make_query(DatasetRows(dataset), "sounds/hum/hum00.wav")
    assert query.own == []  # embedded: not the dataset's hum00 (whose own windows would be left out)
    hiss = openl3.AudioEmbedder(**SETTINGS).embed(*sf.read(elsewhere / "sounds" / "hum" / "hum00.wav"))[0]
    np.testing.assert_allclose(query.vector, hiss.mean(axis=0), rtol=1e-5, atol=1e-6)
    hits = tmp_path / "hits.csv"
    assert main(["search", dataset, "sounds/hum/hum00.wav", "-k", "3", "-o", str(hits), "-q"]) == 0
    rows = DatasetRows(dataset).rows()
    oracle = normalised(rows.embeddings) @ normalised(hiss.mean(axis=0))[0]  # the hiss's, not hum00's
    with open(hits, newline="") as handle:
        got = [float(row["similarity"]) for row in csv.DictReader(handle)]
    np.testing.assert_allclose(got, np.sort(oracle)[::-1][:3], rtol=1e-5, atol=1e-5)
    monkeypatch.chdir(here)  # from the dataset's folder, the same text is the dataset's file
    assert make_query(DatasetRows(dataset), "sounds/hum/hum00.wav").own
    assert make_query(DatasetRows(dataset), str(here / "sounds" / "hum" / "hum00.wav")).own


def test_an_index_whose_record_was_edited_is_refused_and_its_vectors_name_checked(
    search_collection, dataset, capsys
):
    """Through the API and the command: an edited record is refused, and `openl3 index` mends it."""
    import json

    import pyarrow.parquet as pq

    update_index(DatasetRows(dataset))
    folder = os.path.join(dataset, INDEX_NAME)
    table = pq.read_table(os.path.join(folder, "index.parquet"))
    record = json.loads(table.schema.metadata[b"openl3.index"])
    for change in ({"settings": {**record["settings"], "hop_size": 0.25}}, {"vectors": "../../etc/passwd"}):
        edited = table.replace_schema_metadata({b"openl3.index": json.dumps({**record, **change}).encode()})
        pq.write_table(edited, os.path.join(folder, "index.parquet"))
        with pytest.raises(OpenL3Error, match="not the one saved with it|names no vectors file"):
            Index.load(folder)
        capsys.readouterr()
        assert main(["search", dataset, search_collection[0][0], "-q"]) == 1
        err = capsys.readouterr().err
        assert f"build it again: openl3 index {dataset}" in err and "Traceback" not in err
    assert main(["index", dataset, "-q"]) == 0
    assert open_index(DatasetRows(dataset))[1] is None


def test_a_vector_several_queries_full_precision_and_a_header(search_collection, dataset, tmp_path, capsys):
    """A .npy query; one CSV of queries; similarities unrounded in the CSV; printed hits titled."""
    paths, _ = search_collection
    assert main(["index", dataset, "-q"]) == 0
    rows = DatasetRows(dataset).rows()
    vector = tmp_path / "q.npy"
    np.save(vector, rows.embeddings[rows.paths == paths[1]])
    out = str(tmp_path / "hits.csv")
    capsys.readouterr()
    assert main(["search", dataset, str(vector), "-k", "2", "-o", out]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].split() == ["similarity", "seconds", "path"]
    hits = read_hits(out)
    oracle = normalised(rows.embeddings) @ normalised(rows.embeddings[rows.paths == paths[1]].mean(0))[0]
    assert [float(h["similarity"]) for h in hits] == pytest.approx(np.sort(oracle)[::-1][:2], abs=1e-6)
    assert any(len(h["similarity"].split(".")[1]) > 4 for h in hits)  # not rounded to 4 decimals
    queries = tmp_path / "queries.csv"
    queries.write_text(f"query,start,end\n{paths[2]},0.5,1.5\nq.npy,,\n{paths[0]}@1.0,,\n")
    assert main(["search", dataset, str(queries), "-k", "3", "-o", out, "-q"]) == 0
    hits = read_hits(out)
    assert list(hits[0]) == ["query", "path", "timestamp", "similarity"] and len(hits) == 9
    assert [h["query"] for h in hits[::3]] == [paths[2], str(vector), f"{paths[0]}@1.0"]


def test_a_csv_query_whose_name_holds_an_at_sign_is_the_csv_folders_file(
    search_collection, dataset, weights_env, tmp_path, monkeypatch
):
    """The CSV's relative names were cut at the first "@" to look for the file: take@1.wav was missed."""
    paths, _ = search_collection
    assert main(["index", dataset, "-q"]) == 0
    shutil.copy(paths[1], tmp_path / "take@1.wav")
    queries, out = tmp_path / "queries.csv", str(tmp_path / "hits.csv")
    queries.write_text("query,start,end\ntake@1.wav,,\n")
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    assert main(["search", dataset, str(queries), "-k", "1", "-o", out, "-q"]) == 0
    (hit,) = read_hits(out)
    assert hit["query"] == str(tmp_path / "take@1.wav") and hit["path"] == paths[1]
    rows = DatasetRows(dataset).rows()  # the same sound as that input: its windows' mean, searched
    oracle = normalised(rows.embeddings) @ normalised(rows.embeddings[rows.paths == paths[1]].mean(0))[0]
    assert float(hit["similarity"]) == pytest.approx(oracle.max(), abs=1e-5)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--start", "nan"], "Invalid segment --start nan"),
        (["-o", "/nonexistent/folder/h.csv"], "the folder /nonexistent/folder does not exist"),
    ],
)
def test_messages_found_by_fuzzing(search_collection, dataset, capsys, args, message):
    paths, _ = search_collection
    assert main(["index", dataset, "-q"]) == 0
    assert main(["search", dataset, paths[0], *args, "-q"]) == 1
    assert message in capsys.readouterr().err and not os.path.exists("/nonexistent")

"""Reading a dataset's rows: our parts only, each input once (newest part), settings, state."""

import os
from pathlib import Path

import numpy as np
import pytest

import openl3
from helpers import AUDIO, read_rows, write_clips, write_video
from openl3._util.exceptions import OpenL3Error
from openl3.dataset.manifest import Manifest, PartNamer
from openl3.dataset.parts import PartFolder
from openl3.dataset.rows import DatasetRows

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    return write_clips(tmp_path_factory.mktemp("clips"), [0.5, 1.0, 1.7])


@pytest.fixture
def dataset(clips, weights_env, tmp_path):
    out = str(tmp_path / "out")
    openl3.process_audio_file(clips[:2], output_dir=out, output_format="parquet", **AUDIO)
    return out


def image_file(folder, image):
    from skimage.io import imsave

    path = str(folder / "img.png")
    imsave(path, image)
    return path


def test_rows_are_the_datasets_rows_and_a_users_parquet_is_not_read(dataset, clips):
    pq.write_table(pa.table({"path": ["mine.wav"], "x": [1]}), os.path.join(dataset, "notes.parquet"))
    expected = read_rows(dataset)
    rows = DatasetRows(dataset)
    got = rows.rows()
    order = np.lexsort((got.index, got.paths.astype(str)))
    assert got.paths[order].tolist() == expected["path"].to_pylist()
    assert got.index[order].tolist() == expected["index"].to_pylist()
    np.testing.assert_array_equal(got.timestamps[order], expected["timestamp"].to_numpy())
    np.testing.assert_array_equal(
        got.embeddings[order], np.stack(expected["embedding"].to_numpy(zero_copy_only=False))
    )
    assert got.embeddings.dtype == np.float32 and got.embeddings.shape[1] == 512
    assert rows.modality == "audio" and rows.settings.input_repr == "mel128"
    assert got.inputs() == list(dict.fromkeys(got.paths.tolist()))
    assert len(rows.rows(paths=[clips[1]])) == int((got.paths == clips[1]).sum())


def test_an_input_in_two_parts_counts_once_with_its_newest_rows(dataset, clips):
    table = read_rows(dataset)
    newer = table.filter(pa.compute.equal(table["path"], clips[1]))
    newer = newer.set_column(3, "timestamp", pa.array(np.full(newer.num_rows, 7.0)))
    folder = PartFolder(dataset)
    metadata = pq.read_schema(folder.path_of(folder.parts()[0])).metadata
    before = DatasetRows(dataset).state()
    folder.write(
        newer.replace_schema_metadata(metadata),
        PartNamer(Manifest(folder.fs, folder.base, dataset).next_generation()).next(),
    )

    rows = DatasetRows(dataset).rows()
    assert len(rows) == table.num_rows
    assert (rows.timestamps[rows.paths == clips[1]] == 7.0).all()
    assert (rows.timestamps[rows.paths == clips[0]] != 7.0).all()
    assert DatasetRows(dataset).state() != before


@pytest.mark.parametrize("group_bytes", [1, 3000, 64 << 20])  # a row per group, a few, one group
def test_rows_of_some_inputs_are_the_rows_of_all_filtered(
    clips, weights_env, tmp_path, monkeypatch, group_bytes
):
    monkeypatch.setattr("openl3.dataset.parts.ROW_GROUP_BYTES", group_bytes)
    out = str(tmp_path / "out")
    openl3.process_audio_file(clips, output_dir=out, output_format="parquet", **AUDIO)
    openl3.process_audio_file(clips[1], output_dir=out, output_format="parquet", overwrite=True, **AUDIO)
    groups = [pq.read_metadata(os.path.join(out, name)).num_row_groups for name in DatasetRows(out).parts]
    assert (max(groups) > 2) == (group_bytes < 64 << 20)
    everything = DatasetRows(out).rows()
    for chosen in ([clips[1]], [clips[2], clips[0]], ["nothing.wav"], []):
        rows = DatasetRows(out).rows(chosen)
        keep = np.isin(everything.paths, chosen)
        np.testing.assert_array_equal(rows.paths, everything.paths[keep])
        np.testing.assert_array_equal(rows.timestamps, everything.timestamps[keep])
        np.testing.assert_array_equal(rows.embeddings, everything.embeddings[keep])
        assert rows.embeddings.shape[1:] == everything.embeddings.shape[1:]


def test_state_changes_when_rows_are_added_or_rewritten_and_only_then(dataset, clips):
    first = DatasetRows(dataset).state()
    assert DatasetRows(dataset).state() == first
    openl3.process_audio_file(clips, output_dir=dataset, output_format="parquet", **AUDIO)
    added = DatasetRows(dataset).state()
    assert added != first
    first_part = PartFolder(dataset).parts()[0]
    PartFolder(dataset).drop_older_rows({clips[0]: [(first_part, clips[0]), ("later", clips[0])]})
    assert DatasetRows(dataset).state() != added


def test_state_is_the_digest_of_the_footers_and_shared_entries_give_each_subset_its_own(dataset, clips):
    import copy
    import hashlib

    openl3.process_audio_file(clips, output_dir=dataset, output_format="parquet", **AUDIO)
    rows = DatasetRows(dataset)
    assert len(rows.parts) == 2
    digest = hashlib.sha256()  # the fingerprint as indexes already saved recorded it
    for name in rows.parts:
        metadata = pq.read_metadata(os.path.join(dataset, name))
        sizes = [metadata.row_group(i).total_byte_size for i in range(metadata.num_row_groups)]
        digest.update(f"{name}:{metadata.num_rows}:{sizes}\n".encode())
    entries = rows.part_entries()
    assert rows.state() == rows.state(entries) == digest.hexdigest()[:32]
    for kept in ([rows.parts[0]], [rows.parts[1]], [], rows.parts):
        subset = copy.copy(rows)
        subset.parts = kept
        assert subset.state(entries) == subset.state()


def test_a_folder_without_rows_is_refused_by_name(tmp_path):
    pq.write_table(pa.table({"path": ["mine.wav"]}), tmp_path / "part-0001.parquet")
    with pytest.raises(OpenL3Error, match="holds no openl3 rows"):
        DatasetRows(str(tmp_path))
    with pytest.raises(OpenL3Error, match="holds no openl3 rows"):
        DatasetRows(str(tmp_path / "missing"))


def test_a_video_dataset_asks_which_modality(weights_env, tmp_path):
    video = write_video(tmp_path / "v.mp4", seconds=2.0, fps=2)
    out = str(tmp_path / "out")
    settings = {"input_repr": "mel256", "audio_embedding_size": 512, "image_embedding_size": 512}
    openl3.process_video_file(video, output_dir=out, output_format="parquet", verbose=False, **settings)
    with pytest.raises(OpenL3Error, match="video run"):
        DatasetRows(out)
    image = DatasetRows(out, modality="image")
    assert image.modality == "image" and image.rows().embeddings.shape == (4, 512)
    assert DatasetRows(os.path.join(out, "audio")).modality == "audio"
    with pytest.raises(OpenL3Error, match="Invalid modality"):
        DatasetRows(out, modality="video")


def test_a_video_run_of_an_earlier_version_keeps_its_top_folder(weights_env, tmp_path):
    """``OUT --modality audio`` of a video run without a manifest yet: OUT holds the locks and manifest."""
    from openl3.search import update_index

    video = write_video(tmp_path / "v.mp4", seconds=2.0, fps=2)
    out = str(tmp_path / "out")
    settings = {"input_repr": "mel256", "audio_embedding_size": 512, "image_embedding_size": 512}
    openl3.process_video_file(video, output_dir=out, output_format="parquet", verbose=False, **settings)
    os.remove(os.path.join(out, "_openl3", "dataset.json"))  # as an earlier version wrote it
    audio = DatasetRows(out, modality="audio")
    assert audio.top.base == PartFolder(out).base
    update_index(audio)
    assert Manifest(audio.top.fs, audio.top.base, out).read() is not None
    assert not os.path.exists(os.path.join(out, "audio", "_openl3", "dataset.json"))
    assert not os.path.exists(os.path.join(out, "audio", "_openl3", "locks"))


def test_a_dataset_in_a_subfolder_audio_of_another_dataset_is_its_own_top(clips, dataset):
    from openl3.search import update_index

    inner = os.path.join(dataset, "audio")
    openl3.process_audio_file(clips[2:], output_dir=inner, output_format="parquet", **AUDIO)
    rows = DatasetRows(inner)
    assert rows.top.base == PartFolder(inner).base
    update_index(rows)
    outer = PartFolder(dataset)
    assert Manifest(outer.fs, outer.base, dataset).registered() == {}
    assert "_openl3/index" in Manifest(rows.top.fs, rows.top.base, inner).registered()


def test_image_files_rows_have_no_timestamp(weights_env, tmp_path):
    image = np.random.default_rng(0).integers(0, 255, (230, 250, 3), dtype=np.uint8)
    out = str(tmp_path / "out")
    openl3.process_image_file(
        [image_file(tmp_path, image)],
        output_dir=out,
        output_format="parquet",
        input_repr="mel256",
        embedding_size=512,
        verbose=False,
    )
    rows = DatasetRows(out).rows()
    assert len(rows) == 1 and np.isnan(rows.timestamps).all()


def test_the_documented_reading_runs(dataset):
    import re
    from pathlib import Path

    page = (Path(__file__).resolve().parents[1] / "docs" / "collections.md").read_text()
    (block,) = [b for b in re.findall(r"```python\n(.*?)```", page, re.DOTALL) if "DatasetRows" in b]
    namespace: dict = {}
    exec(block.replace('"clips.l3"', repr(dataset)), namespace)
    assert namespace["rows"].embeddings.shape == (len(read_rows(dataset)), 512)


def test_a_reader_lists_again_when_a_run_removes_a_part_it_listed(clips, weights_env, tmp_path, monkeypatch):
    """`openl3 index` while `--overwrite` rewrote parts said a part it had just listed was damaged."""
    from openl3.cli import main

    out = str(tmp_path / "out")
    for clip in clips[:2]:  # one part each: overwriting the first empties its part, which goes
        openl3.process_audio_file(clip, output_dir=out, output_format="parquet", **AUDIO)
    listed = DatasetRows(out).parts
    real = DatasetRows.__init__

    def then_overwritten(self, *args, **kwargs):  # the reader lists the parts, then a writer rewrites
        real(self, *args, **kwargs)
        monkeypatch.setattr(DatasetRows, "__init__", real)
        openl3.process_audio_file(clips[0], output_dir=out, output_format="parquet", overwrite=True, **AUDIO)

    monkeypatch.setattr(DatasetRows, "__init__", then_overwritten)
    assert main(["index", out, "-q"]) == 0
    assert listed[0] not in DatasetRows(out).parts
    index, _ = openl3.search.open_index(DatasetRows(out))
    assert sorted(set(index.paths)) == sorted(clips[:2])


def flip_a_byte_of_the_embeddings(part):
    """Flip one byte inside the first data page of a part's embedding column."""
    column = pq.ParquetFile(part).metadata.row_group(0).column(4)
    data = bytearray(Path(part).read_bytes())
    data[column.data_page_offset + column.total_compressed_size // 2] ^= 0x40
    Path(part).write_bytes(bytes(data))


def test_a_byte_flipped_in_a_part_is_named_not_read_as_numbers(dataset, capsys):
    """It was read as values of 2e28 to 2e36, and `openl3 index` built its index on them (exit 0)."""
    from openl3.cli import main

    [part] = DatasetRows(dataset).parts
    flip_a_byte_of_the_embeddings(os.path.join(dataset, part))
    with pytest.raises(OpenL3Error, match=f"{part} is damaged"):
        DatasetRows(dataset).rows()
    assert main(["index", dataset, "-q"]) == 1
    err = capsys.readouterr().err
    assert f"{part} is damaged" in err and "Remove that part" in err and "Traceback" not in err


def test_parts_written_before_page_checksums_still_read(dataset):
    [part] = DatasetRows(dataset).parts
    path = os.path.join(dataset, part)
    before = DatasetRows(dataset).rows()
    table = pq.read_table(path)
    pq.write_table(table, path, write_page_checksum=False)  # as openl3 wrote parts before
    after = DatasetRows(dataset).rows()
    np.testing.assert_array_equal(after.embeddings, before.embeddings)

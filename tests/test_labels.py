"""Labels of files: CSV files (relative paths, groups, folds, errors), folder names, matching."""

import os

import pytest

from openl3._util.exceptions import OpenL3Error
from openl3._util.identity import file_identity
from openl3.classify.labels import FileLabels, check_files, folder_labels, match_inputs, read_label_csv


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return str(path)


def test_csv_relative_paths_resolve_against_its_folder(tmp_path, monkeypatch):
    csv = write(
        tmp_path / "meta" / "labels.csv", "path,label,group,fold\na.wav,dog,r1,1\nsub/b.wav,cat,r2,2\n"
    )
    monkeypatch.chdir("/")
    labels = read_label_csv(csv)
    assert labels.paths == [str(tmp_path / "meta" / "a.wav"), str(tmp_path / "meta" / "sub" / "b.wav")]
    assert labels.labels == ["dog", "cat"]
    assert labels.groups == ["r1", "r2"]
    assert labels.folds == [1, 2]
    assert labels.classes == ["cat", "dog"]
    assert labels.source == csv


def test_csv_columns_in_any_order_absolute_paths_and_uris(tmp_path):
    csv = write(tmp_path / "l.csv", f"label,path\nrain,{tmp_path}/x.wav\nwind,s3://bucket/y.wav\n")
    labels = read_label_csv(csv)
    assert labels.paths == [f"{tmp_path}/x.wav", "s3://bucket/y.wav"]
    assert labels.groups is None and labels.folds is None
    assert labels.label_of("s3://bucket/y.wav") == "wind"


def test_label_of_matches_by_real_path(tmp_path, monkeypatch):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "a.wav").write_bytes(b"")
    os.symlink(tmp_path / "data", tmp_path / "link")
    labels = read_label_csv(write(tmp_path / "l.csv", "path,label\ndata/a.wav,dog\n"))
    monkeypatch.chdir(tmp_path)
    assert labels.label_of("link/a.wav") == "dog"
    assert labels.label_of(str(tmp_path / "data" / "./a.wav")) == "dog"
    assert labels.label_of("data/b.wav") is None


def test_duplicate_rows_with_the_same_label_count_once(tmp_path):
    labels = read_label_csv(write(tmp_path / "l.csv", "path,label\na.wav,dog\n./a.wav,dog\nb.wav,cat\n"))
    assert len(labels) == 2


@pytest.mark.parametrize(
    "text, words",
    [
        ("", ["empty"]),
        ("path,label\n", ["empty"]),
        ("file,label\na.wav,dog\n", ["line 1", "path and label"]),
        ("path,label\na.wav,dog\nb.wav,\n", ["line 3", "no label"]),
        ("path,label,fold\na.wav,dog,one\n", ["line 2", "fold 'one'"]),
        ("path,label\na.wav,dog\n./a.wav,cat\n", ["line 3", "two labels", "'dog'", "'cat'"]),
        ("path,label,group\na.wav,dog,r1\nb.wav,dog,r1\n./a.wav,dog,r2\n", ["line 4", "two groups", "'r2'"]),
        ("path,label,fold\na.wav,dog,1\n./a.wav,dog,2\n", ["line 3", "two folds", "1 and 2"]),
    ],
)
def test_bad_label_files_are_refused_naming_file_and_line(tmp_path, text, words):
    csv = write(tmp_path / "l.csv", text)
    with pytest.raises(OpenL3Error) as error:
        read_label_csv(csv)
    for word in [csv, *words]:
        assert word in str(error.value)


def test_unreadable_label_file(tmp_path):
    with pytest.raises(OpenL3Error, match="Cannot read label file .*nope.csv"):
        read_label_csv(str(tmp_path / "nope.csv"))


def test_folder_labels_from_subfolder_names(tmp_path):
    for name in ("dog/a.wav", "dog/deep/b.flac", "rain/c.wav", "rain/notes.txt", "top.wav"):
        write(tmp_path / "in" / name, "")
    labels = folder_labels([str(tmp_path / "in")])
    assert [os.path.relpath(p, tmp_path / "in") for p in labels.paths] == [
        "dog/a.wav",
        "dog/deep/b.flac",
        "rain/c.wav",
    ]
    assert labels.labels == ["dog", "dog", "rain"]
    assert labels.classes == ["dog", "rain"]
    assert folder_labels(str(tmp_path / "in")).paths == labels.paths


def test_folder_labels_errors(tmp_path):
    with pytest.raises(OpenL3Error, match="is not a folder"):
        folder_labels([str(tmp_path / "missing")])
    write(tmp_path / "in" / "a.wav", "")
    with pytest.raises(OpenL3Error, match="no subfolder holds audio files"):
        folder_labels([str(tmp_path / "in")])
    write(tmp_path / "in" / "cat" / "a.png", "")
    assert folder_labels([str(tmp_path / "in")], modality="image").labels == ["cat"]
    with pytest.raises(OpenL3Error, match="Invalid modality"):
        folder_labels([str(tmp_path / "in")], modality="video")


class Inputs:
    """A dataset's inputs as :func:`match_inputs` asks them: by file identity."""

    def __init__(self, names):
        self.names = {file_identity(name): name for name in names}

    def match(self, paths):
        return [self.names.get(file_identity(path)) for path in paths]


def test_match_inputs_names_missing_files(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    labels = FileLabels([str(tmp_path / f"f{i}.wav") for i in range(13)], ["a"] * 13, source="my.csv")
    inputs = Inputs(["f0.wav", "f1.wav", "other.wav"])
    assert match_inputs(labels.subset([1, 0]), inputs) == ["f1.wav", "f0.wav"]
    with pytest.raises(OpenL3Error) as error:
        match_inputs(labels, inputs)
    message = str(error.value)
    assert "my.csv: labelled: 11 files have no embeddings" in message
    with pytest.raises(OpenL3Error, match="labelled: 1 file has no embeddings"):
        match_inputs(labels.subset([5]), inputs)
    assert "f2.wav" in message and "and 1 more" in message and "f0.wav" not in message


def test_check_files_names_missing_files(tmp_path):
    (tmp_path / "here.wav").write_bytes(b"")
    labels = FileLabels(
        [str(tmp_path / "here.wav"), str(tmp_path / "gone.wav"), "s3://b/x.wav"], ["a", "b", "c"]
    )
    with pytest.raises(OpenL3Error, match=r"1 labelled file does not exist: .*gone\.wav\.$"):
        check_files(labels)
    check_files(labels.subset([0, 2]))


def test_two_labels_for_one_file_and_length_mismatch():
    with pytest.raises(OpenL3Error, match="two labels"):
        FileLabels(["/x/a.wav", "/x/./a.wav"], ["a", "b"])
    with pytest.raises(OpenL3Error, match="2 paths but 1 values"):
        FileLabels(["/x/a.wav", "/x/b.wav"], ["a"])


@pytest.mark.parametrize("shown", [1, 5, 10])
def test_first_few_names_the_first_and_counts_the_rest(shown):
    from openl3.classify.labels import first_few

    for count in range(0, 2 * shown + 2):
        texts = [f"f{i}.wav" for i in range(count)]
        listed = first_few(texts, shown, "; ")
        named, _, rest = listed.partition(" and ")
        assert named.split("; ") == (texts[:shown] or [""])
        assert rest == (f"{count - shown} more" if count > shown else "")


def test_a_link_in_a_class_folder_is_one_file_not_two(tmp_path):
    """A symlinked twin (hum/link.wav -> hum0.wav) put one recording on both sides of a split."""
    for name in ("hum", "hiss"):
        (tmp_path / "in" / name).mkdir(parents=True)
    for name in ("hum/hum0.wav", "hum/hum1.wav", "hiss/hiss0.wav"):
        (tmp_path / "in" / name).write_bytes(b"")
    os.symlink(tmp_path / "in" / "hum" / "hum0.wav", tmp_path / "in" / "hum" / "link.wav")
    labels = folder_labels(str(tmp_path / "in"))
    assert len(labels) == 3 and sorted(map(os.path.basename, labels.paths)) == [
        "hiss0.wav",
        "hum0.wav",
        "hum1.wav",
    ]
    os.symlink(tmp_path / "in" / "hum" / "hum1.wav", tmp_path / "in" / "hiss" / "twin.wav")
    with pytest.raises(OpenL3Error, match="has two labels"):
        folder_labels(str(tmp_path / "in"))

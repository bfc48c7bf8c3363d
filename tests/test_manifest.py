"""The manifest of a dataset folder and the names of its parts."""

import json

import pytest
from pyarrow import fs

from openl3._util.exceptions import OpenL3Error
from openl3.dataset.manifest import FORMAT, OWN_FOLDER, Manifest, PartNamer, part_name, part_order


def manifest_of(folder):
    return Manifest(fs.LocalFileSystem(), str(folder), str(folder))


def test_part_order_is_by_generation_then_sequence_with_legacy_parts_first():
    names = [
        part_name(2, 1, "b-1"),
        part_name(10, 1, "a-9"),
        part_name(2, 12, "a-1"),
        "part-00000000000000ff-old-1.parquet",
        "part-0000000000000001-old-2.parquet",
        part_name(1, 3, "z-3"),
    ]
    ordered = sorted(names, key=part_order)
    assert ordered == [names[4], names[3], names[5], names[0], names[2], names[1]]
    for foreign in [
        "part-0001.parquet",
        "manifest.parquet",
        "part-g1-1-x.parquet",
        "part-g0000000001-000001-.parquet",
    ]:
        assert part_order(foreign) is None


def test_a_run_names_its_parts_in_order():
    namer = PartNamer(7, "host-12")
    names = [namer.next() for _ in range(3)]
    assert names == [part_name(7, k, "host-12") for k in (1, 2, 3)]
    assert [part_order(n)[:2] for n in names] == [(7, 1), (7, 2), (7, 3)]


def test_generations_count_up_and_files_are_registered(tmp_path):
    manifest = manifest_of(tmp_path)
    assert manifest.read() is None
    with pytest.raises(OpenL3Error, match="not an openl3 dataset"):
        manifest.register("_openl3/index", "search index")
    assert [manifest.next_generation() for _ in range(3)] == [1, 2, 3]
    manifest.register("_openl3/index", "search index")
    assert manifest.registered() == {"_openl3/index": "search index"}
    assert manifest.next_generation() == 4 and manifest.registered() == {"_openl3/index": "search index"}
    assert [p.name for p in (tmp_path / OWN_FOLDER).iterdir()] == ["dataset.json"]  # no temporary left


def test_a_damaged_foreign_or_newer_manifest_is_refused(tmp_path):
    manifest = manifest_of(tmp_path)
    (tmp_path / OWN_FOLDER).mkdir()
    path = tmp_path / OWN_FOLDER / "dataset.json"
    path.write_text("{not json")
    with pytest.raises(OpenL3Error, match="Cannot read the manifest"):
        manifest.next_generation()
    path.write_text(json.dumps({"format": "something else"}))
    with pytest.raises(OpenL3Error, match="not the manifest"):
        manifest.read()
    path.write_text(json.dumps({"format": FORMAT, "version": 99, "generation": 3}))
    with pytest.raises(OpenL3Error, match="newer openl3"):
        manifest.next_generation()

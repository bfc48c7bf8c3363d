"""Shards: a deterministic split of the inputs by a stable hash of each path as named."""

import hashlib
import os
import subprocess
import sys

import pytest

from openl3._util.exceptions import OpenL3Error
from openl3._util.shard import check_shard, in_shard, parse_shard, path_hash, select_shard

PATHS = [f"/data/clips/{k:04d}.wav" for k in range(600)] + ["relative/é.flac", "x y.wav", ""]


def test_path_hash_is_the_first_8_bytes_of_blake2b():
    for path in PATHS[:20] + PATHS[-3:]:
        digest = hashlib.blake2b(os.fsencode(path), digest_size=8).digest()
        assert path_hash(path) == int.from_bytes(digest, "big")


@pytest.mark.parametrize("count", [1, 2, 3, 7, 64])
def test_every_input_is_in_exactly_one_shard_and_keeps_its_order(count):
    shards = [select_shard(PATHS, (k, count)) for k in range(count)]
    assert sorted(p for shard in shards for p in shard) == sorted(PATHS)
    for k, shard in enumerate(shards):
        assert shard == [p for p in PATHS if path_hash(p) % count == k]  # the plain rule, in order
        assert all(in_shard(p, (k, count)) for p in shard)
    if 1 < count < 10:  # about len/count each (binomial spread well within half of it), not all in one
        assert min(len(s) for s in shards) > 0.5 * len(PATHS) / count


def test_the_split_is_the_same_in_another_process_with_another_hash_seed():
    code = (
        "import sys; from openl3._util.shard import select_shard; print(select_shard(sys.argv[1:], (1, 3)))"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run([sys.executable, "-c", code, *PATHS[:50]], env=env, capture_output=True, text=True)
    assert out.stdout.strip() == str(select_shard(PATHS[:50], (1, 3)))


def test_shards_are_checked():
    assert check_shard(None) is None
    assert check_shard((2, 5)) == (2, 5) == check_shard([2, 5]) == check_shard("2/5") == parse_shard(" 2/ 5")
    for bad in [(5, 5), (-1, 3), (0, 0), (1.0, 3), (True, 3), (1, 2, 3), "3", "a/b", "3/3", 7]:
        with pytest.raises(OpenL3Error, match="shard"):
            check_shard(bad)
    with pytest.raises(OpenL3Error, match="--shard '4/2'"):
        parse_shard("4/2")

"""Pooling a file's windows into one feature vector: mean, mean+std, max; rows of many files."""

import numpy as np
import pytest

from openl3._util.exceptions import OpenL3Error
from openl3.classify.pooling import POOLINGS, pool, pool_rows, pooled_size
from openl3.dataset.rows import EmbeddingRows


def rows_of(files):
    """EmbeddingRows of files given as {path: (n, D) array}, their windows interleaved."""
    entries = [(path, i, row) for path, array in files.items() for i, row in enumerate(array)]
    entries.sort(key=lambda e: (e[1], e[0]))  # window 0 of every file, then window 1, ...
    return EmbeddingRows(
        np.array([e[0] for e in entries], dtype=object),
        np.array([e[1] for e in entries], np.int32),
        np.array([0.5 * e[1] for e in entries]),
        np.array([e[2] for e in entries], np.float32),
    )


def test_pool_one_file():
    x = np.array([[1.0, -2.0], [3.0, 4.0], [5.0, 0.0]], np.float32)
    np.testing.assert_allclose(pool(x), [3.0, 2 / 3], rtol=1e-6)
    np.testing.assert_allclose(pool(x, "max"), [5.0, 4.0])
    np.testing.assert_allclose(pool(x, "mean+std"), [3.0, 2 / 3, *np.std(x, axis=0)], rtol=1e-6)
    assert pool(x).dtype == np.float32 and pool(x, "mean+std").shape == (4,)
    np.testing.assert_array_equal(pool(x[:1], "mean+std"), [1.0, -2.0, 0.0, 0.0])


def test_pool_refuses_bad_input():
    with pytest.raises(OpenL3Error, match="Invalid pooling 'median'"):
        pool(np.zeros((2, 3)), "median")
    with pytest.raises(OpenL3Error, match=r"shape \(0, 3\)"):
        pool(np.zeros((0, 3)))
    with pytest.raises(OpenL3Error, match=r"shape \(3,\)"):
        pool(np.zeros(3))


@pytest.mark.parametrize("how", POOLINGS)
def test_pool_rows_matches_pool_per_file_in_order_of_first_appearance(how):
    rng = np.random.default_rng(0)
    files = {
        "b.wav": rng.normal(size=(4, 8)),
        "a.wav": rng.normal(size=(1, 8)),
        "c.wav": rng.normal(size=(7, 8)),
    }
    rows = rows_of(files)
    inputs, features = pool_rows(rows, how)
    assert inputs == rows.inputs() == ["a.wav", "b.wav", "c.wav"]
    assert features.shape == (3, pooled_size(8, how)) and features.dtype == np.float32
    for name, feature in zip(inputs, features, strict=True):
        np.testing.assert_allclose(feature, pool(files[name], how), rtol=1e-5, atol=1e-6)


def test_pool_rows_of_no_rows():
    rows = EmbeddingRows(
        np.array([], dtype=object), np.zeros(0, np.int32), np.zeros(0), np.zeros((0, 6), np.float32)
    )
    inputs, features = pool_rows(rows, "mean+std")
    assert inputs == [] and features.shape == (0, 12)

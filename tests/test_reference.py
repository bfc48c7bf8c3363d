"""Parity with OpenL3 0.4.2 on the outputs it computed for seeded weights (shared/reference).

Tolerance: 1e-5 of each embedding's largest magnitude. Both computations run in float32
(TensorFlow 2.15 with kapre 0.3.6 for the reference, today's stack here), so they agree to
float32 rounding accumulated through 16 layers (measured: under 3e-6), not bit for bit.
Timestamps are computed from integers and must match exactly.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import openl3

RTOL = 1e-5


def _keys(reference, prefix):
    archive, _, _ = reference
    return sorted(k for k in archive.files if k.startswith(prefix) and k.endswith("|emb"))


@pytest.fixture(scope="module")
def audio_models(reference_weights):
    cache = {}

    def get(input_repr, frontend, size):
        key = (input_repr, frontend, size)
        if key not in cache:
            cache[key] = openl3.models.load_audio_embedding_model_from_path(
                reference_weights[input_repr], input_repr, size, frontend=frontend
            )
        return cache[key]

    return get


def test_reference_covers_every_audio_configuration(reference):
    keys = _keys(reference, "audio|")
    configs = {tuple(k.split("|")[1:4]) for k in keys}
    assert len(configs) == 3 * 2 * 2
    assert len(keys) == 72


def test_audio_embeddings_match_openl3_0_4_2(reference, audio_models):
    archive, inputs, _ = reference
    cases = inputs.audio_cases()
    failures = []
    for key in _keys(reference, "audio|"):
        _, input_repr, frontend, size, case, center, hop, _ = key.split("|")
        audio, sr = cases[case]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", openl3.OpenL3Warning)
            emb, ts = openl3.get_audio_embedding(
                audio,
                sr,
                model=audio_models(input_repr, frontend, int(size)),
                input_repr=input_repr,
                center=bool(int(center)),
                hop_size=float(hop),
                frontend=frontend,
                verbose=False,
            )
        expected = archive[key]
        assert emb.shape == expected.shape, key
        assert emb.dtype == np.float32
        error = np.abs(emb - expected).max() / np.abs(expected).max()
        if error > RTOL:
            failures.append(f"{key}: {error:.2e}")
        np.testing.assert_array_equal(ts, archive[key[: -len("emb")] + "ts"], err_msg=key)
    assert not failures, failures

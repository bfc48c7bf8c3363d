"""Parity with OpenL3 0.4.2 on the outputs it computed for seeded weights (shared/reference).

Tolerance: 1e-5 of each embedding's largest magnitude. Both computations run in float32
(TensorFlow 2.15 with kapre 0.3.6 for the reference, today's stack here), so they agree to
float32 rounding accumulated through 16 layers (measured: under 3e-6), not bit for bit.
Timestamps are computed from integers and must match exactly. The kapre frontend is
checked with openl3's ``keras.ops`` spectrogram (the default) on the backend the tests run
on and (in a subprocess) on JAX, and on PyTorch when it is installed, and with kapre's own
layers where kapre is installed (CI's oldest-versions environment).
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REFERENCE_DIR
from reference_parity import audio_errors

from helpers import skip_without_kapre

RTOL = 1e-5


def _keys(reference, prefix):
    archive, _, _ = reference
    return sorted(k for k in archive.files if k.startswith(prefix) and k.endswith("|emb"))


def test_reference_covers_every_audio_configuration(reference):
    keys = _keys(reference, "audio|")
    configs = {tuple(k.split("|")[1:4]) for k in keys}
    assert len(configs) == 3 * 2 * 2
    assert len(keys) == 72


@pytest.mark.parametrize(
    ("frontends", "spectrogram"),
    [(("kapre", "librosa"), "auto"), (("kapre",), "kapre")],
    ids=["keras.ops spectrogram and librosa", "kapre's own layers"],
)
def test_audio_embeddings_match_openl3_0_4_2(reference, reference_weights, frontends, spectrogram):
    if spectrogram == "kapre":
        skip_without_kapre()
    archive, inputs, _ = reference
    errors = audio_errors(archive, inputs, reference_weights, frontends, spectrogram)
    assert len(errors) == 72 if len(frontends) == 2 else 36
    assert not [f"{k}: {e:.2e}" for k, (e, _) in errors.items() if e > RTOL]
    assert all(equal for _, equal in errors.values())


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_every_backend_matches_openl3_0_4_2(reference, backend, tmp_path):
    if importlib.util.find_spec(backend) is None:  # JAX is in the tests extra (tests/test_package.py)
        pytest.skip(f"{backend} is not installed")
    script = Path(__file__).with_name("reference_parity.py")
    environment = {**os.environ, "KERAS_BACKEND": backend}
    result = subprocess.run(
        [sys.executable, str(script), str(REFERENCE_DIR), str(tmp_path), "auto"],
        capture_output=True,
        text=True,
        env=environment,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert figures["backend"] == backend
    assert figures["audio_keys"] == 72 and figures["image_keys"] == 8
    assert figures["librosa_max"] < RTOL and figures["image_max"] < RTOL, figures  # the towers
    # The in-graph spectrogram: above the band of band-limited or tonal audio 0.4.2's
    # spectrogram holds TensorFlow's FFT rounding noise (about -75 dB, above the -80 dB
    # floor), so only TensorFlow's FFT bits give its numbers. JAX's CPU FFT gives them, and
    # on PyTorch's CPU the twin computes the FFT with pocketfft (scipy.fft), which does too
    # (torch's own FFT was 1.6e-2 away; docs/faithfulness.md).
    assert figures["kapre_max"] < RTOL, figures
    assert figures["timestamps_equal"]

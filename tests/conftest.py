"""Shared fixtures: seeded weight files in the official layout, loaded models, reference data."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import numpy as np
import pytest

from helpers import write_weight_file

REFERENCE_DIR = Path(
    os.environ.get("OPENL3_REFERENCE_DIR", Path(__file__).resolve().parents[2] / "shared" / "reference")
)

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture(scope="session")
def weights_dir(tmp_path_factory) -> Path:
    """A directory of seeded weight files under their official (decompressed) names."""
    directory = tmp_path_factory.mktemp("weights")
    for seed, repr_ in enumerate(("linear", "mel128", "mel256")):
        write_weight_file(directory / f"openl3_audio_{repr_}_music.h5", "audio", seed)
    write_weight_file(directory / "openl3_image_mel256_music.h5", "image", 10)
    return directory


@pytest.fixture
def weights_env(weights_dir, monkeypatch) -> Path:
    """Point OPENL3_WEIGHTS_DIR at the seeded weight files."""
    monkeypatch.setenv("OPENL3_WEIGHTS_DIR", str(weights_dir))
    return weights_dir


@pytest.fixture(scope="session")
def mel128_model(weights_dir):
    """A mel128 / 512 kapre model with seeded weights (the cheapest audio tower)."""
    import openl3

    return openl3.models.load_audio_embedding_model_from_path(
        str(weights_dir / "openl3_audio_mel128_music.h5"), "mel128", 512
    )


@pytest.fixture(scope="session")
def mel128_librosa_model(weights_dir):
    """The same weights as ``mel128_model`` without the kapre frontend."""
    import openl3

    return openl3.models.load_audio_embedding_model_from_path(
        str(weights_dir / "openl3_audio_mel128_music.h5"), "mel128", 512, frontend="librosa"
    )


@pytest.fixture(scope="session")
def reference():
    """OpenL3 0.4.2's outputs, its input generator and its weight writer (shared/reference)."""
    archive = REFERENCE_DIR / "reference_0_4_2.npz"
    if not archive.is_file():
        pytest.skip(f"reference outputs of OpenL3 0.4.2 not found at {archive}")
    modules = {}
    for name in ("inputs", "make_weights"):
        spec = importlib.util.spec_from_file_location(f"reference_{name}", REFERENCE_DIR / f"{name}.py")
        modules[name] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(modules[name])
    return np.load(archive), modules["inputs"], modules["make_weights"]


@pytest.fixture(scope="session")
def reference_weights(reference, tmp_path_factory) -> dict[str, str]:
    """The four weight files the reference outputs were computed with."""
    _, _, make_weights = reference
    return make_weights.write_all(str(tmp_path_factory.mktemp("reference_weights")))

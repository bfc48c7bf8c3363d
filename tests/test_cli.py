"""The installed ``openl3`` command, run as a subprocess."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

COMMAND = shutil.which("openl3", path=str(Path(sys.executable).parent)) or shutil.which("openl3")


def openl3(*args, env=None):
    if COMMAND is None:
        pytest.fail("the openl3 command is not installed (pip install -e .)")
    environment = {**os.environ, **(env or {})}
    return subprocess.run([COMMAND, *args], capture_output=True, text=True, env=environment, timeout=300)


def test_help_is_fast_and_does_not_load_tensorflow():
    start = time.perf_counter()
    result = openl3("--help")
    assert result.returncode == 0 and "models" in result.stdout
    assert time.perf_counter() - start < 5  # well under a second on a warm machine; generous for CI
    code = "import sys; from openl3 import cli; cli.build_parser(); print('tensorflow' in sys.modules)"
    assert (
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"
    )


def test_version():
    import openl3 as package

    result = openl3("--version")
    assert result.returncode == 0 and result.stdout.strip() == f"openl3 {package.__version__}"


def test_usage_errors_exit_2():
    assert openl3("models", "bogus").returncode == 2
    assert openl3("models", "list", "--modality", "video").returncode == 2
    assert openl3().returncode == 2


def test_models_list_and_path():
    result = openl3("models", "list")
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    assert len(lines) == 12 and all(line.startswith("missing") for line in lines)
    filtered = openl3("models", "list", "--modality", "image", "--content-type", "env").stdout.splitlines()
    assert len(filtered) == 3 and all(
        "openl3_image_" in line and "_env-v0_4_0.h5.gz" in line for line in filtered
    )
    path = openl3("models", "path")
    assert path.returncode == 0 and f"cache: {os.environ['OPENL3_CACHE_DIR']}" in path.stdout


def test_models_download_offline_fails_with_the_remedies():
    result = openl3("models", "download", "--modality", "audio", "--input-repr", "mel128", "-q")
    assert result.returncode == 1
    assert result.stderr.count("error: Could not download the OpenL3 weight file openl3_audio_mel128_") == 2
    assert "OPENL3_WEIGHTS_DIR" in result.stderr and "openl3 models import PATH" in result.stderr


def test_models_import_and_verify(published, tmp_path, weights_dir):
    path, _ = published  # a well-formed file that is not the official one
    refused = openl3("models", "import", str(path))
    assert refused.returncode == 1 and "does not match the published" in refused.stderr
    assert openl3("models", "verify").returncode == 0  # nothing cached, nothing to contradict
    folder = tmp_path / "folder"
    folder.mkdir()
    shutil.copy(path, folder / path.name)
    (folder / "notes.txt").write_text("ignored")
    forced = openl3("models", "import", "--no-verify", str(folder))
    assert forced.returncode == 0 and forced.stdout.startswith("imported")
    listed = openl3(
        "models", "list", "--input-repr", "mel128", "--modality", "audio", "--content-type", "music"
    )
    assert listed.stdout.startswith("corrupt")
    verified = openl3("models", "verify", env={"OPENL3_WEIGHTS_DIR": str(weights_dir)})
    assert verified.returncode == 1
    assert "MISMATCH" in verified.stdout and "unchecked" in verified.stdout

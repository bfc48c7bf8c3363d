"""Scripts that someone runs on borrowed hardware work before the hardware is spent."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"


@pytest.mark.slow  # about 45 s on 2 cores: the slow tier (-m slow) runs it
def test_gpu_check_runs_through_on_a_cpu_with_tiny_sizes():
    if importlib.util.find_spec("jax") is None:
        pytest.skip("jax is not installed")
    command = [sys.executable, str(SCRIPTS / "gpu_check.py"), "--quick", "--cpu-ok"]
    command += ["--backends", "jax", "--input-reprs", "mel128"]
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=300, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    )
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert any(line.startswith("device: ") for line in lines)
    for precision in ("faithful", "tf32", "bfloat16"):
        assert any(line.startswith(f"speed mel128 {precision}") for line in lines), result.stdout
    assert any(line.startswith("error mel128 bfloat16 against faithful") for line in lines)
    assert '"jax": "exit status 0 in' in lines[-1]


def test_gpu_check_names_a_missing_backend_and_defaults_to_a_full_gpu_run():
    if importlib.util.find_spec("jax") is None:
        pytest.skip("jax is not installed")
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPTS / "gpu_check.py")
    gpu_check = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gpu_check)
    args = gpu_check.parse_args(["--backends", "torch", "--timeout", "5"])
    if importlib.util.find_spec("torch") is None:
        assert gpu_check.run_backend(args, "torch").startswith("not installed")
    assert not args.cpu_ok and not args.quick and args.input_reprs == ["mel128", "mel256"]


def test_precision_error_measures_bfloat16_per_kind():
    command = [sys.executable, str(SCRIPTS / "precision_error.py"), "--input-repr", "mel128"]
    command += ["--embedding-size", "512", "--windows", "8", "--modes", "bfloat16", "--per-kind"]
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=600, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    )
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert any(line.startswith("audio mel128/512") and "bfloat16" in line for line in lines), result.stdout
    for kind in ("speech-like", "music-like", "noise", "quiet"):
        row = next(line for line in lines if line.split()[:1] == [kind])
        assert "relative L2 median" in row and "cosine min 0.99" in row, row


@pytest.mark.slow  # about 40 s on 2 cores: two fresh processes
def test_bench_precision_interleaves_fresh_processes(weights_dir):
    command = [sys.executable, str(SCRIPTS / "bench_precision.py"), "--weights-dir", str(weights_dir)]
    command += ["--input-repr", "mel128", "--embedding-size", "512", "--seconds", "2", "--rounds", "1"]
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=600, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "round 1 mel128 faithful" in result.stdout and "round 1 mel128 fast" in result.stdout
    assert "fast / faithful end to end" in result.stdout and "0.4.2" not in result.stdout.split("\n\n")[-1]


def test_bench_index_writes_indexes_adds_and_searches():
    pytest.importorskip("faiss")
    command = [sys.executable, str(SCRIPTS / "bench_index.py"), "--rows", "4000"]
    command += ["--add", "20", "--queries", "5", "--approximate"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("dataset: 200 files, 4,000 rows of 512")
    assert lines[1].startswith("index built: approximate, 4,000 vectors") and "recall@10" in lines[1]
    assert lines[2].startswith("second run of 20 files: index added") and "4,400 vectors" in lines[2]
    assert "stale: None" in lines[3] and "over 5 queries" in lines[4]


def test_bench_index_searches_each_file_once_when_there_are_fewer_files_than_queries():
    pytest.importorskip("faiss")
    command = [sys.executable, str(SCRIPTS / "bench_index.py"), "--rows", "400", "--add", "2"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "over 20 queries" in result.stdout.splitlines()[4]

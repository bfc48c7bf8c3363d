"""The public API (cheap import, the 0.4.2 signatures), the CI script, and the installed package."""

from __future__ import annotations

import inspect
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tarfile
from pathlib import Path

import numpy as np
import pytest

import openl3
import openl3.cli

SIGNATURES_0_4_2 = {
    openl3.get_audio_embedding: "(audio, sr, model=None, input_repr=None, content_type='music', "
    "embedding_size=6144, center=True, hop_size=0.1, batch_size=32, frontend='kapre', verbose=True)",
    openl3.preprocess_audio: "(audio, sr, hop_size=0.1, input_repr=None, center=True, **kw)",
    openl3.process_audio_file: "(filepath, output_dir=None, suffix=None, model=None, input_repr=None, "
    "content_type='music', embedding_size=6144, center=True, hop_size=0.1, batch_size=32, overwrite=False, "
    "frontend='kapre', verbose=True)",
    openl3.core.get_output_path: "(filepath, suffix, output_dir=None)",
    openl3.get_image_embedding: "(image, frame_rate=None, model=None, input_repr='mel256', "
    "content_type='music', embedding_size=8192, batch_size=32, verbose=True)",
    openl3.process_image_file: "(filepath, output_dir=None, suffix=None, model=None, input_repr='mel256', "
    "content_type='music', embedding_size=8192, batch_size=32, overwrite=False, verbose=True)",
    openl3.process_video_file: "(filepath, output_dir=None, suffix=None, audio_model=None, image_model=None, "
    "input_repr=None, content_type='music', audio_embedding_size=6144, audio_center=True, "
    "audio_hop_size=0.1, image_embedding_size=8192, audio_batch_size=32, image_batch_size=32, "
    "audio_frontend='kapre', overwrite=False, verbose=True)",
    openl3.models.get_audio_embedding_model_path: "(input_repr, content_type)",
    openl3.models.get_image_embedding_model_path: "(input_repr, content_type)",
    openl3.models.kapre_v0_1_4_magnitude_to_decibel: "(x, ref_value=1.0, amin=1e-10, dynamic_range=80.0)",
    openl3.models.load_audio_embedding_model: "(input_repr, content_type, embedding_size, frontend='kapre')",
    openl3.models.load_audio_embedding_model_from_path: "(model_path, input_repr, embedding_size, "
    "frontend='kapre')",
    openl3.models.load_image_embedding_model: "(input_repr, content_type, embedding_size)",
    openl3.models.load_image_embedding_model_from_path: "(model_path, embedding_size)",
}


def _plain(function):
    parameters = [
        p.replace(annotation=inspect.Parameter.empty) for p in inspect.signature(function).parameters.values()
    ]
    return str(inspect.Signature(parameters))


def test_signatures_follow_the_0_4_2_documentation():
    # 0.4.2's parameters come first, in order, with their defaults; additions only after them.
    for function, expected in SIGNATURES_0_4_2.items():
        actual = _plain(function)
        assert actual == expected or actual.startswith(expected[:-1] + ", "), function.__name__


def test_additions_are_keywords_with_defaults():
    for function in (openl3.process_audio_file, openl3.process_image_file, openl3.process_video_file):
        assert inspect.signature(function).parameters["errors"].default == "raise"


def test_core_module_reexports_the_0_4_2_names():
    names = ("get_audio_embedding", "preprocess_audio", "process_audio_file", "get_output_path")
    for name in (*names, "get_image_embedding", "process_image_file", "process_video_file"):
        assert getattr(openl3.core, name) is getattr(openl3, name)


def test_errors_and_warnings():
    assert issubclass(openl3.OpenL3Error, Exception)
    assert issubclass(openl3.OpenL3Warning, Warning)


def test_import_is_cheap():
    code = "import sys, openl3; print(sorted(m for m in ('tensorflow', 'keras', 'kapre', 'librosa', 'numba', "
    code += "'resampy', 'h5py', 'skimage', 'moviepy', 'pyarrow', 'ray', 'pandas') if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_version_is_the_installed_distribution_s():
    from importlib.metadata import version

    assert version("openl3") == openl3.__version__
    assert openl3.__version__.startswith("0.5.")


def test_0_4_2_module_layout():
    from openl3.cli import get_file_list, main, parse_args, positive_float, positive_int, run
    from openl3.openl3_exceptions import OpenL3Error
    from openl3.openl3_warnings import OpenL3Warning

    assert OpenL3Error is openl3.OpenL3Error and OpenL3Warning is openl3.OpenL3Warning
    assert all(callable(f) for f in (get_file_list, main, parse_args, positive_float, positive_int, run))
    assert str(inspect.signature(run)) == (
        "(modality: 'str', inputs: 'Any', output_dir: 'str | None' = None, suffix: 'str | None' = None, "
        "input_repr: 'str' = 'mel256', content_type: 'str' = 'music', audio_embedding_size: 'int' = 6144, "
        "audio_center: 'bool' = True, audio_hop_size: 'float' = 0.1, audio_batch_size: 'int' = 32, "
        "image_embedding_size: 'int' = 8192, image_batch_size: 'int' = 32, audio_frontend: 'str' = 'kapre', "
        "overwrite: 'bool' = False, verbose: 'bool' = False) -> 'None'"
    )


VERBOSE_CALLS = {
    "get_audio_embedding": lambda v: openl3.get_audio_embedding(np.ones(48000), 48000, verbose=v),
    "get_image_embedding": lambda v: openl3.get_image_embedding(np.ones((224, 224, 3)), verbose=v),
    "process_audio_file": lambda v: openl3.process_audio_file("missing.wav", verbose=v),
    "process_image_file": lambda v: openl3.process_image_file("missing.png", verbose=v),
    "process_video_file": lambda v: openl3.process_video_file("missing.mp4", verbose=v),
    "cli.run": lambda v: openl3.cli.run("audio", "missing.wav", verbose=v),
}


@pytest.mark.parametrize("call", VERBOSE_CALLS.values(), ids=VERBOSE_CALLS.keys())
@pytest.mark.parametrize("verbose", [-1, 2, "invalid", None, 0.5])
def test_verbose_must_be_a_bool_or_0_or_1(call, verbose):
    with pytest.raises(openl3.OpenL3Error, match=f"Invalid verbose {verbose!r}"):
        call(verbose)


def test_verbose_0_and_1_are_accepted(mel128_model):
    for verbose in (0, 1, True, False, np.bool_(True)):
        embedding, _ = openl3.get_audio_embedding(np.ones(48000), 48000, model=mel128_model, verbose=verbose)
        assert embedding.shape == (6, 512)


CI_SCRIPT = Path(__file__).resolve().parents[1] / ".ci" / "run"

#: What the oldest versions claimed run (requirements/oldest.txt).
OLDEST_TESTS = ("reference", "models", "kapre_layers", "backends", "settings")
#: The steps of .ci/run in order, as its stubs log them: the README's test command with
#: the lint check before the tests, the oldest versions' tests, the install without
#: TensorFlow and its tests, the browser tests after installing Chromium, then the
#: documentation site with warnings as errors.
CI_STEPS = [
    "python3 -m venv .venv",
    "pip install -e .[tests]",
    "ruff check openl3 tests scripts examples",
    "python -m pytest",
    "python3 -m venv .venv-oldest",
    "pip install -r requirements/oldest.txt",
    "pip install --no-deps -e .",
    "python -m pytest " + " ".join(f"tests/test_{name}.py" for name in OLDEST_TESTS),
    "python3 -m venv .venv-jax",
    "pip install -r requirements/jax.txt",
    "pip install --no-deps -e .",
    "pip install pytest",
    "python -m pytest tests/test_reference.py tests/test_backends.py tests/test_kapre_layers.py",
    "apt-get update",
    "apt-get install -y chromium chromium-driver",
    "python -m pytest -m browser",
    "pip install -e .[docs]",
    "sphinx-build -W -q -b html docs docs/_build/html",
]

#: Stands for python3 and each tool of the virtual environment: logs its call, and fails
#: if it is the ``CI_FAIL_AT``-th call of the run.
CI_STUB = """#!/usr/bin/env bash
echo "$(basename "$0") $*" >> "$CI_LOG"
if [ "$(wc -l < "$CI_LOG")" -eq "$CI_FAIL_AT" ]; then exit 1; fi
"""


def _ci_commands() -> list[str]:
    """The lines of .ci/run that are not blank or comments."""
    lines = (line.strip() for line in CI_SCRIPT.read_text().splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def test_ci_script_runs_one_step_a_line_lint_before_tests():
    commands = _ci_commands()
    assert "set -euo pipefail" in commands
    assert not [c for c in commands if "&&" in c or "||" in c]
    lint, tests = ([k for k, c in enumerate(commands) if name in c] for name in ("ruff check", "-m pytest"))
    assert lint and tests and max(lint) < min(tests)


def _run_ci_with_stubs(tmp_path: Path, fail_at: int) -> tuple[int, list[str]]:
    """Run a copy of .ci/run with stubs for python3 and the venv's tools; return its status and calls."""
    repo, stubs = tmp_path / "repo", tmp_path / "stubs"
    (repo / ".ci").mkdir(parents=True)
    (repo / ".ci" / "run").write_text(CI_SCRIPT.read_text())
    # python3 on PATH, and a .venv left by an earlier run (python3 -m venv keeps it).
    venv_tools = [repo / ".venv" / "bin" / name for name in ("pip", "ruff", "python", "sphinx-build")]
    venv_tools += [
        repo / venv / "bin" / name for venv in (".venv-oldest", ".venv-jax") for name in ("pip", "python")
    ]
    for tool in (stubs / "python3", stubs / "apt-get", *venv_tools):
        tool.parent.mkdir(parents=True, exist_ok=True)
        tool.write_text(CI_STUB)
        tool.chmod(0o755)
    log = tmp_path / "calls.log"
    log.touch()
    env = {**os.environ, "PATH": f"{stubs}{os.pathsep}{os.environ['PATH']}"}
    env.update(CI_LOG=str(log), CI_FAIL_AT=str(fail_at))
    result = subprocess.run(["bash", str(repo / ".ci" / "run")], env=env, capture_output=True, timeout=60)
    return result.returncode, log.read_text().splitlines()


@pytest.mark.parametrize("fail_at", range(1, len(CI_STEPS) + 1))
def test_ci_fails_at_the_first_failing_step(tmp_path, fail_at):
    status, calls = _run_ci_with_stubs(tmp_path, fail_at)
    assert status != 0
    assert calls == CI_STEPS[:fail_at]


def test_ci_passes_after_every_step(tmp_path):
    assert _run_ci_with_stubs(tmp_path, 0) == (0, CI_STEPS)


REPO = Path(__file__).resolve().parents[1]
#: Variables that would change where things are written or what is imported.
UNSET = ("PYTHONPATH", "PYTHONDONTWRITEBYTECODE", "NUMBA_CACHE_DIR", "VIRTUAL_ENV")


def _clone(target: Path) -> Path:
    """Copy this checkout to ``target`` as a clone holds it: without .git and what .gitignore names."""
    ignored = [Path(line.strip("/")).name for line in (REPO / ".gitignore").read_text().splitlines()]
    skip = shutil.ignore_patterns(".git", *(name for name in ignored if name and not name.startswith("#")))
    shutil.copytree(REPO, target, ignore=skip)
    return target


def _site_packages(prefix: str) -> Path:
    """The ``site-packages`` folder of the environment at ``prefix``."""
    return Path(sysconfig.get_path("purelib", vars={"base": prefix, "platbase": prefix}))


def _fresh_venv(root: Path) -> Path:
    """A new virtual environment that sees this one's packages but not openl3: no downloads.

    A ``.pth`` file names a folder of links to this environment's packages (pip and
    setuptools among them); openl3 is there only once installed into the new one.
    """
    venv, deps = root / "venv", root / "deps"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    deps.mkdir()
    for folder in {_site_packages(sys.prefix), Path(sysconfig.get_path("platlib"))}:
        for entry in folder.iterdir():
            skipped = entry.name.startswith(("openl3", "__editable__", "__pycache__"))
            if not skipped and entry.suffix != ".pth" and not (deps / entry.name).exists():
                (deps / entry.name).symlink_to(entry)
    (_site_packages(str(venv)) / "dependencies.pth").write_text(f"{deps}\n")
    return venv


def _run(command: list, cwd: Path, **variables: str) -> subprocess.CompletedProcess:
    """Run ``command`` in ``cwd`` offline, without the caller's openl3 settings, plus ``variables``."""
    env = {k: v for k, v in os.environ.items() if k not in UNSET}
    env.update(PIP_NO_INDEX="1", PIP_DISABLE_PIP_VERSION_CHECK="1", TF_CPP_MIN_LOG_LEVEL="2")
    env.update(variables)
    return subprocess.run(
        [str(c) for c in command], cwd=cwd, env=env, capture_output=True, text=True, timeout=600
    )


def _unrecorded_files(venv: Path) -> list[str]:
    """Files in the installed package that its wheel did not install (Python's bytecode aside)."""
    site = _site_packages(str(venv))
    (record,) = site.glob("openl3-*.dist-info/RECORD")
    recorded = {line.rsplit(",", 2)[0] for line in record.read_text().splitlines()}
    present = (p.relative_to(site).as_posix() for p in (site / "openl3").rglob("*") if p.is_file())
    return sorted(p for p in present if p not in recorded and not p.endswith(".pyc"))


def test_readme_set_up_commands_run_in_order_in_one_clone(tmp_path):
    # The README's install-and-run command, then its test command, in one clone: the
    # demo run must write nothing into the installed package (numba's cache had gone
    # to site-packages/openl3/__pycache__, which then hid the editable install).
    clone, venv, elsewhere = _clone(tmp_path / "clone"), _fresh_venv(tmp_path), tmp_path / "elsewhere"
    pip = [venv / "bin" / "python", "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation"]
    installed = _run([*pip, "."], clone)
    assert installed.returncode == 0, installed.stderr
    demo = _run([venv / "bin" / "python", "scripts/make_demo.py", "demo"], clone)
    assert demo.returncode == 0, demo.stderr
    command = [venv / "bin" / "openl3", "audio", "clips", "-r", "-i", "mel128", "-as", "512"]
    embedded = _run(
        [*command, "--output-format", "parquet", "-o", "clips.l3"],
        clone / "demo",
        OPENL3_WEIGHTS_DIR="weights",
    )
    assert embedded.returncode == 0, embedded.stderr
    assert (clone / "demo" / "clips.l3" / "_openl3" / "dataset.json").is_file()
    written = _unrecorded_files(venv)
    editable = _run([*pip, "-e", "."], clone)
    assert editable.returncode == 0, editable.stderr
    elsewhere.mkdir()
    help_ = _run([venv / "bin" / "openl3", "--help"], elsewhere)
    assert (written, help_.returncode) == ([], 0), help_.stderr[-2000:]
    assert "usage: openl3" in help_.stdout


def test_plain_pytest_says_why_tests_are_skipped(tmp_path):
    # The README promises that skipped tests say so: the configuration asks for -rs.
    test = tmp_path / "test_skipped.py"
    test.write_text("import pytest\n\n\ndef test_a():\n    pytest.skip('no reference outputs here')\n")
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-c",
        str(REPO / "pyproject.toml"),
        "-p",
        "no:cacheprovider",
        str(test),
    ]
    result = _run(command, tmp_path)
    assert result.returncode == 0, result.stdout
    assert "SKIPPED [1]" in result.stdout and "no reference outputs here" in result.stdout


def _sdist(tmp_path: Path) -> tuple[Path, set[str]]:
    """Build the sdist of a clone of this checkout, as ``python -m build --sdist`` does (offline).

    Returns the clone and the paths the sdist holds, relative to its top folder.
    """
    clone, dist = _clone(tmp_path / "clone"), tmp_path / "dist"
    code = (
        "import sys; from setuptools import build_meta; print('sdist:', build_meta.build_sdist(sys.argv[1]))"
    )
    result = _run([sys.executable, "-c", code, dist], clone)
    assert result.returncode == 0, result.stderr[-3000:]
    (name,) = re.findall(r"^sdist: (.+)$", result.stdout, re.MULTILINE)
    with tarfile.open(dist / name) as sdist:
        safe = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}  # Python 3.10.12+
        sdist.extractall(tmp_path / "unpacked", **safe)
        return clone, {m.name.split("/", 1)[1] for m in sdist.getmembers() if m.isfile()}


def test_sdist_holds_the_docs_sources_and_the_examples(tmp_path):
    clone, held = _sdist(tmp_path)
    wanted = {p.relative_to(clone).as_posix() for d in ("docs", "examples") for p in (clone / d).rglob("*")}
    wanted = {name for name in wanted if (clone / name).is_file()}
    assert {"docs/conf.py", "docs/reference.rst", "examples/stream_file.py"} <= wanted
    assert sorted(wanted - held) == []


@pytest.mark.slow
def test_docs_build_from_the_unpacked_sdist(tmp_path):
    pytest.importorskip("sphinx", reason="the docs extra is not installed: pip install -e '.[docs]'")
    _sdist(tmp_path)
    (top,) = (tmp_path / "unpacked").iterdir()
    command = [sys.executable, "-m", "sphinx", "-W", "-q", "-b", "html", "docs", tmp_path / "html"]
    result = _run(command, top)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "html" / "reference.html").is_file()


REPO_ROOT = Path(__file__).resolve().parents[1]


def _project() -> dict:
    import tomllib

    return tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]


def _requirements(name: str) -> list[str]:
    lines = (
        line.split("#")[0].strip() for line in (REPO_ROOT / "requirements" / name).read_text().splitlines()
    )
    return [line for line in lines if line]


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[;@ ]", requirement, maxsplit=1)[0].lower()


@pytest.mark.parametrize(("name", "backend"), [("jax.txt", "jax"), ("torch.txt", "torch")])
def test_the_installs_without_tensorflow_are_the_dependencies_without_it(name, backend):
    """requirements/jax.txt and torch.txt (installed with --no-deps openl3) must not drift."""
    dependencies = [d for d in _project()["dependencies"] if _name(d) != "tensorflow"]
    assert len(dependencies) == len(_project()["dependencies"]) - 1
    assert _requirements(name) == [backend, *dependencies]


def test_the_oldest_environment_pins_every_floor_and_kapre():
    pins = dict(line.split("==") for line in _requirements("oldest.txt") if "==" in line)
    floors = {_name(d): re.search(r">=([\w.]+)", d).group(1) for d in _project()["dependencies"] if ">=" in d}
    for package, floor in floors.items():
        assert package in pins, f"requirements/oldest.txt does not test {package}'s floor {floor}"
        assert pins[package].startswith(floor) or (
            floor.count(".") < pins[package].count(".") and pins[package].startswith(floor + ".")
        ), (package, floor, pins[package])
    unpinned = {_name(line) for line in _requirements("oldest.txt") if "==" not in line} - {"pytest"}
    assert unpinned == {_name(d) for d in _project()["dependencies"] if ">=" not in d}
    assert pins["kapre"] == _project()["optional-dependencies"]["kapre"][0].split(">=")[1]


def test_no_dependency_has_an_upper_bound_without_a_reason():
    """An upper bound needs a tested incompatibility, said in the comment just above it (issue 27).

    openl3's own dependencies have none; the extras' bounds (today the tests' resampling
    oracle and what it imports) each name the package and the bound in that comment.
    """
    from packaging.requirements import Requirement

    project = _project()
    extras = [r for extra in project["optional-dependencies"].values() for r in extra]
    bounds = {}
    for text in [*project["dependencies"], *extras]:
        requirement = Requirement(text)
        for spec in requirement.specifier:
            if spec.operator in ("<", "<="):
                bounds[requirement.name] = spec.version
    assert not {Requirement(r).name for r in project["dependencies"]} & set(bounds)
    lines = (REPO_ROOT / "pyproject.toml").read_text().splitlines()
    for package, bound in bounds.items():
        at = next(k for k, line in enumerate(lines) if re.search(rf'"{package}[^"]*<', line))
        if lines[at - 1].rstrip().endswith("= ["):  # the list's first line: its comment is the list's
            at -= 1
        above = at
        while lines[above - 1].lstrip().startswith("#"):
            above -= 1
        reason = " ".join(lines[above:at])
        assert package in reason, f"no reason for {package}'s upper bound just above it"
        named = re.search(rf"(?<![\w.]){re.escape(bound)}(?![\w.])", reason)
        assert named, f"the reason above {package}'s bound names no {bound}"


def test_the_tests_extra_holds_jax_for_the_backend_parity_tests():
    assert "jax[cpu]" in _project()["optional-dependencies"]["tests"]
    assert not [d for d in _project()["optional-dependencies"]["tests"] if _name(d) == "kapre"]

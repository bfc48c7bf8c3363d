"""The documentation a newcomer reads: the tutorial runs as written, the site builds and reads well."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import write_weight_file

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"
#: A fenced block of a Markdown page: its language and its text.
FENCE = re.compile(r"^```(\w+)\n(.*?)^```", re.MULTILINE | re.DOTALL)
#: Characters of a code line that the theme's content column shows at 1280 pixels wide.
CODE_WIDTH = 88
#: Phrases that speak of the machine the figures were measured on as if it were the reader's.
OUR_MACHINE = re.compile(
    r"this project's (\S+ )?(machines?|CPUs?)|these (machines|CPUs|\d cores)|on 2 cores", re.I
)


def code_blocks(page: Path, language: str) -> list[str]:
    """The fenced ``language`` blocks of ``page``, in order."""
    return [match[2] for match in FENCE.finditer(page.read_text()) if match[1] == language]


@pytest.mark.parametrize("page", [*sorted(DOCS.glob("*.md")), REPO / "README.md"], ids=lambda p: p.name)
def test_python_blocks_of_every_page_are_python(page):
    for number, block in enumerate(code_blocks(page, "python"), 1):
        compile(block, f"{page.name}, Python block {number}", "exec")


@pytest.fixture
def tutorial_weights(weights_dir, tmp_path, monkeypatch) -> None:
    """Seeded weight files for every model the tutorial loads, offline."""
    directory = tmp_path / "weights"
    directory.mkdir()
    for path in weights_dir.iterdir():
        (directory / path.name).symlink_to(path)
    write_weight_file(directory / "openl3_audio_mel128_env.h5", "audio", seed=20)
    monkeypatch.setenv("OPENL3_WEIGHTS_DIR", str(directory))


def run_tutorial_python(folder: Path) -> None:
    """Run the tutorial's Python blocks in order, in one namespace, in ``folder``."""
    blocks = code_blocks(DOCS / "tutorial.md", "python")
    assert blocks
    namespace: dict = {"__name__": "tutorial"}
    os.chdir(folder)
    for number, block in enumerate(blocks, 1):
        exec(compile(block, f"tutorial.md, Python block {number}", "exec"), namespace)


def test_tutorial_runs_top_to_bottom(tutorial_weights, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run_tutorial_python(tmp_path)
    outputs = ("sound.npz", "out/a_l3.npz", "out/b_l3.npz", "out/photo.npz", "out/clip_image.npz")
    assert [name for name in outputs if not (tmp_path / name).is_file()] == []


def test_search_page_python_runs_on_a_dataset(search_collection, tmp_path, monkeypatch):
    import shutil

    pytest.importorskip("faiss")
    pytest.importorskip("plotly")
    shutil.copytree(search_collection[1], tmp_path / "clips.l3")
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "search"}
    for number, block in enumerate(code_blocks(DOCS / "search-and-maps.md", "python"), 1):
        exec(compile(block, f"search-and-maps.md, Python block {number}", "exec"), namespace)
    assert [name for name in ("map.html", "map.png", "my_index") if not (tmp_path / name).exists()] == []


@pytest.mark.slow
def test_tutorial_commands_run_after_its_python(tutorial_weights, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run_tutorial_python(tmp_path)
    commands = [b for b in code_blocks(DOCS / "tutorial.md", "bash") if b.startswith("openl3 ")]
    assert len(commands) == 2
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    for block in commands:
        result = subprocess.run(["bash", "-e", "-c", block], env=env, capture_output=True, text=True)
        assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "cli" / "clip_image.npz").is_file()
    assert list((tmp_path / "recordings.l3").glob("part-*.parquet"))


def _words(element) -> str:
    return " ".join(element.get_text().replace("\u00b6", "").split())


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> dict:
    """The documentation site built as .ci/run builds it (warnings are errors): page name -> soup."""
    pytest.importorskip("sphinx", reason="the docs extra is not installed: pip install -e '.[docs]'")
    bs4 = pytest.importorskip("bs4", reason="the docs extra is not installed: pip install -e '.[docs]'")
    html = tmp_path_factory.mktemp("site")
    env = {**os.environ, "COLUMNS": "80"}
    command = [sys.executable, "-m", "sphinx", "-W", "-q", "-b", "html", str(DOCS), str(html)]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return {p.stem: bs4.BeautifulSoup(p.read_text(), "html.parser") for p in html.glob("*.html")}


def navigation(page) -> list[str]:
    """The page names of the site's navigation (the main content aside), in order."""
    labels = []
    for link in page.select("li.toctree-l1 > a"):
        if not link.find_parent(attrs={"role": "main"}):
            labels.append(_words(link))
    return labels


def test_navigation_names_every_page_once(site):
    labels = navigation(site["index"])
    assert labels.count("API reference") == 1
    assert sorted(labels) == sorted(set(labels))


def test_no_link_reads_as_a_link_to_its_own_page(site):
    # reference.html opened with "API reference says how each function behaves": its
    # own title, as the text of a link to another page.
    for name, page in site.items():
        main = page.find(attrs={"role": "main"})
        if main is None or main.h1 is None:
            continue
        title = _words(main.h1)
        for link in main.select("a.reference.internal"):
            href = link.get("href", "")
            assert _words(link) != title, f"{name}.html: link to {href} reads as the page's own title"
            assert href.split("#")[0] != f"{name}.html", f"{name}.html links to itself: {href}"


@pytest.mark.parametrize("name", ["cli", "tutorial"])
def test_code_of_the_synopsis_and_tutorial_fits_the_page(site, name):
    long = [
        line
        for block in site[name].find(attrs={"role": "main"}).select("pre")
        for line in block.get_text().splitlines()
        if len(line) > CODE_WIDTH
    ]
    assert long == []


def test_the_site_uses_the_theme_the_docs_extra_installs():
    conf = (DOCS / "conf.py").read_text()
    (theme,) = re.findall(r'^html_theme = "(\w+)"', conf, re.MULTILINE)
    (extra,) = re.findall(r"^docs = \[(.*)\]$", (REPO / "pyproject.toml").read_text(), re.MULTILINE)
    assert theme in ("furo", "pydata_sphinx_theme")
    assert f'"{theme.replace("_", "-")}' in extra


@pytest.mark.parametrize("page", [*sorted(DOCS.glob("*.md")), REPO / "README.md"], ids=lambda p: p.name)
def test_pages_say_where_figures_were_measured_not_on_whose_machine(page):
    assert OUR_MACHINE.findall(page.read_text()) == []


def test_performance_page_says_where_it_measured_and_marks_the_old_gpu_run():
    text = (DOCS / "performance.md").read_text()
    assert "2-core cloud VM (AMD EPYC" in " ".join(text.split())
    (gpu,) = re.findall(r"^## GPU.*?(?=^## )", text, re.MULTILINE | re.DOTALL)
    assert "H100" in gpu and "code that no longer exists" in gpu


def _heading(page: Path) -> str:
    """The page's own title: its first heading (Markdown ``# ...`` or an underlined reST title)."""
    text = page.read_text()
    included = re.match(r"```\{include\} (\S+)", text)
    if included:  # a page that is another file (the changelog)
        return _heading(page.parent / included[1])
    lines = text.splitlines()
    for number, line in enumerate(lines):
        if page.suffix == ".md" and line.startswith("# "):
            return line[2:].strip()
        if page.suffix == ".rst" and number + 1 < len(lines) and set(lines[number + 1]) == {"="}:
            return line.strip()
    raise AssertionError(f"{page.name} has no title")


@pytest.mark.parametrize("page", sorted([*DOCS.glob("*.md"), *DOCS.glob("*.rst")]), ids=lambda p: p.name)
def test_every_page_is_in_the_site_with_its_own_heading(site, page):
    """docs/search.md never reached the site: Sphinx's own search.html replaced it, and -W passed."""
    built = site.get(page.stem)
    assert built is not None, f"{page.name} is not in the built site"
    main = built.find(attrs={"role": "main"})
    title = _words(main.h1) if main is not None and main.h1 is not None else None
    expected = re.sub(r"`([^`]*)`", r"\1", _heading(page))
    title = title and title.replace("\u201c", '"').replace("\u201d", '"')  # typographic quotes
    assert title == expected, f"{page.stem}.html shows {title!r}, not the page's title {expected!r}"


def _public_names() -> set[str]:
    """Every name the public packages list in ``__all__``, as module.name (and their modules)."""
    import importlib

    public = set()
    modules = ["openl3", "openl3.models", "openl3.core", "openl3.embedders", "openl3.runs", "openl3.dataset"]
    modules += ["openl3.hear", "openl3.rows", "openl3.labels", "openl3.pooling", "openl3.precision"]
    modules += ["openl3.export", "openl3.search", "openl3.classify", "openl3.maps", "openl3.cli"]
    for name in modules:
        module = importlib.import_module(name)
        public.add(name)
        public.update(f"{name}.{member}" for member in module.__all__)
    return public


def test_the_reference_publishes_the_public_api_only():
    """It published parts, locks, manifest, shard and the Ray engine, which are internals."""
    public = _public_names()
    text = (DOCS / "reference.rst").read_text()
    documented = re.findall(r"^\.\. auto(?:function|class|exception|module):: (\S+)", text, re.MULTILINE)
    assert documented and [name for name in documented if name not in public] == []
    for module, members in re.findall(r"automodule:: (\S+)\n\s+:members: (.+)", text):
        assert [m for m in members.split(", ") if f"{module}.{m.strip()}" not in public] == [], module


#: Small pure helpers whose Examples run as doctests (the others show use, with files and models).
DOCTESTED = [
    "openl3._util.identity.file_identity",
    "openl3._util.identity.same_file",
    "openl3._util.identity.NamedFrom",
    "openl3._util.owner.Owner",
    "openl3._util.atomic.temporary_name",
    "openl3._util.atomic.is_temporary",
    "openl3._util.atomic.write_whole",
    "openl3.models.settings.official_weights",
    "openl3.models.settings.EmbeddingSettings",
    "openl3.models.settings.EmbeddingSettings.dimension",
    "openl3.models.settings.EmbeddingSettings.arguments",
    "openl3.models.frontends.kapre_v0_1_4_magnitude_to_decibel",
    "openl3.models.precision.check_precision",
    "openl3.dataset.parts.input_key",
    "openl3.classify.pooling.pool",
    "openl3.classify.pooling.pooled_size",
    "openl3.classify.labels.first_few",
    "openl3.classify.model.checksum",
    "openl3.classify.workflow.default_dataset",
    "openl3.classify.workflow.default_confusion",
    "openl3.runs.npz.get_output_path",
    "openl3.runs.driver.RunOptions",
    "openl3.cli.compat.positive_float",
    "openl3.cli.compat.positive_int",
    "openl3.search.pages.page_link",
    "openl3.search.pages.png_path",
    "openl3.search.maps.folder_groups",
    "openl3.audio.signal.check_sample_rate",
    "openl3.models.precision.computed_precision",
    "openl3.models.frontends.slaney_mel_filterbank",
    "openl3._util.owner.is_stale",
    "openl3.models.specs.resolve_spectrogram",
    "openl3.search.queries.query_file",
]


@pytest.mark.parametrize("name", DOCTESTED)
def test_small_helpers_run_their_examples(name):
    import doctest
    import importlib

    module_name, _, attribute = name.rpartition(".")
    owner = None
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError:  # a method: module.Class.method
        module_name, _, owner = module_name.rpartition(".")
        module = importlib.import_module(module_name)
    target = getattr(getattr(module, owner), attribute) if owner else getattr(module, attribute)
    tests = doctest.DocTestFinder(recurse=False).find(target, name, module=module, globs=dict(vars(module)))
    assert tests and tests[0].examples, f"{name} has no example"
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for test in tests:
        runner.run(test)
    assert runner.failures == 0, f"{name}: {runner.failures} examples failed (run pytest -s to see them)"


#: The subcommands whose every line of the README and the docs runs on random weights.
LOCAL_COMMANDS = ("audio", "image", "video", "classify", "index", "search", "map")


def local_commands(page: Path) -> list[str]:
    """The ``openl3`` command lines of a page's bash blocks that run here, in order.

    Left out: the Ray engine and export (their own tests), synopses (``INPUT...``), and
    templates for clusters (continued lines, ``/shared`` folders).
    """
    lines = []
    for block in code_blocks(page, "bash"):
        for line in block.splitlines():
            line = re.sub(r"\s+#.*$", "", line).strip()
            words = line.split()
            if len(words) < 2 or words[0] != "openl3" or words[1] not in LOCAL_COMMANDS:
                continue
            if "--engine ray" in line or "INPUT" in line or line.endswith("\\") or "/shared" in line:
                continue
            lines.append(line)
    return lines


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    """The demo folder of the README's first command (``scripts/make_demo.py``), made once."""
    folder = tmp_path_factory.mktemp("demo") / "demo"
    result = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "make_demo.py"), str(folder)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return folder


PAGES = [
    REPO / "README.md",
    *(DOCS / name for name in ("tutorial.md", "collections.md", "search-and-maps.md")),
]
PAGES.append(DOCS / "classify.md")


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_local_command_runs_on_random_weights_from_a_fresh_demo(
    page, demo, tmp_path, monkeypatch, capsys
):
    """The route of a newcomer without the official files: random weights, then each command."""
    import shutil

    from openl3.cli import main

    commands = local_commands(page)
    assert commands, f"{page.name} has no local command"
    folder = tmp_path / "demo"
    shutil.copytree(demo, folder)
    monkeypatch.chdir(folder)
    monkeypatch.setenv("OPENL3_WEIGHTS_DIR", "weights")
    for line in commands:
        status = main(shlex.split(line)[1:])
        assert status == 0, f"{page.name}: `{line}` exited {status}:\n{capsys.readouterr().err[-3000:]}"
    assert_nothing_claims_the_official_weights(folder)


def assert_nothing_claims_the_official_weights(folder: Path) -> None:
    """Every dataset, index and classifier made in ``folder`` records the random weights by digest."""
    import json

    from openl3.dataset.rows import DatasetRows
    from openl3.search.store import load_index

    made = 0
    for manifest in folder.rglob("_openl3/dataset.json"):
        for key, record in json.loads(manifest.read_text()).get("folders", {}).items():
            assert record["settings"]["weights"].startswith("sha256:"), (manifest, key)
            rows = DatasetRows(str(manifest.parent.parent / key) if key else str(manifest.parent.parent))
            index = load_index(rows)
            assert index is None or index.settings["weights"].startswith("sha256:"), manifest
            made += 1
    for record in folder.rglob("*.skops.json"):
        assert json.loads(record.read_text())["settings"]["weights"].startswith("sha256:"), record
        made += 1
    assert made or not any(folder.rglob("*.npz")), "nothing recorded the weights it was made with"

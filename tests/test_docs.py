"""The documentation a newcomer reads: the tutorial runs as written, the site builds and reads well."""

from __future__ import annotations

import os
import re
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
    for number, block in enumerate(code_blocks(DOCS / "search.md", "python"), 1):
        exec(compile(block, f"search.md, Python block {number}", "exec"), namespace)
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

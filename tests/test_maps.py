"""Maps of a collection: points, colours, a self-contained page with relative links, its PNG.

The tests marked ``browser`` load the page in Debian's Chromium (``apt-get install chromium
chromium-driver``) through Selenium and chromedriver; they skip when either is missing.
"""

import importlib.util
import os
import re
import shutil
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from helpers import wait_for
from openl3._util.exceptions import OpenL3Error
from openl3.classify.labels import read_label_csv
from openl3.cli import main
from openl3.dataset.rows import DatasetRows

pytest.importorskip("plotly")
pytest.importorskip("matplotlib")
from openl3.search.maps import MapPoints, folder_groups, map_points
from openl3.search.pages import page_link, write_map


def test_one_point_per_file_coloured_by_folder_or_labels(search_collection, tmp_path):
    paths, out = search_collection
    points = map_points(DatasetRows(out))
    assert sorted(points.paths) == sorted(paths) and points.xy.shape == (5, 2)
    assert dict(zip(points.paths, points.groups, strict=True)) == {
        p: os.path.basename(os.path.dirname(p)) for p in paths
    }
    duplicate = [points.paths.index(paths[k]) for k in (0, 4)]
    np.testing.assert_allclose(points.xy[duplicate[0]], points.xy[duplicate[1]], atol=1e-5)
    labels = tmp_path / "labels.csv"
    labels.write_text(f"path,label\n{paths[0]},tonal\n{paths[2]},bright\n")
    coloured = map_points(DatasetRows(out), labels=read_label_csv(str(labels)))
    groups = dict(zip(coloured.paths, coloured.groups, strict=True))
    assert groups[paths[0]] == "tonal" and groups[paths[2]] == "bright" and groups[paths[1]] == "(no label)"


def test_windows_are_sampled_down_to_the_limit(search_collection):
    _, out = search_collection
    rows = DatasetRows(out).rows()
    every = map_points(DatasetRows(out), per="window")
    assert len(every.paths) == len(rows) and set(every.timestamps) == set(rows.timestamps)
    sample = map_points(DatasetRows(out), per="window", limit=7)
    assert len(sample.paths) == 7 and set(sample.paths) <= set(rows.paths)


def test_umap_is_refused_naming_the_package_when_it_is_missing(search_collection):
    if importlib.util.find_spec("umap") is not None:
        pytest.skip("umap-learn is installed")
    with pytest.raises(OpenL3Error, match="pip install umap-learn"):
        map_points(DatasetRows(search_collection[1]), projection="umap")


def page_links(html):
    """The links of the page's player, by input path."""
    import json

    return json.loads(re.search(r"var links = (\{.*?\});", html)[1])


def test_page_is_self_contained_with_relative_links_and_a_png(search_collection, tmp_path, capsys):
    paths, out = search_collection
    page = tmp_path / "site" / "map.html"
    assert main(["map", out, "-o", str(page), "--per", "window"]) == 0
    html = page.read_text()
    assert not re.search(r"<(script|img|audio)[^>]+src=|<link", html)  # nothing fetched: plotly.js inline
    assert len(html) > 3_000_000 and "openl3-audio" in html
    links = page_links(html)
    assert sorted(links) == sorted(paths)
    for path, link in links.items():
        assert not link.startswith(("/", "file:"))
        assert os.path.samefile(os.path.join(page.parent, urllib.request.url2pathname(link)), path)
    png = page.with_suffix(".png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 5000
    assert capsys.readouterr().out.split() == [str(page), str(page.with_suffix(".png"))]


def test_links_survive_moving_the_folder_and_uris_are_not_played(tmp_path):
    folder = tmp_path / "shared"
    (folder / "sounds").mkdir(parents=True)
    (folder / "sounds" / "a.wav").write_bytes(b"RIFF")
    page = str(folder / "map.html")
    link = page_link(str(folder / "sounds" / "a.wav"), page)
    assert link == "sounds/a.wav"
    moved = shutil.move(str(folder), str(tmp_path / "moved"))
    assert os.path.isfile(os.path.join(moved, urllib.request.url2pathname(link)))
    assert page_link("s3://bucket/a.wav", page) == ""
    with pytest.raises(OpenL3Error, match="local file"):
        write_map(synthetic(3), "s3://bucket/map.html")


def test_files_not_found_from_here_are_warned_of_naming_relative_paths(tmp_path, monkeypatch, caplog):
    folder = tmp_path / "embedded_here"
    (folder / "sounds").mkdir(parents=True)
    (folder / "sounds" / "a.wav").write_bytes(b"RIFF")
    points = MapPoints(
        np.zeros((2, 2)), ["sounds/a.wav", "sounds/a.wav"], np.zeros(2), ["s", "s"], "audio", "window"
    )
    monkeypatch.chdir(folder)
    write_map(points, str(tmp_path / "here.html"), png=False)
    assert "not found" not in caplog.text
    monkeypatch.chdir(tmp_path)
    write_map(points, str(tmp_path / "elsewhere.html"), png=False)
    assert "1 of the map's 1 files are not found (e.g. sounds/a.wav)" in caplog.text
    assert "folder where the dataset was embedded" in caplog.text
    caplog.clear()
    write_map(synthetic(3, str(tmp_path / "gone")), str(tmp_path / "absolute.html"), png=False)
    assert "3 of the map's 3 files are not found" in caplog.text and "embedded" not in caplog.text


def test_a_map_made_from_another_folder_links_and_checks_the_files_the_dataset_names(
    weights_env, tmp_path, monkeypatch, capsys
):
    """The links were the dataset's files, but the warning looked for its names from here."""
    import openl3
    from helpers import AUDIO, write_clips

    embedded = tmp_path / "embedded_here"
    embedded.mkdir()
    write_clips(embedded / "sounds", [1.0, 1.5])
    monkeypatch.chdir(embedded)
    openl3.process_audio_file(
        ["sounds/clip00.wav", "sounds/clip01.wav"], output_dir="out", output_format="parquet", **AUDIO
    )
    monkeypatch.chdir(tmp_path)
    page = tmp_path / "map.html"
    capsys.readouterr()
    assert main(["map", str(embedded / "out"), "-o", str(page), "--no-png"]) == 0
    assert "not found" not in capsys.readouterr().err
    assert 'sounds/clip00.wav"' in page.read_text()  # linked from the page's folder to the file
    os.remove(embedded / "sounds" / "clip01.wav")
    assert main(["map", str(embedded / "out"), "-o", str(page), "--no-png"]) == 0
    assert "1 of the map's 2 files are not found" in capsys.readouterr().err


@pytest.mark.parametrize("count", [0, 1, 2, 3, 5])
def test_pca_keeps_the_distances_of_points_it_can_span(count):
    from openl3.search.maps import project

    vectors = np.random.default_rng(count).normal(size=(count, 6)).astype(np.float32)
    xy = project(vectors)
    assert xy.shape == (count, 2)
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    if count <= 3:  # up to three points lie in a plane: the map keeps every distance
        apart = np.linalg.norm(xy[:, None] - xy[None], axis=2)
        np.testing.assert_allclose(apart, np.linalg.norm(unit[:, None] - unit[None], axis=2), atol=1e-5)


@pytest.mark.parametrize("count", [2, 3])
def test_identical_points_are_drawn_at_one_place_without_a_warning(count):
    import warnings

    from openl3.search.maps import project

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy's "invalid value encountered in divide" reached the CLI
        xy = project(np.ones((count, 6), np.float32))
    np.testing.assert_array_equal(xy, np.zeros((count, 2)))


def test_the_pngs_legend_and_title_show_groups_and_names_as_they_are(tmp_path):
    groups = [r"bad $\foo{$", "price $5 or $", "_drafts"]
    paths = [f"/d/{g}/a.wav" for g in groups]
    points = MapPoints(np.eye(3)[:, :2], paths, np.zeros(3), groups, "audio", "file")
    points.title = "$x^2$ set: 3 files"
    write_map(points, str(tmp_path / "map.html"))  # mathtext stopped the map: "Unknown symbol: \foo"
    from openl3.search.pages import _png_figure

    figure = _png_figure(points)
    legend = figure.axes[0].get_legend()
    assert sorted(text.get_text() for text in legend.get_texts()) == sorted(groups)
    assert not any(text.get_parse_math() for text in legend.get_texts())
    assert figure.axes[0].title.get_parse_math() is False


def synthetic(n, folder="/data"):
    """A map of ``n`` made-up points: files of ten windows in seven folders."""
    rng = np.random.default_rng(0)
    paths = [f"{folder}/group{i % 7}/recording_{i // 10:05d}.wav" for i in range(n)]
    groups = [f"group{i % 7}" for i in range(n)]
    return MapPoints(rng.normal(size=(n, 2)), paths, (np.arange(n) % 10) * 0.5, groups, "audio", "window")


# --- in a real browser -----------------------------------------------------------------------------


@pytest.fixture
def browser():
    """Headless Chromium through Selenium and chromedriver (skip if either is missing)."""
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not chromium or not driver:
        pytest.skip("Chromium and chromedriver not found: apt-get install chromium chromium-driver")
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1000"):
        options.add_argument(flag)
    options.add_argument("--enable-unsafe-swiftshader")  # WebGL drawn in software, headless
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    session = webdriver.Chrome(service=Service(driver), options=options)
    yield session
    session.quit()


def console_errors(session):
    return [entry for entry in session.get_log("browser") if entry["level"] == "SEVERE"]


def pointer_to(session, element):
    """Move the mouse onto the centre of ``element`` (page coordinates)."""
    from selenium.webdriver.common.actions.action_builder import ActionBuilder

    x, y = session.execute_script(
        "var r = arguments[0].getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2];",
        element,
    )
    actions = ActionBuilder(session)
    actions.pointer_action.move_to_location(int(x), int(y))
    actions.perform()


@pytest.mark.browser
def test_page_in_chromium_hover_click_and_search(search_collection, tmp_path, browser):
    paths, out = search_collection
    page = tmp_path / "map.html"
    points = map_points(DatasetRows(out), per="window")
    write_map(points, str(page), png=False)
    browser.get(page.as_uri())
    assert console_errors(browser) == []
    assert len(browser.find_elements("css selector", ".scatterlayer .point")) == len(points.paths)  # SVG
    # The latest window of tone02 (alone in its folder's colour with tone03 and the copy).
    trace = sorted(set(points.groups)).index("high")
    data = browser.execute_script(
        f"return document.getElementById('{_plot_id(browser)}').data[{trace}].customdata"
    )
    mine = [k for k, (path, _) in enumerate(data) if path == paths[2]]
    target = max(mine, key=lambda k: data[k][1])
    element = browser.find_elements("css selector", ".scatterlayer .trace")[trace].find_elements(
        "css selector", ".point"
    )[target]
    hover = _hover_text(browser, element)
    assert paths[2] in hover and re.search(r"\d\.\d\d s", hover)
    shown = float(re.search(r"(\d+\.\d\d) s", hover)[1])
    from selenium.webdriver.common.action_chains import ActionChains

    ActionChains(browser).click().perform()
    _shown(browser, "openl3-now")
    src, now, label = browser.execute_script(
        "var a = document.getElementById('openl3-audio');"
        "return [a.src, a.currentTime, document.getElementById('openl3-now').textContent];"
    )
    assert src == (tmp_path / page_links(page.read_text())[paths[2]]).resolve().as_uri()
    assert os.path.samefile(urllib.request.url2pathname(src[len("file://") :]), paths[2])
    assert shown <= now < shown + 1.0 and label == f"{paths[2]} at {shown:.2f} s"
    box = browser.find_element("id", "openl3-search")
    box.send_keys("tone03")
    _shown(browser, "openl3-count")
    selected = browser.execute_script(
        f"return document.getElementById('{_plot_id(browser)}').data.map(t => t.selectedpoints)"
    )
    windows = [p for p in points.paths if p == paths[3]]
    assert sum(len(s) for s in selected) == len(windows)
    assert browser.find_element("id", "openl3-count").text == f"{len(windows)} matching points"
    assert console_errors(browser) == []


def _plot_id(session):
    return session.execute_script("return document.querySelector('.plotly-graph-div').id")


@pytest.mark.browser
def test_50000_points_stay_under_20_mb_and_draw_with_webgl(tmp_path, browser):
    """The load time is a figure of scripts/bench_map.py (2.3 s idle), not a timed test."""
    page = tmp_path / "map.html"
    write_map(synthetic(50_000, str(tmp_path)), str(page), png=False)
    size = page.stat().st_size
    assert size < 20e6, f"50,000 points: {size / 1e6:.1f} MB"
    browser.get(page.as_uri())  # returns once the page and its scripts have run
    assert console_errors(browser) == []
    assert browser.find_elements("css selector", "canvas.gl-canvas-context")  # WebGL, not SVG
    from io import BytesIO

    from matplotlib.image import imread

    shot = imread(BytesIO(browser.get_screenshot_as_png()))
    canvas = browser.find_element("css selector", ".plotly .main-svg")
    box = canvas.rect
    area = shot[int(box["y"]) + 150 : int(box["y"] + box["height"]) - 150, int(box["x"]) + 150 : 900, :3]
    coloured = (np.ptp(area, axis=2) > 0.3).mean()  # markers are saturated, the plot is white and grey
    assert coloured > 0.05


@pytest.mark.browser
def test_clicking_an_image_point_shows_the_image(image_collection, tmp_path, browser):
    paths, out = image_collection
    page = tmp_path / "images.html"
    assert main(["map", out, "-o", str(page), "-q"]) == 0
    browser.get(page.as_uri())
    assert console_errors(browser) == []
    points = browser.find_elements("css selector", ".scatterlayer .point")
    assert len(points) == 3
    unique = [p for p in points if paths[1] in _hover_text(browser, p)]
    assert unique, "no point shows picture1 when hovered"
    assert paths[1] in _hover_text(browser, unique[0])
    from selenium.webdriver.common.action_chains import ActionChains

    ActionChains(browser).click().perform()
    wait_for(lambda: browser.execute_script("return document.getElementById('openl3-image').naturalWidth"))
    src, shown, natural = browser.execute_script(
        "var i = document.getElementById('openl3-image'); return [i.src, i.style.display, i.naturalWidth];"
    )
    assert src == Path(paths[1]).resolve().as_uri() and shown == "" and natural == 256
    assert console_errors(browser) == []


@pytest.mark.browser
def test_hover_shows_a_path_with_markup_as_it_is(tmp_path, browser):
    page = tmp_path / "markup.html"
    import soundfile as sf

    points = synthetic(3, str(tmp_path / "<b>bold</b> & <i>co"))
    for path in points.paths:  # the files are there: clicking plays one
        os.makedirs(os.path.dirname(path), exist_ok=True)
        sf.write(path, np.zeros(1600), 16000)
    write_map(points, str(page), png=False)
    browser.get(page.as_uri())
    shown = [_hover_text(browser, p) for p in browser.find_elements("css selector", ".scatterlayer .point")]
    assert sorted(next(p for p in points.paths if p in text) for text in shown) == sorted(points.paths)
    legend = " ".join(e.text for e in browser.find_elements("css selector", ".legendtext"))
    assert "group0" in legend
    from selenium.webdriver.common.action_chains import ActionChains

    ActionChains(browser).click().perform()  # on the last point hovered
    label = _shown(browser, "openl3-now")
    assert label.startswith(tuple(f"{path} at " for path in points.paths)), label
    browser.find_element("id", "openl3-search").send_keys("<b>bold</b> & <i>")
    _shown(browser, "openl3-count")
    assert browser.find_element("id", "openl3-count").text == "3 matching points"
    assert console_errors(browser) == []


def _hover_text(session, element):
    """Move the mouse onto ``element``; return the hover label's text once it is drawn."""
    pointer_to(session, element)

    def text():
        return " ".join(e.text for e in session.find_elements("css selector", ".hoverlayer text")).strip()

    wait_for(text, 30, "the hover label")
    return text()


#: What the page shows before a click or a search.
_BEFORE = {"openl3-now": "Click a point to play it.", "openl3-count": ""}


def _shown(session, element_id):
    """Return the text of element ``element_id`` once the page has changed it (a click, a search)."""

    def text():
        return session.find_element("id", element_id).text.strip()

    wait_for(lambda: text() != _BEFORE[element_id], 30, f"#{element_id} to change")
    return text()


def test_labels_naming_no_file_of_the_dataset_are_refused_and_some_warned_of(
    search_collection, tmp_path, caplog
):
    paths, out = search_collection
    labels = tmp_path / "labels.csv"
    labels.write_text("path,label\nelsewhere.wav,x\n")
    with pytest.raises(OpenL3Error, match="The one file of the labels is not an input of"):
        map_points(DatasetRows(out), labels=read_label_csv(str(labels)))
    labels.write_text(f"path,label\nelsewhere.wav,x\n{paths[0]},tonal\n")
    with caplog.at_level("WARNING", logger="openl3"):
        points = map_points(DatasetRows(out), labels=read_label_csv(str(labels)))
    assert "1 labelled files are no inputs" in caplog.text and "tonal" in points.groups


def test_a_path_holding_a_closing_script_tag_leaves_the_page_whole(tmp_path):
    points = synthetic(3, folder=str(tmp_path / "x</script><b>y"))
    page = tmp_path / "map.html"
    write_map(points, str(page), png=False)
    html = page.read_text()
    assert html.count("</script>") == html.count("<script")
    assert sorted(page_links(html)) == sorted(set(points.paths))


def test_a_page_named_like_its_png_is_refused_and_nothing_is_written(search_collection, tmp_path, capsys):
    """`openl3 map DS -o same.png` wrote the page, then the PNG over it (exit 0, the page lost)."""
    _, out = search_collection
    page = tmp_path / "same.png"
    assert main(["map", out, "-o", str(page), "-q"]) == 1
    assert "its PNG would be that file too" in capsys.readouterr().err and not page.exists()
    assert main(["map", out, "-o", str(page), "--no-png", "-q"]) == 0  # the page alone: its name is free
    assert page.read_text().lower().startswith("<!doctype html>")


def test_the_title_shows_the_dataset_folder_as_it_is_and_the_page_has_one(search_collection, tmp_path):
    """A folder named `<b>bold` was drawn bold in the title; the page had no <title>."""
    import html as html_module

    _, out = search_collection
    odd = tmp_path / "<b>bold"
    shutil.copytree(out, odd)
    page = tmp_path / "map.html"
    assert main(["map", str(odd), "-o", str(page), "--no-png", "-q"]) == 0
    text = page.read_text()
    title = re.search(r"<title>(.*?)</title>", text)[1]
    assert html_module.unescape(title).startswith(f"{odd}: 5 files")
    titles = re.findall(r'"title":\{"text":"([^"]*)"', text)  # the plot's and the legend's
    assert any("&lt;b&gt;bold" in title for title in titles) and not any("<b>" in title for title in titles)


def test_the_colour_can_be_the_top_folder_and_the_legend_says_what_it_shows(tmp_path):
    paths = [f"c/clicks/take{k}/a{k}.wav" for k in (1, 2)] + ["c/hum/h.wav"]
    assert folder_groups(paths) == ["clicks/take1", "clicks/take2", "hum"]
    assert folder_groups(paths, top=True) == ["clicks", "clicks", "hum"]


def test_the_command_colours_by_the_top_folder_with_that_legend(search_collection, tmp_path):
    _, out = search_collection
    page = tmp_path / "map.html"
    assert main(["map", out, "-o", str(page), "--colour", "top", "-q"]) == 0
    assert '"legend":{"title":{"text":"top folder"}}' in page.read_text()
    assert main(["map", out, "-o", str(page), "-q"]) == 0
    assert '"legend":{"title":{"text":"folder"}}' in page.read_text()

"""Benchmark the page of ``openl3 map`` (a script, not a test): size and headless load time.

Writes a map of ``--points`` made-up windows (default 50,000: files of ten windows in
seven folders, paths about 60 characters long) with :func:`openl3.search.maps.write_map`, then
loads it ``--runs`` times in headless Chromium (Debian's ``chromium`` and
``chromium-driver``, through Selenium) and prints the time ``driver.get`` takes (the page
and its scripts, plotly.js included, have run) and whether WebGL drew.

``python scripts/bench_map.py --points 50000``
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np

from openl3.search.maps import MapPoints
from openl3.search.pages import write_map


def points(n: int, folder: str) -> MapPoints:
    """Return ``n`` made-up points: files of ten windows (0.5 s apart) in seven folders."""
    rng = np.random.default_rng(0)
    paths = [f"{folder}/collection/group{i % 7}/recording_{i // 10:06d}.wav" for i in range(n)]
    groups = [f"group{i % 7}" for i in range(n)]
    return MapPoints(rng.normal(size=(n, 2)), paths, (np.arange(n) % 10) * 0.5, groups, "audio", "window")


def chromium():
    """Return a headless Chromium driven by Selenium and chromedriver."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1000"):
        options.add_argument(flag)
    options.add_argument("--enable-unsafe-swiftshader")
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)


def main() -> None:
    """Write the page, load it, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--points", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        page = os.path.join(folder, "map.html")
        start = time.perf_counter()
        write_map(points(args.points, folder), page)
        print(f"{args.points:,} points: page {os.path.getsize(page) / 1e6:.1f} MB, ", end="")
        print(f"written with its PNG in {time.perf_counter() - start:.1f} s")
        for run in range(args.runs):
            driver = chromium()
            try:
                start = time.perf_counter()
                driver.get(f"file://{page}")
                seconds = time.perf_counter() - start
                webgl = driver.execute_script(
                    "return document.querySelectorAll('canvas.gl-canvas-context').length"
                )
                print(f"run {run + 1}: loaded in {seconds:.2f} s (WebGL canvases: {webgl})")
            finally:
                driver.quit()


if __name__ == "__main__":
    main()

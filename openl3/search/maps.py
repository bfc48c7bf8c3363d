"""A map of a collection: its embeddings in two dimensions, as a page and as a picture.

:func:`map_points` projects a dataset's rows (one point per file, pooled by
:func:`openl3.classify.pooling.pool_rows`, or one per window, sampled down to a limit) to two
dimensions: PCA of the L2-normalised embeddings (scikit-learn), or UMAP where
``umap-learn`` is installed (it is not part of the ``search`` extra). Points are coloured
by folder, or by a label CSV (:func:`openl3.classify.labels.read_label_csv`).

:func:`write_map` writes one self-contained HTML page (Plotly, with plotly.js inside: it
opens from disk with no network) and a PNG of the same map beside it (matplotlib).
Hovering a point shows its path and time; clicking plays that moment of the audio (a link
to the file relative to the page, so the folder can be moved) or shows the image; a
search box highlights the paths that contain its text. Inputs named by URI are shown but
not played. Up to :data:`SVG_LIMIT` points are drawn as SVG, more with WebGL.
"""

from __future__ import annotations

import html
import json
import logging
import os
import urllib.request
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._util.atomic import replacing
from .._util.exceptions import OpenL3Error
from .._util.remote import is_uri
from ..classify.labels import FileLabels, unmatched_paths
from ..classify.pooling import pool_rows
from ..dataset.rows import DatasetRows

__all__ = ["MAP_LIMIT", "MapPoints", "map_points", "write_map"]

logger = logging.getLogger("openl3")

#: The most points of a map (files or windows are sampled down to it).
MAP_LIMIT = 50_000
#: Up to this many points the page draws SVG; above, WebGL (Plotly's scattergl).
SVG_LIMIT = 5_000
PROJECTIONS = ("pca", "umap")
#: Colours of the groups, in order (then repeated), in the page and the PNG alike.
PALETTE = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#17becf", "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94",
)  # fmt: skip
NO_LABEL = "(no label)"


@dataclass
class MapPoints:
    """The points of a map: where they are, what they stand for, their group (colour)."""

    xy: np.ndarray
    paths: list[str]
    timestamps: np.ndarray
    groups: list[str]
    modality: str
    per: str = "window"
    title: str = ""


def project(vectors: np.ndarray, projection: str = "pca", seed: int = 0) -> np.ndarray:
    """Return 2-D coordinates of ``vectors`` (L2-normalised first) by PCA or UMAP."""
    if projection not in PROJECTIONS:
        raise OpenL3Error(f"Invalid projection {projection!r}: use one of {', '.join(PROJECTIONS)}.")
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    unit = np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)
    if projection == "umap" and len(unit) >= 3:  # fewer points: PCA places them exactly
        try:
            import umap
        except ImportError as exc:
            raise OpenL3Error("projection='umap' needs umap-learn: pip install umap-learn") from exc
        return umap.UMAP(n_components=2, random_state=seed).fit_transform(unit)
    return _pca(unit, seed)


def _pca(unit: np.ndarray, seed: int) -> np.ndarray:
    """Return the first two principal coordinates (zeros past what fewer points can span)."""
    from sklearn.decomposition import PCA

    components = min(2, len(unit) - 1, unit.shape[1])
    if components < 1:
        return np.zeros((len(unit), 2), np.float32)
    with np.errstate(divide="ignore", invalid="ignore"):  # identical points: no variance to share out
        xy = PCA(n_components=components, random_state=seed).fit_transform(unit)
    return np.pad(xy, ((0, 0), (0, 2 - components)))


def folder_groups(paths: list[str]) -> list[str]:
    """Return each path's folder, relative to the folder all of them share."""
    folders = [os.path.dirname(p) for p in paths]
    try:
        common = os.path.commonpath(folders) if folders else ""
    except ValueError:  # absolute and relative paths mixed
        common = ""
    return [
        os.path.relpath(f, common) if common and f != common else os.path.basename(f) or f for f in folders
    ]


def _check_labels(labels: FileLabels, paths: list[str], location: str) -> None:
    """Refuse labels naming no file of the dataset; warn of those naming files not in it."""
    missing = unmatched_paths(labels.paths, paths)
    if len(missing) == len(labels.paths):
        raise OpenL3Error(f"None of the {len(missing)} files of the labels is an input of {location}.")
    if missing:
        logger.warning("%d labelled files are no inputs of %s (e.g. %s)", len(missing), location, missing[0])


def map_points(
    dataset: DatasetRows,
    per: str = "file",
    limit: int = MAP_LIMIT,
    labels: FileLabels | None = None,
    projection: str = "pca",
    seed: int = 0,
) -> MapPoints:
    """Return the points of a map of ``dataset``.

    Parameters
    ----------
    dataset : DatasetRows
        The collection.
    per : {"file", "window"}
        One point per file (its windows' mean embedding) or per window (or image frame).
    limit : int
        The most points: a seeded sample of the files or windows beyond it.
    labels : FileLabels or None
        Colour by these labels (files without one are "(no label)"); None: by folder.
        Labels naming no file of the dataset are refused; those naming some files that
        are not in it are warned of.
    projection : {"pca", "umap"}
        How to reduce the embeddings to two dimensions.
    seed : int
        Seed of the sample and the projection.
    """
    if per not in ("file", "window"):
        raise OpenL3Error(f"Invalid per {per!r}: use file or window.")
    if limit < 1:
        raise OpenL3Error(f"Invalid limit {limit}: a map needs at least one point.")
    rows = dataset.rows()
    if per == "file":
        paths, vectors = pool_rows(rows, "mean")
        timestamps = np.full(len(paths), np.nan if dataset.modality == "image" else 0.0)
    else:
        paths, vectors, timestamps = rows.paths.tolist(), rows.embeddings, rows.timestamps
    picked = np.arange(len(paths))
    if len(paths) > limit:
        picked = np.sort(np.random.default_rng(seed).choice(len(paths), limit, replace=False))
        logger.info("map of %s: %d of %d points (a sample)", dataset.location, limit, len(paths))
    if labels is not None:
        _check_labels(labels, paths, dataset.location)
    paths = [paths[i] for i in picked]
    groups = folder_groups(paths) if labels is None else [labels.label_of(p) or NO_LABEL for p in paths]
    xy = project(np.asarray(vectors, np.float32)[picked], projection, seed)
    title = f"{dataset.location}: {len(paths)} {per}s, {projection.upper()}"
    return MapPoints(xy, paths, np.asarray(timestamps)[picked], groups, dataset.modality, per, title)


def page_link(path: str, page: str) -> str:
    """Return the link to input ``path`` from the page ``page``, relative ("" for a URI)."""
    if is_uri(path):
        return ""
    folder = os.path.dirname(os.path.abspath(page))
    return urllib.request.pathname2url(os.path.relpath(os.path.realpath(path), os.path.realpath(folder)))


def _colours(groups: list[str]) -> dict[str, str]:
    return {g: PALETTE[k % len(PALETTE)] for k, g in enumerate(sorted(set(groups)))}


def _figure(points: MapPoints, page: str) -> Any:
    import plotly.graph_objects as go

    trace = go.Scattergl if len(points.paths) > SVG_LIMIT else go.Scatter
    size = 7 if len(points.paths) <= SVG_LIMIT else 4
    groups = np.asarray(points.groups, dtype=object)
    timed = not np.isnan(points.timestamps).all() and points.per == "window"
    template = (
        "%{customdata[0]}"  # the path, escaped: Plotly reads hover text as markup ("<b>" would bold)
        + ("<br>%{customdata[1]:.2f} s" if timed else "")
        + "<extra>%{fullData.name}</extra>"
    )
    figure = go.Figure()
    for group, colour in _colours(points.groups).items():
        chosen = np.flatnonzero(groups == group)
        data = np.empty((len(chosen), 2), dtype=object)
        data[:, 0] = [html.escape(points.paths[i], quote=False) for i in chosen]  # the page unescapes
        data[:, 1] = [None if np.isnan(t) else float(t) for t in points.timestamps[chosen]]
        figure.add_trace(
            trace(
                x=points.xy[chosen, 0].astype(np.float32),
                y=points.xy[chosen, 1].astype(np.float32),
                mode="markers",
                name=html.escape(group, quote=False),
                customdata=data,
                hovertemplate=template,
                marker={"color": colour, "size": size},
                selected={"marker": {"size": size + 5}},
                unselected={"marker": {"opacity": 0.15}},
            )
        )
    figure.update_layout(
        title=points.title, template="plotly_white", height=720, legend={"title": {"text": "group"}}
    )
    return figure


#: The page's script: the player, the image panel, the search box ({plot_id}: Plotly's div).
_SCRIPT = """
var gd = document.getElementById('{plot_id}');
var modality = MODALITY;
var links = LINKS;
var panel = document.createElement('div');
panel.id = 'openl3-panel';
panel.style.font = '14px sans-serif';
panel.innerHTML = '<input id="openl3-search" type="search" size="40" '
  + 'placeholder="Highlight paths containing..."> <span id="openl3-count"></span><br>'
  + '<audio id="openl3-audio" controls preload="none"></audio> '
  + '<span id="openl3-now">Click a point to play it.</span><br>'
  + '<img id="openl3-image" alt="" style="max-height:240px;display:none">';
gd.parentNode.insertBefore(panel, gd);
var audio = document.getElementById('openl3-audio');
var image = document.getElementById('openl3-image');
var now = document.getElementById('openl3-now');
if (modality === 'image') { audio.style.display = 'none'; now.textContent = 'Click a point to see it.'; }
function plain(text) {  // a path as it is (the hover text has it escaped)
  return text.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
}
gd.on('plotly_click', function (event) {
  var d = event.points[0].customdata;
  var path = plain(d[0]);
  now.textContent = path + (d[1] === null ? '' : ' at ' + d[1].toFixed(2) + ' s');
  var link = links[path];
  if (!link) { now.textContent += ' (not a local file: not played)'; return; }
  if (modality === 'image') { image.src = link; image.style.display = ''; return; }
  audio.src = link;
  audio.currentTime = d[1] === null ? 0 : d[1];
  var playing = audio.play();
  if (playing) { playing.catch(function () {}); }
});
var search = document.getElementById('openl3-search');
search.addEventListener('input', function () {
  var text = search.value.toLowerCase();
  var total = 0;
  var chosen = gd.data.map(function (trace) {
    if (!text) { return null; }
    var found = [];
    trace.customdata.forEach(function (d, i) {
      if (plain(d[0]).toLowerCase().indexOf(text) >= 0) { found.push(i); }
    });
    total += found.length;
    return found;
  });
  Plotly.restyle(gd, {selectedpoints: chosen});
  document.getElementById('openl3-count').textContent = text ? total + ' matching points' : '';
});
"""


def _script_json(value: Any) -> str:
    """Return ``value`` as JSON safe inside a <script> element (a path's ``</script>`` escaped)."""
    return json.dumps(value).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _html(points: MapPoints, page: str) -> str:
    links = {path: page_link(path, page) for path in dict.fromkeys(points.paths)}
    script = _SCRIPT.replace("MODALITY", json.dumps(points.modality)).replace("LINKS", _script_json(links))
    return _figure(points, page).to_html(
        full_html=True, include_plotlyjs=True, post_script=script, config={"responsive": True}
    )


def _png(points: MapPoints, target: str) -> None:
    _png_figure(points).savefig(target, format="png")


def _png_figure(points: MapPoints) -> Any:
    """Return the PNG's figure; groups and title are drawn as they are (not as math, "$x$")."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(8, 6), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    groups = np.asarray(points.groups, dtype=object)
    size = 30 if len(points.paths) <= 1000 else 12 if len(points.paths) <= SVG_LIMIT else 3
    handles, labels = [], []
    for group, colour in _colours(points.groups).items():
        chosen = groups == group
        xy = points.xy[chosen]
        handles.append(axes.scatter(xy[:, 0], xy[:, 1], s=size, c=colour, linewidths=0))
        labels.append(group)
    if len(set(points.groups)) <= 20:  # labels given: one starting with "_" is shown too
        legend = axes.legend(handles, labels, fontsize="small", markerscale=2, loc="best")
        for text in legend.get_texts():
            text.set_parse_math(False)
    axes.set_title(points.title, fontsize="medium", parse_math=False)
    axes.set_xticks([])
    axes.set_yticks([])
    figure.tight_layout()
    return figure


def png_path(page: str) -> str:
    """Return the path of the PNG beside ``page`` (``map.png`` for ``map.html``)."""
    return os.path.splitext(page)[0] + ".png"


def _warn_of_missing_files(paths: list[str]) -> None:
    """Warn when local input files are not found from here: their points' links will not play."""
    files = [path for path in dict.fromkeys(paths) if not is_uri(path)]
    missing = [path for path in files if not os.path.exists(path)]
    if not missing:
        return
    relative = any(not os.path.isabs(path) for path in missing)
    hint = (
        "; its relative paths are read from the current folder: make the map in the folder where "
        "the dataset was embedded"
        if relative
        else ""
    )
    logger.warning(
        "%d of the map's %d files are not found (e.g. %s): their points will not play%s",
        len(missing),
        len(files),
        missing[0],
        hint,
    )


def write_map(points: MapPoints, page: str, png: bool = True) -> list[str]:
    """Write the map's page to ``page`` (and its PNG beside it, unless ``png`` is False).

    Both files appear together, complete, or not at all. Returns the paths written.
    """
    if is_uri(page):
        raise OpenL3Error(f"Write the map to a local file, not {page} (its links are relative to it).")
    paths = [page, png_path(page)] if png else [page]
    os.makedirs(os.path.dirname(os.path.abspath(page)), exist_ok=True)
    _warn_of_missing_files(points.paths)
    text = _html(points, page)
    with replacing(*paths) as temporaries:
        with open(temporaries[0], "w", encoding="utf-8") as handle:
            handle.write(text)
        if png:
            _png(points, temporaries[1])
    return paths

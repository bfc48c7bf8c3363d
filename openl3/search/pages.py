"""A map's page and picture: one self-contained HTML page, and a PNG of the same map.

:func:`write_map` writes the points of :func:`openl3.search.maps.map_points` as one HTML
page (Plotly, with plotly.js inside: it opens from disk with no network) and a PNG beside
it (matplotlib). Hovering a point shows its path and time; clicking plays that moment of
the audio (a link to the file relative to the page, so the folder can be moved) or shows
the image; a search box highlights the paths that contain its text. Inputs named by URI
are shown but not played. Up to :data:`~openl3.search.maps.SVG_LIMIT` points are drawn as
SVG, more with WebGL. Paths, groups and titles are shown as they are, never as markup.
"""

from __future__ import annotations

import html
import json
import logging
import os
import urllib.request
from typing import Any

import numpy as np

from .._util.atomic import replacing
from .._util.exceptions import InvalidArgumentError, OpenL3Error
from .._util.identity import file_identity
from .._util.remote import is_uri
from .maps import PALETTE, SVG_LIMIT, MapPoints

__all__ = ["page_link", "png_path", "write_map"]

logger = logging.getLogger("openl3")


def page_link(path: str, page: str) -> str:
    """Return the link to input ``path`` from the page ``page``, relative ("" for a URI).

    Examples
    --------
    >>> page_link("/data/clips/a.wav", "/data/maps/map.html")
    '../clips/a.wav'
    >>> page_link("s3://bucket/a.wav", "map.html")       # not a local file: not played
    ''
    """
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
    figure.update_layout(  # titles as they are: Plotly reads them as markup too
        title=html.escape(points.title, quote=False),
        template="plotly_white",
        height=720,
        legend={"title": {"text": html.escape(points.legend, quote=False)}},
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
    links = {path: page_link(points.files.get(path, path), page) for path in dict.fromkeys(points.paths)}
    script = _SCRIPT.replace("MODALITY", json.dumps(points.modality)).replace("LINKS", _script_json(links))
    text = _figure(points, page).to_html(
        full_html=True, include_plotlyjs=True, post_script=script, config={"responsive": True}
    )
    return text.replace("</head>", f"<title>{html.escape(points.title)}</title></head>", 1)


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
        legend = axes.legend(handles, labels, title=points.legend, fontsize="small", markerscale=2)
        for text in [*legend.get_texts(), legend.get_title()]:
            text.set_parse_math(False)
    axes.set_title(points.title, fontsize="medium", parse_math=False)
    axes.set_xticks([])
    axes.set_yticks([])
    figure.tight_layout()
    return figure


def png_path(page: str) -> str:
    """Return the path of the PNG beside ``page`` (``map.png`` for ``map.html``).

    Examples
    --------
    >>> png_path("maps/clips.html")
    'maps/clips.png'
    """
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

    Examples
    --------
    >>> write_map(map_points(DatasetRows("clips.l3")), "map.html")
    ['map.html', 'map.png']
    """
    if is_uri(page):
        raise OpenL3Error(f"Write the map to a local file, not {page} (its links are relative to it).")
    if png and file_identity(page) == file_identity(png_path(page)):
        raise InvalidArgumentError(
            f"Cannot write the map's page to {page}: its PNG would be that file too. Name the page "
            "MAP.html (the PNG is MAP.png), or write the page only (--no-png, png=False)."
        )
    paths = [page, png_path(page)] if png else [page]
    os.makedirs(os.path.dirname(os.path.abspath(page)), exist_ok=True)
    _warn_of_missing_files([points.files.get(path, path) for path in points.paths])  # the files linked
    text = _html(points, page)
    with replacing(*paths) as temporaries:
        with open(temporaries[0], "w", encoding="utf-8") as handle:
            handle.write(text)
        if png:
            _png(points, temporaries[1])
    return paths

"""A map of a collection: its embeddings in two dimensions, grouped by folder or label.

:func:`map_points` projects a dataset's rows (one point per file, pooled by
:func:`openl3.classify.pooling.pool_rows`, or one per window, sampled down to a limit) to two
dimensions: PCA of the L2-normalised embeddings (scikit-learn), or UMAP where
``umap-learn`` is installed (it is not part of the ``search`` extra). Points are coloured
by folder, or by a label CSV (:func:`openl3.classify.labels.read_label_csv`).

The page and the picture of the points are :mod:`openl3.search.pages`' (``write_map``).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field

import numpy as np

from .._util.exceptions import InvalidArgumentError, OpenL3Error
from .._util.validation import check_choice
from ..classify.labels import FileLabels, unmatched_paths
from ..classify.pooling import pool_rows
from ..dataset.rows import DatasetRows

__all__ = ["COLOURS", "MAP_LIMIT", "PROJECTIONS", "MapPoints", "folder_groups", "map_points"]

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
    """The points of a map: where they are, what they stand for, their group (colour).

    Examples
    --------
    >>> points = map_points(DatasetRows("clips.l3"), per="file")
    >>> points.xy.shape, points.groups[:2]
    ((42, 2), ['birds', 'birds'])
    """

    xy: np.ndarray
    paths: list[str]
    timestamps: np.ndarray
    groups: list[str]
    modality: str
    per: str = "window"
    title: str = ""
    #: The file each input of ``paths`` is (its identity), where the dataset knows it: the
    #: page's links point there, whatever folder the map is made from.
    files: dict[str, str] = field(default_factory=dict)
    #: What the groups are, the legend's title ("folder", "top folder", "label").
    legend: str = "group"


def project(vectors: np.ndarray, projection: str = "pca", seed: int = 0) -> np.ndarray:
    """Return 2-D coordinates of ``vectors`` (L2-normalised first) by PCA or UMAP."""
    if projection not in PROJECTIONS:
        raise InvalidArgumentError(f"Invalid projection {projection!r}: use one of {', '.join(PROJECTIONS)}.")
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


#: What a map can colour its points by (besides a label file), and its legend's title.
COLOURS = {"folder": "folder", "top": "top folder"}


def folder_groups(paths: list[str], top: bool = False) -> list[str]:
    """Return each path's folder, relative to the folder all of them share (its first level: ``top``).

    Examples
    --------
    >>> folder_groups(["c/clicks/take1/a.wav", "c/clicks/take2/b.wav", "c/hum/c.wav"])
    ['clicks/take1', 'clicks/take2', 'hum']
    >>> folder_groups(["c/clicks/take1/a.wav", "c/clicks/take2/b.wav", "c/hum/c.wav"], top=True)
    ['clicks', 'clicks', 'hum']
    """
    folders = [os.path.dirname(p) for p in paths]
    try:
        common = os.path.commonpath(folders) if folders else ""
    except ValueError:  # absolute and relative paths mixed
        common = ""
    groups = [
        os.path.relpath(f, common) if common and f != common else os.path.basename(f) or f for f in folders
    ]
    return [group.split(os.sep)[0] for group in groups] if top else groups


def _check_labels(labels: FileLabels, dataset: DatasetRows) -> None:
    """Refuse labels naming no file of the dataset; warn of those naming files not in it."""
    missing = unmatched_paths(labels.paths, dataset)
    if len(missing) == len(labels.paths):
        where = dataset.location
        what = (
            "The one file of the labels is not"
            if len(missing) == 1
            else f"None of the {len(missing)} files of the labels is"
        )
        raise OpenL3Error(f"{what} an input of {where}.")
    if missing:
        logger.warning(
            "%d labelled files are no inputs of %s (e.g. %s)", len(missing), dataset.location, missing[0]
        )


def map_points(
    dataset: DatasetRows,
    per: str = "file",
    limit: int = MAP_LIMIT,
    labels: FileLabels | None = None,
    projection: str = "pca",
    seed: int = 0,
    colour: str = "folder",
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
    colour : {"folder", "top"}
        Without labels: colour by each file's folder (``clicks/take1``), or by the first
        folder below the one all files share (``clicks``).

    Examples
    --------
    >>> points = map_points(DatasetRows("clips.l3"), per="window", limit=10_000, projection="pca")
    """
    if per not in ("file", "window"):
        raise InvalidArgumentError(f"Invalid per {per!r}: use file or window.")
    check_choice(colour, "colour", tuple(COLOURS))
    if limit < 1:
        raise InvalidArgumentError(f"Invalid limit {limit}: a map needs at least one point.")
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
        _check_labels(labels, dataset)
    paths = [paths[i] for i in picked]
    keys = dataset.input_keys()
    files = {p: keys[p] for p in dict.fromkeys(paths)}
    if labels is None:
        groups, legend = folder_groups(paths, top=colour == "top"), COLOURS[colour]
    else:
        groups, legend = [labels.label_for(keys[p]) or NO_LABEL for p in paths], "label"
    xy = project(np.asarray(vectors, np.float32)[picked], projection, seed)
    title = f"{dataset.location}: {len(paths)} {per}s, {projection.upper()}"
    timestamps = np.asarray(timestamps)[picked]
    return MapPoints(xy, paths, timestamps, groups, dataset.modality, per, title, files, legend)

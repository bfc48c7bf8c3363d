"""Benchmark classifiers on pooled embeddings: training, cross-validation and prediction.

Generates the pooled embeddings of N files (seeded vectors, 10 classes, 512 dimensions,
windows per file 2-20, pooled by :func:`openl3.classify.pooling.pool_rows`), then times, for each
classifier: 5-fold cross-validation plus the final fit (:func:`openl3.classify.training.
fit_classifier`), saving and loading the model (skops, SHA-256 checked), and prediction
on pooled embeddings (files/s, embedding excluded)::

    python scripts/bench_classify.py --files 10000 --classifiers logreg svm mlp

Embedding the files costs far more than all of this: see the windows/s of the model in
docs/performance.md (a file of 10 s at hop 0.1 s is about 100 windows).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np

from openl3.classify import load_model
from openl3.classify.labels import FileLabels
from openl3.classify.pooling import pool_rows
from openl3.classify.training import CLASSIFIERS, fit_classifier
from openl3.dataset.rows import EmbeddingRows

SETTINGS = {"modality": "audio", "input_repr": "mel128", "embedding_size": 512, "hop_size": 0.1}


def parse_args() -> argparse.Namespace:
    """Parse the benchmark's arguments."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--files", type=int, default=10000, help="files (pooled vectors)")
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--dim", type=int, default=512, help="embedding dimensions")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--classifiers", nargs="+", default=["logreg"], choices=CLASSIFIERS)
    parser.add_argument("--pca", type=int, default=None)
    return parser.parse_args()


def window_rows(
    files: int, classes: int, dim: int, rng: np.random.Generator
) -> tuple[EmbeddingRows, list[str]]:
    """Return seeded window embeddings of ``files`` files (2-20 windows each) and each file's class."""
    centres = rng.normal(size=(classes, dim)).astype(np.float32)
    labels = rng.integers(0, classes, files)
    counts = rng.integers(2, 21, files)
    owner = np.repeat(np.arange(files), counts)
    embeddings = 0.08 * centres[labels[owner]] + rng.normal(size=(len(owner), dim)).astype(np.float32)
    paths = np.array([f"file{i:06d}.wav" for i in range(files)], dtype=object)[owner]
    index = np.concatenate([np.arange(c) for c in counts]).astype(np.int32)
    rows = EmbeddingRows(paths, index, 0.1 * index.astype(np.float64), np.maximum(embeddings, 0))
    return rows, [f"class{k}" for k in labels]


def timed(function, *args, **kwargs):
    """Return ``function(*args, **kwargs)`` and the seconds it took: wall-clock, and CPU (all threads)."""
    start, cpu = time.perf_counter(), time.process_time()
    result = function(*args, **kwargs)
    return result, Seconds(time.perf_counter() - start, time.process_time() - cpu)


class Seconds(float):
    """Wall-clock seconds that also know the CPU seconds they took (shared machines differ)."""

    cpu: float

    def __new__(cls, wall: float, cpu: float) -> Seconds:
        """Return ``wall`` seconds that took ``cpu`` CPU seconds."""
        seconds = super().__new__(cls, wall)
        seconds.cpu = cpu
        return seconds

    def __format__(self, spec: str) -> str:
        return f"{float(self):{spec}} s (CPU {self.cpu:{spec}} s)"


def main() -> None:
    """Run the benchmark and print one line per measure."""
    args = parse_args()
    rng = np.random.default_rng(0)
    rows, classes = window_rows(args.files, args.classes, args.dim, rng)
    (inputs, features), seconds = timed(pool_rows, rows, "mean")
    rate = args.files / seconds
    print(f"pool    {len(rows)} windows of {args.files} files: {seconds:.2f}, {rate:,.0f} files/s")
    labels = FileLabels([os.path.abspath(p) for p in inputs], classes, source="generated")
    for name in args.classifiers:
        run = (features, labels, SETTINGS, "mean", name, args.pca, args.folds)
        (model, report), seconds = timed(fit_classifier, *run)
        what = f"{args.folds}-fold cross-validation + final fit, {args.files} files x {args.dim}"
        print(f"train   {name}: {what}: {seconds:.1f}, macro-F1 {report['macro_f1']:.3f}")
        with tempfile.TemporaryDirectory() as folder:
            path = os.path.join(folder, "model.skops")
            _, saving = timed(model.save, path)
            loaded, loading = timed(load_model, path)
            size = os.path.getsize(path) / 1e6
        print(f"save    {name}: {saving:.2f}; load (SHA-256, types checked) {loading:.2f}; {size:.1f} MB")
        _, seconds = timed(loaded.predict_proba, features)
        rate = args.files / seconds
        print(f"predict {name}: {args.files} pooled files in {seconds:.3f}: {rate:,.0f} files/s")


if __name__ == "__main__":
    main()

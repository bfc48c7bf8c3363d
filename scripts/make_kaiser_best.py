"""Rebuild ``openl3/data/kaiser_best.npz``: OpenL3 0.4.2's resampling filter, carried.

OpenL3 0.4.2 resampled with resampy 0.2's ``kaiser_best`` filter. resampy 0.3 changed
that filter (embeddings of 22.05 kHz audio move by several percent), and pip lets a user
upgrade resampy past any pin, so openl3 carries the table itself and checks its SHA-256
when it loads it (``openl3.audio.signal.FILTER_SHA256``). The file is resampy 0.2's own data
file, byte for byte (resampy is ISC-licensed, (c) Brian McFee), taken from an installed
resampy 0.2 without importing it::

    pip install 'resampy>=0.2.1,<0.3'
    python scripts/make_kaiser_best.py

It prints the SHA-256 to put in ``FILTER_SHA256`` (unchanged unless resampy 0.2's file
changes: 0.2.2's is ``67fab903...``).
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import importlib.util
from pathlib import Path

import numpy as np

TARGET = Path(__file__).resolve().parents[1] / "openl3" / "data" / "kaiser_best.npz"


def resampy_table() -> Path:
    """Return the path of the installed resampy 0.2's ``kaiser_best.npz``."""
    version = importlib.metadata.version("resampy")
    if not version.startswith("0.2."):
        raise SystemExit(f"resampy {version} is installed; OpenL3 0.4.2's filter is resampy 0.2's.")
    spec = importlib.util.find_spec("resampy")  # resampy 0.2 imports pkg_resources: not imported
    return Path(spec.submodule_search_locations[0]) / "data" / "kaiser_best.npz"


def main() -> None:
    """Copy resampy 0.2's table into the package and print its SHA-256."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("target", nargs="?", type=Path, default=TARGET, help=f"default: {TARGET}")
    target = parser.parse_args().target
    data = resampy_table().read_bytes()
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    with np.load(target) as table:
        print(f"wrote {target}: half_window {table['half_window'].shape}, precision {table['precision']}")
    print(f"sha256 {hashlib.sha256(data).hexdigest()}")


if __name__ == "__main__":
    main()

"""Shared fixtures: seeded weight files in the official layout, loaded models, reference data."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from helpers import COLLECTION_SETTINGS, write_collection, write_weight_file

REFERENCE_DIR = Path(
    os.environ.get("OPENL3_REFERENCE_DIR", Path(__file__).resolve().parents[2] / "shared" / "reference")
)

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture(autouse=True)
def isolated_weights(tmp_path_factory, monkeypatch):
    """No test reads the user's cache or reaches the network: an empty cache, a closed port."""
    monkeypatch.setenv("OPENL3_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
    monkeypatch.setenv("OPENL3_WEIGHTS_URL", "http://127.0.0.1:9/")
    monkeypatch.delenv("OPENL3_WEIGHTS_DIR", raising=False)


@pytest.fixture(scope="session")
def weights_dir(tmp_path_factory) -> Path:
    """A directory of seeded weight files under their official (decompressed) names."""
    directory = tmp_path_factory.mktemp("weights")
    for seed, repr_ in enumerate(("linear", "mel128", "mel256")):
        write_weight_file(directory / f"openl3_audio_{repr_}_music.h5", "audio", seed)
    write_weight_file(directory / "openl3_image_mel256_music.h5", "image", 10)
    return directory


@pytest.fixture
def weights_env(weights_dir, monkeypatch) -> Path:
    """Point OPENL3_WEIGHTS_DIR at the seeded weight files."""
    monkeypatch.setenv("OPENL3_WEIGHTS_DIR", str(weights_dir))
    return weights_dir


@pytest.fixture(scope="session")
def search_collection(weights_dir, tmp_path_factory) -> tuple[list[str], str]:
    """Five clips in two folders (the last a copy of the first), embedded once into a dataset.

    Returns the clips' paths and the dataset folder; a test that changes the dataset copies it.
    """
    import openl3

    root = tmp_path_factory.mktemp("collection")
    paths, out = write_collection(root), str(root / "out")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("OPENL3_WEIGHTS_DIR", str(weights_dir))
        for batch in (paths[:4], paths[4:]):  # two runs: two parts
            openl3.process_audio_file(batch, output_dir=out, output_format="parquet", **COLLECTION_SETTINGS)
    return paths, out


@pytest.fixture(scope="session")
def image_collection(weights_dir, tmp_path_factory) -> tuple[list[str], str]:
    """Three generated images (the last a copy of the first) embedded once into a dataset."""
    import shutil

    import numpy as np
    from skimage.io import imsave

    import openl3

    root = tmp_path_factory.mktemp("images")
    paths = [str(root / f"picture{k}.png") for k in range(2)]
    for k, path in enumerate(paths):
        imsave(path, np.random.default_rng(k).integers(0, 255, (240, 256, 3), dtype=np.uint8))
    shutil.copyfile(paths[0], root / "copy.png")
    paths.append(str(root / "copy.png"))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("OPENL3_WEIGHTS_DIR", str(weights_dir))
        openl3.process_image_file(
            paths, output_dir=str(root / "out"), output_format="parquet", embedding_size=512, verbose=False
        )
    return paths, str(root / "out")


@pytest.fixture(scope="session")
def mel128_model(weights_dir):
    """A mel128 / 512 kapre model with seeded weights (the cheapest audio tower)."""
    import openl3

    return openl3.models.load_audio_embedding_model_from_path(
        str(weights_dir / "openl3_audio_mel128_music.h5"), "mel128", 512
    )


@pytest.fixture(scope="session")
def mel128_librosa_model(weights_dir):
    """The same weights as ``mel128_model`` without the kapre frontend."""
    import openl3

    return openl3.models.load_audio_embedding_model_from_path(
        str(weights_dir / "openl3_audio_mel128_music.h5"), "mel128", 512, frontend="librosa"
    )


@pytest.fixture(scope="session")
def reference():
    """OpenL3 0.4.2's outputs, its input generator and its weight writer (shared/reference)."""
    archive = REFERENCE_DIR / "reference_0_4_2.npz"
    if not archive.is_file():
        pytest.skip(f"reference outputs of OpenL3 0.4.2 not found at {archive}")
    from reference_parity import load_reference

    return load_reference(REFERENCE_DIR)


@pytest.fixture(scope="session")
def reference_weights(reference, tmp_path_factory) -> dict[str, str]:
    """The four weight files the reference outputs were computed with."""
    _, _, make_weights = reference
    return make_weights.write_all(str(tmp_path_factory.mktemp("reference_weights")))


class WeightServer:
    """A loopback HTTP server for weight files: counts requests, can corrupt, cut or slow bodies."""

    def __init__(self, files: dict[str, bytes]):
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.files, self.requests, self.mode = files, [], "ok"
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                import time

                name = self.path.lstrip("/")
                server.requests.append(name)
                body = server.files.get(name)
                if body is None or server.mode == "missing":
                    self.send_error(404)
                    return
                if server.mode == "corrupt":
                    body = body[:100] + bytes([body[100] ^ 0xFF]) + body[101:]
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if server.mode == "truncate":
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    self.connection.shutdown(2)
                    return
                for start in range(0, len(body), 1 << 16):
                    self.wfile.write(body[start : start + (1 << 16)])
                    if server.mode == "slow":
                        time.sleep(0.02)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="session")
def published(tmp_path_factory):
    """A gzip weight file made as the published ones, and a registry entry with its blob id."""
    from openl3.models.registry import WeightFile
    from openl3.models.store import git_blob_id

    directory = tmp_path_factory.mktemp("published")
    path = directory / "openl3_audio_mel128_music-v0_4_0.h5.gz"
    write_weight_file(path, "audio", seed=1)
    return path, WeightFile("audio", "mel128", "music", git_blob_id(str(path)))


@pytest.fixture
def weight_server(published, monkeypatch):
    """Serve the published test file; point OPENL3_WEIGHTS_URL and a test registry at it."""
    from openl3.models import registry

    path, entry = published
    server = WeightServer({path.name: path.read_bytes()})
    monkeypatch.setenv("OPENL3_WEIGHTS_URL", server.url)
    monkeypatch.setattr(registry, "REGISTRY", {("audio", "mel128", "music"): entry})
    yield server
    server.close()

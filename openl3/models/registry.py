"""The official OpenL3 v0_4_0 weight files, and where to find them on this machine."""

from __future__ import annotations

from dataclasses import dataclass

from .._util.validation import check_choice
from .specs import CONTENT_TYPES, INPUT_REPRS

#: Release of the official weight files.
WEIGHTS_VERSION = "v0_4_0"
#: Where the official files are published.
OFFICIAL_BASE_URL = "https://github.com/marl/openl3/raw/models/"
#: Environment variable naming a directory of weight files chosen by the user.
WEIGHTS_DIR_ENV = "OPENL3_WEIGHTS_DIR"


@dataclass(frozen=True)
class WeightFile:
    """One published weight file.

    Attributes
    ----------
    modality : str
        "audio" or "image".
    input_repr : str
        Spectrogram representation of the (jointly trained) audio tower.
    content_type : str
        "music" or "env".
    blob_id : str
        Git blob id (SHA-1 of ``b"blob <size>"``, a NUL byte, then the content) of the published file.
    decompressed_sha256 : str or None
        SHA-256 of the decompressed file, where it is known (a decompressed official file is
        recognised by it; the others cannot be checked).
    """

    modality: str
    input_repr: str
    content_type: str
    blob_id: str
    decompressed_sha256: str | None = None

    @property
    def stem(self) -> str:
        """Name without version and extension, e.g. ``openl3_audio_mel256_music``."""
        return f"openl3_{self.modality}_{self.input_repr}_{self.content_type}"

    @property
    def filename(self) -> str:
        """Published file name, e.g. ``openl3_audio_mel256_music-v0_4_0.h5.gz``."""
        return f"{self.stem}-{WEIGHTS_VERSION}.h5.gz"

    @property
    def url(self) -> str:
        """Official download URL."""
        return OFFICIAL_BASE_URL + self.filename

    def candidate_names(self) -> list[str]:
        """File names accepted in a user's weights directory, in order of preference."""
        stems = (f"{self.stem}-{WEIGHTS_VERSION}", self.stem)
        return [stem + ext for stem in stems for ext in (".h5", ".h5.gz")]


_BLOB_IDS = {
    ("audio", "linear", "env"): "7837407f033f3564c7e8d53fc4a4241fe160478b",
    ("audio", "linear", "music"): "4e2e61beb17865481c8b8791c72eac8307e2753a",
    ("audio", "mel128", "env"): "8c3dfee140f7776373841e5938a3e76c54f28942",
    ("audio", "mel128", "music"): "73ff29de441865318c4b3a3f98c40763c4773e7c",
    ("audio", "mel256", "env"): "34dbd7a91cdd2de6a3d6d036ac0a24d27d78e3cc",
    ("audio", "mel256", "music"): "15e483646fa3d4091a463f0affbb706e6bbbb098",
    ("image", "linear", "env"): "a1e527ad5367efb19b18cd051523bf3fadd02feb",
    ("image", "linear", "music"): "7ccfc16536bff5f46902df6d7f89075f1bfce8bb",
    ("image", "mel128", "env"): "680c5d4adffc2b0d7b789913a2e9ebccd469be55",
    ("image", "mel128", "music"): "c287c5f9bc949595ff4fda83177bcc98142601e9",
    ("image", "mel256", "env"): "dbdf24a7e837267487adb3eed1586fcd2e37d775",
    ("image", "mel256", "music"): "67bf0b891eb4fb797defafa5b3edc3c75f3cd6ee",
}

#: SHA-256 of the decompressed official files that are known (SPEC.md).
_DECOMPRESSED_SHA256 = {
    ("audio", "mel256", "music"): "624ee7b1dd5ff87e18073f66fd8b2052bebb8ac70210e9c0937c0c940c63e9d6",
}

#: Every official weight file, keyed by (modality, input_repr, content_type).
REGISTRY: dict[tuple[str, str, str], WeightFile] = {
    key: WeightFile(*key, blob_id, _DECOMPRESSED_SHA256.get(key)) for key, blob_id in _BLOB_IDS.items()
}


def weight_file(modality: str, input_repr: str, content_type: str) -> WeightFile:
    """Return the registry entry for a model, validating the arguments."""
    check_choice(input_repr, "input_repr", INPUT_REPRS)
    check_choice(content_type, "content_type", CONTENT_TYPES)
    return REGISTRY[(modality, input_repr, content_type)]

"""The public API: cheap import, and the signatures of the OpenL3 0.4.2 documentation."""

from __future__ import annotations

import inspect
import subprocess
import sys

import openl3

SIGNATURES_0_4_2 = {
    openl3.get_audio_embedding: "(audio, sr, model=None, input_repr=None, content_type='music', "
    "embedding_size=6144, center=True, hop_size=0.1, batch_size=32, frontend='kapre', verbose=True)",
    openl3.preprocess_audio: "(audio, sr, hop_size=0.1, input_repr=None, center=True, **kw)",
    openl3.process_audio_file: "(filepath, output_dir=None, suffix=None, model=None, input_repr=None, "
    "content_type='music', embedding_size=6144, center=True, hop_size=0.1, batch_size=32, overwrite=False, "
    "frontend='kapre', verbose=True)",
    openl3.core.get_output_path: "(filepath, suffix, output_dir=None)",
    openl3.get_image_embedding: "(image, frame_rate=None, model=None, input_repr='mel256', "
    "content_type='music', embedding_size=8192, batch_size=32, verbose=True)",
    openl3.process_image_file: "(filepath, output_dir=None, suffix=None, model=None, input_repr='mel256', "
    "content_type='music', embedding_size=8192, batch_size=32, overwrite=False, verbose=True)",
    openl3.process_video_file: "(filepath, output_dir=None, suffix=None, audio_model=None, image_model=None, "
    "input_repr=None, content_type='music', audio_embedding_size=6144, audio_center=True, "
    "audio_hop_size=0.1, image_embedding_size=8192, audio_batch_size=32, image_batch_size=32, "
    "audio_frontend='kapre', overwrite=False, verbose=True)",
    openl3.models.get_audio_embedding_model_path: "(input_repr, content_type)",
    openl3.models.get_image_embedding_model_path: "(input_repr, content_type)",
    openl3.models.kapre_v0_1_4_magnitude_to_decibel: "(x, ref_value=1.0, amin=1e-10, dynamic_range=80.0)",
    openl3.models.load_audio_embedding_model: "(input_repr, content_type, embedding_size, frontend='kapre')",
    openl3.models.load_audio_embedding_model_from_path: "(model_path, input_repr, embedding_size, "
    "frontend='kapre')",
    openl3.models.load_image_embedding_model: "(input_repr, content_type, embedding_size)",
    openl3.models.load_image_embedding_model_from_path: "(model_path, embedding_size)",
}


def _plain(function):
    parameters = [
        p.replace(annotation=inspect.Parameter.empty) for p in inspect.signature(function).parameters.values()
    ]
    return str(inspect.Signature(parameters))


def test_signatures_follow_the_0_4_2_documentation():
    # 0.4.2's parameters come first, in order, with their defaults; additions only after them.
    for function, expected in SIGNATURES_0_4_2.items():
        actual = _plain(function)
        assert actual == expected or actual.startswith(expected[:-1] + ", "), function.__name__


def test_additions_are_keywords_with_defaults():
    for function in (openl3.process_audio_file, openl3.process_image_file, openl3.process_video_file):
        assert inspect.signature(function).parameters["errors"].default == "raise"


def test_core_module_reexports_the_0_4_2_names():
    names = ("get_audio_embedding", "preprocess_audio", "process_audio_file", "get_output_path")
    for name in (*names, "get_image_embedding", "process_image_file", "process_video_file"):
        assert getattr(openl3.core, name) is getattr(openl3, name)


def test_errors_and_warnings():
    assert issubclass(openl3.OpenL3Error, Exception)
    assert issubclass(openl3.OpenL3Warning, Warning)


def test_import_is_cheap():
    code = "import sys, openl3; print(sorted(m for m in ('tensorflow', 'keras', 'kapre', 'librosa', 'numba', "
    code += "'resampy', 'h5py', 'skimage', 'moviepy') if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_version():
    assert openl3.__version__ == openl3.version.version

"""Audio preprocessing and embeddings: each rule of SPEC.md on its own, on generated signals."""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import numpy as np
import pytest

import openl3
from helpers import framed_like_0_4_2, noise, quiet, tone
from openl3 import OpenL3Error, OpenL3Warning
from openl3.audio.windows import AudioWindows


@pytest.mark.parametrize(
    ("seconds", "sr", "hop_size", "center", "channels"),
    [
        (2.5, 48000, 0.1, True, 0),
        (2.5, 48000, 0.1, False, 0),
        (1.0, 48000, 0.25, False, 0),
        (0.3, 8000, 0.1, True, 0),
        (3.7, 44100, 0.5, True, 2),
        (1.7, 32000, 0.33, False, 2),
        (12.0, 22050, 1.0, True, 0),
    ],
)
def test_windows_equal_0_4_2_framing_bit_for_bit(seconds, sr, hop_size, center, channels):
    audio = noise(seconds, sr, seed=5, channels=channels)
    windows = quiet(openl3.preprocess_audio, audio, sr, hop_size=hop_size, center=center)
    expected = framed_like_0_4_2(audio, sr, hop_size, center)
    assert windows.shape == (len(expected), 1, 48000)
    assert windows.dtype == np.float32
    np.testing.assert_array_equal(windows[:, 0, :], expected.astype(np.float32))


@pytest.mark.parametrize(
    ("samples", "hop_size", "center", "count"),
    [
        (48000, 0.1, False, 1),
        (48000, 0.1, True, 6),  # 72000 padded samples: 1 + ceil(24000 / 4800)
        (120000, 0.1, True, 21),
        (48001, 0.1, False, 2),  # one sample past the window: padded to a whole hop
        (1000, 0.1, True, 1),  # shorter than a window: padded to one window
        (96000, 0.5, False, 3),
    ],
)
def test_window_count_and_timestamps(samples, hop_size, center, count):
    source = quiet(AudioWindows, np.ones(samples), 48000, hop_size, center)
    assert source.n_items == count
    np.testing.assert_array_equal(source.timestamps, np.arange(count) * hop_size)


def test_centering_puts_half_a_window_of_zeros_first():
    audio = np.ones(96000)
    centered = openl3.preprocess_audio(audio, 48000, center=True)
    assert not centered[0, 0, :24000].any()
    assert (centered[0, 0, 24000:] == 1).all()
    plain = openl3.preprocess_audio(audio, 48000, center=False)
    assert (plain[0, 0] == 1).all()


def test_end_padding_is_zeros():
    windows = openl3.preprocess_audio(np.ones(48000 + 100), 48000, hop_size=0.1, center=False)
    assert windows.shape[0] == 2
    assert (windows[1, 0, : 48000 - 4800 + 100] == 1).all()
    assert not windows[1, 0, 48000 - 4800 + 100 :].any()


def test_list_input_stacks_windows_of_each_array():
    first, second = noise(1.0, 48000, seed=1), noise(1.5, 16000, seed=2)
    stacked = openl3.preprocess_audio([first, second], [48000, 16000], center=False, hop_size=0.5)
    single = [
        openl3.preprocess_audio(a, s, center=False, hop_size=0.5)
        for a, s in ((first, 48000), (second, 16000))
    ]
    np.testing.assert_array_equal(stacked, np.concatenate(single))


def test_librosa_preprocessing_gives_normalised_spectrograms():
    audio = tone(1.2, 48000, channels=2)
    for input_repr, shape in (("linear", (257, 197)), ("mel128", (128, 199)), ("mel256", (256, 199))):
        features = openl3.preprocess_audio(audio, 48000, input_repr=input_repr, hop_size=0.5)
        assert features.shape == (3, *shape, 1)
        assert features.dtype == np.float32
        assert features.max(axis=(1, 2, 3)) == pytest.approx(0.0)
        assert features.min() >= -80.0


def test_embedding_shapes_and_timestamps(mel128_model):
    emb, ts = openl3.get_audio_embedding(
        tone(1.2, 48000), 48000, model=mel128_model, hop_size=0.5, verbose=False
    )
    assert emb.shape == (3, 512) and emb.dtype == np.float32  # 81600 padded samples
    np.testing.assert_array_equal(ts, [0.0, 0.5, 1.0])


def test_stereo_is_the_mean_of_its_channels(mel128_model):
    stereo = tone(1.0, 48000, channels=2)
    emb_stereo, _ = openl3.get_audio_embedding(stereo, 48000, model=mel128_model, hop_size=0.5, verbose=False)
    emb_mono, _ = openl3.get_audio_embedding(
        stereo.mean(axis=1), 48000, model=mel128_model, hop_size=0.5, verbose=False
    )
    np.testing.assert_array_equal(emb_stereo, emb_mono)


@pytest.mark.parametrize(("dtype", "sr"), [(np.int16, 16000), (np.int32, 48000), (np.float32, 48000)])
def test_samples_are_taken_at_their_numeric_value(mel128_model, dtype, sr):
    scale = np.iinfo(dtype).max / 4 if np.issubdtype(dtype, np.integer) else 1
    audio = (noise(1.0, sr, seed=4) * scale).astype(dtype)
    emb, _ = openl3.get_audio_embedding(audio, sr, model=mel128_model, hop_size=0.5, verbose=False)
    as_float, _ = openl3.get_audio_embedding(
        audio.astype(np.float64), sr, model=mel128_model, hop_size=0.5, verbose=False
    )
    np.testing.assert_array_equal(emb, as_float)


def test_sample_scale_cancels_out(mel128_model):
    audio = noise(1.0, 48000, seed=4)
    emb, _ = openl3.get_audio_embedding(audio * 1000, 48000, model=mel128_model, hop_size=0.5, verbose=False)
    reference, _ = openl3.get_audio_embedding(audio, 48000, model=mel128_model, hop_size=0.5, verbose=False)
    # Each window is normalised by its own maximum, so a constant gain changes nothing.
    np.testing.assert_allclose(emb, reference, rtol=0, atol=1e-5 * np.abs(reference).max())


def test_batches_span_arrays_without_changing_results(mel128_model):
    audio = [tone(1.3, 48000, 300), noise(1.1, 22050, seed=9), tone(2.0, 16000, 1000, channels=2)]
    rates = [48000, 22050, 16000]
    results = [
        openl3.get_audio_embedding(
            audio, rates, model=mel128_model, hop_size=0.4, batch_size=b, verbose=False
        )
        for b in (1, 3, 32)
    ]
    for embeddings, timestamps in results[1:]:
        assert len(embeddings) == len(timestamps) == 3
        for got, expected in zip(embeddings, results[0][0], strict=True):
            np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5 * np.abs(expected).max())
    single, _ = openl3.get_audio_embedding(audio[1], 22050, model=mel128_model, hop_size=0.4, verbose=False)
    np.testing.assert_allclose(results[2][0][1], single, rtol=1e-5, atol=1e-5 * np.abs(single).max())


def test_one_rate_serves_a_whole_list(mel128_model):
    audio = [tone(1.0, 48000), tone(1.5, 48000, 880)]
    embeddings, timestamps = openl3.get_audio_embedding(
        audio, 48000, model=mel128_model, hop_size=0.5, verbose=False
    )
    assert [e.shape[0] for e in embeddings] == [2, 3]
    assert [len(t) for t in timestamps] == [2, 3]


def test_librosa_frontend_is_close_to_kapre(mel128_model, mel128_librosa_model):
    audio = noise(1.5, 48000, seed=11)
    kapre, _ = openl3.get_audio_embedding(audio, 48000, model=mel128_model, hop_size=0.5, verbose=False)
    librosa, _ = openl3.get_audio_embedding(
        audio, 48000, model=mel128_librosa_model, frontend="librosa", hop_size=0.5, verbose=False
    )
    assert librosa.shape == kapre.shape
    # kapre pads the STFT at the end, librosa on both sides: close, not identical (SPEC.md).
    assert not np.array_equal(librosa, kapre)
    assert np.corrcoef(librosa.ravel(), kapre.ravel())[0, 1] > 0.9


def test_librosa_frontend_infers_input_repr_from_the_model(mel128_librosa_model):
    audio = tone(1.0, 48000)
    inferred, _ = openl3.get_audio_embedding(
        audio, 48000, model=mel128_librosa_model, frontend="librosa", verbose=False
    )
    explicit, _ = openl3.get_audio_embedding(
        audio, 48000, model=mel128_librosa_model, frontend="librosa", input_repr="mel128", verbose=False
    )
    np.testing.assert_array_equal(inferred, explicit)
    with pytest.raises(OpenL3Error, match="input_repr mel256"):
        openl3.get_audio_embedding(
            audio, 48000, model=mel128_librosa_model, frontend="librosa", input_repr="mel256"
        )


def test_model_is_loaded_from_weights_dir_with_mel256_default(weights_env, mel128_model):
    audio = tone(1.0, 48000)
    loaded, _ = openl3.get_audio_embedding(
        audio, 48000, input_repr="mel128", embedding_size=512, verbose=False
    )
    given, _ = openl3.get_audio_embedding(audio, 48000, model=mel128_model, verbose=False)
    np.testing.assert_array_equal(loaded, given)
    default, _ = openl3.get_audio_embedding(audio, 48000, embedding_size=512, hop_size=0.5, verbose=False)
    mel256 = openl3.models.load_audio_embedding_model("mel256", "music", 512)
    explicit, _ = openl3.get_audio_embedding(audio, 48000, model=mel256, hop_size=0.5, verbose=False)
    np.testing.assert_array_equal(default, explicit)


def test_progress_bar_only_when_verbose(mel128_model, capsys):
    openl3.get_audio_embedding(tone(1.0, 48000), 48000, model=mel128_model, hop_size=0.5, verbose=False)
    assert capsys.readouterr().err == ""
    openl3.get_audio_embedding(tone(1.0, 48000), 48000, model=mel128_model, hop_size=0.5, verbose=True)
    assert "window" in capsys.readouterr().err


def test_short_and_silent_audio_warn():
    with pytest.warns(OpenL3Warning, match="shorter than window size"):
        openl3.preprocess_audio(np.ones(100), 48000)
    with pytest.warns(OpenL3Warning, match="all zeros"):
        openl3.preprocess_audio(np.zeros(48000), 48000)


def _read_in_batches(source, batch_size):
    """Yield (first window index, windows) as a batch runner reads them."""
    for start in range(0, source.n_items, batch_size):
        yield start, source.read(start, min(batch_size, source.n_items - start))


# Lengths around the window (with and without centring), short and long; hops from 0.01 s
# to 10 s, over and under the window; batch sizes 1 to 64; signal blocks far smaller than a
# window, about one window, and the default.
WINDOWING_LENGTHS = (1, 23999, 24000, 47999, 48000, 48001, 72001, 100_000, 530_017)
WINDOWING_HOPS = (0.01, 0.1, 0.37, 0.5, 0.999, 1.0, 1.001, 1.5, 2.0, 5.0, 10.0)


@pytest.mark.parametrize("block_samples", [997, 48_000, 1 << 18])
@pytest.mark.parametrize("center", [True, False])
def test_windows_equal_pad_then_stride_over_many_small_reads(monkeypatch, block_samples, center):
    from openl3.audio import signal

    monkeypatch.setattr(signal, "BLOCK_SAMPLES", block_samples)
    audio = noise(530_017 / 48000, 48000, seed=3)
    for length in WINDOWING_LENGTHS:
        for hop_size in WINDOWING_HOPS:
            expected = framed_like_0_4_2(audio[:length], 48000, hop_size, center)
            if len(expected) > 400:  # keep the run short: long signals at tiny hops add nothing
                continue
            for batch_size in (1, 3, 64):
                source = quiet(AudioWindows, audio[:length], 48000, hop_size, center)
                assert source.n_items == len(expected), (length, hop_size)
                for start, windows in _read_in_batches(source, batch_size):
                    np.testing.assert_array_equal(
                        windows,
                        expected[start : start + len(windows)].astype(np.float32),
                        err_msg=f"length {length}, hop {hop_size}, batch {batch_size}, window {start}",
                    )


@pytest.mark.parametrize(
    ("sr", "channels", "hop_size", "batch_size"),
    [(44100, 2, 0.1, 7), (16000, 0, 2.0, 1), (22050, 0, 1.5, 3), (8000, 2, 10.0, 2), (96000, 0, 0.25, 64)],
)
def test_resampled_windows_equal_pad_then_stride_over_many_small_reads(
    monkeypatch, sr, channels, hop_size, batch_size
):
    from openl3.audio import signal

    monkeypatch.setattr(signal, "BLOCK_SAMPLES", 5_003)
    audio = noise(23.3, sr, seed=8, channels=channels)
    for center in (True, False):
        expected = framed_like_0_4_2(audio, sr, hop_size, center)
        source = AudioWindows(audio, sr, hop_size, center)
        assert source.n_items == len(expected)
        for start, windows in _read_in_batches(source, batch_size):
            np.testing.assert_array_equal(windows, expected[start : start + len(windows)].astype(np.float32))


@pytest.mark.parametrize(("hop_size", "batch_size"), [(0.1, 32), (10.0, 32), (10.0, 1), (60.0, 8)])
def test_only_the_samples_of_the_windows_being_read_are_held(hop_size, batch_size):
    from openl3.audio.signal import BLOCK_SAMPLES

    source = AudioWindows(np.ones(48000 * 200, dtype=np.float32), 48000, hop_size, False)
    largest = 0
    for start in range(0, source.n_items, batch_size):
        source.read(start, min(batch_size, source.n_items - start))
        largest = max(largest, len(source._samples._held))
    # One window and one block at most, whatever the hop and the batch size: never the
    # gaps between windows (0.4.2's framing, or holding a batch's span, would grow with both).
    assert largest <= 48000 + BLOCK_SAMPLES


BAD_AUDIO = [
    (np.zeros(0), "empty"),
    (np.ones((10, 2, 2)), "3 dimensions"),
    (np.array([0.1, np.nan, 0.2] * 1000), "NaN or infinite"),
    (np.array([0.1, np.inf] * 1000), "NaN or infinite"),
    ("not audio", "numpy array"),
    (np.array(["a", "b"]), "real numbers"),
]


@pytest.mark.parametrize(("audio", "message"), BAD_AUDIO)
def test_bad_audio_is_an_error(audio, message):
    with pytest.raises(OpenL3Error, match=message):
        quiet(openl3.preprocess_audio, audio, 48000)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"sr": 0}, "sr 0"),
        ({"sr": -44100}, "sr -44100"),
        ({"sr": "44100"}, "sr '44100'"),
        ({"sr": None}, "sr None"),
        ({"sr": True}, "sr True"),
        ({"hop_size": 0}, "hop_size 0"),
        ({"hop_size": -0.1}, "hop_size -0.1"),
        ({"hop_size": "0.1"}, "hop_size '0.1'"),
        ({"hop_size": 1e-9}, "shorter than one sample"),
        ({"center": 1}, "center 1"),
        ({"center": "yes"}, "center 'yes'"),
    ],
)
def test_bad_parameters_are_errors(kwargs, message):
    arguments = {"audio": tone(1.0, 48000), "sr": 48000, **kwargs}
    with pytest.raises(OpenL3Error, match=message):
        openl3.preprocess_audio(**arguments)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"audio": [np.ones(48000)] * 2, "sr": [48000]}, "1 values given for 2"),
        ({"sr": [48000, 48000]}, "list of rates was given for a single"),
        ({"audio": []}, "list is empty"),
        ({"input_repr": "mel64"}, "input_repr 'mel64'"),
        ({"content_type": "speech"}, "content_type 'speech'"),
        ({"embedding_size": 6143}, "embedding_size 6143"),
        ({"frontend": "torch"}, "frontend 'torch'"),
        ({"frontend": "librosa"}, "input_repr is required"),
        ({"batch_size": 0}, "batch_size 0"),
        ({"model": "a model"}, "expected a keras.Model"),
    ],
)
def test_bad_embedding_arguments_are_errors(weights_env, kwargs, message):
    arguments = {"audio": tone(1.0, 48000), "sr": 48000, "verbose": False, **kwargs}
    with pytest.raises(OpenL3Error, match=message):
        openl3.get_audio_embedding(**arguments)


def test_model_of_the_wrong_kind_is_an_error(mel128_model, mel128_librosa_model):
    audio = tone(1.0, 48000)
    with pytest.raises(OpenL3Error, match="frontend='librosa'"):
        openl3.get_audio_embedding(audio, 48000, model=mel128_librosa_model, verbose=False)
    with pytest.raises(OpenL3Error, match="not the spectrogram"):
        openl3.get_audio_embedding(audio, 48000, model=mel128_model, frontend="librosa", verbose=False)


def test_missing_weights_name_the_expected_file(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENL3_WEIGHTS_DIR", str(tmp_path))
    with pytest.raises(OpenL3Error, match="weight file openl3_audio_mel256_music-v0_4_0.h5.gz from") as error:
        openl3.get_audio_embedding(tone(1.0, 48000), 48000, verbose=False)
    message = str(error.value)  # the folders it looked in, beside the file's name
    assert f"It is not in {tmp_path} ($OPENL3_WEIGHTS_DIR, as openl3_audio_mel256_music.h5[.gz])" in message
    cache = os.environ["OPENL3_CACHE_DIR"]
    assert f"{cache} (the cache)" in message and "openl3 models random DIR" in message


@pytest.mark.slow
@pytest.mark.parametrize("sr", [48000, 44100, 16000])
def test_windowing_sweep_against_pad_then_stride(monkeypatch, sr):
    """The thorough tier: every hop with every batch size, resampled or not, small blocks."""
    from openl3.audio import signal

    monkeypatch.setattr(signal, "BLOCK_SAMPLES", 3_001)
    audio = noise(31.7, sr, seed=13, channels=2)
    for center in (True, False):
        for hop_size in (*WINDOWING_HOPS, 0.0213, 3.3, 7.77):
            expected = framed_like_0_4_2(audio, sr, hop_size, center)
            for batch_size in (1, 2, 5, 16, 33, 64):
                source = AudioWindows(audio, sr, hop_size, center)
                for start, windows in _read_in_batches(source, batch_size):
                    np.testing.assert_array_equal(
                        windows, expected[start : start + len(windows)].astype(np.float32)
                    )


# Files of every kind users bring, decoded by soundfile. MP3 at the three common rates,
# mono and stereo, constant and variable bit rate (soundfile applies ``bitrate_mode`` only
# with a ``compression_level``; without one libsndfile writes VBR).
MP3_CASES = [
    (f"mp3-{sr}-{'mono' if channels == 0 else 'stereo'}-{mode.lower()}", "mp3", sr, channels,
     {"format": "MP3", "compression_level": 0.5, "bitrate_mode": mode})
    for sr in (22050, 44100, 48000)
    for channels in (0, 2)
    for mode in ("CONSTANT", "VARIABLE")
]  # fmt: skip
CODED_CASES = [
    *MP3_CASES,
    ("ogg-vorbis-22050-mono", "ogg", 22050, 0, {"format": "OGG", "subtype": "VORBIS"}),
    ("ogg-vorbis-44100-stereo", "ogg", 44100, 2, {"format": "OGG", "subtype": "VORBIS"}),
    ("ogg-opus-48000-stereo", "opus", 48000, 2, {"format": "OGG", "subtype": "OPUS"}),
    ("flac-16bit-22050-mono", "flac", 22050, 0, {"subtype": "PCM_16"}),
    ("flac-24bit-44100-stereo", "flac", 44100, 2, {"subtype": "PCM_24"}),
    ("wav-16bit-16000-mono", "wav", 16000, 0, {"subtype": "PCM_16"}),
    ("wav-float-48000-stereo", "wav", 48000, 2, {"subtype": "FLOAT"}),
    ("wav-gsm610-8000-mono", "wav", 8000, 0, {"subtype": "GSM610"}),  # not seekable
]
CODED_IDS = [case[0] for case in CODED_CASES]


def _music(seconds, sr, channels):
    """A tone over noise that grows from quiet to loud (so VBR frames vary), under 1."""
    rise = np.linspace(0.02, 1.0, round(seconds * sr))
    if channels:
        rise = rise[:, np.newaxis]
    return 0.4 * (tone(seconds, sr, 330.0, channels) + rise * noise(seconds, sr, seed=sr, channels=channels))


@pytest.fixture(scope="session")
def coded_files(tmp_path_factory):
    """Each of CODED_CASES written once, 6.5 s long (two signal blocks at 48 kHz): id -> path."""
    import soundfile as sf

    folder = tmp_path_factory.mktemp("coded")
    paths = {}
    for name, extension, sr, channels, options in CODED_CASES:
        paths[name] = str(folder / f"{name}.{extension}")
        sf.write(paths[name], _music(6.5, sr, channels), sr, **options)
    return paths


def _mp3_frame_bitrates(path):
    """The bit rate (kb/s) of every MPEG audio frame of an MP3 file without ID3 tags."""
    data, rates, position = Path(path).read_bytes(), [], 0
    table = {3: (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
             2: (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160)}  # fmt: skip
    while position + 4 <= len(data):
        header = int.from_bytes(data[position : position + 4], "big")
        assert header >> 21 == 0x7FF, f"no frame sync at byte {position}"
        version = (header >> 19) & 3  # 3: MPEG-1, 2: MPEG-2
        rate = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000)}[version][(header >> 10) & 3]
        kbps = table[version][(header >> 12) & 15]
        rates.append(kbps)
        position += (144 if version == 3 else 72) * kbps * 1000 // rate + ((header >> 9) & 1)
    return rates


@pytest.mark.parametrize("case", MP3_CASES, ids=[case[0] for case in MP3_CASES])
def test_the_mp3_files_are_cbr_and_vbr(coded_files, case):
    rates = set(_mp3_frame_bitrates(coded_files[case[0]])[1:])  # the first frame is the Xing/Info tag
    assert len(rates) == 1 if case[4]["bitrate_mode"] == "CONSTANT" else len(rates) > 2


@pytest.mark.parametrize("sizes", [(1 << 18,), (4096,), (1, 7, 1000, 33_333)], ids=["256k", "4096", "mixed"])
@pytest.mark.parametrize("name", CODED_IDS)
def test_file_samples_equal_sf_read_bit_for_bit(coded_files, name, sizes):
    """Any forward reads of a file give sf.read's samples: 0.4.2 read whole files with it."""
    import soundfile as sf

    from openl3.audio.decode import AudioFile

    expected, sr = sf.read(coded_files[name])
    audio, pieces, start = AudioFile(coded_files[name]), [], 0
    assert (len(audio), audio.samplerate) == (len(expected), sr)
    for size in itertools.cycle(sizes):
        if start >= len(expected):
            break
        pieces.append(audio[start : start + size].copy())
        start += size
    np.testing.assert_array_equal(np.concatenate(pieces), expected)


def test_file_embeddings_equal_embeddings_of_sf_read(coded_files, mel128_model, tmp_path):
    """Each file's embeddings equal get_audio_embedding(*sf.read(path)) within 1e-6.

    One window a batch on both sides: the model then computes the same numbers whatever
    batches consecutive files would share (TensorFlow's CPU kernels round a batch of one
    window otherwise than a larger batch: 1.1e-5 on band-limited 8 kHz audio), so only
    decoding can differ here, and the samples are the same bits.
    """
    import soundfile as sf

    paths = list(coded_files.values())
    openl3.process_audio_file(
        paths, output_dir=str(tmp_path), model=mel128_model, hop_size=1.0, batch_size=1, verbose=False
    )
    differences = {}
    for name, path in coded_files.items():
        saved = np.load(tmp_path / f"{name}.npz")
        embedding, timestamps = openl3.get_audio_embedding(
            *sf.read(path), model=mel128_model, hop_size=1.0, batch_size=1, verbose=False
        )
        np.testing.assert_array_equal(saved["timestamps"], timestamps)
        differences[name] = float(np.abs(saved["embedding"] - embedding).max())
    assert max(differences.values()) <= 1e-6, differences


def test_without_libsndfile_reads_files_are_read_whole(coded_files, monkeypatch, caplog):
    """A soundfile that hides libsndfile's read function: sf.read's samples all the same."""
    import soundfile as sf

    from openl3.audio import decode as audio_module

    monkeypatch.setattr(audio_module, "_libsndfile_reads", lambda file: None)
    audio_module._warn_whole_reads.cache_clear()
    for name in ("mp3-22050-mono-variable", "flac-24bit-44100-stereo", "wav-gsm610-8000-mono"):
        audio = audio_module.AudioFile(coded_files[name])
        expected = sf.read(coded_files[name])[0]
        pieces = [audio[start : start + 4096].copy() for start in range(0, len(expected), 4096)]
        np.testing.assert_array_equal(np.concatenate(pieces), expected)
    assert "read whole" in caplog.text
    audio_module._warn_whole_reads.cache_clear()


def test_a_truncated_mp3_is_named(coded_files, tmp_path):
    from openl3.audio.decode import AudioFile

    truncated = tmp_path / "truncated.mp3"
    data = Path(coded_files["mp3-44100-stereo-constant"]).read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    audio = AudioFile(str(truncated))
    with pytest.raises(OpenL3Error, match="truncated.mp3"):
        audio[0 : len(audio)]

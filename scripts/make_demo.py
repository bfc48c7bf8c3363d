"""Write a demo folder to try every command of the README and the docs without the official weights.

``python scripts/make_demo.py demo`` writes into ``demo/``:

- ``weights/``: seeded random weights in the official layout (what ``openl3 models random``
  writes), for ``OPENL3_WEIGHTS_DIR=weights``;
- ``clips/dogs/*.wav``, ``clips/birds/*.wav``: generated sounds (barks: noise bursts; birds:
  chirps), ``clips/dogs/bark3.wav`` 8 s long; ``query.wav`` (15.5 s), ``sound.wav``;
- ``sounds/{hum,hiss,chirp}/*.wav``: labelled sounds for ``openl3 classify``, and ``new/``
  three more to predict; ``labels.csv`` (``path,label,group`` of ``sounds/``) and
  ``clip-labels.csv`` (``path,label`` of ``clips/``);
- ``photo.png``, ``clip.mp4`` (a video with an audio track).

The embeddings of random weights mean nothing, but every command computes them as it would
with the official files (and records the weights by their SHA-256, never as OpenL3's).
"""

from __future__ import annotations

import argparse
import csv
import os

import numpy as np
import soundfile as sf

from openl3.models.random_weights import write_random_weights

SR = 16000


def chirp(seconds: float, low: float, high: float, rng: np.random.Generator) -> np.ndarray:
    """Return a rising chirp in a little noise."""
    t = np.arange(int(seconds * SR)) / SR
    phase = 2 * np.pi * (low * t + (high - low) * t**2 / (2 * seconds))
    return 0.4 * np.sin(phase) + 0.02 * rng.normal(size=len(t))


def bursts(seconds: float, rng: np.random.Generator) -> np.ndarray:
    """Return noise bursts, four a second."""
    t = np.arange(int(seconds * SR)) / SR
    return 0.5 * rng.normal(size=len(t)) * (np.sin(2 * np.pi * 4 * t) > 0.3)


def hum(seconds: float, rng: np.random.Generator) -> np.ndarray:
    """Return a low hum with its harmonics."""
    t = np.arange(int(seconds * SR)) / SR
    base = rng.uniform(90, 130)
    return sum(0.3 / k * np.sin(2 * np.pi * k * base * t) for k in (1, 2, 3)) + 0.01 * rng.normal(size=len(t))


def hiss(seconds: float, rng: np.random.Generator) -> np.ndarray:
    """Return broadband noise."""
    return 0.2 * rng.normal(size=int(seconds * SR))


def write_sound(path: str, samples: np.ndarray) -> str:
    """Write ``samples`` as a 16 kHz WAV file (its folders made); return its path."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    sf.write(path, samples.astype(np.float32), SR)
    return path


def write_clips(folder: str, rng: np.random.Generator) -> list[tuple[str, str]]:
    """Write clips/dogs and clips/birds, three each; return (path, label) of each."""
    written = []
    for k in range(1, 4):
        seconds = 8.0 if k == 3 else 2.0
        written.append((write_sound(f"{folder}/clips/dogs/bark{k}.wav", bursts(seconds, rng)), "dog"))
        low = rng.uniform(1500, 2500)
        song = chirp(1.5, low, 2 * low, rng)
        written.append((write_sound(f"{folder}/clips/birds/song{k}.wav", song), "bird"))
    return written


def write_sounds(folder: str, rng: np.random.Generator) -> list[tuple[str, str, str]]:
    """Write sounds/<class>/*.wav, six per class from three recordings; return (path, label, group)."""
    makers = {"hum": hum, "hiss": hiss, "chirp": lambda s, r: chirp(s, r.uniform(400, 800), 3000, r)}
    written = []
    for label, make in makers.items():
        for k in range(6):
            path = write_sound(f"{folder}/sounds/{label}/{label}{k}.wav", make(1.0, rng))
            written.append((path, label, f"{label}-take{k // 2}"))
        write_sound(f"{folder}/new/a_{label}.wav", make(1.0, rng))
    return written


def write_table(path: str, header: list[str], rows: list[tuple[str, ...]], folder: str) -> None:
    """Write a CSV file of ``rows``, their paths relative to ``folder``."""
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows([(os.path.relpath(row[0], folder), *row[1:]) for row in rows])


def write_video(path: str, seconds: float = 2.0, fps: int = 10) -> str:
    """Write a video whose brightness rises, with a stereo tone (moviepy); return its path."""
    from moviepy import AudioArrayClip, VideoClip

    yy, xx = np.mgrid[0:240, 0:320]
    pattern = np.stack([xx / 320, yy / 240, (xx + yy) / 560], -1)
    clip = VideoClip(lambda t: (255 * pattern * (0.2 + 0.8 * t / seconds)).astype(np.uint8), duration=seconds)
    t = np.arange(int(seconds * 44100)) / 44100
    audio = 0.3 * np.stack([np.sin(2 * np.pi * 440 * t), np.sin(2 * np.pi * 660 * t)], 1)
    clip = clip.with_fps(fps).with_audio(AudioArrayClip(audio, fps=44100))
    clip.write_videofile(path, codec="libx264", audio_codec="aac", logger=None)
    return path


def make_demo(folder: str, seed: int = 0) -> None:
    """Write the demo folder (see the module's description)."""
    from skimage.io import imsave

    rng = np.random.default_rng(seed)
    os.makedirs(folder, exist_ok=True)
    write_random_weights(os.path.join(folder, "weights"), seed)
    clips = write_clips(folder, rng)
    write_table(os.path.join(folder, "clip-labels.csv"), ["path", "label"], clips, folder)
    sounds = write_sounds(folder, rng)
    write_table(os.path.join(folder, "labels.csv"), ["path", "label", "group"], sounds, folder)
    write_sound(
        os.path.join(folder, "query.wav"), np.concatenate([bursts(12.0, rng), chirp(3.5, 2000, 4000, rng)])
    )
    write_sound(os.path.join(folder, "sound.wav"), hum(2.0, rng))
    imsave(os.path.join(folder, "photo.png"), rng.integers(0, 256, (256, 320, 3), dtype=np.uint8))
    write_video(os.path.join(folder, "clip.mp4"))


def main() -> None:
    """Write the demo folder named on the command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", help="where to write the demo (created)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the weights and the sounds")
    args = parser.parse_args()
    make_demo(args.folder, args.seed)
    print(f"{args.folder}: ready. cd {args.folder} && export OPENL3_WEIGHTS_DIR=$PWD/weights")


if __name__ == "__main__":
    main()

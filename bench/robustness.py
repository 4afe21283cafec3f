"""The audio and faces verdicts on real fixtures degraded as in-the-wild media is degraded.

Every real recording (../shared/fixtures/real_audio and donateacry, read in place) is judged as
it is and after each degradation a phone, a codec or a room applies: lossy codecs, a DC offset,
mains hum, noise, reverberation with a direct path, peaks pushed past full scale. The two real
talking-head videos are judged as they are and re-encoded: heavy compression, low resolution,
darkness, a tilt, sensor noise, a lower frame rate. It prints, per degradation, how many files
get the right verdict against the undegraded baseline of the same run, and every file that was
right as recorded and loses it.
Run: `.venv/bin/python -m bench.robustness [--shared ../shared]`.
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
from scipy import signal

from bench.audio_real import is_right, verdict
from stages.audio.stage import AudioConfig
from stages.audio.testing import load_real, real_files
from stages.audio.wav import SAMPLE_RATE, decode_audio

SECONDS = 30.0  # long files are judged on their first 30 s, as in the tests


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(x**2) + 1e-20))


def _encoded(args: list[str], suffix: str) -> Callable[[Path, np.ndarray], np.ndarray]:
    def degrade(path: Path, _: np.ndarray) -> np.ndarray:
        with tempfile.TemporaryDirectory() as folder:
            out = Path(folder) / f"x{suffix}"
            subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(path), "-ac", "1", *args,
                            str(out)], check=True)
            return decode_audio(out)[: round(SECONDS * SAMPLE_RATE)]
    return degrade


def _hum(hz: float, db: float) -> Callable[[Path, np.ndarray], np.ndarray]:
    def degrade(_: Path, x: np.ndarray) -> np.ndarray:
        t = np.arange(len(x)) / SAMPLE_RATE
        hum = sum(np.sin(2 * np.pi * k * hz * t + k) / k for k in range(1, 8))
        return x + hum * _rms(x) / _rms(hum) * 10 ** (db / 20)
    return degrade


def _white(snr_db: float) -> Callable[[Path, np.ndarray], np.ndarray]:
    def degrade(_: Path, x: np.ndarray) -> np.ndarray:
        noise = np.random.default_rng(2).standard_normal(len(x))
        return x + noise * _rms(x) / _rms(noise) * 10 ** (-snr_db / 20)
    return degrade


def _room(t60: float, drr_db: float) -> Callable[[Path, np.ndarray], np.ndarray]:
    """A direct path, 3 ms, then an exponentially decaying tail `drr_db` below it."""
    def degrade(_: Path, x: np.ndarray) -> np.ndarray:
        n = int(t60 * SAMPLE_RATE)
        tail = np.random.default_rng(1).standard_normal(n) * np.exp(-6.9 * np.arange(n) / n)
        tail *= np.sqrt(10 ** (-drr_db / 10) / np.sum(tail**2))
        ir = np.concatenate([[1.0], np.zeros(int(0.003 * SAMPLE_RATE)), tail])
        y = signal.fftconvolve(x, ir)[: len(x)]
        return y * _rms(x) / _rms(y)
    return degrade


AUDIO: dict[str, Callable[[Path, np.ndarray], np.ndarray]] = {
    "AAC 48 kbit/s": _encoded(["-b:a", "48k"], ".m4a"),
    "MP3 32 kbit/s": _encoded(["-b:a", "32k"], ".mp3"),
    "8 kHz": _encoded(["-ar", "8000"], ".wav"),
    "DC offset 0.1 of the peak": lambda _, x: x + 0.1 * np.abs(x).max(),
    "50 Hz hum at -20 dB": _hum(50.0, -20.0),
    "60 Hz hum at -20 dB": _hum(60.0, -20.0),
    "white noise at 10 dB": _white(10.0),
    "room T60 0.4 s, DRR 0 dB": _room(0.4, 0.0),
    "room T60 0.8 s, DRR 0 dB": _room(0.8, 0.0),
    "peaks 3 dB past full scale": lambda _, x: np.clip(x / np.abs(x).max() * 10 ** 0.15, -1, 1),
}
VIDEO = {"CRF 36": ["-c:v", "libx264", "-crf", "36"], "CRF 42": ["-c:v", "libx264", "-crf", "42"],
         "240p": ["-vf", "scale=-2:240"], "darkened": ["-vf", "eq=brightness=-0.3:contrast=0.6"],
         "tilted 12 degrees": ["-vf", "rotate=12*PI/180"],
         "sensor noise": ["-vf", "noise=alls=30:allf=t"], "15 fps": ["-vf", "fps=15"]}


def report_audio(shared: Path) -> None:
    cfg = AudioConfig()
    files = real_files(shared)
    sources = {f.path: load_real(f.path)[: round(SECONDS * SAMPLE_RATE)] for f in files}
    baseline = {f.path: is_right(f.kind, verdict(sources[f.path], cfg)[0]) for f in files}
    print(f"audio: {len(files)} real recordings; right as recorded: {sum(baseline.values())}")
    for name, degrade in AUDIO.items():
        lost = []
        right = 0
        for f in files:
            got = verdict(degrade(f.path, sources[f.path]), cfg)[0]
            right += is_right(f.kind, got)
            if baseline[f.path] and not is_right(f.kind, got):
                lost.append(f"{f.name[:12]} ({f.kind}) -> {got}")
        print(f"  {name:28s} right {right:2d}/{len(files)}; lost: {', '.join(lost) or 'none'}")


def report_faces(shared: Path) -> None:
    from stages.faces.config import FacesConfig
    from stages.faces.segments import judge
    from stages.faces.testing import analyse_all

    videos = [shared / "fixtures" / "faces" / "videos" / f"{n}.mp4" for n in ("face_1", "face_3")]
    with tempfile.TemporaryDirectory() as folder:
        paths = list(videos)
        for video in videos:
            for i, args in enumerate(VIDEO.values()):
                out = Path(folder) / f"{video.stem}__{i}.mp4"
                subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(video), *args, "-an",
                                str(out)], check=True)
                paths.append(out)
        measures = analyse_all(paths)
    print("faces: share of frames in good segments (the clip's verdict) of two real talking "
          "heads")
    for video in videos:
        cells = []
        for label, key in [("as recorded", video.stem),
                           *[(name, f"{video.stem}__{i}") for i, name in enumerate(VIDEO)]]:
            judgement = judge(measures[key], FacesConfig())
            good = sum(end - start for start, end in judgement.segments) / measures[key].frames
            verdict_name = judgement.verdict.value if judgement.verdict else "ok"
            cells.append(f"{label} {good:.2f} ({verdict_name})")
        print(f"  {video.stem}: " + "; ".join(cells))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path,
                        default=Path(__file__).resolve().parents[2] / "shared")
    args = parser.parse_args(argv)
    report_audio(args.shared)
    report_faces(args.shared)


if __name__ == "__main__":
    main()

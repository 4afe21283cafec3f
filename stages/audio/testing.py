"""Test and bench helpers for the audio stage: demo-like raw audio, a tiny pyannote checkpoint,
the real recordings in ../shared/fixtures and mixtures made from them."""

from __future__ import annotations

import functools
import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy import signal

from demo import audio as au
from demo.clip import clip_rng, synthesise_audio
from demo.variants import variant
from manifests.records import Clip
from manifests.testing import dummy_clip
from stages.audio.wav import decode_audio
from stages.paths import DataRoot

SR = 16_000


def demo_mix(name: str, seed: int = 0) -> np.ndarray:
    """The audio of a demo corpus variant (clean_cry, clean_laugh, silent, adult_speech, music)."""
    return synthesise_audio(variant(name), clip_rng(seed, name))["mix"]


def cry_in_noise(snr_db: float, seed: int = 1, duration_s: float = 8.0) -> np.ndarray:
    """A synthetic cry in pink room noise at `snr_db` (cry RMS over its bursts vs noise RMS)."""
    rng = np.random.default_rng(seed)
    cry, spans = au.cry(duration_s, rng)
    noise = au.stationary_noise(duration_s, rng)
    noise = noise * 0.1 * 10 ** (-snr_db / 20) / au.active_rms(noise)
    mix = cry * 0.1 / au.active_rms(cry, spans) + noise
    return mix * 0.5 / np.abs(mix).max()


def put_raw(root: DataRoot, x: np.ndarray, index: int) -> Clip:
    """Writes `x` where the download stage would, and returns its clip."""
    clip = dummy_clip(index)
    root.raw.mkdir(parents=True, exist_ok=True)
    sf.write(root.clip(clip.id).raw_audio, np.clip(x, -1, 1), SR, subtype="PCM_16")
    return clip


def raw_path(root: DataRoot, clip: Clip) -> Path:
    return root.clip(clip.id).raw_audio


def tiny_segmentation_checkpoint(folder: Path) -> Path:
    """A randomly initialised PyanNet (3 speaker classes) saved in pyannote's checkpoint format."""
    import pytorch_lightning as pl
    import torch
    from pyannote.audio.core.task import Problem, Resolution, Specifications
    from pyannote.audio.models.segmentation import PyanNet

    torch.manual_seed(0)
    model = PyanNet(sincnet={"stride": 10})
    model.specifications = Specifications(
        problem=Problem.MULTI_LABEL_CLASSIFICATION, resolution=Resolution.FRAME, duration=5.0,
        classes=["speaker1", "speaker2", "speaker3"])
    model.build()
    checkpoint = {"state_dict": model.state_dict(), "hyper_parameters": dict(model.hparams),
                  "pytorch-lightning_version": pl.__version__}
    model.on_save_checkpoint(checkpoint)
    path = folder / "pytorch_model.bin"
    torch.save(checkpoint, path)
    return path


# Real recordings (../shared/fixtures, never copied into the repository), for tests and benches.

INFANT_KINDS = ("cry", "laugh")
_REAL_FOLDERS = {"baby_cry_esc50": "cry", "baby_laughter": "laugh", "music": "music",
                 "speech": "speech", "other": "other"}
_AUDIO_SUFFIXES = {".wav", ".ogg", ".3gp", ".caf"}


@dataclass(frozen=True)
class RealFile:
    """One real recording and what it is: cry, laugh, music, speech or other."""

    name: str
    kind: str
    path: Path


def real_files(shared: Path) -> list[RealFile]:
    """real_audio/ (laughter, ESC-50 cries, music, speech, a robin, a whale) and donateacry's
    39 cries, in a fixed order."""
    real = shared / "fixtures" / "real_audio"
    files = [RealFile(p.stem if kind != "laugh" else p.name, kind, p)
             for folder, kind in _REAL_FOLDERS.items()
             for p in sorted((real / folder).iterdir()) if p.suffix in _AUDIO_SUFFIXES]
    cries = shared / "fixtures" / "infant_audio" / "donateacry"
    files += [RealFile(p.stem, "cry", p) for p in sorted(cries.rglob("*"))
              if p.suffix in _AUDIO_SUFFIXES]
    return files


def raw_upload(f: RealFile) -> bool:
    """A donateacry upload: "original, unmodified, unchecked", with some non-cry content (its
    SOURCE.md). ESC-50's cries and donateacry's cleaned set were listened to."""
    return f.path.parent.name.startswith("raw_")


@functools.lru_cache(maxsize=128)
def load_real(path: Path) -> np.ndarray:
    """The recording decoded by ffmpeg to 16 kHz mono (as the download stage would give it)."""
    return decode_audio(path)


def active_rms(x: np.ndarray, range_db: float = 30.0) -> float:
    """RMS over the 10 ms frames within `range_db` of the loudest ones (its sounding part)."""
    hop = SR // 100
    frames = x[: len(x) // hop * hop].reshape(-1, hop)
    power = (frames**2).mean(axis=1)
    loud = power >= np.percentile(power, 95) * 10 ** (-range_db / 10)
    return float(np.sqrt(power[loud].mean()))


def mix_at_snr(infant: np.ndarray, interferer: np.ndarray, snr_db: float,
               offset_s: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """The infant source over a stretch of the interferer at `snr_db` (active RMS over active
    RMS); returns (mixture, the scaled infant reference)."""
    start = int(offset_s * SR) % max(1, len(interferer) - len(infant))
    part = np.resize(interferer[start:], len(infant))  # loops a short interferer
    reference = _at_level(infant)
    mix = reference + _at_level(part) * 10 ** (-snr_db / 20)
    scale = _headroom(mix)
    return mix * scale, reference * scale


def _at_level(x: np.ndarray) -> np.ndarray:
    """`x` scaled to an active RMS of 0.1."""
    return x * 0.1 / active_rms(x)


def _headroom(x: np.ndarray) -> float:
    """The gain (at most 1) that keeps `x`'s peak at 0.9."""
    return min(1.0, 0.9 / max(float(np.abs(x).max()), 1e-9))


def speech_before(infant: np.ndarray, speech: np.ndarray,
                  seconds: float = 0.8) -> tuple[np.ndarray, int]:
    """`seconds` of `speech` (from its second second on) at the infant's active level, then the
    infant source: a parent's words before a cry, as in home videos. Returns (clip, samples of
    speech)."""
    words = speech[SR: SR + int(seconds * SR)]
    clip = np.concatenate([_at_level(words), _at_level(infant)])
    return clip * _headroom(clip), len(words)


def speech_left_db(clean: np.ndarray, clip: np.ndarray, words: int) -> float:
    """How far the cleaning took the speech down, against what it did to the infant after it
    (dB; the stage also normalises loudness, which moves both)."""
    def change(a: slice) -> float:
        return 10 * np.log10(max(float(np.sum(clean[a] ** 2)), 1e-20)
                             / max(float(np.sum(clip[a] ** 2)), 1e-20))
    return change(slice(0, words)) - change(slice(words, None))


def si_sdr(estimate: np.ndarray, reference: np.ndarray) -> float:
    """Scale-invariant SDR (Le Roux et al., 2019) in dB."""
    n = min(len(estimate), len(reference))
    estimate, reference = estimate[:n], reference[:n]
    target = np.dot(estimate, reference) / np.dot(reference, reference) * reference
    return float(10 * np.log10(np.sum(target**2) / max(np.sum((estimate - target) ** 2), 1e-20)))


def held_out_conversation() -> Path:
    """A real two-speaker conversation no one here made or tuned on: pyannote.audio's own
    30 s sample, read where its wheel installed it (not in ../shared)."""
    spec = importlib.util.find_spec("pyannote.audio")
    if spec is None or spec.origin is None:
        raise FileNotFoundError("pyannote.audio is not installed")
    return Path(spec.origin).parent / "sample" / "sample.wav"


# Real speech played 1.5, 1.67 and 1.75x faster: its pitch (330-450 Hz for a woman) and its
# formants raised together, as a child's voice has them.
CHILD_SPEEDS = ((3, 2), (5, 3), (7, 4))


def real_speech(shared: Path) -> dict[str, np.ndarray]:
    """Real adult speech at 16 kHz: the LibriSpeech readers, pyannote's held-out conversation
    and the real talking heads' soundtracks (../shared/fixtures/faces/videos)."""
    voices = {f.name: load_real(f.path) for f in real_files(shared) if f.kind == "speech"}
    voices["conversation"] = decode_audio(held_out_conversation())
    for name in ("face_1", "face_3"):
        voices[name] = decode_audio(shared / "fixtures" / "faces" / "videos" / f"{name}.mp4")
    return voices


def child_voice(x: np.ndarray, up: int, down: int) -> np.ndarray:
    """The first 10 s of `x` played `up / down` times faster."""
    return signal.resample_poly(x, down, up)[: 10 * SR]


def windows(x: np.ndarray, seconds: float = 10.0) -> list[np.ndarray]:
    """`x` cut into consecutive `seconds`-long clips (an AudioSet segment's length)."""
    step = int(seconds * SR)
    return [x[i:i + step] for i in range(0, len(x) - step + 1, step)]


def mixture_sources(files: list[RealFile]) -> list[RealFile]:
    """The infant sources mixtures are made from: all laughter and ESC-50 cries, and every tenth
    donateacry cry (cleaned and raw phone recordings alike)."""
    esc = [f for f in files if f.kind in INFANT_KINDS and "donateacry" not in str(f.path)]
    donate = [f for f in files if f.kind == "cry" and "donateacry" in str(f.path)]
    return esc + donate[::10]

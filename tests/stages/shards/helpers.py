"""Synthetic curated clips for the shards tests: track, fit, clean audio and ledger rows.

No MediaPipe or fitting runs: the files are written in the formats the stages produce and the
ledger is given the `ok` attempts the nightly flow would have recorded.
"""

from __future__ import annotations

import hashlib
import random
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import soundfile as sf

from manifests.facemesh import LANDMARKS
from manifests.formats.facefit import FaceFit
from manifests.formats.facetrack import FaceTrack
from manifests.ledger import Ledger
from manifests.outcomes import ReasonCode, StageResult
from manifests.records import Clip
from manifests.testing import dummy_clip
from stages.paths import DataRoot
from stages.shards.config import ShardsConfig

FPS = 30.0
RATE = 16_000
NOW = datetime(2025, 1, 1, tzinfo=UTC)
EXPRESSION = 6
MODEL_ID = "synthetic-model-0001"  # no file has this hash: the card names the id only
# Small windows keep the synthetic samples (mostly landmarks) small and the tests fast.
SMALL = ShardsConfig(window_s=1.0, overlap_s=0.5, min_window_s=0.5, samples_per_shard=4)


def write_inputs(root: DataRoot, clip: Clip, frames: int = 60,
                 segments: tuple[tuple[int, int], ...] = ((5, 55),),
                 model_id: str = MODEL_ID) -> dict[str, Path]:
    """Writes a clip's track, fit, clean audio and envelope; values derive from the clip id."""
    rng = np.random.default_rng(_seed(clip.id))
    seg = np.array(segments, dtype=np.int64).reshape(-1, 2)
    inside = np.zeros(frames, dtype=bool)
    for a, b in seg:
        inside[a:b] = True
    landmarks = rng.uniform(100, 400, (frames, LANDMARKS, 3)).astype(np.float32)
    track = FaceTrack(landmarks=landmarks, present=np.ones(frames, bool), good=inside,
                      segments=seg, fps=FPS, width=640, height=480,
                      qc={"coverage": np.ones(frames), "yaw_deg": rng.normal(0, 5, frames)})

    def masked(shape: tuple[int, ...]) -> np.ndarray:
        values = rng.normal(0, 1, (frames, *shape))
        values[~inside] = np.nan
        return values

    fit = FaceFit(model_id=model_id, identity=rng.normal(0, 1, 4),
                  age=rng.normal(0, 1, 1), expression=masked((EXPRESSION,)),
                  rotation=np.where(inside[:, None, None], np.eye(3), np.nan),
                  translation=masked((2,)), scale=np.where(inside, 2.0, np.nan),
                  residual_px=np.where(inside, 1.5, np.nan), segments=seg,
                  loss_initial=np.ones(len(seg)), loss_final=np.full(len(seg), 0.1),
                  iterations=10)
    samples = round(frames / FPS * RATE)
    audio = (0.1 * rng.standard_normal(samples)).clip(-1, 1)
    files = root.clip(clip.id)
    paths = {"track": files.face_track, "fit": files.face_fit, "audio": files.clean_audio,
             "envelope": files.envelope}
    track.save(paths["track"])
    fit.save(paths["fit"])
    sf.write(paths["audio"], audio, RATE, subtype="PCM_16", format="WAV")
    np.savez_compressed(paths["envelope"], fps=np.float32(FPS),
                        infant=rng.uniform(0, 1, frames).astype(np.float32),
                        adult_speech=np.zeros(frames, np.float32),
                        music=np.zeros(frames, np.float32),
                        loudness_db=np.full(frames, -20, np.float32))
    return paths


def add_curated(ledger: Ledger, root: DataRoot, clips: list[Clip], fitting_ok: bool = True,
                frames: int = 60, model_id: str = MODEL_ID,
                run_metrics: dict[str, object] | None = None) -> None:
    """Registers clips and records ok download/audio/faces (and fitting) attempts for them;
    `run_metrics` go into every attempt's metrics beside the clip's own `score`."""
    ledger.add_clips(clips)
    written = {clip.id: write_inputs(root, clip, frames, ((5, frames - 5),), model_id)
               for clip in clips}
    roles = {"download": (), "audio": ("audio", "envelope"), "faces": ("track",),
             "fitting": ("fit",)}
    for stage, keys in roles.items():
        results = [StageResult.ok(c.id, {"score": 1.0, **(run_metrics or {})},
                                  {k: written[c.id][k] for k in keys})
                   for c in clips]
        if stage == "fitting" and not fitting_ok:
            results = [StageResult.rejected(c.id, ReasonCode.FIT_DIVERGED) for c in clips]
        ledger.record(stage, "1", "cfg", results, started_at=NOW, finished_at=NOW,
                      worker="test")


def clips_of(count: int, videos: int | None = None, offset: int = 0) -> list[Clip]:
    """`count` clips over `videos` source videos (several clips per video when fewer)."""
    videos = videos or count
    return [dummy_clip(offset + i, video=f"v{(offset + i) % videos:04d}") for i in range(count)]


def random_clips(rng: random.Random, count: int) -> list[Clip]:
    """Clips over a random number of videos, with random labels, for property tests."""
    videos = rng.randint(1, count)
    labels = ("/m/cry", "/m/laugh", "/m/babble")
    return [dummy_clip(i, video=f"r{rng.randrange(videos):03d}",
                       labels=(rng.choice(labels),)) for i in range(count)]


def _seed(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "big")


def new_home(folder: Path) -> tuple[Ledger, DataRoot]:
    """A fresh data root and SQLite ledger under `folder`."""
    root = DataRoot(folder / "home").create()
    return Ledger.open(f"sqlite:///{folder / 'ledger.sqlite'}"), root

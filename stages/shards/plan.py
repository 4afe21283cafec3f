"""Which samples a dataset version holds: one per window of each accepted, fitted segment.

Planning reads only the ledger and the small per-clip files (fits and audio envelopes), so a
nightly run can decide which shards it may reuse before it touches any audio or landmarks. Each
sample carries a fingerprint of everything its bytes depend on; equal fingerprints mean equal
bytes, which is what lets a new version keep an old shard.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from manifests.formats.facefit import FaceFit
from manifests.formats.sample import SAMPLE_FORMAT
from manifests.ledger import Attempt, Ledger
from manifests.records import Clip
from stages.paths import DataRoot
from stages.shards.config import ShardsConfig
from stages.shards.split import split_of

log = logging.getLogger(__name__)

INPUT_STAGES = ("download", "audio", "faces", "fitting")
REQUIRED_OK = ("audio", "faces", "fitting")  # download may be ok and its raw media deleted


@dataclass(frozen=True)
class SampleSpec:
    """One training sample before it is written: a window [start, end) of a clip's frames."""

    key: str
    clip: Clip
    split: str
    start: int
    end: int
    fps: float
    lineage: dict[str, dict[str, Any]] = field(compare=False)  # stage -> version, hash, metrics
    inputs: dict[str, Path] = field(compare=False, default_factory=dict)  # role -> file
    fingerprint: str = ""
    face_model_id: str = field(compare=False, default="")  # the fit's model, for the card

    @property
    def frames(self) -> int:
        return self.end - self.start


@dataclass(frozen=True)
class Plan:
    """The samples of the current ledger state, sorted by key, and the clips left out (and why)."""

    samples: tuple[SampleSpec, ...]
    skipped: dict[str, str]


def plan_samples(ledger: Ledger, root: DataRoot, cfg: ShardsConfig) -> Plan:
    """Every sample the current ledger state yields under `cfg`."""
    fitted = ledger.latest("fitting")
    ids = sorted(cid for cid, attempt in fitted.items() if attempt.passed)
    latest = {stage: ledger.latest(stage, ids) for stage in INPUT_STAGES}
    samples: list[SampleSpec] = []
    skipped: dict[str, str] = {}
    for clip in ledger.clips(ids):
        lineage = {stage: latest[stage][clip.id] for stage in INPUT_STAGES
                   if clip.id in latest[stage]}
        # A reviewer's override counts: a rejection it flipped passes, an acceptance does not.
        not_ok = [s for s in REQUIRED_OK if s not in lineage or not lineage[s].passed]
        if not_ok:
            skipped[clip.id] = f"latest {', '.join(not_ok)} attempt did not pass"
            continue
        try:
            samples.extend(_clip_samples(clip, lineage, root, cfg))
        except (OSError, ValueError, KeyError) as e:
            # A missing or unreadable input leaves the clip out of this version, visibly: the
            # card lists it, and the next run tries again once the stage has re-made the file.
            skipped[clip.id] = f"cannot read its inputs: {e!r}"
    for clip_id, why in skipped.items():
        log.warning("shards: clip %s left out: %s", clip_id, why)
    return Plan(tuple(sorted(samples, key=lambda s: s.key)), skipped)


def windows(start: int, end: int, fps: float, cfg: ShardsConfig) -> Iterator[tuple[int, int]]:
    """[start, end) frame windows of one segment: `window_s` long, `overlap_s` shared."""
    length = max(1, round(cfg.window_s * fps))
    hop = max(1, length - round(cfg.overlap_s * fps))
    shortest = max(1, round(cfg.min_window_s * fps))
    a = start
    while a < end:
        b = min(a + length, end)
        if b - a >= shortest:
            yield a, b
        if b >= end:
            return
        a += hop


def input_paths(clip_id: str, lineage: dict[str, Attempt], root: DataRoot) -> dict[str, Path]:
    """Where a clip's inputs are: the paths the ledger recorded, else the data root's layout."""

    def recorded(stage: str, role: str, default: Path) -> Path:
        attempt = lineage.get(stage)
        return (attempt.output(role, root.home) if attempt else None) or default

    files = root.clip(clip_id)
    return {
        "fit": recorded("fitting", "fit", files.face_fit),
        "track": recorded("faces", "track", files.face_track),
        "audio": recorded("audio", "audio", files.clean_audio),
        "envelope": recorded("audio", "envelope", files.envelope),
        "video": recorded("download", "video", files.raw_video),
    }


def sample_key(clip_id: str, start: int, end: int) -> str:
    # WebDataset splits a member name at its first dot: the key must have none.
    return f"{clip_id.replace('.', '_')}_{start:06d}_{end:06d}"


def _clip_samples(clip: Clip, lineage: dict[str, Attempt], root: DataRoot,
                  cfg: ShardsConfig) -> list[SampleSpec]:
    paths = input_paths(clip.id, lineage, root)
    with np.load(paths["envelope"]) as envelope:
        fps = float(envelope["fps"])
    fit = FaceFit.load(paths["fit"])
    group = clip.split_group or clip.id
    if not clip.split_group:
        log.warning("shards: clip %s has no split group; its id stands in for it", clip.id)
    split = split_of(group, cfg.ratios)
    stages = {stage: {"version": a.stage_version, "config_hash": a.config_hash,
                      "attempt": a.attempt, **({"review": a.review.value} if a.review else {})}
              for stage, a in sorted(lineage.items())}
    lineage_meta = {stage: {**stages[stage], "metrics": lineage[stage].metrics}
                    for stage in stages}
    out = []
    for seg_start, seg_end in fit.segments.tolist():
        for a, b in windows(int(seg_start), int(seg_end), fps, cfg):
            key = sample_key(clip.id, a, b)
            spec = SampleSpec(key, clip, split, a, b, fps, lineage_meta, paths,
                              face_model_id=fit.model_id)
            out.append(_with_fingerprint(spec, stages, cfg))
    return out


def _with_fingerprint(spec: SampleSpec, stages: dict[str, Any], cfg: ShardsConfig) -> SampleSpec:
    clip = {k: v for k, v in spec.clip.to_dict().items() if k != "meta"}
    payload = {"format": SAMPLE_FORMAT, "key": spec.key, "clip": clip, "split": spec.split,
               "window": [spec.start, spec.end, spec.fps], "stages": stages,
               "settings": cfg.sample_settings()}
    digest = hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()
    return replace(spec, fingerprint=digest)

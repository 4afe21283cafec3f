"""The faces stage: MediaPipe landmarks per frame, quality control, and the good segments.

Per clip: stream `raw/<clip>.mp4` through FaceMesh (478 points, tracking mode, a fresh track per
clip), a BlazeFace pre-pass and Hands at a reduced rate (`stages.faces.analysis`); judge every
frame for presence, coverage, size, head pose, mouth and upper-face occlusion, rival faces and a
still picture, and cut segments at scene cuts (`stages.faces.segments`); write `faces/<clip>.npz`
(a `FaceTrack`) with the accepted segments and the per-frame QC arrays the review UI draws, for
rejected clips too. Clips run over a process pool, one MediaPipe process per core.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from typing import Any

import numpy as np

from manifests.formats.facetrack import FaceTrack
from manifests.formats.spool import discard_leftovers
from manifests.outcomes import ReasonCode, StageResult, Status
from manifests.records import Clip
from stages.contract import StageSpec, WithMachine, guarded, missing_input, with_seconds
from stages.faces.analysis import FaceMeasures, FaceModels, analyse_video
from stages.faces.config import FacesConfig, FacesMachine
from stages.faces.segments import FRAME_REASONS, Judgement, judge
from stages.faces.video_frames import UnreadableVideo
from stages.paths import DataRoot

log = logging.getLogger(__name__)

__all__ = ["STAGE", "FacesConfig", "FacesSettings", "build_track", "run", "summary"]

# One set of graphs per worker process, loaded on its first clip, and per thread: a batch of one
# clip runs in the flow's own thread, beside other such batches, and MediaPipe graphs shared by
# two threads deadlocked in `reset` or crashed the process.
_local = threading.local()


def _models() -> FaceModels:
    models: FaceModels | None = getattr(_local, "models", None)
    if models is None:
        models = _local.models = FaceModels()
    return models


def build_track(measures: FaceMeasures, judgement: Judgement) -> FaceTrack:
    """The `FaceTrack` of one clip, with its QC arrays for the review UI (rejected clips too)."""
    verdict = judgement.verdict
    accepted = verdict is None
    return FaceTrack(
        landmarks=measures.landmarks,
        present=measures.present,
        good=judgement.good,
        segments=judgement.segments if accepted else np.zeros((0, 2), np.int64),
        fps=measures.fps,
        width=measures.width,
        height=measures.height,
        qc={
            "time_s": measures.time_s.astype(np.float32),
            "coverage": measures.coverage,
            "face_size_px": measures.face_px,
            "yaw_deg": measures.yaw_deg,
            "pitch_deg": measures.pitch_deg,
            "roll_deg": measures.roll_deg,
            "occlusion": judgement.occlusion.astype(np.float32),
            "upper_occlusion": judgement.upper_occlusion.astype(np.float32),
            "hand_over_mouth": measures.mouth.hand.astype(np.float32),
            "hand_over_upper_face": measures.upper_hand.astype(np.float32),
            "lip_contrast": measures.mouth.contrast,
            "frame_change": measures.change,
            "mouth_change": measures.mouth_change,
            "scene_cut": judgement.cuts,
            "rival_faces": judgement.rivals,
            # Bit i: reason_names[i] applies; and the primary reason's index (-1: good), so
            # the UI can colour the timeline by reason and list every reason of a frame.
            "reasons": judgement.reasons.astype(np.int16),
            "reason": judgement.reason.astype(np.int8),
        },
        verdict=verdict.value if verdict is not None else None,
        reason_names=tuple(code.value for code in FRAME_REASONS),
    )


def summary(measures: FaceMeasures, judgement: Judgement) -> dict[str, Any]:
    """The measurements a reviewer needs to see why the clip was kept or rejected."""
    lengths = (judgement.segments[:, 1] - judgement.segments[:, 0]).tolist()
    present = measures.present

    def median(values: np.ndarray) -> float | None:
        finite = values[present & np.isfinite(values)]
        return round(float(np.median(finite)), 3) if finite.size else None

    return {
        "frames": measures.frames,
        "fps": round(measures.fps, 3),
        "face_ratio": round(float(present.mean()), 4) if measures.frames else 0.0,
        "good_ratio": round(float(judgement.good.mean()), 4) if measures.frames else 0.0,
        "segments": len(lengths),
        "segment_frames": lengths,
        "longest_segment_s": round(max(lengths, default=0) / measures.fps, 3),
        "reason_frames": judgement.counts,
        "reason_frames_any": judgement.any_counts,
        "scene_cuts": int(judgement.cuts.sum()),
        "reason_names": [code.value for code in FRAME_REASONS],
        "median_coverage": median(measures.coverage),
        "median_face_px": median(measures.face_px),
        "median_abs_yaw_deg": median(np.abs(measures.yaw_deg)),
        "median_occlusion": median(judgement.occlusion),
        "median_upper_occlusion": median(judgement.upper_occlusion),
        "max_rival_faces": int(judgement.rivals.max(initial=0)),
    }


def process_clip(clip_id: str, root: DataRoot, cfg: FacesConfig) -> StageResult:
    """Analyses one clip and writes its track; data problems come back as results."""
    files = root.clip(clip_id)
    video, out = files.raw_video, files.face_track
    if not video.is_file():
        return missing_input(clip_id, "raw video", video, root)
    discard_leftovers(out.parent, video.stem)  # a killed earlier attempt's landmark spool
    try:
        measures = analyse_video(video, cfg, _models(), spool_dir=out.parent)
    except UnreadableVideo as e:
        return StageResult(clip_id, Status.FAILED, ReasonCode.CORRUPT_MEDIA, {"error": repr(e)})
    judgement = judge(measures, cfg)
    metrics = summary(measures, judgement)
    # Every judged clip keeps its per-frame QC: the review UI shows what each frame cost.
    path = build_track(measures, judgement).save(out)
    if judgement.verdict is not None:
        log.info("faces: %s rejected (%s)", clip_id, judgement.verdict.value)
        return StageResult.rejected(clip_id, judgement.verdict, metrics, {"track": path})
    return StageResult.ok(clip_id, metrics, {"track": path})


def _guarded(clip_id: str, root: DataRoot, cfg: FacesConfig) -> StageResult:
    """One clip in a worker process (a module-level function, so that it pickles)."""
    started = time.perf_counter()
    result = guarded(STAGE.name, clip_id, partial(process_clip, clip_id, root, cfg))
    return with_seconds(result, time.perf_counter() - started)


FacesSettings = WithMachine[FacesConfig, FacesMachine]  # the stage's `cfg`


def run(clips: Sequence[Clip], cfg: FacesSettings, root: DataRoot) -> list[StageResult]:
    """The stage contract: one result per clip; `faces/<clip>.npz` for each judged clip."""
    root.faces.mkdir(parents=True, exist_ok=True)
    ids = [clip.id for clip in clips]
    workers = min(cfg.machine.workers or len(os.sched_getaffinity(0)), len(ids))
    if workers <= 1:
        return [_guarded(clip_id, root, cfg.section) for clip_id in ids]
    # spawn: MediaPipe's threads make fork unsafe; each worker loads the graphs once.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=context) as pool:
        return list(pool.map(_guarded, ids, [root] * len(ids), [cfg.section] * len(ids)))


# Version 2: fresh tracking per clip, verdicts from good segments, hands' silhouettes, cuts.
# Version 3: head pose from FaceMesh's 3D landmarks (strong turns no longer read small); Hands'
# full model, edge-on fingers' width, covers' ends found by bisecting Hands runs and by the lips'
# colour, a hand on lips that lost their colour (issue #14). Version 4: a hand over pale lips
# counts when they lose what redness they had, pale lips closing are not a cover, and a Hands
# miss while a cover is suspected gets a second, wider look (held-out composites, issue #14).
# Version 5: a still picture holds its lips still too (a talking head held still, compressed or
# darkened, was partly `static_video`). Version 6: a mouth whose pixels stay the same is a still
# picture however FaceMesh jitters on it (biden.jpg as a video passed as facial motion).
STAGE = StageSpec("faces", "7", run, section="faces", machine="faces")

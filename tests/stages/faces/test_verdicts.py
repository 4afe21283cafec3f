"""Verdicts from good segments: every reason per frame, the precedence, and what a clip costs.

Regressions (issue #14): a clip whose fingers cover the mouth while the head is mildly turned was
rejected as face_turned, throwing away seven clean seconds; a group photo read face_not_found
although BlazeFace saw three faces.
"""

from __future__ import annotations

import numpy as np

from manifests.outcomes import ReasonCode
from stages.faces.analysis import FaceMeasures
from stages.faces.config import FacesConfig
from stages.faces.occlusion import MouthEvidence
from stages.faces.segments import FRAME_REASONS, judge


def synthetic(frames: int, yaw: np.ndarray | None = None, hand: np.ndarray | None = None,
              present: np.ndarray | None = None,
              detections: dict[int, np.ndarray] | None = None) -> FaceMeasures:
    """A clip of a moving, frontal, clear face, with the given yaw, hand cover and presence."""
    rng = np.random.default_rng(0)
    present = np.ones(frames, bool) if present is None else present
    landmarks = np.full((frames, 478, 3), np.nan, np.float32)
    base = rng.uniform(200, 300, (478, 3)).astype(np.float32)
    drift = np.cumsum(rng.normal(0, 0.3, (frames, 1, 3)), axis=0).astype(np.float32)
    landmarks[present] = (base + drift)[present]

    def full(value: float) -> np.ndarray:
        return np.where(present, value, np.nan).astype(np.float32)

    box = np.array([[200, 200, 300, 300]], np.float32)
    return FaceMeasures(
        fps=30.0, width=640, height=480, landmarks=landmarks,
        time_s=np.arange(frames) / 30.0, present=present, coverage=full(1.0),
        face_px=full(60.0), edge_gap=full(1.0),
        yaw_deg=full(0.0) if yaw is None else yaw.astype(np.float32),
        pitch_deg=full(0.0), roll_deg=full(0.0),
        mouth=MouthEvidence(contrast=full(10.0) + rng.normal(0, 0.3, frames).astype(np.float32),
                            lip_ab=np.tile(full(10.0)[:, None], (1, 2)), foreign=full(0.0),
                            skinlike=full(0.1),
                            hand=full(0.0) if hand is None else hand.astype(np.float32),
                            inside=full(0.3), lightness=full(-10.0)),
        upper_hand=full(0.0), change=np.full(frames, 2.0, np.float32),
        mouth_change=full(2.0),
        detections=detections if detections is not None else {i: box for i in range(0, frames, 5)})


def test_covered_mouth_with_a_mild_turn_is_occluded_and_the_clean_rest_is_kept() -> None:
    # 3 s of fingers over the mouth with the head turned 25° (limit 20°), then 7 s clean.
    frames, covered = 300, slice(0, 90)
    yaw, hand = np.zeros(frames), np.zeros(frames)
    yaw[covered], hand[covered] = 25.0, 0.9
    judgement = judge(synthetic(frames, yaw=yaw, hand=hand), FacesConfig())
    assert judgement.verdict is None
    assert judgement.segments.tolist() == [[90, 300]]
    occluded = judgement.primary(ReasonCode.MOUTH_OCCLUDED)
    assert occluded[covered].all() and not occluded[90:].any()
    # Both reasons stay on each covered frame; the mild turn is just not the primary one.
    assert judgement.flags(ReasonCode.FACE_TURNED)[covered].all()
    assert judgement.any_counts["face_turned"] == judgement.any_counts["mouth_occluded"] == 90


def test_a_strong_turn_outranks_a_covered_mouth() -> None:
    frames = 60
    yaw, hand = np.full(frames, 45.0), np.full(frames, 0.9)
    judgement = judge(synthetic(frames, yaw=yaw, hand=hand), FacesConfig())
    assert judgement.verdict is ReasonCode.FACE_TURNED
    assert judgement.primary(ReasonCode.FACE_TURNED).all()


def test_rejected_clip_names_the_reason_that_cost_most_frames() -> None:
    # 0.9 s covered, 0.6 s mildly turned, alternating: no segment; occlusion cost the most.
    frames = 90
    yaw, hand = np.zeros(frames), np.zeros(frames)
    for start in range(0, frames, 25):
        hand[start:start + 15], yaw[start + 15:start + 25] = 0.9, 25.0
    judgement = judge(synthetic(frames, yaw=yaw, hand=hand), FacesConfig())
    assert judgement.verdict is ReasonCode.MOUTH_OCCLUDED
    assert judgement.counts["mouth_occluded"] > judgement.counts["face_turned"] > 0


def test_group_without_a_mesh_face_is_several_faces_not_face_not_found() -> None:
    frames = 30
    faces = np.array([[50, 50, 90, 90], [200, 50, 240, 90], [350, 50, 390, 90]], np.float32)
    measures = synthetic(frames, present=np.zeros(frames, bool),
                         detections={i: faces for i in range(0, frames, 5)})
    judgement = judge(measures, FacesConfig())
    assert judgement.verdict is ReasonCode.SEVERAL_FACES
    assert judgement.counts["face_not_found"] == 0


def test_reason_bits_follow_frame_reasons() -> None:
    assert len(set(FRAME_REASONS)) == len(FRAME_REASONS) <= 15  # int16 bits
    assert ReasonCode.STATIC_VIDEO in FRAME_REASONS
    assert ReasonCode.UPPER_FACE_OCCLUDED in FRAME_REASONS

"""Unit checks of the analysis shortcuts that keep the stage fast: they must not change results."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from mediapipe.framework.formats import landmark_pb2

from manifests.facemesh import LANDMARKS
from manifests.formats.spool import RowSpool
from stages.faces.analysis import FaceMeasures, _Accumulator
from stages.faces.config import FacesConfig
from stages.faces.models import _points
from stages.faces.occlusion import LOST_REDNESS, MouthEvidence
from stages.faces.rivals import rival_faces


def _landmarks(n: int, visibility: bool = False) -> landmark_pb2.NormalizedLandmarkList:
    rng = np.random.default_rng(0)
    out = landmark_pb2.NormalizedLandmarkList()
    for x, y, z in rng.normal(0.5, 0.3, (n, 3)).astype(np.float32):
        point = out.landmark.add(x=float(x), y=float(y), z=float(z))
        if visibility:
            point.visibility = 0.9
    return out


def test_wire_read_landmarks_equal_the_protobuf_fields() -> None:
    for message in (_landmarks(478), _landmarks(478, visibility=True), _landmarks(0)):
        expected = np.array([(p.x, p.y, p.z) for p in message.landmark],
                            np.float32).reshape(-1, 3)
        got = _points(message)
        assert got.dtype == np.float32 and np.array_equal(got, expected)


def _measures(frames: int, detections: dict[int, np.ndarray]) -> FaceMeasures:
    nan = np.full(frames, np.nan, np.float32)
    return FaceMeasures(
        fps=30.0, width=640, height=480, landmarks=np.zeros((frames, 0, 3), np.float32),
        time_s=np.arange(frames) / 30.0, present=np.ones(frames, bool), coverage=nan,
        face_px=nan, edge_gap=nan, yaw_deg=nan, pitch_deg=nan, roll_deg=nan,
        mouth=MouthEvidence(nan, np.full((frames, 2), np.nan), nan, nan, nan, nan),
        upper_hand=nan, change=nan, detections=detections)


def test_rival_seen_for_a_third_of_the_clip_is_not_ambiguous() -> None:
    # The pre-pass samples every 10th frame while one face is steady and every 5th while a
    # second face shows: the rival is in more samples than its share of the clip's frames.
    target, rival = np.array([100, 100, 200, 200.0]), np.array([300, 100, 400, 200.0])
    detections = {i: target[None] for i in range(0, 200, 10)}
    detections |= {i: np.stack([target, rival]) for i in range(200, 300, 5)}
    rivals, ambiguous = rival_faces(_measures(300, detections), FacesConfig())
    assert not ambiguous
    assert (rivals[200:] == 1).all() and (rivals[:200] == 0).all()


def test_pale_lips_that_lose_their_colour_bring_hands_back_at_once(tmp_path: Path) -> None:
    """Lips too pale for the colour cues left Hands at every 10th frame, so a hand over them was
    first seen up to 10 frames late (issue #14: a cheek hand over a real pale mouth went unseen
    for 2 frames of 8). A fall of `LOST_REDNESS` below their redness so far is a hand's skin."""
    cfg = FacesConfig()
    spool = RowSpool(tmp_path, (LANDMARKS, 3))
    with _Accumulator(640, 480, cfg, spool) as acc:
        acc.rows["contrast"] = [1.5] * 100  # pale lips: 1.5 a* units above the cheeks
        assert acc._hands_every(100, 0.0, 1.0) == cfg.hands_blind_every
        assert acc._hands_every(100, 0.0, 1.5 - LOST_REDNESS) == cfg.hands_every
    spool.discard()

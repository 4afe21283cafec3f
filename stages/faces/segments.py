"""From per-frame measurements to a verdict: frame reasons, good segments and the clip's reason.

Every frame carries every reason that applies (a bit per reason in `FRAME_REASONS` order), and
one primary reason, the first that applies in `PRECEDENCE`: a missing face is not also "turned",
and a covered mouth outranks a mild turn (fingers over the mouth tilt the landmarks' pose), while
a strong turn outranks the mouth (in profile the lips cannot be judged). Good frames make
segments, which end at scene cuts; a clip with at least one segment of the minimum length is
accepted with its segments, whatever the rest of it shows. A rejected clip is rejected for the
primary reason that cost it the most frames.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from manifests.facemesh import LIPS
from manifests.outcomes import ReasonCode
from stages.faces.analysis import FaceMeasures
from stages.faces.config import FacesConfig
from stages.faces.motion import frozen_mouth, landmark_steps, scene_cuts, still_frames
from stages.faces.occlusion import occlusion_score, upper_score
from stages.faces.rivals import faces_seen, rival_faces

__all__ = ["FRAME_REASONS", "PRECEDENCE", "Judgement", "bridge", "judge"]

EDGE_GAP = 0.1  # a face box this close to the border (face widths) is at the frame's edge

# Bit i of a frame's reason mask is FRAME_REASONS[i] (the order is part of the track format).
FRAME_REASONS: tuple[ReasonCode, ...] = (
    ReasonCode.FACE_NOT_FOUND,
    ReasonCode.SEVERAL_FACES,
    ReasonCode.FACE_OUT_OF_FRAME,
    ReasonCode.FACE_TOO_SMALL,
    ReasonCode.FACE_TURNED,
    ReasonCode.MOUTH_OCCLUDED,
    ReasonCode.UPPER_FACE_OCCLUDED,
    ReasonCode.STATIC_VIDEO,
)
# Which reason is a frame's primary one; "turned" appears twice: strong turns first, mild last.
PRECEDENCE: tuple[tuple[ReasonCode, bool | None], ...] = (
    (ReasonCode.FACE_NOT_FOUND, None),
    (ReasonCode.STATIC_VIDEO, None),
    (ReasonCode.SEVERAL_FACES, None),
    (ReasonCode.FACE_OUT_OF_FRAME, None),
    (ReasonCode.FACE_TOO_SMALL, None),
    (ReasonCode.FACE_TURNED, True),
    (ReasonCode.MOUTH_OCCLUDED, None),
    (ReasonCode.UPPER_FACE_OCCLUDED, None),
    (ReasonCode.FACE_TURNED, False),
)


@dataclass(frozen=True)
class Judgement:
    """The stage's reading of one clip."""

    reasons: np.ndarray  # (T,) int16: bit i set when FRAME_REASONS[i] applies
    reason: np.ndarray  # (T,) int8: primary reason (index into FRAME_REASONS), -1 when good
    good: np.ndarray  # (T,) bool, after bridging short gaps
    segments: np.ndarray  # (S, 2) int64 [start, end) frames, each >= the minimum length
    occlusion: np.ndarray  # (T,) mouth occlusion score, NaN without a face
    upper_occlusion: np.ndarray  # (T,) upper-face occlusion score, NaN without a face
    rivals: np.ndarray  # (T,) int16: comparable faces besides the target (pre-pass samples)
    cuts: np.ndarray  # (T,) bool: a scene cut lies just before the frame
    verdict: ReasonCode | None  # None: accepted
    counts: dict[str, int]  # frames per primary reason (what each reason cost)
    any_counts: dict[str, int]  # frames where each reason applies at all

    def flags(self, reason: ReasonCode) -> np.ndarray:
        """(T,) bool: the frames where `reason` applies (primary or not)."""
        return (self.reasons & (1 << FRAME_REASONS.index(reason))) > 0

    def primary(self, reason: ReasonCode) -> np.ndarray:
        """(T,) bool: the frames whose primary reason is `reason`."""
        return self.reason == FRAME_REASONS.index(reason)


def _runs(mask: np.ndarray) -> np.ndarray:
    """[start, end) of the runs of True in a 1-D bool array, as (R, 2)."""
    padded = np.concatenate([[False], mask, [False]]).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return edges.reshape(-1, 2)


def bridge(good: np.ndarray, gap: int, cuts: np.ndarray | None = None) -> np.ndarray:
    """Fills bad runs of at most `gap` frames between two good frames, never across a cut."""
    out = good.copy()
    for start, end in _runs(~good):
        crosses = cuts is not None and bool(cuts[start:end + 1].any())
        if start > 0 and end < len(good) and end - start <= gap and not crosses:
            out[start:end] = True
    return out


def _checks(measures: FaceMeasures, cfg: FacesConfig, occlusion: np.ndarray, upper: np.ndarray,
            rivals: np.ndarray, still: np.ndarray) -> dict[ReasonCode, np.ndarray]:
    present = measures.present
    # Several faces that FaceMesh (one face at most) could not pick one from: a group photo.
    crowd = ~present & (faces_seen(measures) >= 2)
    with np.errstate(invalid="ignore"):
        checks = {
            ReasonCode.FACE_NOT_FOUND: ~present & ~crowd,
            ReasonCode.SEVERAL_FACES: (present & (rivals > 0)) | crowd,
            ReasonCode.FACE_OUT_OF_FRAME: present & (measures.coverage < cfg.min_coverage),
            ReasonCode.FACE_TOO_SMALL: present & (measures.face_px < cfg.min_face_px),
            ReasonCode.FACE_TURNED: present & (
                (np.abs(measures.yaw_deg) > cfg.max_yaw_deg)
                | (np.abs(measures.pitch_deg) > cfg.max_pitch_deg)
                | (np.abs(measures.roll_deg) > cfg.max_roll_deg)),
            ReasonCode.MOUTH_OCCLUDED: present & (occlusion > cfg.max_occlusion),
            ReasonCode.UPPER_FACE_OCCLUDED: present & (upper > cfg.max_upper_occlusion),
            ReasonCode.STATIC_VIDEO: still,
        }
    # A face that leaves over the edge and comes back is out of frame, not missing, while gone:
    # FaceMesh often drops a face in the frame or two it takes to slide out.
    at_edge = checks[ReasonCode.FACE_OUT_OF_FRAME] | (measures.edge_gap < EDGE_GAP)
    for start, end in _runs(checks[ReasonCode.FACE_NOT_FOUND]):
        if (start > 0 and at_edge[start - 1]) or (end < len(present) and at_edge[end]):
            checks[ReasonCode.FACE_NOT_FOUND][start:end] = False
            checks[ReasonCode.FACE_OUT_OF_FRAME][start:end] = True
    return checks


def _strong_turn(measures: FaceMeasures, cfg: FacesConfig) -> np.ndarray:
    factor = cfg.strong_turn_factor
    with np.errstate(invalid="ignore"):
        return ((np.abs(measures.yaw_deg) > factor * cfg.max_yaw_deg)
                | (np.abs(measures.pitch_deg) > factor * cfg.max_pitch_deg)
                | (np.abs(measures.roll_deg) > cfg.max_roll_deg))


def frame_reasons(measures: FaceMeasures, cfg: FacesConfig, checks: dict[ReasonCode, np.ndarray]
                  ) -> tuple[np.ndarray, np.ndarray]:
    """(T,) int16 reason bits and (T,) int8 primary reason per frame (-1 where good)."""
    bits = np.zeros(measures.frames, np.int16)
    for i, code in enumerate(FRAME_REASONS):
        bits[checks[code]] |= np.int16(1 << i)
    primary = np.full(measures.frames, -1, np.int8)
    strong = _strong_turn(measures, cfg)
    for code, strength in reversed(PRECEDENCE):  # the first that applies is written last
        mask = checks[code] if strength is None else checks[code] & (strong == strength)
        primary[mask] = FRAME_REASONS.index(code)
    return bits, primary


def good_segments(good: np.ndarray, cuts: np.ndarray, min_len: int) -> np.ndarray:
    """(S, 2) [start, end) runs of good frames, split at cuts, of at least `min_len` frames."""
    pieces = []
    for start, end in _runs(good):
        bounds = [start, *(int(t) for t in np.flatnonzero(cuts[start + 1:end]) + start + 1), end]
        pieces += [(a, b) for a, b in itertools.pairwise(bounds) if b - a >= min_len]
    return np.array(pieces, np.int64).reshape(-1, 2)


def verdict_of(primary: np.ndarray, segments: np.ndarray,
               ambiguous: bool) -> tuple[ReasonCode | None, dict[str, int]]:
    """Accepted (None) with a segment; else the primary reason that cost the most frames.

    Ties go to the reason earlier in `PRECEDENCE`; a clip with no bad frame at all (too short,
    or cut into pieces) has `no_long_segment`.
    """
    counts = {code.value: int(np.sum(primary == i)) for i, code in enumerate(FRAME_REASONS)}
    if ambiguous:
        return ReasonCode.SEVERAL_FACES, counts
    if len(segments):
        return None, counts
    order = list(dict.fromkeys(code for code, _ in PRECEDENCE))
    worst = max(order, key=lambda code: (counts[code.value], -order.index(code)))
    if counts[worst.value] == 0:
        return ReasonCode.NO_LONG_SEGMENT, counts
    return worst, counts


def judge(measures: FaceMeasures, cfg: FacesConfig) -> Judgement:
    """Applies the thresholds: frame reasons, good segments and the clip's verdict."""
    occlusion = occlusion_score(measures.mouth, measures.present)
    upper = upper_score(measures.upper_hand, measures.mouth.inside, measures.present)
    rivals, ambiguous = rival_faces(measures, cfg)
    steps = landmark_steps(measures.landmarks, measures.face_px)
    cuts = scene_cuts(measures.change, steps)
    lips = landmark_steps(measures.landmarks, measures.face_px, LIPS)
    still = still_frames(measures.change, np.fmax(steps, lips), measures.present, measures.fps) \
        | frozen_mouth(measures.mouth_change, measures.present, measures.fps)
    checks = _checks(measures, cfg, occlusion, upper, rivals, still)
    bits, primary = frame_reasons(measures, cfg, checks)
    good = bridge(primary < 0, cfg.bridge_frames, cuts)
    min_len = max(1, round(cfg.min_segment_s * measures.fps))
    segments = good_segments(good, cuts, min_len)
    verdict, counts = verdict_of(primary, segments, ambiguous)
    any_counts = {code.value: int(checks[code].sum()) for code in FRAME_REASONS}
    return Judgement(bits, primary, good, segments, occlusion, upper, rivals, cuts, verdict,
                     counts, any_counts)

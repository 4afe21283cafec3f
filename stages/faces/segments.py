"""From per-frame measurements to a verdict: frame reasons, good segments and the clip's reason.

Each frame gets at most one reason, the first that applies in `FRAME_REASONS` order (a frame
without a face is not also "turned"); a clip is rejected for the reason with the most frames.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from manifests.outcomes import ReasonCode
from stages.faces.analysis import FaceMeasures
from stages.faces.config import FacesConfig
from stages.faces.occlusion import occlusion_score

EDGE_GAP = 0.1  # a face box this close to the border (face widths) is at the frame's edge

FRAME_REASONS: tuple[ReasonCode, ...] = (
    ReasonCode.FACE_NOT_FOUND,
    ReasonCode.SEVERAL_FACES,
    ReasonCode.FACE_OUT_OF_FRAME,
    ReasonCode.FACE_TOO_SMALL,
    ReasonCode.FACE_TURNED,
    ReasonCode.MOUTH_OCCLUDED,
)


@dataclass(frozen=True)
class Judgement:
    """The stage's reading of one clip."""

    reason: np.ndarray  # (T,) int8: index into FRAME_REASONS, -1 for a good frame
    good: np.ndarray  # (T,) bool, after bridging short gaps
    segments: np.ndarray  # (S, 2) int64 [start, end) frames, each >= the minimum length
    occlusion: np.ndarray  # (T,) mouth occlusion score, NaN without a face
    rivals: np.ndarray  # (T,) int16: comparable faces besides the target (pre-pass samples)
    verdict: ReasonCode | None  # None: accepted
    counts: dict[str, int]  # frames per reason

    def flags(self, reason: ReasonCode) -> np.ndarray:
        """(T,) bool: the frames whose reason is `reason`."""
        return self.reason == FRAME_REASONS.index(reason)


def _box_iou(a: np.ndarray, b: np.ndarray) -> float:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    inter = max(w, 0.0) * max(h, 0.0)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def face_tracks(detections: dict[int, np.ndarray]) -> list[dict[int, np.ndarray]]:
    """Links the pre-pass boxes into tracks (greedy, by overlap with the track's last box)."""
    tracks: list[dict[int, np.ndarray]] = []
    for index in sorted(detections):
        free = list(range(len(tracks)))
        for box in detections[index]:
            scores = [(_box_iou(tracks[t][max(tracks[t])], box), t) for t in free]
            best = max(scores, default=(0.0, -1))
            if best[0] > 0.2:
                tracks[best[1]][index] = box
                free.remove(best[1])
            else:
                tracks.append({index: box})
    return tracks


def rival_faces(measures: FaceMeasures, cfg: FacesConfig) -> tuple[np.ndarray, bool]:
    """Per frame, how many faces rival the target; and whether the target is ambiguous.

    The target is the track with the largest total area over time (large and persistent). A rival
    is a face at least `rival_face_ratio` as large as the target's box in the same sample; the clip
    is ambiguous when a rival track is also seen for at least half the frames the target is.
    """
    rivals = np.zeros(measures.frames, np.int16)
    tracks = face_tracks(measures.detections)
    if len(tracks) < 2:
        return rivals, False

    def area(box: np.ndarray) -> float:
        return float((box[2] - box[0]) * (box[3] - box[1]))

    # The pre-pass slows down on steady stretches, so a sample stands for the frames up to the
    # next one, and "how often" a face is seen counts those frames, not samples.
    samples = sorted(measures.detections)
    span = dict(zip(samples, np.diff([*samples, measures.frames]).tolist(), strict=True))
    target = max(tracks, key=lambda t: sum(area(b) * span[i] for i, b in t.items()))
    seen = sum(span[i] for i in target)
    ambiguous = False
    for track in tracks:
        if track is target:
            continue
        shared = [i for i in track if i in target]
        big = [i for i in shared if area(track[i]) >= cfg.rival_face_ratio * area(target[i])]
        ambiguous |= sum(span[i] for i in big) >= 0.5 * seen
        for i in big:
            rivals[i:i + span[i]] += 1
    return rivals, ambiguous


def _runs(mask: np.ndarray) -> np.ndarray:
    """[start, end) of the runs of True in a 1-D bool array, as (R, 2)."""
    padded = np.concatenate([[False], mask, [False]]).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return edges.reshape(-1, 2)


def bridge(good: np.ndarray, gap: int) -> np.ndarray:
    """Fills bad runs of at most `gap` frames that lie between two good frames."""
    out = good.copy()
    for start, end in _runs(~good):
        if start > 0 and end < len(good) and end - start <= gap:
            out[start:end] = True
    return out


def frame_reasons(measures: FaceMeasures, cfg: FacesConfig, occlusion: np.ndarray,
                  rivals: np.ndarray) -> np.ndarray:
    """(T,) int8 reason per frame (index into FRAME_REASONS), -1 where the frame is good."""
    present = measures.present
    with np.errstate(invalid="ignore"):
        checks = [
            ~present,
            present & (rivals > 0),
            present & (measures.coverage < cfg.min_coverage),
            present & (measures.face_px < cfg.min_face_px),
            present & ((np.abs(measures.yaw_deg) > cfg.max_yaw_deg)
                       | (np.abs(measures.pitch_deg) > cfg.max_pitch_deg)
                       | (np.abs(measures.roll_deg) > cfg.max_roll_deg)),
            present & (occlusion > cfg.max_occlusion),
        ]
    reason = np.full(measures.frames, -1, np.int8)
    for code in range(len(checks) - 1, -1, -1):  # the first reason in order wins
        reason[checks[code]] = code
    # A face that leaves over the edge and comes back is out of frame, not missing, while gone:
    # FaceMesh often drops a face in the frame or two it takes to slide out.
    missing, out = FRAME_REASONS.index(ReasonCode.FACE_NOT_FOUND), FRAME_REASONS.index(
        ReasonCode.FACE_OUT_OF_FRAME)
    at_edge = (reason == out) | (measures.edge_gap < EDGE_GAP)  # NaN: no face, not at the edge
    for start, end in _runs(reason == missing):
        if (start > 0 and at_edge[start - 1]) or (end < len(reason) and at_edge[end]):
            reason[start:end] = out
    return reason


def judge(measures: FaceMeasures, cfg: FacesConfig) -> Judgement:
    """Applies the thresholds: frame reasons, good segments and the clip's verdict."""
    occlusion = occlusion_score(measures.mouth, measures.present)
    rivals, ambiguous = rival_faces(measures, cfg)
    reason = frame_reasons(measures, cfg, occlusion, rivals)
    good = bridge(reason < 0, cfg.bridge_frames)
    min_len = max(1, round(cfg.min_segment_s * measures.fps))
    runs = _runs(good)
    segments = runs[(runs[:, 1] - runs[:, 0]) >= min_len] if len(runs) else runs
    counts = {code.value: int(np.sum(reason == i)) for i, code in enumerate(FRAME_REASONS)}
    verdict: ReasonCode | None = None
    good_ratio = float(good.mean()) if measures.frames else 0.0
    if not measures.present.any():
        verdict = ReasonCode.FACE_NOT_FOUND
    elif ambiguous:
        verdict = ReasonCode.SEVERAL_FACES
    elif good_ratio < cfg.min_good_ratio:
        verdict = ReasonCode(max(counts, key=lambda k: counts[k]))
    elif not len(segments):
        verdict = ReasonCode.NO_LONG_SEGMENT
    return Judgement(reason, good, segments.astype(np.int64).reshape(-1, 2), occlusion, rivals,
                     verdict, counts)

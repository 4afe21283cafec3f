"""Which face is the target, and which other faces rival it (from the BlazeFace pre-pass)."""

from __future__ import annotations

import numpy as np

from stages.faces.analysis import FaceMeasures
from stages.faces.config import FacesConfig


def sample_spans(measures: FaceMeasures) -> dict[int, int]:
    """Frames each pre-pass sample stands for: up to the next sample (the pre-pass slows down)."""
    samples = sorted(measures.detections)
    return dict(zip(samples, np.diff([*samples, measures.frames]).tolist(), strict=True))


def faces_seen(measures: FaceMeasures) -> np.ndarray:
    """(T,) int16: how many faces BlazeFace saw in the sample each frame belongs to."""
    seen = np.zeros(measures.frames, np.int16)
    for index, span in sample_spans(measures).items():
        seen[index:index + span] = len(measures.detections[index])
    return seen


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
    span = sample_spans(measures)
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

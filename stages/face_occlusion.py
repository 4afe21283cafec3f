"""Is something covering the mouth? Evidence that FaceMesh itself cannot give.

FaceMesh keeps returning plausible lips under a hand or a pacifier, so three other cues are
combined, each scaled to 0 (clear) ... 1 (covered), and the strongest one wins:

- hand: the fraction of the mouth box covered by a MediaPipe Hands box (hands are skin-coloured
  and otherwise hard to tell from the face);
- foreign colour: the fraction of the lip area whose colour is far from both the face's skin and
  the clip's own clear lips (pacifiers, bottles, toys);
- lip contrast: the lips' redness over the skin, against the clip's own clear mouth; a hand or a
  cloth over the lips flattens it. Clips whose lips never stand out from the skin give this cue
  no say (it cannot tell a covered mouth from pale lips there).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

OUTER_LIPS = (61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291, 375, 321, 405, 314, 17, 84, 181,
              91, 146)
INNER_LIPS = (78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308, 324, 318, 402, 317, 14, 87, 178,
              88, 95)
CHEEKS = (205, 425, 50, 280)  # below the eyes, beside the nose: rarely covered with the mouth
MOUTH_CORNERS = (61, 291)

FOREIGN_AB = 18.0  # Lab chroma distance beyond which a pixel is neither skin nor lip
# a* units: in clips whose lips stand out less than this, a smile's thin lips and teeth flatten
# the contrast as much as a hand does (measured on real adult video), so the cue stays silent.
LIP_CONTRAST_FLOOR = 7.5


@dataclass(frozen=True)
class MouthEvidence:
    """Per-frame mouth measurements; NaN where the frame has no face."""

    contrast: np.ndarray  # (T,) median lip a* minus skin a*
    lip_ab: np.ndarray  # (T, 2) median lip chroma relative to the skin
    foreign: np.ndarray  # (T,) fraction of lip pixels far from skin chroma
    hand: np.ndarray  # (T,) fraction of the mouth box under a hand box


def mouth_box(landmarks: np.ndarray) -> np.ndarray:
    """The lips' bounding box, grown by a quarter of the mouth width: (x0, y0, x1, y1)."""
    lips = landmarks[list(OUTER_LIPS), :2]
    lo, hi = lips.min(0), lips.max(0)
    pad = 0.25 * (hi[0] - lo[0])
    return np.array([lo[0] - pad, lo[1] - pad, hi[0] + pad, hi[1] + pad])


def hand_cover(mouth: np.ndarray, hands: list[np.ndarray]) -> float:
    """The largest fraction of the mouth box that one hand box covers."""
    area = max(float((mouth[2] - mouth[0]) * (mouth[3] - mouth[1])), 1e-6)
    best = 0.0
    for box in hands:
        w = min(mouth[2], box[2]) - max(mouth[0], box[0])
        h = min(mouth[3], box[3]) - max(mouth[1], box[1])
        best = max(best, max(w, 0.0) * max(h, 0.0) / area)
    return best


def lip_colour(frame: np.ndarray, landmarks: np.ndarray) -> tuple[float, np.ndarray, float]:
    """The lips' colour against the cheeks' in one frame.

    Returns:
        (median a* contrast, median lip chroma (a*, b*) relative to the skin, fraction of lip
        pixels whose chroma is more than `FOREIGN_AB` from the skin's).
    """
    h, w = frame.shape[:2]
    box = mouth_box(landmarks)
    iod = float(np.linalg.norm(landmarks[MOUTH_CORNERS[0], :2] - landmarks[MOUTH_CORNERS[1], :2]))
    cheeks = landmarks[list(CHEEKS), :2]
    x0 = int(max(0, min(box[0], cheeks[:, 0].min()) - iod * 0.2))
    y0 = int(max(0, min(box[1], cheeks[:, 1].min()) - iod * 0.2))
    x1 = int(min(w, max(box[2], cheeks[:, 0].max()) + iod * 0.2))
    y1 = int(min(h, box[3] + 1))
    if x1 - x0 < 4 or y1 - y0 < 4:
        return float("nan"), np.full(2, np.nan), float("nan")
    lab = cv2.cvtColor(frame[y0:y1, x0:x1], cv2.COLOR_BGR2LAB).astype(np.float32)
    offset = np.array([x0, y0], np.float32)
    lips = np.zeros(lab.shape[:2], np.uint8)
    cv2.fillPoly(lips, [np.round(landmarks[list(OUTER_LIPS), :2] - offset).astype(np.int32)], 1)
    cv2.fillPoly(lips, [np.round(landmarks[list(INNER_LIPS), :2] - offset).astype(np.int32)], 0)
    skin = np.zeros_like(lips)
    radius = max(2, int(0.12 * iod))
    for x, y in np.round(cheeks - offset).astype(int):
        cv2.circle(skin, (int(x), int(y)), radius, 1, -1)
    if lips.sum() < 4 or skin.sum() < 4:
        return float("nan"), np.full(2, np.nan), float("nan")
    skin_ab = np.median(lab[skin > 0][:, 1:], axis=0)
    lip_ab = lab[lips > 0][:, 1:] - skin_ab
    foreign = float(np.mean(np.linalg.norm(lip_ab, axis=1) > FOREIGN_AB))
    median_ab = np.median(lip_ab, axis=0)
    return float(median_ab[0]), median_ab, foreign


def occlusion_score(evidence: MouthEvidence, present: np.ndarray) -> np.ndarray:
    """Combines the cues into one (T,) score in [0, 1]; NaN where there is no face.

    The clip's clear mouth is learned from its own frames: the lip contrast reached in the upper
    third of its frames, and the lip chroma of the frames where nothing foreign shows.
    """
    score = np.full(len(present), np.nan)
    if not present.any():
        return score
    contrast = evidence.contrast[present]
    reference = float(np.nanpercentile(contrast, 80)) if np.isfinite(contrast).any() else 0.0
    if reference >= LIP_CONTRAST_FLOOR:
        # Half the clip's clear contrast scores 0.5, the default decision point.
        contrast_cue = np.clip(1 - contrast / reference, 0, 1)
    else:
        contrast_cue = np.zeros(len(contrast))
    # Lips that are redder than skin can count as "foreign": keep only pixels unlike the clip's
    # own clear lips as well, measured on the frames where the foreign fraction is low.
    foreign = evidence.foreign[present]
    lip_ab = evidence.lip_ab[present]
    clear = foreign <= np.nanpercentile(foreign, 30)
    typical = np.nanmedian(lip_ab[clear], axis=0) if clear.any() else np.zeros(2)
    unlike = np.linalg.norm(lip_ab - typical, axis=1) > FOREIGN_AB
    foreign_cue = np.clip(np.where(unlike, foreign, 0.0) * 2, 0, 1)
    hand_cue = np.clip(evidence.hand[present], 0, 1)
    combined = np.nanmax(np.vstack([contrast_cue, foreign_cue, hand_cue]), axis=0)
    score[present] = np.nan_to_num(combined, nan=0.0)
    return score

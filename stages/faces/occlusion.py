"""Is something covering the mouth? Evidence that FaceMesh itself cannot give.

FaceMesh keeps returning plausible lips under a hand or a pacifier, so other cues are
combined, each scaled to 0 (clear) ... 1 (covered), and the strongest one wins:

- hand: the fraction of the lips covered by a MediaPipe hand's silhouette (`stages.faces.hands`),
  refused where the "hand" lies wholly inside the face's outline and the lips' colour says
  they are clear (Hands' phantom hand on a chin);
- hand and lost colour: a hand over part of the lips (a quarter or more) whose median colour
  has fallen well below the clip's clear lips: more than half their pixels are something else,
  though Hands' silhouette of the hand, seen edge-on, reads less;
- foreign colour: the fraction of the lip area whose colour is far from both the face's skin and
  the clip's own clear lips (pacifiers, bottles, toys);
- no lip colour: lips much lighter than the face's own cheeks, or far from them at a hue lips
  never have (a pacifier or bottle; this cue needs no clear lips to compare with, so it also
  sees one that is in every frame). Such frames never calibrate the other cues;
- skin over the lips: the lips lose their redness against the clip's own clear mouth AND the
  mouth area turns skin-coloured, against the same clear frames. Either half alone is common
  without any cover (a smile's thin lips and teeth flatten the redness; pale lips look like
  skin), so the cue is the weaker of the two. The clip's own clear frames (no hand on them)
  calibrate both halves; lips that barely stand out from the skin are measured against a small
  fixed redness instead of being switched off, so the skin-colour half still speaks there.

Every cue is a fraction of pixels or a ratio to the clip's own frames, measured in float Lab so
that one more generation of H.264 (the download stage's re-encode) moves it by a few hundredths,
not across a threshold: 8-bit Lab rounds the lips' redness to whole units, about a tenth of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import cv2
import numpy as np

from manifests.facemesh import CHEEKS, INNER_LIPS, MOUTH_CORNERS, OUTER_LIPS

FOREIGN_AB = 18.0  # Lab chroma distance beyond which a pixel is neither skin nor lip
# a* units: lips that stand out less than this in the clip's clearest frames look like skin
# (a real adult talking video: 2-3; the demo's and another real face's lips: 9-17), so clear
# lips never let Hands idle there.
LIP_CONTRAST_FLOOR = 5.0
# a* units: the smallest clear-lip redness the "faded" half scales by. A clip whose clear lips
# read less (a pale infant's lips read -0.25, a crying woman's 4.6) counts every frame as faded,
# and the skin-colour half alone decides (its rise is against the clip's own clear frames).
MIN_REDNESS = 2.0
# A hand seen this close to the mouth (lip fraction) rules a frame out of the clip's clear ones.
HAND_NEAR = 0.1
# A "hand" with at least this share of its points inside the face's outline has no finger or
# wrist beyond the face: it counts only where the colour cues see a cover too.
FACE_ITSELF = 0.9
COLOUR_SEES = 0.25  # a colour score from which the colour cues "see" a cover
# a* units the lips' median falls below the clip's clear reference under a hand's skin: the
# hands pasted over real and demo mouths took it 8-25 below; clear frames of the demo's crying
# face and of real talking faces stay within 5.5.
LOST_REDNESS = 6.0
# ...or, for lips paler than that, this share of their clear redness: a hand over a pale-lipped
# mouth (a real talking man's lips read 2.5) can only take away what the lips had.
LOST_SHARE = 0.9
# A hand over this share of the lips, whose lips lost their colour, covers them.
HAND_ON_LIPS = 0.25
# A mouth pixel "looks like skin" within this chroma (a*, b*) and lightness distance of the
# cheeks: a hand is skin; lips are redder, teeth lighter, the open mouth darker.
SKIN_AB, SKIN_L = 6.0, 15.0
# The decision points (score 0.5) of the two halves, set midway between the demo's hand-covered
# and clear frames, original and re-encoded: covered lips keep at most 0.21 of the clip's clear
# redness, clear ones at least 0.42; a hand raises the skin-like fraction of the mouth by
# 0.35-0.65 over the clip's clear frames, a closed mouth or a laugh by at most 0.28.
KEPT_REDNESS = 0.32
SKIN_RISE = 0.2
# Frames whose lips reach this share of the clip's reference redness count as clear.
CLEAR_SHARE = 0.7
CLEAREST = 10  # percentile of the foreign-colour share below which a frame's lips are clear
MOUTH_PX = 64.0  # mouth width (px) the colour crop is shrunk to: enough pixels for medians
# Where lips lie against their own cheeks (float Lab): never much lighter, and a chroma offset
# either moderate or red (hue between magenta and orange-red; lipstick reads +20 degrees, 32
# units). Per frame on 60 clips of real faces (the talking heads and photos in ../shared,
# scikit-image's and matplotlib's, re-encoded, 240p, darkened, panned and zoomed): lightness at
# most +9.0 (a blurred, upscaled photo of a flushed face; +1.6 otherwise), offsets outside that
# hue at most 16.8 (the same photo; 13.6 otherwise). Pacifier shields drawn over them: white
# +15 ... +49 lighter; blue, green, yellow and dark blue 21-76 units at hues outside it.
LIPS_LIGHTER_MAX = 12.0
LIPS_CHROMA_MAX = 22.0
LIPS_HUE_DEG = (-75.0, 45.0)


@dataclass(frozen=True)
class MouthEvidence:
    """Per-frame mouth measurements; NaN where the frame has no face."""

    contrast: np.ndarray  # (T,) median lip a* minus skin a*
    lip_ab: np.ndarray  # (T, 2) median lip chroma relative to the skin
    foreign: np.ndarray  # (T,) fraction of lip pixels far from skin chroma
    skinlike: np.ndarray  # (T,) fraction of the mouth area (lips and opening) coloured like skin
    hand: np.ndarray  # (T,) fraction of the lips under a hand's silhouette
    inside: np.ndarray  # (T,) share of that hand's points inside the face outline
    lightness: np.ndarray  # (T,) median lip L* minus skin L*


def mouth_box(landmarks: np.ndarray) -> np.ndarray:
    """The lips' bounding box, grown by a quarter of the mouth width: (x0, y0, x1, y1)."""
    lips = landmarks[list(OUTER_LIPS), :2]
    lo, hi = lips.min(0), lips.max(0)
    pad = 0.25 * (hi[0] - lo[0])
    return np.array([lo[0] - pad, lo[1] - pad, hi[0] + pad, hi[1] + pad])


class LipColour(NamedTuple):
    """One frame's mouth colour against the cheeks'."""

    contrast: float  # median lip a* minus skin a*
    lip_ab: np.ndarray  # (2,) median lip chroma (a*, b*) relative to the skin
    foreign: float  # fraction of lip pixels whose chroma is more than `FOREIGN_AB` from skin
    skinlike: float  # fraction of the mouth polygon coloured like the skin
    lightness: float  # median lip L* minus skin L*


NO_COLOUR = LipColour(float("nan"), np.full(2, np.nan), float("nan"), float("nan"), float("nan"))


def lip_colour(frame: np.ndarray, landmarks: np.ndarray) -> LipColour:
    """The lips' colour against the cheeks' in one RGB frame, in float Lab on a crop around them."""
    h, w = frame.shape[:2]
    box = mouth_box(landmarks)
    iod = float(np.linalg.norm(landmarks[MOUTH_CORNERS[0], :2] - landmarks[MOUTH_CORNERS[1], :2]))
    cheeks = landmarks[list(CHEEKS), :2]
    x0 = int(max(0, min(box[0], cheeks[:, 0].min()) - iod * 0.2))
    y0 = int(max(0, min(box[1], cheeks[:, 1].min()) - iod * 0.2))
    x1 = int(min(w, max(box[2], cheeks[:, 0].max()) + iod * 0.2))
    y1 = int(min(h, box[3] + 1))
    # Colour statistics need no more than ~64 px across the mouth: a larger face's crop is
    # shrunk first, so the cost stays flat however close the camera is. A whole factor over a
    # crop trimmed to its multiple is OpenCV's fast box average (~10x a fractional INTER_AREA).
    factor = max(1, round(iod / MOUTH_PX))
    x1, y1 = x0 + (x1 - x0) // factor * factor, y0 + (y1 - y0) // factor * factor
    if x1 - x0 < 4 * factor or y1 - y0 < 4 * factor:
        return NO_COLOUR
    scale = 1.0 / factor
    crop = frame[y0:y1, x0:x1]
    if factor > 1:
        crop = cv2.resize(crop, ((x1 - x0) // factor, (y1 - y0) // factor),
                          interpolation=cv2.INTER_AREA)
    lab = cv2.cvtColor(crop.astype(np.float32) * np.float32(1 / 255), cv2.COLOR_RGB2LAB)
    offset = np.array([x0, y0], np.float32)
    cheeks = (cheeks - offset) * scale
    outer = np.round((landmarks[list(OUTER_LIPS), :2] - offset) * scale).astype(np.int32)
    inner = np.round((landmarks[list(INNER_LIPS), :2] - offset) * scale).astype(np.int32)
    mouth = np.zeros(lab.shape[:2], np.uint8)
    cv2.fillPoly(mouth, [outer], 1)
    lips = mouth.copy()
    cv2.fillPoly(lips, [inner], 0)
    skin = np.zeros_like(lips)
    radius = max(2, int(0.12 * iod * scale))
    for x, y in np.round(cheeks).astype(int):
        cv2.circle(skin, (int(x), int(y)), radius, 1, -1)
    if lips.sum() < 4 or skin.sum() < 4:
        return NO_COLOUR
    skin_lab = np.median(lab[skin > 0], axis=0)
    lip_lab = lab[lips > 0] - skin_lab
    lip_ab = lip_lab[:, 1:]
    foreign = float(np.mean(np.hypot(lip_ab[:, 0], lip_ab[:, 1]) > FOREIGN_AB))
    median = np.median(lip_lab, axis=0)
    d = lab[mouth > 0] - skin_lab
    skinlike = float(np.mean((np.hypot(d[:, 1], d[:, 2]) < SKIN_AB) & (np.abs(d[:, 0]) < SKIN_L)))
    return LipColour(float(median[1]), median[1:], foreign, skinlike, float(median[0]))


def _no_lips(evidence: MouthEvidence, present: np.ndarray) -> np.ndarray:
    """(P,) True on the present frames whose lips have no lip's colour against the cheeks:
    lighter than them, or far from them in a hue lips never have (`LIPS_CHROMA_MAX`).

    The other colour cues compare a frame with the clip's own clear lips, so a pacifier in the
    whole clip became those "clear lips" and passed (light blue and white shields over the real
    faces here: 0-23 % of frames flagged), and one redder than pale lips in half of it made
    the bare half look covered. These frames are neither a reference nor clear. Unmeasured
    (NaN) is not "no lips".
    """
    lightness, (a, b) = evidence.lightness[present], evidence.lip_ab[present].T
    hue = np.degrees(np.arctan2(b, a))
    with np.errstate(invalid="ignore"):
        return (lightness > LIPS_LIGHTER_MAX) | ((np.hypot(a, b) > LIPS_CHROMA_MAX) & (
            (hue < LIPS_HUE_DEG[0]) | (hue > LIPS_HUE_DEG[1])))


def lost_step(reference: float) -> float:
    """How far below the clip's clear lip redness a hand's skin takes the lips."""
    return min(LOST_REDNESS, LOST_SHARE * max(reference, MIN_REDNESS))


def occlusion_score(evidence: MouthEvidence, present: np.ndarray) -> np.ndarray:
    """Combines the cues into one (T,) score in [0, 1]; NaN where there is no face.

    The clip's clear mouth is learned from its own frames without a hand near the lips and with
    a lip's colour (`_no_lips`): the lip contrast reached by their reddest tenth, the skin-like
    share of the frames that reach most of it, and the lip chroma of the frames where nothing
    foreign shows.
    """
    score = np.full(len(present), np.nan)
    if not present.any():
        return score
    contrast, skinlike = evidence.contrast[present], evidence.skinlike[present]
    hand = np.nan_to_num(evidence.hand[present], nan=0.0)
    no_lips = _no_lips(evidence, present)
    calm = np.isfinite(contrast) & (hand < HAND_NEAR) & ~no_lips
    if not calm.any():
        calm = np.isfinite(contrast)
    reference = float(np.percentile(contrast[calm], 90)) if calm.any() else 0.0
    scale = max(reference, MIN_REDNESS)
    with np.errstate(invalid="ignore"):
        faded = np.clip(1 - contrast / (2 * KEPT_REDNESS * scale), 0, 1)
        clear = calm & (contrast >= CLEAR_SHARE * reference)
    if not clear.any():
        clear = calm
    base = float(np.nanmedian(skinlike[clear])) if clear.any() else 0.0
    if reference < LIP_CONTRAST_FLOOR and calm.any():
        # Pale lips look like skin whenever the mouth closes, not only under a hand: a cover
        # rises from the calm frames' skin-like share if that is higher (a real talking man's
        # closed mouth read 0.86 against 0.7 for his reddest frames, and 5 clear frames of his
        # looped video were flagged).
        base = max(base, float(np.nanmedian(skinlike[calm])))
    skinned = np.clip((skinlike - base) / (2 * SKIN_RISE), 0, 1)
    covered = np.nan_to_num(np.fmin(faded, skinned), nan=0.0)
    # Lips that are redder than skin can count as "foreign": keep only pixels unlike the clip's
    # own clear lips as well, measured on the frames where the foreign fraction is lowest (its
    # clearest tenth: a pacifier may be in most of a clip) among those without a hand near the
    # lips: under a hand the foreign fraction drops to nothing, and a clip whose lips are far
    # from its skin (lipstick) then took the hand for its clear lips and every clear frame for
    # a foreign object.
    foreign = evidence.foreign[present]
    lip_ab = evidence.lip_ab[present]
    judged = calm & np.isfinite(foreign)
    clear_lips = judged & (foreign <= np.percentile(foreign[judged], CLEAREST)) if judged.any() \
        else np.zeros(len(foreign), bool)
    typical = np.nanmedian(lip_ab[clear_lips], axis=0) if clear_lips.any() else np.zeros(2)
    unlike = np.linalg.norm(lip_ab - typical, axis=1) > FOREIGN_AB
    foreign_cue = np.clip(np.where(unlike, foreign, 0.0) * 2, 0, 1)
    # The lips lost their colour: faded, and by a real step below the clip's clear lips (pale
    # lips read "faded" at rest; a hand's skin takes them `lost_step` or more below it).
    with np.errstate(invalid="ignore"):
        lost = np.where(reference - contrast >= lost_step(reference),
                        np.nan_to_num(faded, nan=0.0), 0.0)
    # A hand wholly inside the face's outline counts only where the colour sees a cover too.
    itself = np.nan_to_num(evidence.inside[present], nan=0.0) >= FACE_ITSELF
    seen = np.fmax(covered, lost) >= COLOUR_SEES
    hand_cue = np.clip(np.where(itself & ~seen, 0.0, hand), 0, 1)
    # A hand on part of the lips whose median colour is no longer the lips': more than half of
    # the lips' pixels are something else (Hands' silhouette of an edge-on hand reads low).
    held = np.where(hand >= HAND_ON_LIPS, lost, 0.0)
    combined = np.nanmax(np.vstack([covered, foreign_cue, hand_cue, held,
                                    no_lips.astype(float)]), axis=0)
    score[present] = np.nan_to_num(combined, nan=0.0)
    return score


def upper_score(upper_hand: np.ndarray, inside: np.ndarray, present: np.ndarray) -> np.ndarray:
    """(T,) share of an eye's region or the upper face under a hand; NaN without a face.

    No colour cue sees the upper face, so a "hand" wholly inside the face's outline never counts
    there: a real hand over the forehead or an eye reaches past the face with its fingers or wrist.
    """
    itself = np.nan_to_num(inside, nan=0.0) >= FACE_ITSELF
    score = np.where(itself, 0.0, np.nan_to_num(upper_hand, nan=0.0))
    return np.where(present, score, np.nan)

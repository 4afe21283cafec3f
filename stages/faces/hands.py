"""How much of the mouth and of the upper face a MediaPipe hand covers.

Hands gives 21 points on the joints and finger tips, all on the bones' centre lines, so the box
around them misses the palm's edges and the fingers' width: a palm over a crying mouth covered
only 0.28-0.49 of the mouth box by that measure. The hand's silhouette is drawn instead, each
finger a stroke as wide as a finger (the knuckles' spacing, or a share of the palm's length for a
hand seen edge-on) over a filled palm grown by half a finger, and intersected with the lips' own
polygon and with the upper face's regions.

A "hand" whose points all lie inside the face's outline may be the face itself (Hands reports a
hand with a 0.999 score on a talking man's chin): its share of points inside the outline is kept,
so the verdict can refuse such a hand unless the mouth's colour also says it is covered.
"""

from __future__ import annotations

from typing import NamedTuple

import cv2
import numpy as np

from manifests.facemesh import BROWS, EYES, FACE_OVAL, OUTER_LIPS, UPPER_FOREHEAD

_PALM = (0, 1, 2, 5, 9, 13, 17)
_FINGERS = ((1, 2, 3, 4), (5, 6, 7, 8), (9, 10, 11, 12), (13, 14, 15, 16), (17, 18, 19, 20))
_KNUCKLES = (5, 9, 13, 17)
_MIDDLE_KNUCKLE = 9
# A finger's width as a share of the palm's length (wrist to the middle knuckle), the least a
# hand's silhouette draws: an edge-on hand's fingers over a mouth read 0.1-0.4 of the lips where
# 0.5-0.8 lay under them with the knuckles' spacing alone; 0.3 brings the cover of real hands
# pasted over real faces to their true cover on average (-0.00 mean error, none beside the lips).
EDGE_ON_WIDTH = 0.3
# Two runs whose mouth covers differ by this much disagree: the frames between them are judged
# by colour (see `spread`).
DISAGREE = 0.25
# ...and are told apart by colour where their lips differ by this much in (a*, b*): a hand's skin
# over lips moved them 10-25 units, clear lips move 1-2.5 from frame to frame.
_APART = 4.0
_CANVAS_PX = 96.0  # the long side of the face box each cover is rasterised at


class HandCover(NamedTuple):
    """One Hands run's reading of a face: the covers of the hand that hides the most."""

    mouth: float  # fraction of the lips' polygon under a hand
    upper: float  # fraction of one eye's region (eye + brow) or of the upper face under a hand
    inside: float  # share of that hand's points inside the face outline (1: maybe the face)
    hands: int  # hands Hands found near the face


NO_HAND = HandCover(0.0, 0.0, 0.0, 0)


def _fill(shape: tuple[int, int], points: np.ndarray) -> np.ndarray:
    mask = np.zeros(shape, np.uint8)
    cv2.fillConvexPoly(mask, cv2.convexHull(np.round(points).astype(np.int32)), 1)
    return mask


def hand_mask(hand: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """The silhouette of a hand's (21, 2) points (in canvas pixels) as a (H, W) uint8 mask."""
    spacing = np.linalg.norm(np.diff(hand[list(_KNUCKLES)], axis=0), axis=1)
    palm = float(np.linalg.norm(hand[_MIDDLE_KNUCKLE] - hand[0]))
    # A finger's width: the knuckles' spacing, but a hand seen edge-on lines its knuckles up, so
    # never less than a share of the palm's length (which the side view keeps).
    width = max(2, round(max(1.1 * float(np.median(spacing)), EDGE_ON_WIDTH * palm)))
    palm_mask = np.zeros(shape, np.uint8)
    cv2.fillPoly(palm_mask, [np.round(hand[list(_PALM)]).astype(np.int32)], 1)
    mask: np.ndarray = cv2.dilate(palm_mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE,
                                                                  (width, width)))
    for finger in _FINGERS:
        points = np.round(hand[list(finger)]).astype(np.int32)
        cv2.polylines(mask, [points], False, 1, thickness=width, lineType=cv2.LINE_8)
        for x, y in points[[0, -1]]:  # round joints and tips
            cv2.circle(mask, (int(x), int(y)), width // 2, 1, -1)
    return mask


def _inside(points: np.ndarray, polygon: np.ndarray) -> float:
    contour = polygon.astype(np.float32).reshape(-1, 1, 2)
    return float(np.mean([cv2.pointPolygonTest(contour, (float(x), float(y)), False) >= 0
                          for x, y in points]))


def hand_cover(face: np.ndarray, hands: list[np.ndarray]) -> HandCover:
    """How much of the mouth and the upper face the hands cover, on a canvas of the face.

    Args:
        face: (478, 2+) FaceMesh landmarks in pixels.
        hands: (21, 2) Hands landmarks in the same pixels, one array per hand.
    """
    if not hands:
        return NO_HAND
    lo, hi = face[:, :2].min(0), face[:, :2].max(0)
    scale = _CANVAS_PX / max(float(max(hi - lo)), 1.0)
    origin = lo - 0.05 * (hi - lo)
    shape = (int(_CANVAS_PX * 1.1) + 2, int(_CANVAS_PX * 1.1) + 2)

    def canvas(points: np.ndarray) -> np.ndarray:
        return (points[:, :2] - origin) * scale

    regions = [_fill(shape, canvas(face[list(OUTER_LIPS)]))]
    for eye, brow in zip(EYES, BROWS, strict=True):
        regions.append(_fill(shape, canvas(face[list(eye) + list(brow)])))
    upper_idx = [*EYES[0], *EYES[1], *BROWS[0], *BROWS[1], *UPPER_FOREHEAD]
    regions.append(_fill(shape, canvas(face[upper_idx])))
    areas = [max(int(r.sum()), 1) for r in regions]
    oval = face[list(FACE_OVAL), :2]
    best = NO_HAND
    for hand in hands:
        mask = hand_mask(canvas(hand), shape)
        covers = [int((mask & r).sum()) / a for r, a in zip(regions, areas, strict=True)]
        mouth, upper = covers[0], max(covers[1:])
        if (mouth, upper) > (best.mouth, best.upper):
            best = HandCover(mouth, upper, _inside(hand, oval), len(hands))
    return best._replace(hands=len(hands))


def spread(runs: dict[int, HandCover], frames: int, reach: int,
           colour: np.ndarray | None = None) -> np.ndarray:
    """(T, 3) mouth, upper and inside per frame, from the frames Hands ran on.

    A run that saw nothing between two runs that both saw a cover (within `2 * reach` frames of
    each) takes the weaker of the two: Hands misses a hand now and then, and a cover does not
    come and go within a sixth of a second. Then each frame takes the nearest run within `reach`;
    but between two runs that disagree about the mouth, a frame takes the run whose lips' colour
    (`colour`, (T, K), NaN where unmeasured) is nearer its own, if within `reach`: a hand that
    slides over the lips between two runs changes their colour on the frame it arrives, while
    the run 2 frames later that saw it put the cover on the 3 frames before it too.
    """
    out = np.zeros((frames, 3), np.float32)
    if not runs:
        return out
    at = np.array(sorted(runs))
    values = np.array([runs[i][:3] for i in at], np.float32)  # (R, 3)
    if len(at) >= 3:
        gaps = np.diff(at)
        near = (gaps[:-1] <= 2 * reach) & (gaps[1:] <= 2 * reach)  # (R - 2,)
        bridged = np.minimum(values[:-2], values[2:])  # (R - 2, 3)
        # The middle run takes the neighbours' reading where it is the stronger mouth cover.
        for channel in (0, 1):
            take = near & (bridged[:, channel] > values[1:-1, channel])
            values[1:-1, channel][take] = bridged[take, channel]
            if channel == 0:
                values[1:-1, 2][take] = bridged[take, 2]
    idx = np.arange(frames)
    after = np.clip(np.searchsorted(at, idx), 0, len(at) - 1)
    before = np.clip(after - 1, 0, len(at) - 1)
    pick = np.where(np.abs(at[before] - idx) < np.abs(at[after] - idx), before, after)
    close = np.abs(at[pick] - idx) <= reach
    if colour is not None and len(at) >= 2:
        # Between two runs that disagree about the mouth, the run nearer in colour; its reading
        # still reaches only `reach` frames (beyond it, nothing was seen).
        between = (at[before] < idx) & (idx < at[after])
        between &= np.abs(values[before, 0] - values[after, 0]) >= DISAGREE
        with np.errstate(invalid="ignore"):
            # Only where the two runs' lips differ in colour can colour place the change.
            between &= np.linalg.norm(colour[at[before]] - colour[at[after]], axis=1) >= _APART
            to_before = np.linalg.norm(colour - colour[at[before]], axis=1)  # (T,)
            to_after = np.linalg.norm(colour - colour[at[after]], axis=1)
        judged = between & np.isfinite(to_before) & np.isfinite(to_after)
        pick = np.where(judged, np.where(to_before < to_after, before, after), pick)
        close = np.abs(at[pick] - idx) <= reach
    out[close] = values[pick][close]
    return out

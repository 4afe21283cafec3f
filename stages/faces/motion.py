"""Motion between frames: scene cuts that end a segment, and frozen stretches (a still image).

Three signals per frame: how much the picture changed since the previous frame (mean absolute
grey difference of ~64 px thumbnails: cheap, and blind to encoder noise), how far the rigid face
landmarks moved (median over the points, in eye-corner distances), and how much the pixels of the
mouth's box changed at full resolution. An edit shows as a step far above the motion around it in
the first two; a still image with a soundtrack shows as neither picture nor face moving for a
second or more, or as a mouth whose pixels stay the same.
"""

from __future__ import annotations

import cv2
import numpy as np
from scipy import ndimage

from manifests.facemesh import LIPS
from stages.faces.pose import RIGID

THUMB_PX = 64  # thumbnail width for the frame difference
# A cut: the picture changes by this many grey levels (of 255) in one frame, or the face jumps
# by this many eye-corner distances, AND the step is this many times the median step of the
# frames around it (a fast pan or a shaken head moves every frame, an edit only one). A real
# jump cut moved the landmarks by 67 px (~0.6 eye-corner distances) in one frame; fast head
# motion in the demo and the real talking clips stays under 0.1 a frame.
CUT_DIFF, CUT_JUMP, CUT_CONTRAST = 20.0, 0.3, 6.0
CUT_CONTEXT = 8  # frames each side whose median step is the "motion around it"
CUT_BURST = 2  # at most this many frames in a row stand out at an edit
# Still: less picture change than this (grey levels; re-encoded stills read 0-0.2, live video
# ≥ 0.5 for the face's own motion, but a talking head with a still head, darkened, at 240 p or
# at CRF 42, 0.02-0.13) and less landmark motion than this, on the rigid face and on the lips
# (eye-corner distances a frame; a re-encoded still 0.0004-0.0005, those talking heads' lips
# 0.003-0.005 where their rigid face read 0.001-0.002) ...
STILL_DIFF, STILL_STEP = 0.35, 0.002
# ... for at least this long (s): a face holds perfectly still for a few frames, never a second.
STILL_S = 1.0
# Or the mouth's pixels the same (mean absolute grey change in the lips' box, a 5-frame running
# median against a keyframe's blip): re-encoded stills read 0.000-0.001 where FaceMesh's own
# jitter on identical frames moved the landmarks 0.002-0.005 a frame (biden.jpg as a video, and
# a partly framed photo at 240p, passed as video); live talking heads 0.15 and more in their
# stillest second, darkened or at CRF 42 too.
STILL_MOUTH = 0.05
STILL_MOUTH_MEDIAN = 5


def thumbnail(image: np.ndarray) -> np.ndarray:
    """A grey thumbnail ~`THUMB_PX` wide: every few pixels, then a whole-factor box average.

    Reading every 4th-or-so pixel first keeps it at ~0.6 ms for a 720p frame (a box average
    over every pixel took 1.5 ms, a sixth of a FaceMesh call); the box average still smooths
    the sensor noise the picked pixels carry.
    """
    factor = max(1, image.shape[1] // THUMB_PX)
    step = max(1, factor // 4)
    picked = image[::step, ::step]
    box = factor // step
    h, w = picked.shape[0] // box * box, picked.shape[1] // box * box
    small = cv2.resize(np.ascontiguousarray(picked[:h, :w]), (w // box, h // box),
                       interpolation=cv2.INTER_AREA)
    return small.astype(np.float32).mean(axis=2) if small.ndim == 3 else small.astype(np.float32)


def frame_change(previous: np.ndarray | None, current: np.ndarray) -> float:
    """Mean absolute grey difference of two thumbnails (NaN for the first frame)."""
    if previous is None or previous.shape != current.shape:
        return float("nan")
    return float(np.abs(current - previous).mean())


def mouth_change(previous: np.ndarray | None, current: np.ndarray,
                 landmarks: np.ndarray) -> float:
    """Mean absolute grey change within the lips' box (this frame's landmarks) since the previous
    frame, at full resolution (NaN for the first frame)."""
    if previous is None or previous.shape != current.shape:
        return float("nan")
    h, w = current.shape[:2]
    xy = landmarks[list(LIPS), :2]
    x0, y0 = np.clip(np.floor(xy.min(0)).astype(int), 0, (w, h))
    x1, y1 = np.clip(np.ceil(xy.max(0)).astype(int), 0, (w, h))
    if x1 <= x0 or y1 <= y0:
        return float("nan")
    grey = [cv2.cvtColor(np.ascontiguousarray(image[y0:y1, x0:x1]), cv2.COLOR_RGB2GRAY)
            for image in (previous, current)]
    return float(cv2.absdiff(grey[0], grey[1]).mean())


def landmark_steps(landmarks: np.ndarray, face_px: np.ndarray,
                   points: tuple[int, ...] = RIGID) -> np.ndarray:
    """(T,) median movement of `points` since the previous frame, in face sizes."""
    xy = np.asarray(landmarks[:, list(points), :2], np.float32)  # (T, P, 2)
    steps = np.full(len(xy), np.nan, np.float32)
    if len(xy) > 1:
        moved = np.linalg.norm(np.diff(xy, axis=0), axis=2)  # (T - 1, P)
        with np.errstate(invalid="ignore"):
            steps[1:] = np.median(moved, axis=1) / np.maximum(face_px[1:], 1.0)
    return steps


def _runs(mask: np.ndarray) -> np.ndarray:
    """(K, 2) start and end (exclusive) of each stretch of True in `mask`."""
    padded = np.concatenate([[False], mask, [False]]).astype(np.int8)
    return np.flatnonzero(np.diff(padded)).reshape(-1, 2)


def _local_median(values: np.ndarray, context: int) -> np.ndarray:
    """Median of the finite values within `context` frames each side, the frame itself left out."""
    out = np.full(len(values), np.nan, np.float32)
    for t in range(len(values)):
        around = np.r_[values[max(0, t - context):t], values[t + 1:t + 1 + context]]
        around = around[np.isfinite(around)]
        if around.size:
            out[t] = np.median(around)
    return out


def _jumps(values: np.ndarray, floor: float) -> np.ndarray:
    """Frames whose step exceeds `floor` and stands out from the steps around it.

    A step counts only at the start of a burst of at most `CUT_BURST` such frames: an edit (and
    the encoder's frame after it) is one or two frames, a fast pan or a face sliding out is more.
    """
    candidates = np.flatnonzero(np.nan_to_num(values, nan=0.0) > floor)
    high = np.zeros(len(values), bool)
    if candidates.size:
        around = _local_median(values, CUT_CONTEXT)[candidates]
        high[candidates] = ~(np.nan_to_num(around, nan=0.0) * CUT_CONTRAST >= values[candidates])
    out = np.zeros(len(values), bool)
    for start, end in _runs(high):
        if end - start <= CUT_BURST:
            out[start] = True
    return out


def scene_cuts(change: np.ndarray, steps: np.ndarray) -> np.ndarray:
    """(T,) bool: the frame starts a new shot (a cut lies between it and the frame before)."""
    return _jumps(change, CUT_DIFF) | _jumps(steps, CUT_JUMP)


def still_frames(change: np.ndarray, steps: np.ndarray, present: np.ndarray,
                 fps: float) -> np.ndarray:
    """(T,) bool: face frames in a stretch of at least `STILL_S` where nothing moves.

    The picture must stay the same from frame to frame, and the face's landmarks must not move
    over the stretch as a whole (their median step, `steps`: the rigid face's or the lips',
    whichever moved more): a small face can move in front of a still background that barely
    changes the picture, and a talking head held still moves its lips where a thumbnail cannot
    see them (a real one, at CRF 42, was a third "static"), while FaceMesh's own settling on
    identical frames moves the landmarks for only their first few frames.
    """
    with np.errstate(invalid="ignore"):
        same = change < STILL_DIFF
    if len(same) > 1:
        same[0] = same[1]  # the first frame has no predecessor
    out = np.zeros(len(same), bool)
    for start, end in _runs(same):
        moved = steps[start + 1:end]
        moved = moved[np.isfinite(moved)]
        if end - start >= max(2, round(STILL_S * fps)) and not (
                moved.size and np.median(moved) >= STILL_STEP):
            out[start:end] = True
    return out & present


def frozen_mouth(change: np.ndarray, present: np.ndarray, fps: float) -> np.ndarray:
    """(T,) bool: face frames in a stretch of at least `STILL_S` whose mouth pixels stay the
    same (`mouth_change` below `STILL_MOUTH`): a still image, however FaceMesh jitters on it."""
    values = np.nan_to_num(np.asarray(change, np.float32), nan=np.inf)
    if len(values) > 1:
        values[0] = values[1]  # the first frame has no predecessor
    smoothed = ndimage.median_filter(values, STILL_MOUTH_MEDIAN, mode="nearest")
    same = (smoothed < STILL_MOUTH) & present
    out = np.zeros(len(same), bool)
    for start, end in _runs(same):
        if end - start >= max(2, round(STILL_S * fps)):
            out[start:end] = True
    return out

"""Per-frame face measurements over a streamed video: MediaPipe FaceMesh, BlazeFace and Hands.

One `FaceModels` per process holds the MediaPipe graphs (`stages.faces.models`); every clip starts
them afresh, so a clip's measurements never depend on the clip before it. Frames stream through
three threads at once: one decodes ahead, one runs the MediaPipe graphs, one measures pose, lip
colour and the frame's change. Landmarks go to a file as they come and only the small per-frame
values stay in memory (~0.4 KB a frame), so memory stays flat however long the video, and the
video itself is never held.
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
from collections import deque
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import cv2
import numpy as np

from manifests.facemesh import EYE_CORNERS, LANDMARKS
from manifests.formats.spool import RowSpool
from stages.faces.config import FacesConfig
from stages.faces.hands import DISAGREE, NO_HAND, HandCover, hand_cover, spread
from stages.faces.models import FaceModels
from stages.faces.motion import frame_change, mouth_change, thumbnail
from stages.faces.occlusion import (
    KEPT_REDNESS,
    LIP_CONTRAST_FLOOR,
    NO_COLOUR,
    LipColour,
    MouthEvidence,
    lip_colour,
    lost_step,
)
from stages.faces.pose import PoseEstimator
from stages.faces.video_frames import Frame, iter_frames, read_ahead, video_info

__all__ = ["FaceMeasures", "FaceModels", "analyse_frames", "analyse_image", "analyse_video"]

log = logging.getLogger(__name__)

_NO_FACE = np.full((LANDMARKS, 3), np.nan, np.float32)
_REDNESS_WINDOW = 1800  # frames (a minute at 30 fps) the running lip reference looks back on
_READ_AHEAD_SLACK = 6  # decoded frames queued beyond the pre-pass's burst (2.7 MB each at 720p)
# After Hands last saw a hand near the face, it keeps its fast rate this long (frames, 1 s at
# 30 fps) however the colour looks: Hands misses a hand over a mouth now and then, and a rare
# rate after one miss lost the hand for the rest of the cover.
_HAND_LINGER = 30
# Where two Hands runs disagree about whether half the lips are covered, Hands also runs on the
# frames between them (bisecting), while they are still held: a cover starts and ends on its
# own frame, not on the run up to 5 frames away (3-4 frames of each cover's ends were wrong).
_HALF = 0.5
_SECOND_LOOK = 2.0  # the second look's crop, in multiples of the first one's reach


@dataclass
class FaceMeasures:
    """Everything measured on one clip, frame by frame (T frames); thresholds come later."""

    fps: float
    width: int
    height: int
    landmarks: np.ndarray  # (T, 478, 3) float32, NaN where no face; mapped from a file
    time_s: np.ndarray  # (T,)
    present: np.ndarray  # (T,) bool
    coverage: np.ndarray  # (T,) fraction of landmarks inside the frame (with margin)
    face_px: np.ndarray  # (T,) outer eye-corner distance in pixels
    edge_gap: np.ndarray  # (T,) landmark box to the nearest border, in face widths
    yaw_deg: np.ndarray
    pitch_deg: np.ndarray
    roll_deg: np.ndarray
    mouth: MouthEvidence
    upper_hand: np.ndarray  # (T,) fraction of an eye's region or the upper face under a hand
    change: np.ndarray  # (T,) mean grey change since the previous frame (thumbnails, 0-255)
    mouth_change: np.ndarray  # (T,) the same within the lips' box, at full resolution
    detections: dict[int, np.ndarray] = field(default_factory=dict)  # frame -> (K, 4) boxes

    @property
    def frames(self) -> int:
        return len(self.present)


def coverage(landmarks: np.ndarray, width: int, height: int, margin: float) -> float:
    """Fraction of landmarks at least `margin` (fraction of the shorter side) inside the frame."""
    m = margin * min(width, height)
    x, y = landmarks[:, 0], landmarks[:, 1]
    return float(np.mean((x >= m) & (x < width - m) & (y >= m) & (y < height - m)))


def edge_gap(landmarks: np.ndarray, width: int, height: int) -> float:
    """Distance from the landmarks' box to the nearest frame border, in face widths."""
    lo, hi = landmarks[:, :2].min(0), landmarks[:, :2].max(0)
    border = min(lo[0], lo[1], width - hi[0], height - hi[1])
    return float(border / max(hi[0] - lo[0], 1.0))


class _Measured(NamedTuple):
    """One frame's measurements from its landmarks and pixels (NaN without a face)."""

    coverage: float
    face_px: float
    edge_gap: float
    yaw: float
    pitch: float
    roll: float
    colour: LipColour
    change: float
    mouth_change: float


_NAN = float("nan")


class _Accumulator:
    """Collects per-frame values; `finish` stacks them into a `FaceMeasures`.

    FaceMesh runs on the calling thread; the measurements that need only a frame's landmarks and
    pixels (coverage, pose, lip colour) run on one worker thread, in frame order, while FaceMesh
    reads the next frame. A frame is completed (its rows written, Hands run if due) when the next
    one has been submitted, so Hands still decides on the frame's own lip colour.
    """

    def __init__(self, width: int, height: int, cfg: FacesConfig, landmarks: RowSpool) -> None:
        self.width, self.height, self.cfg = width, height, cfg
        self.pose = PoseEstimator()
        self.landmarks = landmarks
        self.rows: dict[str, list] = {k: [] for k in (
            "time_s", "present", "coverage", "face_px", "edge_gap", "yaw", "pitch", "roll",
            "contrast", "lip_ab", "foreign", "skinlike", "lightness", "change", "mouth_change")}
        self.hand_runs: dict[int, HandCover] = {}
        self.hand_seen_at = -(10**9)  # frame index of the last Hands run that saw a hand
        self.hands_at = -(10**9)  # frame index of the last Hands run
        # The last frames with a face (row, frame, landmarks), for runs between two runs
        # (`_bisect`; 10 frames of 720p hold 28 MB).
        self._recent: deque[tuple[int, Frame, np.ndarray]] = deque(maxlen=cfg.hands_blind_every)
        self._last_run: int | None = None  # row of the last scheduled Hands run
        self._thumb: np.ndarray | None = None  # the previous frame's (worker thread only)
        self._image: np.ndarray | None = None  # the previous frame (worker thread only)
        self.redness: float | None = None  # the clip's clear-lip contrast so far (90th pct)
        self._worker = ThreadPoolExecutor(1, thread_name_prefix="face-measures")
        self._submitted: tuple[Frame, np.ndarray | None, Future[_Measured]] | None = None

    def __enter__(self) -> _Accumulator:
        return self

    def __exit__(self, *exc: object) -> None:
        self._worker.shutdown(cancel_futures=True)
        if exc[0] is not None:
            self.landmarks.discard()

    def _hands_every(self, index: int, foreign: float, contrast: float) -> int:
        """Frames until the next Hands run, from the cues seen so far.

        Often (`hands_every`) within a second of Hands seeing a hand near the face, while the lips
        look foreign (a bottle or pacifier is often held by a hand) or lose their redness against
        the clip's clearest frames so far (skin over the lips; on pale lips, a fall of
        `lost_step`); rarely (`hands_idle_every`) when the lips are clearly visible and look
        like themselves; in between (`hands_blind_every`) when the clip's lips are too pale for
        colour to see a cover, where Hands alone speaks.
        """
        cfg, contrasts = self.cfg, self.rows["contrast"]
        if self.redness is None or len(contrasts) % cfg.hands_idle_every == 0:
            recent = np.asarray(contrasts[-_REDNESS_WINDOW:], np.float32)
            self.redness = float(np.nanpercentile(recent, 90)) if np.isfinite(recent).any() \
                else 0.0
        if index - self.hand_seen_at <= _HAND_LINGER or foreign > 0.25:
            return cfg.hands_every
        # Lips that fell a real step below their redness so far (pale ones too): a hand's skin.
        if self.redness - contrast >= lost_step(self.redness):
            return cfg.hands_every
        if self.redness < LIP_CONTRAST_FLOOR:
            return cfg.hands_blind_every
        # Half-way to the occlusion score's own "faded" decision point, so Hands looks first.
        if not contrast >= 1.5 * KEPT_REDNESS * self.redness:  # NaN (no lips measured) too
            return cfg.hands_every
        return cfg.hands_idle_every

    def _measure(self, frame: Frame, lm: np.ndarray | None) -> _Measured:
        """The worker thread's part: everything that needs only this frame."""
        thumb = thumbnail(frame.image)
        change, self._thumb = frame_change(self._thumb, thumb), thumb
        previous, self._image = self._image, frame.image
        if lm is None:
            return _Measured(_NAN, _NAN, _NAN, _NAN, _NAN, _NAN, NO_COLOUR, change, _NAN)
        yaw, pitch, roll = self.pose.estimate(lm)
        return _Measured(
            coverage=coverage(lm, self.width, self.height, self.cfg.edge_margin),
            face_px=float(np.linalg.norm(lm[EYE_CORNERS[0], :2] - lm[EYE_CORNERS[1], :2])),
            edge_gap=edge_gap(lm, self.width, self.height),
            yaw=yaw, pitch=pitch, roll=roll,
            colour=lip_colour(frame.image, lm), change=change,
            mouth_change=mouth_change(previous, frame.image, lm))

    def add(self, frame: Frame, models: FaceModels, analyse: bool) -> None:
        """FaceMesh on `frame` (unless `analyse` is False: a skipped, faceless stretch)."""
        lm = models.landmarks(frame.image) if analyse else None
        self.rows["time_s"].append(frame.time_s)
        self.rows["present"].append(lm is not None)
        self.landmarks.append(_NO_FACE if lm is None else lm)
        submitted = (frame, lm, self._worker.submit(self._measure, frame, lm))
        previous, self._submitted = self._submitted, submitted
        if previous is not None:
            self._complete(models, *previous)

    def _complete(self, models: FaceModels, frame: Frame, lm: np.ndarray | None,
                  measured: Future[_Measured]) -> None:
        """Writes a frame's rows once its measurements are in, and runs Hands on it if due."""
        m, r = measured.result(), self.rows
        row = len(r["coverage"])
        for key in ("coverage", "face_px", "edge_gap", "yaw", "pitch", "roll", "change",
                    "mouth_change"):
            r[key].append(getattr(m, key))
        r["contrast"].append(m.colour.contrast)
        r["lip_ab"].append(tuple(m.colour.lip_ab))
        r["foreign"].append(m.colour.foreign)
        r["skinlike"].append(m.colour.skinlike)
        r["lightness"].append(m.colour.lightness)
        if lm is None:
            return
        self._recent.append((row, frame, lm))
        # Hands costs ~3 FaceMesh frames a call, so its rate follows the evidence of a cover.
        every = self._hands_every(frame.index, m.colour.foreign, m.colour.contrast)
        if frame.index - self.hands_at >= every:
            hands = models.hands_near(frame.image, lm)
            if not hands and every == self.cfg.hands_every:
                # While the cues suspect a cover, a miss gets a second, wider look: the palm
                # detector finds a hand at one crop and not at another (a narrow hand over a
                # small held-out face: 0 of 4 frames at the usual crop, 4 of 4 at twice it).
                hands = models.hands_near(frame.image, lm, reach=_SECOND_LOOK)
            self.hand_runs[row] = hand_cover(lm, hands) if hands else NO_HAND
            self._bisect(models, row)
            if hands:
                self.hand_seen_at = frame.index
            self.hands_at = frame.index

    def _bisect(self, models: FaceModels, row: int) -> None:
        """Runs Hands between the run on `row` and the one before it where they disagree about
        half the lips, halving the gap until the change lies between two adjacent frames."""
        runs, previous, self._last_run = self.hand_runs, self._last_run, row
        if previous is None:
            return
        lo, hi = previous, row
        before, after = runs[lo].mouth, runs[hi].mouth
        if abs(after - before) < DISAGREE or (min(before, after) >= _HALF) \
                or (max(before, after) < _HALF):
            return
        held = {r: (f, lm) for r, f, lm in self._recent}
        while hi - lo > 1 and (lo + hi) // 2 in held:
            mid = (lo + hi) // 2
            frame, lm = held[mid]
            hands = models.hands_near(frame.image, lm)
            runs[mid] = cover = hand_cover(lm, hands) if hands else NO_HAND
            if abs(cover.mouth - before) <= abs(cover.mouth - after):
                lo = mid
            else:
                hi = mid

    def finish(self, models: FaceModels, fps: float,
               detections: dict[int, np.ndarray]) -> FaceMeasures:
        if self._submitted is not None:
            self._complete(models, *self._submitted)
            self._submitted = None
        r = self.rows
        present = np.asarray(r["present"], bool)
        lip_ab = np.asarray(r["lip_ab"], np.float32).reshape(-1, 2)
        hand = spread(self.hand_runs, len(present), self.cfg.hands_blind_every // 2,
                      colour=lip_ab)  # (T, 3)
        hand[~present] = np.nan
        return FaceMeasures(
            fps=fps, width=self.width, height=self.height,
            landmarks=self.landmarks.finish(),
            time_s=np.asarray(r["time_s"], np.float64),
            present=present,
            coverage=np.asarray(r["coverage"], np.float32),
            face_px=np.asarray(r["face_px"], np.float32),
            edge_gap=np.asarray(r["edge_gap"], np.float32),
            yaw_deg=np.asarray(r["yaw"], np.float32),
            pitch_deg=np.asarray(r["pitch"], np.float32),
            roll_deg=np.asarray(r["roll"], np.float32),
            mouth=MouthEvidence(
                contrast=np.asarray(r["contrast"], np.float32),
                lip_ab=lip_ab,
                foreign=np.asarray(r["foreign"], np.float32),
                skinlike=np.asarray(r["skinlike"], np.float32),
                hand=hand[:, 0], inside=hand[:, 2],
                lightness=np.asarray(r["lightness"], np.float32)),
            upper_hand=hand[:, 1],
            change=np.asarray(r["change"], np.float32),
            mouth_change=np.asarray(r["mouth_change"], np.float32),
            detections=detections,
        )


def analyse_frames(frames: Iterable[Frame], width: int, height: int, fps: float,
                   cfg: FacesConfig, models: FaceModels,
                   landmarks: RowSpool | None = None) -> FaceMeasures:
    """Measures a stream of RGB frames (see `analyse_video`) into the `landmarks` spool."""
    detections: dict[int, np.ndarray] = {}
    pending: list[Frame] = []
    last_found: bool | None = None
    spool = landmarks if landmarks is not None else RowSpool(Path(tempfile.gettempdir()),
                                                             (LANDMARKS, 3))
    models.reset()  # a fresh tracking state: the same clip gives the same result after any other
    with _Accumulator(width, height, cfg, spool) as acc:
        next_sample = 0
        for frame in frames:
            if frame.index < next_sample:
                pending.append(frame)
                continue
            since = len(pending) + 1  # frames since the last sample, this one included
            boxes = models.faces(frame.image)
            detections[frame.index] = boxes
            found = len(boxes) > 0
            # Frames between two samples that both saw no face are skipped: a face that shows
            # for less than `detect_every` frames could never make a segment anyway.
            skip = cfg.skip_faceless and not found and last_found is False
            for f in pending:
                acc.add(f, models, analyse=not skip)
            pending.clear()
            acc.add(frame, models, analyse=not (cfg.skip_faceless and not found))
            last_found = found
            # One face that FaceMesh held on every frame since the last sample: slow the
            # pre-pass.
            steady = len(boxes) == 1 and all(acc.rows["present"][-since:])
            next_sample = frame.index + (cfg.detect_steady_every if steady else cfg.detect_every)
        for f in pending:
            acc.add(f, models, analyse=True)
        return acc.finish(models, fps, detections)


def analyse_video(path: Path, cfg: FacesConfig, models: FaceModels,
                  spool_dir: Path | None = None) -> FaceMeasures:
    """Streams the video through the models and measures every frame.

    The landmarks are collected in a file `.tmp-<video stem>-*.rows` in `spool_dir` (default:
    the system's temporary folder), so memory stays flat however long the video; the file goes
    with the last reference to `FaceMeasures.landmarks`.

    Raises:
        UnreadableVideo: the file is missing, corrupt or holds no video frame.
    """
    info = video_info(path)
    # The pre-pass holds back up to `detect_steady_every` frames before FaceMesh takes them in a
    # burst, so the decoder runs that far ahead, and a few frames more to cover a Hands call.
    depth = max(cfg.detect_every, cfg.detect_steady_every) + _READ_AHEAD_SLACK
    spool = RowSpool(Path(spool_dir or tempfile.gettempdir()), (LANDMARKS, 3), name=path.stem)
    with contextlib.closing(read_ahead(iter_frames(path), depth)) as frames:
        measures = analyse_frames(frames, info.width, info.height, info.fps, cfg, models, spool)
    span = float(measures.time_s[-1] - measures.time_s[0]) if measures.frames > 1 else 0.0
    # A variable frame rate (phone video) keeps its mean rate; constant-rate input is unchanged.
    if span > 0 and abs(span * info.fps - (measures.frames - 1)) > 1:
        measures.fps = (measures.frames - 1) / span
    log.debug("analysed %s: %d frames, %d with a face", path, measures.frames,
              int(measures.present.sum()))
    return measures


def analyse_image(image: np.ndarray, cfg: FacesConfig, models: FaceModels) -> FaceMeasures:
    """Measures one BGR still image as a one-frame clip (use `FaceModels(static=True)`)."""
    h, w = image.shape[:2]
    frame = Frame(0, 0.0, cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
    return analyse_frames([frame], w, h, 1.0, cfg.model_copy(update={"skip_faceless": False}),
                          models)

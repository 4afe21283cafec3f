"""Streams a video's frames one at a time, so memory stays flat however long the video is.

OpenCV's bundled FFmpeg decodes H.264 and HEVC (phone .mov files) and applies the rotation tag.
Frames come with their presentation time, so a variable-frame-rate file still maps frame index to
time; the download stage's constant-rate files simply give index / fps.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from manifests.errors import CradleError

log = logging.getLogger(__name__)


class UnreadableVideo(CradleError):
    """The file cannot be opened as a video or yields no frame (a data fault: corrupt media)."""


@dataclass(frozen=True)
class Frame:
    """One decoded frame: its index, its presentation time and its BGR pixels."""

    index: int
    time_s: float
    image: np.ndarray  # (H, W, 3) uint8 BGR


@dataclass(frozen=True)
class VideoInfo:
    """What the container says; `frames` is an estimate (exact only for constant frame rates)."""

    width: int
    height: int
    fps: float
    frames: int


def probe(path: Path) -> VideoInfo:
    """Reads the size, frame rate and frame count from the container.

    Raises:
        UnreadableVideo: the file is missing, empty or not a video.
    """
    capture = _open(path)
    try:
        info = VideoInfo(
            width=int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)),
            height=int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)),
            fps=float(capture.get(cv2.CAP_PROP_FPS)) or 30.0,
            frames=int(capture.get(cv2.CAP_PROP_FRAME_COUNT)),
        )
    finally:
        capture.release()
    if info.width <= 0 or info.height <= 0:
        raise UnreadableVideo(f"{path}: no video stream")
    return info


def iter_frames(path: Path) -> Iterator[Frame]:
    """Yields the frames in decoding order; only one frame is held at a time.

    Raises:
        UnreadableVideo: the file cannot be opened or decodes to no frame at all.
    """
    capture = _open(path)
    fps = float(capture.get(cv2.CAP_PROP_FPS)) or 30.0
    index = 0
    try:
        while True:
            ok, image = capture.read()
            if not ok:
                break
            msec = capture.get(cv2.CAP_PROP_POS_MSEC)
            yield Frame(index, msec / 1000 if msec > 0 or index == 0 else index / fps, image)
            index += 1
    finally:
        capture.release()
    if index == 0:
        raise UnreadableVideo(f"{path}: no frame could be decoded")


def _open(path: Path) -> cv2.VideoCapture:
    if not Path(path).is_file() or Path(path).stat().st_size == 0:
        raise UnreadableVideo(f"{path}: missing or empty")
    capture = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    if not capture.isOpened():
        capture.release()
        raise UnreadableVideo(f"{path}: cannot be opened as a video")
    return capture

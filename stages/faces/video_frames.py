"""Streams a video's frames one at a time, so memory stays flat however long the video is.

OpenCV's bundled FFmpeg decodes H.264 and HEVC (phone .mov files) and applies the rotation tag.
Frames come with their presentation time, so a variable-frame-rate file still maps frame index to
time; the download stage's constant-rate files simply give index / fps. `read_ahead` decodes a
few frames ahead on a thread, so decoding overlaps whatever the consumer does with each frame.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Generator, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar, cast

import cv2
import numpy as np

log = logging.getLogger(__name__)

T = TypeVar("T")


class UnreadableVideo(Exception):
    """The file cannot be opened as a video or yields no frame (a data fault: corrupt media)."""


@dataclass(frozen=True)
class Frame:
    """One decoded frame: its index, its presentation time and its RGB pixels."""

    index: int
    time_s: float
    image: np.ndarray  # (H, W, 3) uint8 RGB, the order MediaPipe takes


@dataclass(frozen=True)
class VideoInfo:
    """What the container says; `frames` is an estimate (exact only for constant frame rates)."""

    width: int
    height: int
    fps: float
    frames: int


def video_info(path: Path) -> VideoInfo:
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
        raise UnreadableVideo(f"{path.name}: no video stream")
    return info


def iter_frames(path: Path) -> Iterator[Frame]:
    """Yields the RGB frames in decoding order; only one frame is held at a time.

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
            yield Frame(index, msec / 1000 if msec > 0 or index == 0 else index / fps,
                        cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
            index += 1
    finally:
        capture.release()
    if index == 0:
        raise UnreadableVideo(f"{path.name}: no frame could be decoded")


def read_ahead(items: Iterable[T], depth: int = 4) -> Generator[T, None, None]:
    """Yields `items` while a thread produces up to `depth` more.

    OpenCV releases the GIL while it decodes, so a consumer that waits on MediaPipe or numpy
    overlaps with the decoding of the next frames; `depth` bounds the frames held at once. An
    exception of the producer reaches the consumer after the items before it; closing the
    generator early stops the thread (and closes `items`).
    """
    ready: queue.Queue[tuple[str, object]] = queue.Queue(depth)
    stop = threading.Event()

    def offer(entry: tuple[str, object]) -> bool:
        while not stop.is_set():
            try:
                ready.put(entry, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        source = iter(items)
        try:
            for item in source:
                if not offer(("item", item)):
                    return
            offer(("done", None))
        except BaseException as e:  # handed to the consumer, which raises it
            offer(("error", e))
        finally:
            close = getattr(source, "close", None)
            if close is not None:
                close()

    thread = threading.Thread(target=produce, name="read-ahead", daemon=True)
    thread.start()
    try:
        while True:
            kind, value = ready.get()
            if kind == "done":
                return
            if kind == "error":
                raise cast(BaseException, value)
            yield cast(T, value)
    finally:
        stop.set()
        thread.join()


def _open(path: Path) -> cv2.VideoCapture:
    if not Path(path).is_file() or Path(path).stat().st_size == 0:
        raise UnreadableVideo(f"{path.name}: missing or empty")
    # One decoding thread: the stage runs a process per core and decodes on its own thread
    # (`read_ahead`), where FFmpeg's frame threads only add ~20 % of CPU to hand frames over.
    capture = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG, [cv2.CAP_PROP_N_THREADS, 1])
    if not capture.isOpened():
        capture.release()
        raise UnreadableVideo(f"{path.name}: cannot be opened as a video")
    return capture

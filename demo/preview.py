"""`write_contact_sheet`: one image that shows what every demo clip looks like.

A person checks at a glance that faces look like faces, that mouths open, and that each variant
shows its event (the occluder over the mouth, the face half out of the frame, the turned head).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import cv2
import numpy as np

from manifests.files import atomic_path

log = logging.getLogger(__name__)

THUMB = (240, 180)  # (width, height) of one frame in the sheet
FRAMES_PER_ROW = 4


def _pick_frames(truth: dict) -> list[int]:
    """Frames worth seeing: before the event, inside it, and the widest-open mouth."""
    n = truth["video"]["n_frames"]
    fps = truth["video"]["fps"]
    span = truth["video"].get("event_span_s")
    jaw = np.asarray(truth["frames"]["jaw"])
    widest = int(np.argmax(jaw))
    if span:
        a, b = (int(s * fps) for s in span)
        picks = [max(0, a - fps), a + (b - a) // 3, (a + b) // 2, widest]
    else:
        picks = [fps // 2, n // 3, (2 * n) // 3, widest]
    return [min(max(p, 0), n - 1) for p in picks]


def _grab(video: Path, indices: list[int]) -> list[np.ndarray | None]:
    cap = cv2.VideoCapture(str(video))
    frames: list[np.ndarray | None] = []
    try:
        for i in indices:
            cap.set(cv2.CAP_PROP_POS_FRAMES, i)
            ok, frame = cap.read()
            frames.append(cv2.resize(frame, THUMB) if ok else None)
    finally:
        cap.release()
    return frames


def _tile(frame: np.ndarray | None, text: str) -> np.ndarray:
    if frame is None:
        frame = np.full((THUMB[1], THUMB[0], 3), 60, np.uint8)
        cv2.putText(frame, text, (10, THUMB[1] // 2), cv2.FONT_HERSHEY_SIMPLEX, 0.5,
                    (200, 200, 255), 1, cv2.LINE_AA)
    return frame


def write_contact_sheet(corpus_dir: Path, out_png: Path) -> Path:
    """Writes a PNG grid: one labelled row of frames per variant of the corpus.

    Args:
        corpus_dir: a folder written by `generate_corpus`.
        out_png: where to write the sheet.

    Returns:
        `out_png`.
    """
    corpus_dir = Path(corpus_dir)
    index = json.loads((corpus_dir / "corpus.json").read_text())
    rows = []
    for clip in index["clips"]:
        truth = json.loads((corpus_dir / f"{clip['name']}.json").read_text())
        expected = truth["expected"]
        label = f"{clip['name']}: {expected['verdict']}"
        if expected["reason"]:
            label += f" ({expected['stage']}: {expected['reason']})"
        if truth.get("video") and truth.get("frames"):
            picks = _pick_frames(truth)
            frames = _grab(corpus_dir / f"{clip['name']}.mp4", picks)
        else:
            picks, frames = [], [None] * FRAMES_PER_ROW
        tiles = []
        for k, frame in enumerate(frames):
            tile = _tile(frame, "no video frames").copy()
            if k < len(picks):
                cv2.putText(tile, f"#{picks[k]}", (4, THUMB[1] - 6), cv2.FONT_HERSHEY_SIMPLEX,
                            0.4, (255, 255, 255), 1, cv2.LINE_AA)
            tiles.append(tile)
        bar = np.full((22, THUMB[0] * FRAMES_PER_ROW, 3), 30, np.uint8)
        cv2.putText(bar, label, (6, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1,
                    cv2.LINE_AA)
        rows.append(np.vstack([bar, np.hstack(tiles)]))
    sheet = np.vstack(rows)
    with atomic_path(Path(out_png)) as tmp:
        if not cv2.imwrite(str(tmp), sheet):
            raise RuntimeError(f"could not write the contact sheet {out_png}")
    log.info("contact sheet of %d clips written to %s", len(rows), out_png)
    return Path(out_png)

"""Helpers for the demo tests: ground truth, FaceMesh tracking, decoding and probing."""

from __future__ import annotations

import functools
import json
import subprocess
from pathlib import Path
from typing import Any

import cv2
import numpy as np


def truth(corpus: Path, name: str) -> dict[str, Any]:
    return json.loads((corpus / f"{name}.json").read_text())


@functools.lru_cache(maxsize=32)
def face_mesh_track(video: Path, max_faces: int = 1) -> tuple[list[int], list[np.ndarray | None]]:
    """Runs FaceMesh in tracking mode over a video: faces per frame, first face's landmarks (px)."""
    import mediapipe as mp

    counts: list[int] = []
    points: list[np.ndarray | None] = []
    cap = cv2.VideoCapture(str(video))
    with mp.solutions.face_mesh.FaceMesh(static_image_mode=False, refine_landmarks=True,
                                         max_num_faces=max_faces) as mesh:
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            h, w = frame.shape[:2]
            result = mesh.process(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
            faces = result.multi_face_landmarks or []
            counts.append(len(faces))
            points.append(np.array([[p.x * w, p.y * h] for p in faces[0].landmark])
                          if faces else None)
    cap.release()
    return counts, points


def decode_audio(path: Path, sr: int = 16_000) -> np.ndarray:
    """Decodes a clip's audio as ffmpeg would for the pipeline (mono float32)."""
    raw = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-f", "f32le", "-ac", "1",
                          "-ar", str(sr), "-"], capture_output=True, check=True).stdout
    return np.frombuffer(raw, np.float32)


def ffprobe(path: Path) -> tuple[int, dict[str, Any]]:
    result = subprocess.run(["ffprobe", "-v", "error", "-print_format", "json", "-show_format",
                             "-show_streams", str(path)], capture_output=True, text=True,
                            check=False)
    return result.returncode, (json.loads(result.stdout) if result.stdout.strip() else {})


def f0_per_frame(x: np.ndarray, sr: int = 16_000) -> np.ndarray:
    """Autocorrelation F0 (Hz) of voiced 40 ms frames; 0 where a frame is quiet or unvoiced."""
    n, out = int(0.04 * sr), []
    floor = 0.1 * np.sqrt(np.mean(x**2))
    for start in range(0, len(x) - n, n):
        frame = x[start:start + n] - x[start:start + n].mean()
        if np.sqrt(np.mean(frame**2)) < floor:
            out.append(0.0)
            continue
        ac = np.correlate(frame, frame, "full")[n - 1:]
        lo, hi = sr // 700, sr // 70
        lag = lo + int(np.argmax(ac[lo:hi]))
        out.append(sr / lag if ac[lag] > 0.4 * ac[0] else 0.0)
    return np.asarray(out)

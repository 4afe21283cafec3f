"""A preview video of generated motion: the FaceMesh wireframe, with the audio muxed by ffmpeg.

The face models here carry no triangles, so the preview draws MediaPipe's tesselation edges
between the points the model places at MediaPipe landmarks (all 468 for the open model and for
landmark targets; the correspondence's points for INFACE), front view, orthographic.
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

import cv2
import numpy as np

from manifests.errors import CradleError
from manifests.files import atomic_path

SIZE = 480  # px, square frames


class PreviewError(CradleError):
    """ffmpeg could not write the preview."""


def tesselation() -> list[tuple[int, int]]:
    from mediapipe.python.solutions.face_mesh_connections import FACEMESH_TESSELATION

    return sorted(FACEMESH_TESSELATION)


class Wireframe:
    """Draws one sequence's FaceMesh wireframe a frame at a time, in one fixed view."""

    def __init__(self, points: np.ndarray, landmark_ids: np.ndarray) -> None:
        xy = points[..., :2] * np.array([1.0, -1.0])  # (F, M, 2) image axes: y down
        centre = xy.reshape(-1, 2).mean(0)
        extent = float(np.abs(xy.reshape(-1, 2) - centre).max()) or 1.0
        self.pixels = (xy - centre) / extent * (0.42 * SIZE) + SIZE / 2  # (F, M, 2)
        where = {int(lm): i for i, lm in enumerate(landmark_ids)}
        self.edges = np.array([(where[a], where[b]) for a, b in tesselation()
                               if a in where and b in where]).reshape(-1, 2)  # (E, 2)

    def __len__(self) -> int:
        return len(self.pixels)

    def frame(self, f: int) -> np.ndarray:
        """(SIZE, SIZE, 3) uint8: every edge in one anti-aliased polyline call."""
        image = np.full((SIZE, SIZE, 3), 24, dtype=np.uint8)
        p = np.round(self.pixels[f] * 16).astype(np.int32)  # 4 fractional bits for anti-aliasing
        cv2.polylines(image, list(p[self.edges]), False, (200, 220, 255), 1, cv2.LINE_AA, shift=4)
        return image


def render_frames(points: np.ndarray, landmark_ids: np.ndarray) -> np.ndarray:
    """(F, M, 3) model-frame points (y up) -> (F, SIZE, SIZE, 3) uint8 wireframe frames."""
    wire = Wireframe(points, landmark_ids)
    return np.stack([wire.frame(f) for f in range(len(wire))])


def write_preview(points: np.ndarray, landmark_ids: np.ndarray, fps: float, audio: Path,
                  out: Path) -> Path:
    """Renders the wireframe and muxes `audio` (any format ffmpeg reads) into an H.264 mp4.

    Frames are drawn and piped to ffmpeg one at a time, so memory does not grow with the
    audio's length."""
    wire = Wireframe(points, landmark_ids)
    with atomic_path(out) as tmp:
        cmd = ["ffmpeg", "-y", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "bgr24",
               "-s", f"{SIZE}x{SIZE}", "-r", f"{fps}", "-i", "-", "-i", str(audio),
               "-map", "0:v", "-map", "1:a", "-c:v", "libx264", "-pix_fmt", "yuv420p",
               "-c:a", "aac", "-shortest", str(tmp)]
        with tempfile.TemporaryFile() as errors:
            ffmpeg = subprocess.Popen(cmd, stdin=subprocess.PIPE, stderr=errors)
            assert ffmpeg.stdin is not None
            try:
                for f in range(len(wire)):
                    ffmpeg.stdin.write(wire.frame(f).tobytes())
            except BrokenPipeError:
                pass  # ffmpeg stopped early; its exit code and message say why
            finally:
                ffmpeg.stdin.close()
            if ffmpeg.wait():
                errors.seek(0)
                message = errors.read().decode(errors="replace").strip()[-300:]
                raise PreviewError(f"ffmpeg could not write the preview: {message}")
    return out

"""The MediaPipe graphs of one worker process: FaceMesh, BlazeFace and Hands.

Loading the graphs costs ~0.3 s, so a worker keeps one `FaceModels` for all its clips; `reset()`
before each clip gives FaceMesh a fresh tracking state, so that a clip's landmarks never depend
on where the previous clip's face was (a stale track lost frame 0 and shifted landmarks by up to
1.5 px). Restarting the graphs costs ~5 ms.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

# A NormalizedLandmark holding only x, y and z serialises to 17 bytes: the list's field tag and
# length, then three (tag, little-endian float32) pairs. Reading the floats out of that buffer
# costs ~20 us a frame against ~200-400 us for 1,434 attribute reads through the protobuf objects.
_WIRE_SIZE = 17
_WIRE_TAGS = {0: 0x0A, 1: 0x0F, 2: 0x0D, 7: 0x15, 12: 0x1D}  # byte offset -> expected byte
_WIRE_FLOATS = np.r_[3:7, 8:12, 13:17]


def _points(landmarks: Any) -> np.ndarray:
    """(N, 3) float32 normalised x, y, z of a `NormalizedLandmarkList`, read without a loop."""
    wire = np.frombuffer(landmarks.SerializeToString(), np.uint8)
    n = len(landmarks.landmark)
    if n and wire.size == n * _WIRE_SIZE:
        rows = wire.reshape(n, _WIRE_SIZE)
        if all((rows[:, at] == tag).all() for at, tag in _WIRE_TAGS.items()):
            return rows[:, _WIRE_FLOATS].copy().view("<f4").astype(np.float32)  # (N, 3)
    # Any other layout (visibility set, a future field): the slow, always-correct path.
    return np.array([(p.x, p.y, p.z) for p in landmarks.landmark], np.float32).reshape(-1, 3)


class FaceModels:
    """The MediaPipe graphs one process needs; close them (or use `with`) to free their threads."""

    def __init__(self, static: bool = False) -> None:
        import mediapipe as mp

        # One MediaPipe process per core, so OpenCV's own thread pool has no core to gain and
        # only adds hand-off cost on the small per-frame crops: the lip colour took 1.2 ms a
        # frame with two threads, 0.5 ms with one.
        cv2.setNumThreads(1)
        self.static = static
        self.mesh = mp.solutions.face_mesh.FaceMesh(
            static_image_mode=static, refine_landmarks=True, max_num_faces=1,
            min_detection_confidence=0.5, min_tracking_confidence=0.5)
        self.detector = mp.solutions.face_detection.FaceDetection(
            model_selection=0, min_detection_confidence=0.5)
        # Static mode: Hands runs on sparse frames, where tracking from the last call is stale.
        # The full model (complexity 1, ~1.5x the lite one's time): the lite one lost fingers
        # held edge-on over a mouth, or placed them beside it (22 of 124 covered composite frames
        # against 8), and Hands runs on a frame in 60 while the lips look clear.
        self.hands = mp.solutions.hands.Hands(static_image_mode=True, max_num_hands=2,
                                              model_complexity=1, min_detection_confidence=0.5)

    def _graphs(self) -> tuple[Any, ...]:
        return self.mesh, self.detector, self.hands

    def reset(self) -> None:
        """Starts every graph afresh: no tracking state, timestamps from zero (once per clip)."""
        for graph in self._graphs():
            graph.reset()
            # `process` stamps packets with its own counter; restart it too, so that a clip sees
            # exactly the packets it would see as the worker's first clip.
            if hasattr(graph, "_simulated_timestamp"):
                graph._simulated_timestamp = 0

    def close(self) -> None:
        for graph in self._graphs():
            graph.close()

    def __enter__(self) -> FaceModels:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def landmarks(self, rgb: np.ndarray) -> np.ndarray | None:
        """The first face's (478, 3) landmarks in pixels (z on the x scale), or None."""
        h, w = rgb.shape[:2]
        result = self.mesh.process(rgb)
        if not result.multi_face_landmarks:
            return None
        return _points(result.multi_face_landmarks[0]) * np.array((w, h, w), np.float32)

    def faces(self, rgb: np.ndarray) -> np.ndarray:
        """BlazeFace boxes (K, 4) as x0, y0, x1, y1 in pixels."""
        h, w = rgb.shape[:2]
        result = self.detector.process(rgb)
        boxes = [d.location_data.relative_bounding_box for d in result.detections or []]
        return np.array([[b.xmin * w, b.ymin * h, (b.xmin + b.width) * w,
                          (b.ymin + b.height) * h] for b in boxes], np.float32).reshape(-1, 4)

    def hands_near(self, rgb: np.ndarray, face: np.ndarray,
                   reach: float = 1.0) -> list[np.ndarray]:
        """(21, 2) pixel landmarks of each hand near the face (Hands runs on a crop around it).

        The crop reaches `reach` face sizes to each side and below the face, half that above
        it: where a hand that covers the face comes from.
        """
        h, w = rgb.shape[:2]
        lo, hi = np.nanmin(face[:, :2], 0), np.nanmax(face[:, :2], 0)
        size = reach * float(max(hi - lo))
        x0, y0 = int(max(0, lo[0] - size)), int(max(0, lo[1] - 0.5 * size))
        x1, y1 = int(min(w, hi[0] + size)), int(min(h, hi[1] + size))
        if x1 - x0 < 16 or y1 - y0 < 16:
            return []
        result = self.hands.process(np.ascontiguousarray(rgb[y0:y1, x0:x1]))
        scale = np.array([x1 - x0, y1 - y0], np.float32)
        return [_points(hand)[:, :2] * scale + np.array([x0, y0], np.float32)
                for hand in result.multi_hand_landmarks or []]

"""Test and bench helpers for the faces stage: real hands cut from real photos, pasted over
real faces, and the per-frame scoring of the stage against them.

The hands come from `../shared/fixtures/faces/images` (`hand_on_cheek.jpg`, `hand_on_forehead.png`)
and are cut out at run time along a silhouette drawn from MediaPipe Hands' landmarks (a little
grown, feathered at its edge); nothing is copied into the repository. The cut has its own drawing,
not the stage's estimate of a hand (`stages.faces.hands.hand_mask`): the truth must not move when
the stage's estimate does. Each composite clip starts with `CLEAN` clean frames (the clip's own
lips calibrate the colour cues), then takes the hand in `PASSES`: over the mouth at three sizes,
beside it on either side and below the chin, each sliding in and out. The truth is the share of
the lips (from FaceMesh on the clean frames) under the pasted hand.
"""

from __future__ import annotations

import multiprocessing
import subprocess
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from demo.face import draw_occluder
from manifests.facemesh import EYE_CORNERS, OUTER_LIPS
from stages.faces.analysis import FaceMeasures, FaceModels, analyse_video
from stages.faces.config import FacesConfig

HAND_PHOTOS = ("hand_on_cheek.jpg", "hand_on_forehead.png")
# (size in eye-corner distances, offset from the mouth in eye-corner distances)
PASSES = [(1.5, (0.0, 0.0)), (1.5, (1.6, -0.2)), (1.9, (0.1, 0.1)), (1.9, (-1.9, 0.0)),
          (2.3, (-0.1, 0.05)), (1.9, (0.0, 1.4))]
CLEAN, PASS, GAP = 20, 16, 10
COMPOSITE_FRAMES = CLEAN + len(PASSES) * (PASS + GAP)
# The fingers' middle joints go over the target: the palm stays beside or below the face.
ANCHORS = {"hand_on_cheek.jpg": (10, 11), "hand_on_forehead.png": (6, 10, 14)}


@dataclass(frozen=True)
class Hand:
    """A real hand cut out of a photo: its pixels, a soft mask and its landmarks, in the patch."""

    rgb: np.ndarray  # (h, w, 3) uint8
    alpha: np.ndarray  # (h, w) float32 in [0, 1]
    points: np.ndarray  # (21, 2) Hands landmarks in patch pixels

    @property
    def size(self) -> float:
        """The hand's length: wrist to the middle finger's tip."""
        return float(np.linalg.norm(self.points[12] - self.points[0]))


def read_rgb(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise FileNotFoundError(path)
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def _silhouette(points: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """A hand photo's silhouette: the palm's polygon and a stroke per finger, as wide as the
    knuckles' spacing (the photos show their hands face-on)."""
    width = max(2, round(1.1 * float(np.median(np.linalg.norm(
        np.diff(points[[5, 9, 13, 17]], axis=0), axis=1)))))
    palm = np.zeros(shape, np.uint8)
    cv2.fillPoly(palm, [np.round(points[[0, 1, 2, 5, 9, 13, 17]]).astype(np.int32)], 1)
    mask = cv2.dilate(palm, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (width, width)))
    for finger in ((1, 2, 3, 4), (5, 6, 7, 8), (9, 10, 11, 12), (13, 14, 15, 16),
                   (17, 18, 19, 20)):
        joints = np.round(points[list(finger)]).astype(np.int32)
        cv2.polylines(mask, [joints], False, 1, thickness=width, lineType=cv2.LINE_8)
        for x, y in joints[[0, -1]]:
            cv2.circle(mask, (int(x), int(y)), width // 2, 1, -1)
    return mask


def cut_hand(photo: np.ndarray) -> Hand:
    """The photo's largest hand, cut along its silhouette from Hands' landmarks."""
    import mediapipe as mp

    h, w = photo.shape[:2]
    with mp.solutions.hands.Hands(static_image_mode=True, max_num_hands=2,
                                  model_complexity=1, min_detection_confidence=0.3) as hands:
        result = hands.process(photo)
    if not result.multi_hand_landmarks:
        raise RuntimeError("Hands found no hand in a hand photo; check mediapipe")
    found = [np.array([[p.x * w, p.y * h] for p in hand.landmark], np.float32)
             for hand in result.multi_hand_landmarks]
    points = max(found, key=lambda p: float(np.ptp(p, axis=0).prod()))
    grow = max(3, int(0.02 * np.ptp(points, axis=0).max()))
    mask = cv2.GaussianBlur(cv2.dilate(_silhouette(points, (h, w)).astype(np.float32),
                                       np.ones((grow, grow), np.uint8)), (0, 0), grow / 2)
    ys, xs = np.nonzero(mask > 0.02)
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    return Hand(photo[y0:y1, x0:x1].copy(), mask[y0:y1, x0:x1].copy(),
                points - np.array([x0, y0], np.float32))


def paste(frame: np.ndarray, hand: Hand, anchor: np.ndarray, target: np.ndarray,
          size: float) -> np.ndarray:
    """`frame` with the hand scaled to `size` px long and landmark `anchor` placed at `target`.

    Args:
        anchor: a point in the hand patch (e.g. between the knuckles) that lands on `target`.
    """
    scale = size / hand.size
    rgb = cv2.resize(hand.rgb, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    alpha = cv2.resize(hand.alpha, (rgb.shape[1], rgb.shape[0]), interpolation=cv2.INTER_AREA)
    x0, y0 = np.round(np.asarray(target) - np.asarray(anchor) * scale).astype(int)
    out = frame.copy()
    h, w = out.shape[:2]
    fx0, fy0 = max(0, x0), max(0, y0)
    fx1, fy1 = min(w, x0 + rgb.shape[1]), min(h, y0 + rgb.shape[0])
    if fx1 <= fx0 or fy1 <= fy0:
        return out
    a = alpha[fy0 - y0:fy1 - y0, fx0 - x0:fx1 - x0, None]
    region = out[fy0:fy1, fx0:fx1].astype(np.float32)
    patch = rgb[fy0 - y0:fy1 - y0, fx0 - x0:fx1 - x0].astype(np.float32)
    out[fy0:fy1, fx0:fx1] = np.round(a * patch + (1 - a) * region).astype(np.uint8)
    return out


def write_video(frames: list[np.ndarray], path: Path, fps: float = 30.0,
                audio: bool = False) -> Path:
    """RGB frames to an H.264 mp4 (CRF 18, as the download stage writes), optionally with a tone."""
    h, w = frames[0].shape[:2]
    command = ["ffmpeg", "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s",
               f"{w}x{h}", "-r", str(fps), "-i", "-"]
    if audio:
        command += ["-f", "lavfi", "-i", f"sine=frequency=440:duration={len(frames) / fps}",
                    "-c:a", "aac", "-shortest"]
    command += ["-c:v", "libx264", "-preset", "veryfast", "-crf", "18", "-pix_fmt", "yuv420p",
                str(path)]
    subprocess.run(command, input=b"".join(np.ascontiguousarray(f).tobytes() for f in frames),
                   check=True)
    return path


def read_frames(path: Path) -> list[np.ndarray]:
    capture = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
    capture.release()
    return frames


def even(image: np.ndarray, long_side: int) -> np.ndarray:
    """The image scaled to `long_side` px on its long side, with even sides (for yuv420p)."""
    scale = long_side / max(image.shape[:2])
    h, w = (round(s * scale) // 2 * 2 for s in image.shape[:2])
    return cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA)


def lips_polygon(landmarks: np.ndarray) -> np.ndarray:
    return np.round(landmarks[list(OUTER_LIPS), :2]).astype(np.int32)


def cover_of(alpha_frame: np.ndarray, polygon: np.ndarray) -> float:
    """The share of a polygon under a (H, W) alpha map (> 0.5 counts as covered)."""
    mask = np.zeros(alpha_frame.shape, np.uint8)
    cv2.fillPoly(mask, [polygon], 1)
    return float((alpha_frame[mask > 0] > 0.5).mean()) if mask.any() else 0.0


def pasted_alpha(shape: tuple[int, int], hand: Hand, anchor: np.ndarray, target: np.ndarray,
                 size: float) -> np.ndarray:
    """Where `paste` puts the hand, as a (H, W) alpha map."""
    white = Hand(np.full(hand.rgb.shape, 255, np.uint8), hand.alpha, hand.points)
    return paste(np.zeros((*shape, 3), np.uint8), white, anchor, target, size)[..., 0] / 255.0


def _mesh(frames: list[np.ndarray]) -> list[np.ndarray | None]:
    import mediapipe as mp

    out: list[np.ndarray | None] = []
    with mp.solutions.face_mesh.FaceMesh(refine_landmarks=True, max_num_faces=1) as mesh:
        for frame in frames:
            h, w = frame.shape[:2]
            faces = mesh.process(frame).multi_face_landmarks
            out.append(np.array([[p.x * w, p.y * h] for p in faces[0].landmark])
                       if faces else None)
    return out


def photo_clip(photo: np.ndarray, n: int) -> list[np.ndarray]:
    """A photo that sways by a pixel or two (a still would be rejected as static)."""
    h, w = photo.shape[:2]
    sway = [np.array([[1, 0, 2 * np.sin(t / 7)], [0, 1, 1.5 * np.sin(t / 11)]], np.float32)
            for t in range(n)]
    return [cv2.warpAffine(photo, m, (w, h), borderMode=cv2.BORDER_REFLECT) for m in sway]


def composite(frames: list[np.ndarray], photo: str, shared: Path,
              out: Path) -> tuple[Path, np.ndarray]:
    """`frames` with the photo's hand in `PASSES`, written to `out`; returns it and the per-frame
    share of the lips under the hand."""
    hand = cut_hand(read_rgb(shared / "fixtures" / "faces" / "images" / photo))
    anchor = hand.points[list(ANCHORS[photo])].mean(0)
    faces = _mesh(frames)
    pasted, truth = [], []
    for i, (frame, face) in enumerate(zip(frames, faces, strict=True)):
        k, j = divmod(i - CLEAN, PASS + GAP)
        if i < CLEAN or j >= PASS or face is None:
            pasted.append(frame)
            truth.append(0.0)
            continue
        size, (dx, dy) = PASSES[k]
        iod = float(np.linalg.norm(face[EYE_CORNERS[0]] - face[EYE_CORNERS[1]]))
        slide = max(0.0, 1 - j / 4, (j - 11) / 4)  # in from below over 4 frames, out likewise
        target = face[[13, 14]].mean(0) + iod * np.array([dx, dy + 1.2 * slide])
        pasted.append(paste(frame, hand, anchor, target, size * iod))
        alpha = pasted_alpha(frame.shape[:2], hand, anchor, target, size * iod)
        truth.append(cover_of(alpha, lips_polygon(face)))
    return write_video(pasted, out), np.array(truth)


# Pacifier shields (RGB), opaque: the common light blue and white plastics, and the other colours
# they are sold in (orange is redder than pale lips; pink is as red as lips).
SHIELDS = {"light_blue": (90, 170, 215), "white": (240, 240, 235), "orange": (240, 150, 60),
           "pink": (230, 160, 170), "green": (120, 200, 120), "yellow": (240, 220, 90),
           "dark_blue": (30, 50, 120)}


def with_pacifier(frames: list[np.ndarray], shield: str, start: int = 0) -> list[np.ndarray]:
    """`frames` (RGB) with the demo's pacifier over the mouth from frame `start` on, in one of
    `SHIELDS`' colours, placed on FaceMesh's lips."""
    out = []
    for i, (frame, face) in enumerate(zip(frames, _mesh(frames), strict=True)):
        frame = frame.copy()
        if i >= start and face is not None:
            draw_occluder(frame, face, "pacifier", shield=SHIELDS[shield])
        out.append(frame)
    return out


def _analyse_many(paths: list[Path]) -> list[FaceMeasures]:
    with FaceModels() as models:
        return [analyse_video(p, FacesConfig(), models) for p in paths]


def analyse_all(paths: list[Path]) -> dict[str, FaceMeasures]:
    """Analyses the videos over two processes (as the stage does), keyed by file stem."""
    halves = [paths[0::2], paths[1::2]]
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
        results = list(pool.map(_analyse_many, halves))
    out: dict[str, FaceMeasures] = {}
    for half, measures in zip(halves, results, strict=True):
        out.update({p.stem: m for p, m in zip(half, measures, strict=True)})
    return out


def precision_recall(predicted: np.ndarray, actual: np.ndarray) -> tuple[float, float]:
    hits = int((predicted & actual).sum())
    return hits / max(int(predicted.sum()), 1), hits / max(int(actual.sum()), 1)

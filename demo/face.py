"""Animated faces from real photos: a piecewise-affine warp over MediaPipe's landmark mesh.

The photos ship inside installed packages, so the demo needs no download. Landmarks are detected
once per photo; every frame then moves them (jaw, lips, eyelids, head pose, yaw in 3D) and pulls
pixels back from the photo triangle by triangle with one `cv2.remap`, so the result stays a real
face that MediaPipe tracks, while the ground truth of every frame is known exactly.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass

import cv2
import numpy as np
from scipy.spatial import Delaunay

from manifests import facemesh
from manifests.facemesh import (
    CHIN,
    EYES,
    FOREHEAD,
    INNER_LIPS,
    LANDMARKS,
    LOWER_LIP,
    UPPER_LIP,
)

log = logging.getLogger(__name__)

MOUTH_CORNERS = (*facemesh.MOUTH_CORNERS, *facemesh.INNER_MOUTH_CORNERS)  # all move with the jaw

# Face photos shipped by scikit-image and matplotlib. The installed packages ship no others the
# demo can animate: MediaPipe finds no face in scikit-image's "camera", and its `lfw_subset`
# faces are 25 px grey crops whose colourless lips the faces stage reads as covered.
PHOTOS = ("astronaut", "grace_hopper")
# The open mouth's interior (BGR). Dark red is what the faces stage's occlusion cues were
# measured on; FaceMesh reads it as a narrower mouth at small openings on the astronaut (whose
# teeth it paints over). Near-black is read in proportion to the opening on both photos, so the
# training clips, whose mouths must follow the voice at every loudness, use it.
MOUTH_RED = (40, 35, 95)
MOUTH_DARK = (25, 25, 35)


@dataclass(frozen=True)
class Scene:
    """A photo placed on a canvas larger than the frame, with its face's landmarks in canvas px.

    `landmarks` is (478, 3): x, y and MediaPipe's relative depth z (same pixel scale, larger is
    farther). `origin` is the canvas position of the frame's top-left corner when the camera is
    still; `None` landmarks means a scene without a face.
    """

    canvas: np.ndarray  # (Hc, Wc, 3) uint8 BGR
    landmarks: np.ndarray | None  # (478, 3) float64
    frame_size: tuple[int, int]  # (width, height)
    origin: tuple[int, int]
    mouth_bgr: tuple[int, int, int] = MOUTH_RED


@dataclass(frozen=True)
class Pose:
    """Everything that moves in one frame; all zero is the photo as it was."""

    jaw: float = 0.0  # 0 closed ... 1 fully open
    blink: float = 0.0  # 0 open ... 1 closed
    yaw_deg: float = 0.0  # head turn about the vertical axis, positive = towards image left
    pitch_deg: float = 0.0  # nod about the horizontal axis, positive = looking down
    roll_deg: float = 0.0
    scale: float = 1.0
    shift: tuple[float, float] = (0.0, 0.0)  # head translation in px
    camera: tuple[float, float] = (0.0, 0.0)  # camera pan in px; the face moves the other way
    occluder: str | None = None  # "hand", "pacifier" or None


def load_photo(name: str) -> np.ndarray:
    """Returns a package-shipped face photo as BGR, so the demo runs offline.

    Args:
        name: one of `PHOTOS`, or "coffee" for a photo without a face.
    """
    import matplotlib.cbook
    import skimage.data

    if name == "astronaut":
        return cv2.cvtColor(skimage.data.astronaut(), cv2.COLOR_RGB2BGR)
    if name == "coffee":
        return cv2.cvtColor(skimage.data.coffee(), cv2.COLOR_RGB2BGR)
    if name == "grace_hopper":
        path = matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)
        return cv2.imread(str(path), cv2.IMREAD_COLOR)
    raise ValueError(f"unknown demo photo {name!r}; use one of {(*PHOTOS, 'coffee')}")


@functools.lru_cache(maxsize=8)
def photo_landmarks(name: str) -> np.ndarray:
    """Detects the photo's 478 FaceMesh landmarks once (pixels; z on the x scale).

    Raises:
        RuntimeError: MediaPipe finds no face (a broken install or a changed photo).
    """
    import mediapipe as mp

    image = load_photo(name)
    h, w = image.shape[:2]
    with mp.solutions.face_mesh.FaceMesh(
        static_image_mode=True, refine_landmarks=True, max_num_faces=1
    ) as mesh:
        result = mesh.process(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
    if not result.multi_face_landmarks:
        raise RuntimeError(f"MediaPipe found no face in the demo photo {name!r}; check mediapipe")
    points = result.multi_face_landmarks[0].landmark
    return np.array([[p.x * w, p.y * h, p.z * w] for p in points], dtype=np.float64)


def make_scene(image: np.ndarray, landmarks: np.ndarray | None, frame_size: tuple[int, int],
               face_width: float, margin: tuple[int, int],
               mouth_bgr: tuple[int, int, int] = MOUTH_RED) -> Scene:
    """Scales the photo so the face is `face_width` px wide and centred in the frame.

    The canvas extends `margin` px beyond the frame on each side (for head motion and camera
    pans), filled by edge replication and a heavy blur, so no mirrored second face can appear.
    """
    fw, fh = frame_size
    mx, my = margin
    if landmarks is None:
        scale = max(fw / image.shape[1], fh / image.shape[0]) * 1.1
        centre = np.array([image.shape[1] / 2, image.shape[0] / 2]) * scale
        target = np.array([mx + fw / 2, my + fh / 2])
    else:
        scale = face_width / np.ptp(landmarks[:, 0])
        lo, hi = landmarks[:, :2].min(0), landmarks[:, :2].max(0)
        centre = (lo + hi) / 2 * scale
        target = np.array([mx + fw / 2, my + fh * 0.5])
    resized = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA
                         if scale < 1 else cv2.INTER_CUBIC)
    offset = np.round(target - centre).astype(int)
    cw, ch = fw + 2 * mx, fh + 2 * my
    # Pad the resized photo so that it covers the canvas, replicate edges, blur only the padding.
    left, top = max(0, offset[0]), max(0, offset[1])
    right = max(0, cw - (offset[0] + resized.shape[1]))
    bottom = max(0, ch - (offset[1] + resized.shape[0]))
    padded = cv2.copyMakeBorder(resized, top, bottom, left, right, cv2.BORDER_REPLICATE)
    blurred = cv2.GaussianBlur(padded, (0, 0), 25)
    inside = np.zeros(padded.shape[:2], np.float32)
    inside[top:top + resized.shape[0], left:left + resized.shape[1]] = 1.0
    inside = cv2.GaussianBlur(inside, (0, 0), 8)[..., None]
    padded = (padded * inside + blurred * (1 - inside)).astype(np.uint8)
    x0, y0 = left - offset[0], top - offset[1]
    canvas = np.ascontiguousarray(padded[y0:y0 + ch, x0:x0 + cw])
    points = None
    if landmarks is not None:
        points = landmarks * scale
        points[:, :2] += offset
    return Scene(canvas, points, (fw, fh), (mx, my), mouth_bgr)


@dataclass(frozen=True)
class _Mesh:
    triangles: np.ndarray  # (T, 3) indices into landmarks + inner ring + outer ring
    inner: np.ndarray  # (R, 2) points around the face that move with the head (hair, ears)
    outer: np.ndarray  # (R, 2) static points farther out; the warp fades to nothing there
    jaw_weight: np.ndarray  # (478,) how much each point follows the jaw
    roi: tuple[int, int, int, int]  # x0, y0, x1, y1 on the canvas


def _ellipse(centre: np.ndarray, radii: np.ndarray, n: int) -> np.ndarray:
    angles = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return centre + np.stack([np.cos(angles), np.sin(angles)], 1) * radii


@functools.lru_cache(maxsize=16)
def _mesh_for(landmarks_bytes: bytes) -> _Mesh:
    lm = np.frombuffer(landmarks_bytes).reshape(-1, 3)
    lo, hi = lm[:, :2].min(0), lm[:, :2].max(0)
    half = (hi - lo) / 2
    centre = (lo + hi) / 2
    inner = _ellipse(centre, half * 1.4, 20)
    outer = _ellipse(centre, half * 2.0, 24)
    triangles = Delaunay(np.vstack([lm[:, :2], inner, outer])).simplices.astype(np.int32)
    # The mandible moves rigidly below the mouth corners and less towards the ears.
    corner_y = lm[list(MOUTH_CORNERS), 1].mean()
    face_h = lm[CHIN, 1] - lm[FOREHEAD, 1]
    vertical = np.clip((lm[:, 1] - (corner_y - 0.02 * face_h)) / (0.12 * face_h), 0, 1)
    vertical = vertical * vertical * (3 - 2 * vertical)
    horizontal = np.clip(1 - 0.7 * ((lm[:, 0] - lm[CHIN, 0]) / half[0]) ** 2, 0.25, 1)
    weight = vertical * horizontal
    weight[list(UPPER_LIP)] = 0.0
    weight[list(LOWER_LIP)] = 1.0
    weight[list(MOUTH_CORNERS)] = 0.45
    x0, y0 = np.floor(outer.min(0)).astype(int)
    x1, y1 = np.ceil(outer.max(0)).astype(int)
    return _Mesh(triangles, inner, outer, weight, (int(x0), int(y0), int(x1) + 1, int(y1) + 1))


def pose_landmarks(scene: Scene, pose: Pose) -> np.ndarray:
    """The face's landmarks on the canvas after the pose is applied.

    Returns (478 + R, 3): the 478 landmarks, then the inner ring that moves with the head.
    """
    if scene.landmarks is None:
        raise ValueError("this scene has no face to pose")
    lm = scene.landmarks.copy()
    mesh = _mesh_for(scene.landmarks.tobytes())
    face_h = lm[CHIN, 1] - lm[FOREHEAD, 1]
    # 1. Jaw drop and mouth opening: the lower face moves down, the corners move in a little.
    drop = pose.jaw * 0.09 * face_h
    lm[:, 1] += drop * mesh.jaw_weight
    lm[[13, 82, 81, 312, 311], 1] -= 0.08 * drop
    mid_x = lm[CHIN, 0]
    lm[list(MOUTH_CORNERS), 0] -= 0.12 * pose.jaw * (lm[list(MOUTH_CORNERS), 0] - mid_x) * 0.5
    # 2. Blinks: each eye's lids and iris collapse towards a line near the lower lid.
    for eye in EYES:
        idx = list(eye)
        meet = np.percentile(lm[idx, 1], 70)
        lm[idx, 1] = meet + (lm[idx, 1] - meet) * (1 - 0.92 * pose.blink)
    # 3. Yaw in 3D about a vertical axis through the ears, pitch about a horizontal one, then
    # roll, scale and shift; the inner ring sits on those axes' plane, so hair and ears beside
    # the face turn and move with it.
    centre = lm[:, :2].mean(0)
    axis_z = lm[[234, 454], 2].mean()
    ring = np.column_stack([mesh.inner, np.full(len(mesh.inner), axis_z)])
    lm = np.vstack([lm, ring])
    t = np.deg2rad(pose.yaw_deg)
    dx, dz = lm[:, 0] - centre[0], lm[:, 2] - axis_z
    lm[:, 0] = centre[0] + dx * np.cos(t) + dz * np.sin(t)
    lm[:, 2] = axis_z - dx * np.sin(t) + dz * np.cos(t)
    if pose.pitch_deg:  # skipped at 0, where rounding alone would move every still head a hair
        p = np.deg2rad(pose.pitch_deg)
        dy, dz = lm[:, 1] - centre[1], lm[:, 2] - axis_z
        lm[:, 1] = centre[1] + dy * np.cos(p) - dz * np.sin(p)
        lm[:, 2] = axis_z + dy * np.sin(p) + dz * np.cos(p)
    r = np.deg2rad(pose.roll_deg)
    rot = np.array([[np.cos(r), -np.sin(r)], [np.sin(r), np.cos(r)]]) * pose.scale
    lm[:, :2] = (lm[:, :2] - centre) @ rot.T + centre + np.asarray(pose.shift)
    return lm


def render(scene: Scene, pose: Pose) -> tuple[np.ndarray, np.ndarray | None]:
    """Renders one frame; returns it (H, W, 3 BGR) and the posed landmarks in frame pixels."""
    fw, fh = scene.frame_size
    ox = round(scene.origin[0] + pose.camera[0])
    oy = round(scene.origin[1] + pose.camera[1])
    if scene.landmarks is None:
        return scene.canvas[oy:oy + fh, ox:ox + fw].copy(), None
    mesh = _mesh_for(scene.landmarks.tobytes())
    posed = pose_landmarks(scene, pose)
    src_pts = np.vstack([scene.landmarks[:, :2], mesh.inner, mesh.outer])
    dst_pts = np.vstack([posed[:, :2], mesh.outer])
    canvas = _warp(scene.canvas, src_pts, dst_pts, posed[:LANDMARKS, 2], mesh)
    dst = posed[:LANDMARKS]
    _paint_mouth(canvas, dst, pose.jaw, scene.mouth_bgr)
    if pose.occluder:
        draw_occluder(canvas, dst, pose.occluder, scene.landmarks)
    frame = canvas[oy:oy + fh, ox:ox + fw]
    posed = dst.copy()
    posed[:, 0] -= ox
    posed[:, 1] -= oy
    return frame, posed


def _warp(canvas: np.ndarray, src: np.ndarray, dst: np.ndarray, depth: np.ndarray,
          mesh: _Mesh) -> np.ndarray:
    x0, y0, x1, y1 = mesh.roi
    h, w = canvas.shape[:2]
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    tri = mesh.triangles
    # Backward affine per triangle: canvas (dst) pixel -> photo (src) pixel.
    d = np.concatenate([dst[tri], np.ones((len(tri), 3, 1))], axis=2)  # (T, 3, 3)
    s = src[tri]  # (T, 3, 2)
    det = np.linalg.det(d)
    ok = np.abs(det) > 1e-6
    affine = np.zeros((len(tri), 3, 2))
    affine[ok] = np.linalg.solve(d[ok], s[ok])  # (T, 3, 2): [x y 1] @ A = [sx sy]
    # Rasterise triangle ids far to near, so the near side of a turned face wins; triangles that
    # touch a ring (hair, background) go first, so a face never hides behind its surroundings.
    z = np.concatenate([depth, np.full(len(mesh.inner) + len(mesh.outer), depth.max() + 1e4)])
    order = np.argsort(-z[tri].max(1), kind="stable")
    ids = np.full((y1 - y0, x1 - x0), -1, np.int32)
    fixed = np.round((dst - [x0, y0]) * 16).astype(np.int32)
    for t in order:
        if ok[t]:
            cv2.fillConvexPoly(ids, fixed[tri[t]], int(t), lineType=cv2.LINE_8, shift=4)
    ys, xs = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    a = affine[np.maximum(ids, 0)].astype(np.float32)  # (h, w, 3, 2)
    map_x = xs * a[..., 0, 0] + ys * a[..., 1, 0] + a[..., 2, 0]
    map_y = xs * a[..., 0, 1] + ys * a[..., 1, 1] + a[..., 2, 1]
    outside = ids < 0
    map_x[outside], map_y[outside] = xs[outside], ys[outside]
    out = canvas.copy()
    out[y0:y1, x0:x1] = cv2.remap(canvas, map_x, map_y, cv2.INTER_LINEAR,
                                  borderMode=cv2.BORDER_REPLICATE)
    return out


def _paint_mouth(canvas: np.ndarray, dst: np.ndarray, jaw: float,
                 colour: tuple[int, int, int]) -> None:
    """Darkens the mouth interior as it opens (an infant's mouth: no teeth, a dark cavity)."""
    alpha = float(np.clip(jaw * 5, 0, 1))
    if alpha <= 0:
        return
    poly = np.round(dst[list(INNER_LIPS), :2] * 16).astype(np.int32)
    x0, y0 = (poly.min(0) >> 4) - 6
    x1, y1 = (poly.max(0) >> 4) + 7
    patch = canvas[y0:y1, x0:x1].astype(np.float32)
    mask = np.zeros(patch.shape[:2], np.float32)
    cv2.fillPoly(mask, [poly - np.array([x0, y0]) * 16], 1.0, cv2.LINE_AA, shift=4)
    mask = cv2.GaussianBlur(mask, (0, 0), 1.0)[..., None] * alpha
    # Darker towards the top (shadow of the upper lip).
    grad = np.linspace(0.6, 1.0, patch.shape[0], dtype=np.float32)[:, None, None]
    cavity = np.array(colour, np.float32) * grad
    canvas[y0:y1, x0:x1] = (patch * (1 - mask) + cavity * mask).astype(np.uint8)


def draw_occluder(canvas: np.ndarray, lm: np.ndarray, kind: str,
                  base: np.ndarray | None = None,
                  shield: tuple[int, int, int] = (215, 170, 90)) -> None:
    """Draws a hand or a pacifier over the mouth (landmarks `lm` in canvas pixels); `shield` is
    the pacifier's colour in the canvas's channel order (light blue in BGR)."""
    mouth = lm[list(INNER_LIPS), :2].mean(0)
    face_w = np.ptp(lm[:, 0])
    layer = np.zeros_like(canvas)
    mask = np.zeros(canvas.shape[:2], np.uint8)
    if kind == "hand":
        skin = _skin_colour(canvas, lm) * 0.92
        shade = np.linspace(1.1, 0.75, canvas.shape[0], dtype=np.float32)[:, None, None]
        layer[:] = np.clip(skin * shade, 0, 255).astype(np.uint8)
        palm = (int(mouth[0] - 0.05 * face_w), int(mouth[1] + 0.28 * face_w))
        cv2.ellipse(mask, palm, (int(0.3 * face_w), int(0.22 * face_w)), -10, 0, 360, 255, -1,
                    cv2.LINE_AA)
        thick = max(3, int(0.1 * face_w))
        for i, dx in enumerate((-0.24, -0.08, 0.08, 0.22)):
            root = (int(mouth[0] + dx * face_w), int(mouth[1] + 0.18 * face_w))
            tip = (int(mouth[0] + dx * 1.25 * face_w),
                   int(mouth[1] - (0.12 - 0.03 * abs(i - 1.5)) * face_w))
            cv2.line(mask, root, tip, 255, thick, cv2.LINE_AA)
            # A darker rim makes the gaps between fingers visible.
            rim = tuple(float(c) * 0.7 for c in skin)
            cv2.line(layer, root, tip, rim, thick + 2, cv2.LINE_AA)
            cv2.line(layer, root, tip, tuple(float(c) for c in skin), thick - 2, cv2.LINE_AA)
    elif kind == "pacifier":
        r = int(0.24 * face_w)
        centre = (int(mouth[0]), int(mouth[1]))
        cv2.ellipse(mask, centre, (r, int(r * 0.8)), 0, 0, 360, 255, -1, cv2.LINE_AA)
        layer[:] = shield
        cv2.circle(layer, centre, int(r * 0.45), (245, 245, 250), max(3, r // 6), cv2.LINE_AA)
        cv2.circle(layer, centre, int(r * 0.2), (180, 120, 60), -1, cv2.LINE_AA)
    else:
        raise ValueError(f"unknown occluder {kind!r}; use 'hand' or 'pacifier'")
    alpha = cv2.GaussianBlur(mask, (0, 0), 1.2).astype(np.float32)[..., None] / 255
    canvas[:] = (canvas * (1 - alpha) + layer * alpha).astype(np.uint8)
    del base


def _skin_colour(canvas: np.ndarray, lm: np.ndarray) -> np.ndarray:
    cheeks = [lm[i, :2] for i in (205, 425)]
    samples = [canvas[int(y) - 3:int(y) + 4, int(x) - 3:int(x) + 4].reshape(-1, 3)
               for x, y in cheeks]
    return np.median(np.vstack(samples), axis=0).astype(np.float32)


def face_fraction_inside(posed: np.ndarray, frame_size: tuple[int, int]) -> float:
    """The fraction of the face's area (its landmarks' convex hull) that lies inside the frame."""
    hull = cv2.convexHull(posed[:, :2].astype(np.float32))
    area = cv2.contourArea(hull)
    w, h = frame_size
    rect = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
    inter, _ = cv2.intersectConvexConvex(hull, rect)
    return float(np.clip(inter / area, 0, 1)) if area > 0 else 0.0

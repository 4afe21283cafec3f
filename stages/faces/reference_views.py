"""Reference views with a known head pose: a real photo's face mesh, rotated and re-rendered.

A 2D warp of a frontal face is not a head turn (the nose does not move across the cheek), so it
cannot tell how well the pose reads large angles. Here FaceMesh's own landmarks on a real photo
give a 3D mesh (x, y in pixels, z on the x scale) and its tessellation gives the triangles; the
photo is the texture. The mesh is rotated by a known yaw and pitch about the head's centre and
painted back to front through a pinhole camera, so the far cheek hides behind the nose as it
would. Tests use it; the stage does not.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import cv2
import numpy as np

from manifests.facemesh import EYE_CORNERS, FACE_OVAL, INNER_LIPS
from stages.faces.pose import still_landmarks

MESH_POINTS = 468  # the tessellated landmarks (the 10 iris points have no triangles)
# The head turns about the neck, roughly a face's depth behind the eye corners (in eye-corner
# distances); the pose's angles do not depend on it, only how far the face swings across.
_PIVOT_DEPTH = 1.0
# The head around the face (hair, ears, neck): rings of points beyond FaceMesh's face oval, at
# these multiples of the oval's size about its centre, each set back by the depth beside it (in
# eye-corner distances), so that they curve back like a skull; FaceMesh sees a head, not a mask.
_SHELL = ((1.15, 0.35), (1.35, 0.8), (1.6, 1.3))


@cache
def triangles() -> np.ndarray:
    """(K, 3) landmark indices of FaceMesh's tessellation (edge triples that close a triangle)."""
    from mediapipe.python.solutions.face_mesh_connections import FACEMESH_TESSELATION

    neighbours: dict[int, set[int]] = {}
    for a, b in FACEMESH_TESSELATION:
        neighbours.setdefault(a, set()).add(b)
        neighbours.setdefault(b, set()).add(a)
    found = {tuple(sorted((a, b, c))) for a, bs in neighbours.items() for b in bs
             for c in neighbours[b] & bs}
    return np.array(sorted(found), np.int32)


def _shell(face: np.ndarray, eye_distance: float) -> tuple[np.ndarray, np.ndarray]:
    """Points beyond the face mesh and their triangles (indices continue after the face's).

    The head around the face oval (rings set back like a skull) and the mouth's inside (a fan
    a little behind the inner lips), which the tessellation leaves open.
    """
    from scipy.spatial import Delaunay

    oval = face[list(FACE_OVAL)]
    centre = oval[:, :2].mean(0)
    rings = np.vstack([np.column_stack([centre + k * (oval[:, :2] - centre),
                                        oval[:, 2] + back * eye_distance])
                       for k, back in _SHELL])
    index = np.r_[list(FACE_OVAL), MESH_POINTS + np.arange(len(rings))]
    flat = np.vstack([oval[:, :2], rings[:, :2]])
    tris = Delaunay(flat).simplices
    # Triangles of oval points alone lie on the face (its own triangles cover them) or in a dip
    # of its outline, which would leave a hole beside the cheek.
    outline = oval[:, :2].astype(np.float32)
    dips = [cv2.pointPolygonTest(outline, tuple(map(float, flat[t].mean(0))), False) < 0
            for t in tris]
    head = index[tris[(tris >= len(FACE_OVAL)).any(1) | np.array(dips)]]

    lips = list(INNER_LIPS)
    mouth = face[lips].mean(0) + np.array([0.0, 0.0, 0.1 * eye_distance])
    centre_index = MESH_POINTS + len(rings)
    fan = [(centre_index, a, b) for a, b in zip(lips, lips[1:] + lips[:1], strict=True)]
    return np.vstack([rings, mouth]), np.vstack([head, np.array(fan)])


@dataclass(frozen=True)
class FaceModel:
    """A textured face mesh taken from one photo."""

    texture: np.ndarray  # (H, W, 3) BGR photo
    vertices: np.ndarray  # (468 + S, 3) photo pixels: x right, y down, z away from the camera
    faces: np.ndarray  # (K, 3) vertex indices: the face's tessellation, then the head shell's

    @classmethod
    def from_photo(cls, photo_bgr: np.ndarray) -> FaceModel:
        """Runs FaceMesh (static) on the photo; raises ValueError if it finds no face."""
        face = still_landmarks(photo_bgr)[:MESH_POINTS]
        eyes = float(np.linalg.norm(face[EYE_CORNERS[0]] - face[EYE_CORNERS[1]]))
        shell, shell_faces = _shell(face, eyes)
        return cls(photo_bgr, np.vstack([face, shell]), np.vstack([triangles(), shell_faces]))

    @property
    def eye_distance(self) -> float:
        return float(np.linalg.norm(self.vertices[EYE_CORNERS[0]] - self.vertices[EYE_CORNERS[1]]))


def rotation(yaw_deg: float, pitch_deg: float) -> np.ndarray:
    """(3, 3) head rotation in camera axes (x right, y down, z away from the camera).

    The stage's conventions (`stages.faces.pose`): positive yaw turns the nose towards the
    image's right, positive pitch tips it down. Pitch is applied in the head's frame, after yaw.
    """
    a, b = np.radians(yaw_deg), np.radians(pitch_deg)
    # The nose points at -z; turning it to +x is a rotation about y by -a in these axes.
    about_y = np.array([[np.cos(a), 0, -np.sin(a)], [0, 1, 0], [np.sin(a), 0, np.cos(a)]])
    # Tipping it down (+y) is a rotation about x by +b.
    about_x = np.array([[1, 0, 0], [0, np.cos(b), -np.sin(b)], [0, np.sin(b), np.cos(b)]])
    return about_y @ about_x


def project(model: FaceModel, yaw_deg: float, pitch_deg: float, size: int = 640,
            face_fraction: float = 0.18) -> tuple[np.ndarray, np.ndarray]:
    """Where the turned mesh's vertices land: (N, 2) image pixels and (N,) depths.

    The camera's focal length is `size` (a phone's ~53° field of view) and the face sits at the
    distance where its eye corners span `face_fraction` of the image when frontal.
    """
    v = model.vertices.astype(np.float64)
    scale = 1.0 / model.eye_distance  # eye-corner distances from here on
    centre = v[list(EYE_CORNERS)].mean(0)
    pivot = centre + np.array([0.0, 0.0, _PIVOT_DEPTH / scale])
    head = (v - pivot) * scale @ rotation(yaw_deg, pitch_deg).T + (pivot - centre) * scale
    focal = float(size)
    camera = head + np.array([0.0, 0.0, 1.0 / face_fraction])
    return camera[:, :2] / camera[:, 2:] * focal + size / 2, camera[:, 2]


def render(model: FaceModel, yaw_deg: float, pitch_deg: float, size: int = 640,
           face_fraction: float = 0.18, background: int = 128) -> np.ndarray:
    """Renders the face turned by (yaw, pitch) through `project`'s camera, BGR (size, size, 3)."""
    projected, depth = project(model, yaw_deg, pitch_deg, size, face_fraction)
    canvas = np.full((size, size, 3), background, np.uint8)
    tris = model.faces
    # Painter's order, farthest first, hides the far cheek behind the nose. The head's shell
    # turned away from the camera is dropped; the face's own triangles are not tested, because
    # the photo's mesh folds over at the cheeks' outline, where a triangle's winding in the photo
    # says nothing about which way it faces once the head turns.
    for tri in tris[np.argsort(-depth[tris].mean(1))]:
        src, dst = model.vertices[tri, :2], projected[tri]
        if tri.max() >= MESH_POINTS and _area(src) * _area(dst) <= 0:
            continue
        _paint(canvas, model.texture, src.astype(np.float32), dst.astype(np.float32))
    return canvas


def _area(t: np.ndarray) -> float:
    """Signed area of a 2D triangle (its sign is its winding)."""
    (ax, ay), (bx, by) = t[1] - t[0], t[2] - t[0]
    return float(ax * by - ay * bx)


def _paint(canvas: np.ndarray, texture: np.ndarray, src: np.ndarray, dst: np.ndarray) -> None:
    """Warps the texture's `src` triangle onto the canvas's `dst` triangle."""
    x0, y0 = np.floor(dst.min(0)).astype(int)
    x1, y1 = np.ceil(dst.max(0)).astype(int) + 1
    h, w = canvas.shape[:2]
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    if x1 <= x0 or y1 <= y0:
        return
    local = dst - np.array([x0, y0], np.float32)
    warp = cv2.getAffineTransform(src, local)
    patch = cv2.warpAffine(texture, warp, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_REFLECT)
    mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
    cv2.fillConvexPoly(mask, np.round(local).astype(np.int32), 1)
    region = canvas[y0:y1, x0:x1]
    region[mask > 0] = patch[mask > 0]

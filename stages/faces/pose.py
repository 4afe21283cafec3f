"""Head pose (yaw, pitch, roll): FaceMesh's 3D landmarks aligned to a 3D face template.

The 3D template is Cradle's own: MediaPipe's x, y and relative depth z on frontal faces in photos
that ship inside installed packages (scikit-image's astronaut, matplotlib's Grace Hopper), aligned,
averaged and made left-right symmetric, so that yaw 0 means "symmetric to the camera". It is saved
as `stages/faces/data/face_template.npy`; `derive_template()` rebuilds it, a test keeps the two
equal. MediaPipe's own canonical face model is not in its Python wheel (0.10.21 ships no
face_geometry data); the template's depth agrees with it (nose tip 0.47 eye-corner distances in
front of the outer eye corners, 0.50 in the canonical model).
"""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np
from scipy.optimize import linear_sum_assignment

from manifests.facemesh import EYE_CORNERS

log = logging.getLogger(__name__)

TEMPLATE_PATH = Path(__file__).parent / "data" / "face_template.npy"
# Landmarks on the rigid upper face (forehead, nose, eye corners, cheekbones, temples): the jaw,
# lips and eyelids move with expression and would bias the pose.
RIGID = (10, 151, 9, 8, 168, 6, 197, 195, 5, 4, 1, 33, 133, 362, 263, 234, 454, 93, 323, 127,
         356, 21, 251, 54, 284, 103, 332, 129, 358, 98, 327, 116, 345, 50, 280, 118, 347, 109,
         338, 67, 297)


def still_landmarks(image_bgr: np.ndarray) -> np.ndarray:
    """FaceMesh on one still image: (478, 3) pixels, z on the x scale (larger is farther).

    Raises:
        ValueError: FaceMesh found no face.
    """
    import mediapipe as mp

    h, w = image_bgr.shape[:2]
    with mp.solutions.face_mesh.FaceMesh(static_image_mode=True, refine_landmarks=True,
                                         max_num_faces=1) as mesh:
        result = mesh.process(cv2.cvtColor(image_bgr, cv2.COLOR_BGR2RGB))
    if not result.multi_face_landmarks:
        raise ValueError("FaceMesh found no face in the photo; use a frontal face photo")
    return np.array([[p.x * w, p.y * h, p.z * w] for p in result.multi_face_landmarks[0].landmark])


def _normalise(points: np.ndarray) -> np.ndarray:
    """Centres the points and scales them to a unit outer-eye-corner distance."""
    centred = points - points.mean(0)
    # The outer eye corners' distance sets the template's unit.
    return centred / np.linalg.norm(centred[EYE_CORNERS[0]] - centred[EYE_CORNERS[1]])


def _align(points: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Rotates `points` onto `target` (Kabsch on the rigid landmarks)."""
    idx = list(RIGID)
    u, _, vt = np.linalg.svd(points[idx].T @ target[idx])
    d = np.sign(np.linalg.det(u @ vt))
    return points @ (u @ np.diag([1.0, 1.0, d]) @ vt)


def _package_photos() -> list[np.ndarray]:
    import matplotlib.cbook
    import skimage.data

    astronaut = cv2.cvtColor(skimage.data.astronaut(), cv2.COLOR_RGB2BGR)
    hopper = cv2.imread(str(matplotlib.cbook.get_sample_data("grace_hopper.jpg",
                                                             asfileobj=False)))
    return [astronaut, hopper]


def derive_template(photos: list[np.ndarray] | None = None) -> np.ndarray:
    """Builds the canonical (478, 3) template from frontal photos and their mirror images.

    Each photo is also detected flipped; matching the flipped detection back to the original
    gives the left-right landmark permutation, so averaging a face with its mirror image makes the
    template symmetric and its yaw zero by construction.

    Returns:
        (478, 3) float32, x right, y down, z away from the camera, unit eye-corner distance.
    """
    faces, mirrored = [], []
    for image in photos if photos is not None else _package_photos():
        w = image.shape[1]
        faces.append(_normalise(still_landmarks(image)))
        flipped = still_landmarks(image[:, ::-1].copy())
        flipped[:, 0] = w - flipped[:, 0]
        mirrored.append(_normalise(flipped))
    reference = faces[0]
    faces = [_align(f, reference) for f in faces]
    mean = np.mean(faces, axis=0)
    # Landmark i of a mirrored detection sits where landmark perm[i] of the face itself does.
    cost = np.linalg.norm(mirrored[0][:, None] - reference[None], axis=2)
    _, perm = linear_sum_assignment(cost)
    flip = mean[perm] * np.array([-1.0, 1.0, 1.0])
    return _normalise((mean + flip) / 2).astype(np.float32)


def load_template() -> np.ndarray:
    """The committed template; raises if the data file is missing (a broken checkout)."""
    if not TEMPLATE_PATH.is_file():
        raise FileNotFoundError(f"{TEMPLATE_PATH} is missing; rebuild it with "
                                "`python -c 'import stages.faces.pose as p; p.save_template()'`")
    return np.load(TEMPLATE_PATH)


def save_template(path: Path = TEMPLATE_PATH) -> Path:
    """Derives the template and writes it (run once after a MediaPipe upgrade)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, derive_template())
    log.info("wrote the face template to %s", path)
    return path


class PoseEstimator:
    """Per-frame yaw, pitch and roll in degrees: FaceMesh's 3D landmarks aligned to the template.

    The rotation is the least-squares one (Kabsch) that takes the template's rigid landmarks onto
    FaceMesh's x, y and z. Fitting only the image positions (`cv2.solvePnP`, Cradle's first
    estimator) read strong turns small: FaceMesh pulls the 2D outline of a turned face towards a
    frontal one, so a 45° turn read ~30° and a face pitched down 30° read ~12°, while its depth
    channel keeps more of the turn (see `stages.faces.reference_views` and the tests on its
    renders). The angles are relative to the line of sight, as FaceMesh's landmarks are, which
    is what decides how much of the face hides itself.

    Yaw is positive when the nose points towards the image's right (the person turns to their
    left), pitch positive when the face looks down.
    """

    def __init__(self, template: np.ndarray | None = None) -> None:
        model = load_template() if template is None else template
        rigid = np.asarray(model[list(RIGID)], np.float64)
        self._object = rigid - rigid.mean(0)  # (R, 3)

    def estimate(self, landmarks: np.ndarray) -> tuple[float, float, float]:
        """Returns (yaw, pitch, roll) in degrees for one face's (478, 3) pixel landmarks."""
        points = np.asarray(landmarks[list(RIGID), :3], np.float64)  # (R, 3)
        if not np.isfinite(points).all():
            return float("nan"), float("nan"), float("nan")
        u, _, vt = np.linalg.svd((points - points.mean(0)).T @ self._object)
        d = np.sign(np.linalg.det(u @ vt))
        rotation = u @ np.diag([1.0, 1.0, d]) @ vt  # points ~ template @ rotation.T
        pitch, yaw, roll = cv2.RQDecomp3x3(rotation)[0]
        return float(-yaw), float(pitch), float(roll)

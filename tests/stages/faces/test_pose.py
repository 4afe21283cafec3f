"""Head pose against references with a known turn: a real photo's face mesh, rotated and rendered.

The stage reads each render sequence as a clip (FaceMesh tracking, `analyse_frames`), the head
turning from frontal to 60° in 3° steps, as a head turns in a video. Yaw is checked against the
known angle. Pitch has no symmetry to fix its zero (how far a person's face tips in a "frontal"
photo is their posture), so it is checked against the known angle added to the photo's own pitch
as read frontal, and that frontal reading must itself be within the tolerance of level.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from manifests.facemesh import EYE_CORNERS
from stages.faces.analysis import FaceModels, analyse_frames
from stages.faces.config import FacesConfig
from stages.faces.pose import PoseEstimator
from stages.faces.reference_views import FaceModel, render, rotation
from stages.faces.video_frames import Frame

TOLERANCE_DEG = 5.0
ANGLES = (0, 15, 30, 45, 60)
STEP_DEG = 3  # per frame: a brisk head turn at 30 fps, slow enough for FaceMesh to track
SIZE = 640

# Where FaceMesh itself falls short on these renders (obama.jpg, measured): past ~30-45° the
# landmarks it places on a turned face keep a more frontal shape than the face has (its 2D outline
# and its depth alike, so no template or solver reads the truth from them), and more so with the
# nose towards the image's left: the same render read mirrored gives 40.3° where it gave -36.3°.
# No monotone correction could help: over this photo and its mirror image a 30° turn reads up to
# 32.4° and a 45° one as little as 31.7°. The numbers are this estimator's readings; the first
# (solvePnP) estimator's are given too.
SHORT = {
    ("yaw", -30): "reads -24.4° (solvePnP: -23.0°)",
    ("yaw", -45): "reads -31.7° (solvePnP: -27.5°)",
    ("yaw", -60): "reads -35.1° (solvePnP: -32.3°)",
    ("yaw", 60): "reads 50.4° (solvePnP: 45.7°)",
    ("pitch", 45): "reads 38.2° from level (solvePnP: 25.6°)",
    ("pitch", -60): "FaceMesh loses the face on these renders past ~-55° (NaN)",
    ("pitch", 60): "FaceMesh loses the face on these renders past ~45° (NaN)",
}


@pytest.fixture(scope="module")
def face(shared: Path) -> FaceModel:
    photo = cv2.imread(str(shared / "fixtures" / "faces" / "images" / "obama.jpg"))
    return FaceModel.from_photo(photo)


@pytest.fixture(scope="module")
def readings(face: FaceModel) -> dict[tuple[str, int], float]:
    """The stage's yaw or pitch at each checked angle of four turns (yaw and pitch, each way)."""
    out: dict[tuple[str, int], float] = {}
    with FaceModels() as models:
        for axis in ("yaw", "pitch"):
            for sign in (1, -1):
                angles = [sign * a for a in range(0, max(ANGLES) + 1, STEP_DEG)]
                frames = [Frame(i, i / 30, cv2.cvtColor(
                    render(face, *((a, 0) if axis == "yaw" else (0, a)), size=SIZE),
                    cv2.COLOR_BGR2RGB)) for i, a in enumerate(angles)]
                measures = analyse_frames(frames, SIZE, SIZE, 30.0, FacesConfig(), models)
                read = measures.yaw_deg if axis == "yaw" else measures.pitch_deg
                out.update({(axis, a): float(r) for a, r in zip(angles, read, strict=True)
                            if abs(a) in ANGLES})
    return out


def _cases() -> list:
    cases = []
    for axis in ("yaw", "pitch"):
        for angle in sorted({s * a for a in ANGLES for s in (1, -1)}):
            reason = SHORT.get((axis, angle))
            marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
            cases.append(pytest.param(axis, angle, marks=marks, id=f"{axis}{angle:+d}"))
    return cases


@pytest.mark.slow
@pytest.mark.parametrize(("axis", "angle"), _cases())
def test_pose_reads_a_known_turn_within_5_degrees(readings: dict[tuple[str, int], float],
                                                   axis: str, angle: int) -> None:
    level = readings[("pitch", 0)] if axis == "pitch" else 0.0
    assert abs(readings[(axis, angle)] - level - angle) <= TOLERANCE_DEG


@pytest.mark.slow
def test_frontal_photo_reads_level(readings: dict[tuple[str, int], float]) -> None:
    assert abs(readings[("pitch", 0)]) <= TOLERANCE_DEG


@pytest.mark.parametrize(("yaw", "pitch"), [(30, 0), (-45, 0), (0, 30), (0, -20), (25, 15)])
def test_estimator_reads_an_exactly_turned_mesh_exactly(face: FaceModel, yaw: float,
                                                        pitch: float) -> None:
    """The conventions: positive yaw has the nose towards the image's right, positive pitch down.

    The photo's own mesh, turned without FaceMesh in between, is read with itself as the
    template: what is left is the solver and the angle conventions, shared with the renderer.
    """
    mesh = np.zeros((478, 3))
    mesh[:468] = face.vertices[:468] / face.eye_distance
    turned = mesh @ rotation(yaw, pitch).T
    got_yaw, got_pitch, _ = PoseEstimator(template=mesh).estimate(turned)
    assert (got_yaw, got_pitch) == pytest.approx((yaw, pitch), abs=0.01)
    nose, eyes = turned[4, :2], turned[list(EYE_CORNERS), :2].mean(0)
    assert np.sign(nose[0] - eyes[0]) == np.sign(yaw) or yaw == 0


def test_reference_mesh_has_a_face_s_depth(face: FaceModel) -> None:
    """The renders are only as turned as the mesh is deep: FaceMesh's z is on the x scale.

    A face's nose tip stands about half the outer eye-corner distance in front of the corners
    (~4.4 of 8.9 cm in MediaPipe's canonical face model); a flattened mesh would turn too little.
    """
    v = face.vertices / face.eye_distance
    protrusion = v[list(EYE_CORNERS), 2].mean() - v[4, 2]
    assert 0.4 < protrusion < 0.7


def test_render_of_the_frontal_view_is_the_photo_s_face(face: FaceModel) -> None:
    image = render(face, 0, 0, size=SIZE)
    face_pixels = (image != 128).any(2)
    assert 0.05 < face_pixels.mean() < 0.5
    # The eye corners land symmetric about the image centre, level with it.
    with FaceModels(static=True) as models:
        landmarks = models.landmarks(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
    assert landmarks is not None
    eyes = landmarks[list(EYE_CORNERS), :2]
    assert np.abs(eyes.mean(0) - SIZE / 2).max() < 0.02 * SIZE

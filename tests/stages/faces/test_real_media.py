"""The faces stage on real media: talking heads, HEVC cuts and edge-cropped portraits."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from stages.faces.analysis import FaceMeasures, FaceModels, analyse_image
from stages.faces.config import FacesConfig
from stages.faces.segments import judge
from tests.stages.faces.helpers import runs


@pytest.fixture(scope="module")
def still_models() -> FaceModels:
    with FaceModels(static=True) as models:
        yield models


def _image(shared: Path, name: str) -> np.ndarray:
    return cv2.imread(str(shared / "fixtures" / "faces" / "images" / name))


@pytest.mark.parametrize("name", ["face_1", "face_3"])
def test_frontal_talking_video_is_one_long_segment(real_measures: dict[str, FaceMeasures],
                                                   name: str) -> None:
    measures = real_measures[name]
    judgement = judge(measures, FacesConfig())
    assert judgement.verdict is None
    assert len(judgement.segments) == 1
    start, end = judgement.segments[0]
    assert end - start >= 0.95 * measures.frames


def _scene_cut(path: Path) -> int:
    """The frame after the largest jump in mean absolute frame difference: the cut.

    The first and last few frames are left out: encoders put their odd frames there.
    """
    capture = cv2.VideoCapture(str(path))
    previous, diffs = None, []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        small = cv2.resize(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY), (160, 90)).astype(np.float32)
        if previous is not None:
            diffs.append(float(np.abs(small - previous).mean()))
        previous = small
    capture.release()
    edge = 3
    return int(np.argmax(diffs[edge:-edge])) + edge + 1


@pytest.mark.parametrize(("name", "face_first"), [("face_noface", True), ("noface_face", False)])
def test_hevc_cut_boundary_found(real_measures: dict[str, FaceMeasures], real_videos: Path,
                                 name: str, face_first: bool) -> None:
    measures = real_measures[name]
    cut = _scene_cut(real_videos / f"{name}.mov")
    face_runs = runs(measures.present, min_len=15)
    assert len(face_runs) == 1
    boundary = face_runs[0][1] if face_first else face_runs[0][0]
    print(f"\n[faces] {name}: cut at {cut}, face boundary at {boundary}")
    assert abs(boundary - cut) <= 3
    segments = judge(measures, FacesConfig()).segments.tolist()
    assert len(segments) == 1 and abs(segments[0][1 if face_first else 0] - cut) <= 3


@pytest.mark.parametrize("name", ["obama_partial_face.jpg", "obama_partial_face2.jpg"])
def test_edge_cropped_portrait_is_out_of_frame(shared: Path, still_models: FaceModels,
                                               name: str) -> None:
    measures = analyse_image(_image(shared, name), FacesConfig(), still_models)
    assert measures.present[0]
    assert 0.75 <= measures.coverage[0] < FacesConfig().min_coverage


def test_frontal_portrait_is_good(shared: Path, still_models: FaceModels) -> None:
    measures = analyse_image(_image(shared, "obama.jpg"), FacesConfig(), still_models)
    assert judge(measures, FacesConfig()).good[0]


def test_microphone_at_the_chin_is_not_mouth_occlusion(shared: Path,
                                                       still_models: FaceModels) -> None:
    measures = analyse_image(_image(shared, "obama2.jpg"), FacesConfig(), still_models)
    judgement = judge(measures, FacesConfig())
    assert measures.present[0]
    assert judgement.occlusion[0] <= FacesConfig().max_occlusion


def test_two_people_have_several_faces(shared: Path, still_models: FaceModels) -> None:
    measures = analyse_image(_image(shared, "two_people.jpg"), FacesConfig(), still_models)
    assert len(measures.detections[0]) >= 2
    assert judge(measures, FacesConfig()).rivals[0] >= 1

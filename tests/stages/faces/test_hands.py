"""Hands over the face, from the evidence a palm leaves (issue #14 regressions).

- The hand was its landmarks' box against the mouth's box: a palm over a crying mouth covered
  0.28-0.49 of it against a 0.5 limit. Now the hand's silhouette meets the lips' polygon.
- A Hands result held for ±5 frames and was then lost; a single miss now keeps the cover.
- Hands reported a "hand" on a talking man's own chin; nothing checked whether it was the face.
- Nothing looked at the upper face: a hand over the forehead and one eye passed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from stages.faces.analysis import FaceMeasures, FaceModels, analyse_image
from stages.faces.config import FacesConfig
from stages.faces.hands import HandCover, hand_cover, spread
from stages.faces.occlusion import MouthEvidence, occlusion_score
from stages.faces.segments import judge
from stages.faces.testing import HAND_PHOTOS, cut_hand, even, paste, read_rgb
from tests.stages.faces.helpers import face_points

IMAGES = ("fixtures", "faces", "images")


@pytest.fixture(scope="module")
def still_models() -> FaceModels:
    with FaceModels(static=True) as models:
        yield models


def _image(shared: Path, name: str) -> np.ndarray:
    return read_rgb(shared.joinpath(*IMAGES, name))[..., ::-1].copy()  # BGR, as cv2 reads


def test_hand_over_forehead_and_eye_is_upper_face_occlusion(shared: Path,
                                                            still_models: FaceModels) -> None:
    measures = analyse_image(_image(shared, "hand_on_forehead.png"), FacesConfig(),
                             still_models)
    judgement = judge(measures, FacesConfig())
    print(f"\n[faces] hand on forehead: upper {judgement.upper_occlusion[0]:.2f}, "
          f"mouth {judgement.occlusion[0]:.2f}")
    assert measures.present[0]
    assert judgement.upper_occlusion[0] > FacesConfig().max_upper_occlusion
    assert judgement.occlusion[0] <= FacesConfig().max_occlusion


def test_hand_on_cheek_leaves_the_mouth_clear(shared: Path, still_models: FaceModels) -> None:
    measures = analyse_image(_image(shared, "hand_on_cheek.jpg"), FacesConfig(), still_models)
    judgement = judge(measures, FacesConfig())
    assert measures.present[0]
    assert judgement.occlusion[0] <= FacesConfig().max_occlusion
    assert judgement.upper_occlusion[0] <= FacesConfig().max_upper_occlusion


@pytest.mark.parametrize("size", [1.5, 2.0])
def test_real_fingers_over_a_real_mouth_cover_it(shared: Path, still_models: FaceModels,
                                                 size: float) -> None:
    face = even(read_rgb(shared.joinpath(*IMAGES, "obama.jpg")), 600)
    clean = analyse_image(face[..., ::-1].copy(), FacesConfig(), still_models)
    lm = clean.landmarks[0]
    iod = float(clean.face_px[0])
    hand = cut_hand(read_rgb(shared.joinpath(*IMAGES, "hand_on_forehead.png")))
    fingers = hand.points[[6, 10, 14]].mean(0)
    covered = paste(face, hand, fingers, lm[[13, 14], :2].mean(0), size * iod)
    measures = analyse_image(covered[..., ::-1].copy(), FacesConfig(), still_models)
    print(f"\n[faces] fingers over the mouth at {size} eye distances: "
          f"lips under the hand {measures.mouth.hand[0]:.2f}")
    assert measures.present[0] and measures.mouth.hand[0] > FacesConfig().max_occlusion


def test_one_missed_hands_run_does_not_lose_the_hand() -> None:
    covered = HandCover(0.9, 0.0, 0.3, 1)
    runs = {0: covered, 5: covered, 10: HandCover(0.0, 0.0, 0.0, 0), 15: covered, 20: covered}
    mouth = spread(runs, 25, reach=5)[:, 0]
    assert (mouth >= 0.9).all()
    # Two misses in a row are a hand that left.
    runs[15] = HandCover(0.0, 0.0, 0.0, 0)
    assert spread(runs, 25, reach=5)[10:18, 0].max() == 0.0


def test_hand_inside_the_face_is_the_face_unless_the_lips_look_covered() -> None:
    face = face_points()
    # A "hand" drawn on the chin and mouth, every point inside the face's outline.
    rng = np.random.default_rng(0)
    phantom = np.column_stack([rng.uniform(180, 220, 21), rng.uniform(235, 275, 21)])
    cover = hand_cover(face, [phantom.astype(np.float32)])
    assert cover.inside == 1.0 and cover.mouth > 0.5
    frames = 40
    evidence = MouthEvidence(
        contrast=np.full(frames, 10.0), lip_ab=np.full((frames, 2), 10.0),
        foreign=np.zeros(frames), skinlike=np.full(frames, 0.1),
        hand=np.r_[np.zeros(20), np.full(20, cover.mouth)],
        inside=np.r_[np.zeros(20), np.full(20, cover.inside)], lightness=np.full(frames, -10.0))
    present = np.ones(frames, bool)
    assert occlusion_score(evidence, present).max() < 0.5  # the lips stay red: the face itself
    faded = MouthEvidence(evidence.contrast.copy(), evidence.lip_ab, evidence.foreign,
                          evidence.skinlike.copy(), evidence.hand, evidence.inside,
                          evidence.lightness)
    faded.contrast[20:], faded.skinlike[20:] = 0.0, 0.9  # skin over the lips: a real cover
    assert occlusion_score(faded, present)[20:].min() > 0.5


@pytest.mark.parametrize("name", ["face_1", "face_3"])
def test_no_hand_on_real_talking_faces(real_measures: dict[str, FaceMeasures],
                                       name: str) -> None:
    measures = real_measures[name]
    judgement = judge(measures, FacesConfig())
    present = measures.present
    assert np.nanmax(measures.mouth.hand[present]) == 0.0
    assert np.nanmax(judgement.upper_occlusion[present]) == 0.0
    assert np.nanmax(judgement.occlusion[present]) <= FacesConfig().max_occlusion


def test_hand_photos_hold_a_hand(shared: Path) -> None:
    for name in HAND_PHOTOS:
        hand = cut_hand(read_rgb(shared.joinpath(*IMAGES, name)))
        assert hand.size > 100 and hand.alpha.max() > 0.9


def test_an_edge_on_hand_over_the_lips_covers_them() -> None:
    """Fingers seen edge-on line their knuckles up 3 px apart: drawn that wide, they covered a
    quarter of the lips under them (issue #14: the cheek hand's fingers over a mouth)."""
    face = face_points()
    hand = np.zeros((21, 2), np.float32)
    hand[0] = (200, 350)  # the wrist below the chin, the palm's length (60 px) kept in profile
    hand[1:5] = [(196, 335), (194, 320), (193, 305), (193, 295)]  # the thumb beside the palm
    for k, x in enumerate((196, 199, 202, 205)):
        base = 5 + 4 * k
        hand[base:base + 4] = [(x, 290), (x, 265), (x, 245), (x, 230)]
    cover = hand_cover(face, [hand])
    print(f"\n[faces] edge-on fingers over the lips: {cover.mouth:.2f} of them")
    assert cover.mouth > 0.5


def test_a_cover_starts_where_the_lips_change_colour_between_hands_runs() -> None:
    """Hands ran on frames 0 and 5; the hand arrived on frame 4. The run on frame 5 gave its
    cover to frames 3-4 too (frame 3 still clear): now the frame takes the run its lips look
    like."""
    clear, covered = HandCover(0.0, 0.0, 0.0, 0), HandCover(0.9, 0.0, 0.3, 1)
    colour = np.array([[10.0, 5.0]] * 4 + [[-3.0, 0.0]] * 6, np.float32)  # (10, 2)
    mouth = spread({0: clear, 5: covered}, 10, reach=5, colour=colour)[:, 0]
    assert mouth[:4].max() == 0.0 and mouth[4:].min() >= 0.9
    # After a rare run long before: the frames before the first run that saw the hand.
    colour = np.array([[10.0, 5.0]] * 28 + [[-3.0, 0.0]] * 4, np.float32)  # (32, 2)
    mouth = spread({0: clear, 30: covered}, 32, reach=5, colour=colour)[:, 0]
    assert mouth[:28].max() == 0.0 and mouth[28:].min() >= 0.9

"""Pacifiers over real faces: in the whole clip, and in half of it (issue #14 regressions).

Every colour cue but the new one compared a frame's lips with the clip's own clear lips. With a
pacifier in every frame those "clear lips" were the pacifier, and the clip passed (light blue and
white shields over the real faces here: 0-23 % of frames flagged); an orange shield, redder than
the pale lips of a real talking head, made his bare frames look covered instead.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from manifests.outcomes import ReasonCode
from stages.faces.analysis import FaceMeasures
from stages.faces.config import FacesConfig
from stages.faces.segments import judge
from stages.faces.testing import (
    analyse_all,
    even,
    photo_clip,
    read_frames,
    read_rgb,
    with_pacifier,
    write_video,
)

FRAMES = 90
HALF = 45
WHOLE = [("face_1", "light_blue"), ("face_1", "white"), ("obama", "light_blue"),
         ("obama", "white")]


@pytest.fixture(scope="module")
def pacified(shared: Path, real_videos: Path,
             tmp_path_factory: pytest.TempPathFactory) -> dict[str, FaceMeasures]:
    out = tmp_path_factory.mktemp("faces-pacifiers")
    bases = {
        "face_1": [even(f, 480) for f in read_frames(real_videos / "face_1.mp4")][:FRAMES],
        "obama": photo_clip(even(read_rgb(shared / "fixtures" / "faces" / "images" / "obama.jpg"),
                                 480), FRAMES),
    }
    clips = {f"{base}-{shield}": with_pacifier(bases[base], shield) for base, shield in WHOLE}
    clips["face_1-orange-half"] = with_pacifier(bases["face_1"], "orange", start=HALF)
    return analyse_all([write_video(frames, out / f"{name}.mp4") for name, frames in clips.items()])


@pytest.mark.parametrize(("base", "shield"), WHOLE)
def test_a_pacifier_in_the_whole_clip_is_mouth_occluded(pacified: dict[str, FaceMeasures],
                                                        base: str, shield: str) -> None:
    measures = pacified[f"{base}-{shield}"]
    judgement = judge(measures, FacesConfig())
    covered = judgement.occlusion[measures.present] > FacesConfig().max_occlusion
    print(f"\n[faces] {base} with a {shield} pacifier throughout: {covered.mean():.2f} covered")
    assert measures.present.mean() > 0.9
    assert covered.mean() >= 0.9
    assert judgement.verdict == ReasonCode.MOUTH_OCCLUDED


def test_a_pacifier_redder_than_pale_lips_leaves_the_bare_half_clear(
        pacified: dict[str, FaceMeasures]) -> None:
    measures = pacified["face_1-orange-half"]
    judgement = judge(measures, FacesConfig())
    covered = judgement.occlusion > FacesConfig().max_occlusion
    bare, under = np.arange(FRAMES) < HALF, np.arange(FRAMES) >= HALF
    print(f"\n[faces] face_1, orange pacifier in the second half: bare {covered[bare].mean():.2f}"
          f", under it {covered[under].mean():.2f} covered")
    assert covered[bare].mean() <= 0.05
    assert covered[under & measures.present].mean() >= 0.9
    assert judgement.verdict is None
    assert all(end <= HALF + 1 for _, end in judgement.segments)

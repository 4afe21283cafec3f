"""The faces stage against the demo corpus's per-frame ground truth."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from stages.faces.analysis import FaceMeasures
from stages.faces.config import FacesConfig
from stages.faces.segments import judge
from stages.faces.testing import precision_recall
from tests.stages.faces.helpers import (
    CASES,
    FLAGS,
    check_verdict,
    runs,
    truth,
    truth_flags,
)


@pytest.mark.parametrize(("name", "flag"), CASES)
def test_per_frame_precision_and_recall(corpus: Path, demo_measures: dict[str, FaceMeasures],
                                        name: str, flag: str) -> None:
    predicted = judge(demo_measures[name], FacesConfig()).flags(FLAGS[flag])
    precision, recall = precision_recall(predicted, truth_flags(corpus, name)[flag])
    print(f"\n[faces] {name} {flag}: precision {precision:.3f} recall {recall:.3f}")
    assert precision >= 0.95 and recall >= 0.9


@pytest.mark.parametrize("name", ["clean_cry", "clean_laugh", "face_out_of_frame", "face_turned",
                                  "mouth_occluded_hand", "mouth_occluded_pacifier"])
def test_segment_boundaries_within_three_frames(corpus: Path,
                                                demo_measures: dict[str, FaceMeasures],
                                                name: str) -> None:
    expected = runs(truth_flags(corpus, name)["good"], min_len=30)
    found = judge(demo_measures[name], FacesConfig()).segments.tolist()
    assert len(found) == len(expected), (found, expected)
    errors = [0] + [abs(a - b) for seg, ref in zip(found, expected, strict=True)
                    for a, b in zip(seg, ref, strict=True)]
    print(f"\n[faces] {name} segments {found} truth {expected} max error {max(errors)}")
    assert max(errors) <= 3


@pytest.mark.parametrize("name", ["clean_cry", "clean_laugh", "face_out_of_frame", "face_turned",
                                  "mouth_occluded_hand", "mouth_occluded_pacifier", "two_faces",
                                  "no_face"])
def test_clip_verdict_matches_the_demo_expectation(corpus: Path,
                                                   demo_measures: dict[str, FaceMeasures],
                                                   name: str) -> None:
    check_verdict(demo_measures[name], truth(corpus, name)["expected"]["reason"])


def test_two_faces_are_counted_per_frame(demo_measures: dict[str, FaceMeasures]) -> None:
    judgement = judge(demo_measures["two_faces"], FacesConfig())
    assert np.mean(judgement.rivals > 0) > 0.9
    assert judge(demo_measures["clean_cry"], FacesConfig()).rivals.max() == 0

"""The faces stage on what it really reads: the demo after the download stage's re-encode.

Regression: `mouth_occluded_hand` was accepted once one more H.264 generation (CRF 18, constant
30 fps) had rounded its lips' redness below the occlusion cue's floor.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from stages.faces.analysis import FaceMeasures
from stages.faces.config import FacesConfig
from stages.faces.segments import judge
from stages.faces.testing import precision_recall
from tests.stages.faces.helpers import (
    CASES,
    FACE_VARIANTS,
    FLAGS,
    check_verdict,
    truth,
    truth_flags,
)


@pytest.mark.parametrize("name", FACE_VARIANTS)
def test_reencoded_clip_verdict(reencoded: Path, reencoded_measures: dict[str, FaceMeasures],
                                name: str) -> None:
    check_verdict(reencoded_measures[name], truth(reencoded, name)["expected"]["reason"])


@pytest.mark.parametrize(("name", "flag"), CASES)
def test_reencoded_per_frame_precision_and_recall(reencoded: Path,
                                                  reencoded_measures: dict[str, FaceMeasures],
                                                  name: str, flag: str) -> None:
    predicted = judge(reencoded_measures[name], FacesConfig()).flags(FLAGS[flag])
    precision, recall = precision_recall(predicted, truth_flags(reencoded, name)[flag])
    print(f"\n[faces] re-encoded {name} {flag}: precision {precision:.3f} recall {recall:.3f}")
    assert precision >= 0.95 and recall >= 0.9

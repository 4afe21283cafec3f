"""Mouth occlusion on composites: real hands from real photos over real and demo faces.

The clips and their truth, the share of the lips under the pasted hand, come from
`stages.faces.testing` (its docstring has the passes); a frame is covered from 0.5, clear below
0.1, and the frames in between are left out.
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
    COMPOSITE_FRAMES,
    HAND_PHOTOS,
    analyse_all,
    composite,
    even,
    photo_clip,
    precision_recall,
    read_frames,
    read_rgb,
)


@pytest.fixture(scope="module")
def composites(shared: Path, corpus: Path, real_videos: Path,
               tmp_path_factory: pytest.TempPathFactory
               ) -> dict[str, tuple[FaceMeasures, np.ndarray]]:
    out = tmp_path_factory.mktemp("faces-composites")
    n = COMPOSITE_FRAMES
    images = shared / "fixtures" / "faces" / "images"
    bases = {
        "obama": photo_clip(even(read_rgb(images / "obama.jpg"), 480), n),
        "face_3": [even(f, 480) for f in read_frames(real_videos / "face_3.mp4") * 2][:n],
        "demo": (read_frames(corpus / "clean_cry.mp4") * 2)[:n],
    }
    truths, paths = {}, []
    for base, frames in bases.items():
        for photo in HAND_PHOTOS:
            path, truth = composite(frames, photo, shared, out / f"{base}-{photo[:-4]}.mp4")
            truths[path.stem] = truth
            paths.append(path)
    measures = analyse_all(paths)
    return {name: (measures[name], truths[name]) for name in truths}


@pytest.mark.slow
def test_mouth_occlusion_on_real_hand_composites(
        composites: dict[str, tuple[FaceMeasures, np.ndarray]]) -> None:
    """Recall and precision of `mouth_occluded` per frame, and covered frames kept out of the
    good ones.

    A covered frame where the stage finds no face counts as a miss: the metric is the mouth's,
    and a stage that lost the face has not judged it (such frames are printed; none so far).
    The curator's own need is checked too: covered frames stay out of the good frames, whatever
    reason rejects them (short bad runs are bridged, so a cover's first or last frame may not).
    """
    predicted, actual, kept = [], [], []
    for name, (measures, truth) in composites.items():
        judgement = judge(measures, FacesConfig())
        flagged = judgement.flags(ReasonCode.MOUTH_OCCLUDED)
        judged = (truth >= 0.5) | (truth < 0.1)
        covered = truth >= 0.5
        p, r = precision_recall(flagged[judged], covered[judged])
        print(f"\n[faces] composite {name}: precision {p:.3f} recall {r:.3f}, "
              f"covered frames without a face {int((covered & ~measures.present).sum())}, "
              f"covered frames left good {int((covered & judgement.good).sum())}")
        predicted.append(flagged[judged])
        actual.append(covered[judged])
        kept.append(judgement.good[covered])
    precision, recall = precision_recall(np.concatenate(predicted), np.concatenate(actual))
    kept_out = 1 - float(np.mean(np.concatenate(kept)))
    print(f"\n[faces] composites, all: precision {precision:.3f} recall {recall:.3f}, "
          f"covered frames kept out of the good ones {kept_out:.3f}")
    assert recall >= 0.9 and precision >= 0.95
    assert kept_out >= 0.9

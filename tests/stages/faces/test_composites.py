"""Mouth occlusion on composites: real hands from real photos over real and demo faces.

Each clip starts with 20 clean frames (the clip's own lips calibrate the colour cues), then takes
a real hand cut from `hand_on_cheek.jpg` or `hand_on_forehead.png` in six 16-frame passes: over
the mouth at three sizes, beside it on either side and below the chin, each sliding in and out.
The truth is the share of the lips (from FaceMesh on the clean frames) under the pasted hand:
covered from 0.5, clear below 0.1, frames in between left out.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from manifests.facemesh import EYE_CORNERS
from manifests.outcomes import ReasonCode
from stages.faces.analysis import FaceMeasures
from stages.faces.config import FacesConfig
from stages.faces.segments import judge
from tests.stages.faces.composites import (
    HAND_PHOTOS,
    cover_of,
    cut_hand,
    even,
    lips_polygon,
    paste,
    pasted_alpha,
    read_frames,
    read_rgb,
    write_video,
)
from tests.stages.faces.helpers import analyse_all, precision_recall

# (size in eye-corner distances, offset from the mouth in eye-corner distances)
PASSES = [(1.5, (0.0, 0.0)), (1.5, (1.6, -0.2)), (1.9, (0.1, 0.1)), (1.9, (-1.9, 0.0)),
          (2.3, (-0.1, 0.05)), (1.9, (0.0, 1.4))]
CLEAN, PASS, GAP = 20, 16, 10
# The fingers' middle joints go over the target: the palm stays beside or below the face.
ANCHORS = {"hand_on_cheek.jpg": (10, 11), "hand_on_forehead.png": (6, 10, 14)}


def _mesh(frames: list[np.ndarray]) -> list[np.ndarray | None]:
    import mediapipe as mp

    out: list[np.ndarray | None] = []
    with mp.solutions.face_mesh.FaceMesh(refine_landmarks=True, max_num_faces=1) as mesh:
        for frame in frames:
            h, w = frame.shape[:2]
            faces = mesh.process(frame).multi_face_landmarks
            out.append(np.array([[p.x * w, p.y * h] for p in faces[0].landmark])
                       if faces else None)
    return out


def _photo_clip(photo: np.ndarray, n: int) -> list[np.ndarray]:
    """A photo that sways by a pixel or two (a still would be rejected as static)."""
    import cv2

    h, w = photo.shape[:2]
    return [cv2.warpAffine(photo, np.float32([[1, 0, 2 * np.sin(t / 7)],
                                              [0, 1, 1.5 * np.sin(t / 11)]]), (w, h),
                           borderMode=cv2.BORDER_REFLECT) for t in range(n)]


def _composite(frames: list[np.ndarray], photo: str, shared: Path,
               out: Path) -> tuple[Path, np.ndarray]:
    hand = cut_hand(read_rgb(shared / "fixtures" / "faces" / "images" / photo))
    anchor = hand.points[list(ANCHORS[photo])].mean(0)
    faces = _mesh(frames)
    pasted, truth = [], []
    for i, (frame, face) in enumerate(zip(frames, faces, strict=True)):
        k, j = divmod(i - CLEAN, PASS + GAP)
        if i < CLEAN or j >= PASS or face is None:
            pasted.append(frame)
            truth.append(0.0)
            continue
        size, (dx, dy) = PASSES[k]
        iod = float(np.linalg.norm(face[EYE_CORNERS[0]] - face[EYE_CORNERS[1]]))
        slide = max(0.0, 1 - j / 4, (j - 11) / 4)  # in from below over 4 frames, out likewise
        target = face[[13, 14]].mean(0) + iod * np.array([dx, dy + 1.2 * slide])
        pasted.append(paste(frame, hand, anchor, target, size * iod))
        alpha = pasted_alpha(frame.shape[:2], hand, anchor, target, size * iod)
        truth.append(cover_of(alpha, lips_polygon(face)))
    return write_video(pasted, out), np.array(truth)


@pytest.fixture(scope="module")
def composites(shared: Path, corpus: Path, real_videos: Path,
               tmp_path_factory: pytest.TempPathFactory
               ) -> dict[str, tuple[FaceMeasures, np.ndarray]]:
    out = tmp_path_factory.mktemp("faces-composites")
    n = CLEAN + len(PASSES) * (PASS + GAP)
    images = shared / "fixtures" / "faces" / "images"
    bases = {
        "obama": _photo_clip(even(read_rgb(images / "obama.jpg"), 480), n),
        "face_3": [even(f, 480) for f in read_frames(real_videos / "face_3.mp4") * 2][:n],
        "demo": (read_frames(corpus / "clean_cry.mp4") * 2)[:n],
    }
    truths, paths = {}, []
    for base, frames in bases.items():
        for photo in HAND_PHOTOS:
            path, truth = _composite(frames, photo, shared, out / f"{base}-{photo[:-4]}.mp4")
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

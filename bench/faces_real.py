"""Mouth occlusion on real hands over faces the composite tests do not use: precision, recall.

The tests' composites (`tests/stages/faces/test_composites.py`, built by `stages.faces.testing`)
paste real hands over obama.jpg, face_3.mp4 and the demo's faces. This bench runs the same
procedure over four faces they do not use: scikit-image's astronaut and matplotlib's Grace Hopper
(photos inside installed packages), biden.jpg (a small face in a large frame) and face_1.mp4 (a
pale-lipped talking man), each with both hands, and prints per-frame precision and recall of
`mouth_occluded` (covered: half the lips or more under the hand; clear: under a tenth). A
covered frame whose face the stage lost counts as a miss.

Then pacifiers (`stages.faces.testing.SHIELDS`, the demo's shape in seven colours) over the same
four faces, in every frame of a 3 s clip and in its second half: the share of frames flagged
`mouth_occluded`, and how many whole-clip ones are rejected for it.
Run: `.venv/bin/python -m bench.faces_real [--shared ../shared]`.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from manifests.outcomes import ReasonCode
from stages.faces import testing as composites
from stages.faces.config import FacesConfig
from stages.faces.segments import judge


def _bases(shared: Path) -> dict[str, list[np.ndarray]]:
    import matplotlib.cbook
    import skimage.data

    n, even, sway = composites.COMPOSITE_FRAMES, composites.even, composites.photo_clip
    hopper = composites.read_rgb(Path(matplotlib.cbook.get_sample_data("grace_hopper.jpg",
                                                                       asfileobj=False)))
    faces = shared / "fixtures" / "faces"
    biden = composites.read_rgb(faces / "images" / "biden.jpg")
    talking = composites.read_frames(faces / "videos" / "face_1.mp4")
    return {"astronaut": sway(even(skimage.data.astronaut(), 480), n),
            "hopper": sway(even(hopper, 480), n),
            "biden": sway(even(biden, 640), n),
            "face_1": [even(f, 480) for f in talking * (n // len(talking) + 1)][:n]}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path,
                        default=Path(__file__).resolve().parents[2] / "shared")
    args = parser.parse_args(argv)
    bases = _bases(args.shared)
    with tempfile.TemporaryDirectory() as tmp:
        truths, paths = {}, []
        for base, frames in bases.items():
            for photo in composites.HAND_PHOTOS:
                path, truth = composites.composite(frames, photo, args.shared,
                                                   Path(tmp) / f"{base}-{photo[:-4]}.mp4")
                truths[path.stem], paths = truth, [*paths, path]
        measures = composites.analyse_all(paths)
    predicted, actual = [], []
    for name, truth in truths.items():
        flagged = judge(measures[name], FacesConfig()).flags(ReasonCode.MOUTH_OCCLUDED)
        judged, covered = (truth >= 0.5) | (truth < 0.1), truth >= 0.5
        p, r = composites.precision_recall(flagged[judged], covered[judged])
        lost = int((covered & ~measures[name].present).sum())
        print(f"  {name:28s} precision {p:.3f} recall {r:.3f} ({int(covered.sum())} covered "
              f"frames, {lost} without a face)")
        predicted.append(flagged[judged])
        actual.append(covered[judged])
    p, r = composites.precision_recall(np.concatenate(predicted), np.concatenate(actual))
    print(f"all: precision {p:.3f} recall {r:.3f} (the tests' own composites: goal recall "
          f">= 0.9, precision >= 0.95)")
    report_pacifiers(bases)


PACIFIER_FRAMES = 90


def report_pacifiers(bases: dict[str, list[np.ndarray]]) -> None:
    """Pacifiers in the whole clip and in its second half, per colour and face."""
    half = PACIFIER_FRAMES // 2
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for base, frames in bases.items():
            frames = frames[:PACIFIER_FRAMES]
            for shield in composites.SHIELDS:
                for start, part in ((0, "whole"), (half, "half")):
                    clip = composites.with_pacifier(frames, shield, start=start)
                    paths.append(composites.write_video(clip, Path(tmp) / f"{base}-{shield}-"
                                                        f"{part}.mp4"))
        measures = composites.analyse_all(paths)
    print(f"pacifiers over the same faces ({PACIFIER_FRAMES} frames; share of frames flagged "
          "mouth_occluded: whole clip | second half: bare frames / covered frames)")
    rejected, bare = 0, []
    for shield in composites.SHIELDS:
        cells = []
        for base in bases:
            whole = judge(measures[f"{base}-{shield}-whole"], FacesConfig())
            split = judge(measures[f"{base}-{shield}-half"], FacesConfig())
            flagged = whole.flags(ReasonCode.MOUTH_OCCLUDED)
            halves = split.flags(ReasonCode.MOUTH_OCCLUDED)
            rejected += whole.verdict == ReasonCode.MOUTH_OCCLUDED
            bare.append(halves[:half])
            cells.append(f"{base} {flagged.mean():.2f} | {halves[:half].mean():.2f}/"
                         f"{halves[half:].mean():.2f}")
        print(f"  {shield:10s} " + "; ".join(cells))
    print(f"whole-clip pacifiers rejected mouth_occluded: {rejected}/"
          f"{len(bases) * len(composites.SHIELDS)}"
          f"; bare frames flagged beside a pacifier: {np.concatenate(bare).mean():.3f}")


if __name__ == "__main__":
    main()

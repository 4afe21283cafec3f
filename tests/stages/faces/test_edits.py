"""Same input, same output; stills rejected; edits end segments (issue #14 regressions).

- Each worker kept one set of MediaPipe graphs in tracking mode: the same clip lost frame 0 or
  gained bad frames depending on the clip run before it.
- A photo with a soundtrack passed as a face track with no motion at all; biden.jpg still did,
  FaceMesh's own jitter on its identical frames taken for motion.
- A good segment ran through a jump cut where the landmarks jumped by 67 px in one frame.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from manifests.formats.facetrack import FaceTrack
from manifests.outcomes import RUN_METRICS, ReasonCode, Status
from manifests.testing import dummy_clip
from stages.config import CradleConfig
from stages.contract import RunContext
from stages.faces.analysis import FaceModels, analyse_video
from stages.faces.config import FacesConfig
from stages.faces.segments import judge
from stages.faces.stage import STAGE
from stages.faces.testing import even, read_frames, read_rgb, write_video
from stages.paths import DataRoot


def _run_batch(sources: list[Path], root: DataRoot) -> dict[str, tuple[bytes, dict]]:
    """The stage on one worker (a single process, as a worker runs its clips in turn)."""
    clips = [dummy_clip(i) for i in range(len(sources))]
    for clip, source in zip(clips, sources, strict=True):
        shutil.copy(source, root.clip(clip.id).raw_video)
    cfg = RunContext(CradleConfig(home=root.home, machine={"faces": {"workers": 1}}))
    results = STAGE.run(clips, STAGE.stage_config(cfg), root)
    # What the clip is, not how the run went (its `seconds`): RUN_METRICS stay out of shards too.
    return {source.name: (Path(r.outputs["track"]).read_bytes(),
                          {k: v for k, v in r.metrics.items() if k not in RUN_METRICS})
            for source, r in zip(sources, results, strict=True)}


def test_a_batch_gives_bit_identical_results_in_either_order(corpus: Path, real_videos: Path,
                                                             tmp_path: Path) -> None:
    # face_3's face sits elsewhere than clean_cry's: a stale track lost clean_cry's frame 0.
    batch = [real_videos / "face_3.mp4", corpus / "clean_cry.mp4"]
    forward = _run_batch(batch, DataRoot(tmp_path / "a").create())
    backward = _run_batch(batch[::-1], DataRoot(tmp_path / "b").create())
    assert forward.keys() == backward.keys()
    for name in forward:
        assert forward[name][0] == backward[name][0], f"{name}: the track file differs"
        assert forward[name][1] == backward[name][1], f"{name}: the metrics differ"


@pytest.fixture(scope="module")
def edited(shared: Path, real_videos: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Still photos with a soundtrack, and a talking head with a jump cut (a 70 px shift)."""
    out = tmp_path_factory.mktemp("faces-edits")
    for name in ("obama", "biden"):
        photo = even(read_rgb(shared / "fixtures" / "faces" / "images" / f"{name}.jpg"), 480)
        write_video([photo] * 60, out / f"{name}_upload.mp4", audio=True)
        # Re-encoded at CRF 23, as a video platform serves an upload.
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(out / f"{name}_upload.mp4"),
                        "-c:v", "libx264", "-crf", "23", "-c:a", "copy",
                        str(out / f"{name}_still.mp4")], check=True)
    frames = [even(f, 400) for f in read_frames(real_videos / "face_3.mp4")]
    shifted = [np.roll(f, (30, 62), axis=(0, 1)) for f in frames[70:]]
    write_video(frames[:60] + shifted, out / "jump_cut.mp4", fps=25.0)
    return out


@pytest.mark.parametrize("photo", ["obama", "biden"])
def test_still_image_video_is_static(edited: Path, photo: str) -> None:
    """Regression (biden): on identical frames FaceMesh's landmarks jittered 0.002-0.003
    eye-corner distances a frame, above the still threshold; the mouth's pixels did not move."""
    with FaceModels() as models:
        measures = analyse_video(edited / f"{photo}_still.mp4", FacesConfig(), models)
    judgement = judge(measures, FacesConfig())
    assert measures.present.all()
    assert judgement.verdict is ReasonCode.STATIC_VIDEO
    assert judgement.flags(ReasonCode.STATIC_VIDEO).all()


@pytest.mark.parametrize("degrade", [["-c:v", "libx264", "-crf", "42"],
                                     ["-vf", "eq=brightness=-0.3:contrast=0.6"]],
                         ids=["crf42", "dark"])
def test_a_talking_head_held_still_is_not_static(real_videos: Path, tmp_path: Path,
                                                 degrade: list[str]) -> None:
    """Regression: a real talking head at CRF 42, or darkened, changed its thumbnail by under
    0.35 grey levels a frame and its rigid face by under 0.002 eye-corner distances, and a
    third of its frames were `static_video`; its lips moved 0.003 a frame, a still's 0.0005."""
    degraded = tmp_path / "face_1.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(real_videos / "face_1.mp4"),
                    *degrade, "-an", str(degraded)], check=True)
    with FaceModels() as models:
        measures = analyse_video(degraded, FacesConfig(), models)
    judgement = judge(measures, FacesConfig())
    assert not judgement.flags(ReasonCode.STATIC_VIDEO).any(), judgement.counts


def test_jump_cut_splits_the_segment(edited: Path) -> None:
    with FaceModels() as models:
        measures = analyse_video(edited / "jump_cut.mp4", FacesConfig(), models)
    judgement = judge(measures, FacesConfig())
    print(f"\n[faces] jump cut at 60: cuts {np.flatnonzero(judgement.cuts).tolist()}, "
          f"segments {judgement.segments.tolist()}")
    assert judgement.verdict is None
    assert np.flatnonzero(judgement.cuts).tolist() == [60]
    # FaceMesh may lose the face for a frame at the jump: the second segment starts by 62.
    [(start_a, end_a), (start_b, end_b)] = judgement.segments.tolist()
    assert start_a == 0 and end_a == 60 and 60 <= start_b <= 62 and end_b == measures.frames


def test_rejected_clip_keeps_its_per_frame_qc(corpus: Path, tmp_path: Path) -> None:
    root = DataRoot(tmp_path / "home").create()
    clip = dummy_clip(0)
    shutil.copy(corpus / "two_faces.mp4", root.clip(clip.id).raw_video)
    cfg = RunContext(CradleConfig(home=root.home, machine={"faces": {"workers": 1}}))
    [result] = STAGE.run([clip], STAGE.stage_config(cfg), root)
    assert (result.status, result.reason) == (Status.REJECTED, ReasonCode.SEVERAL_FACES)
    assert result.metrics["reason_frames"]["several_faces"] > 200
    track = FaceTrack.load(result.outputs["track"])
    assert track.verdict == "several_faces" and not track.accepted
    assert track.segments.shape == (0, 2)
    bit = 1 << track.reason_names.index("several_faces")
    assert np.mean((track.qc["reasons"] & bit) > 0) > 0.9
    assert {"occlusion", "upper_occlusion", "yaw_deg", "reason", "scene_cut"} <= set(track.qc)

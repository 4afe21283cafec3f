"""The faces stage through its contract: happy path, one test per reason code, resume."""

from __future__ import annotations

import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from manifests.formats.facetrack import FaceTrack
from manifests.ledger import Ledger
from manifests.outcomes import ReasonCode, Status
from manifests.testing import dummy_clip
from stages.config import CradleConfig
from stages.contract import RunContext, execute_batch
from stages.faces.analysis import FaceMeasures
from stages.faces.config import FacesConfig, FacesMachine
from stages.faces.pose import derive_template, load_template
from stages.faces.segments import judge
from stages.faces.stage import STAGE, FacesSettings, run
from stages.paths import DataRoot


def test_happy_path_and_resume(corpus: Path, tmp_path: Path) -> None:
    root = DataRoot(tmp_path / "home").create()
    clips = [dummy_clip(0), dummy_clip(1), dummy_clip(2), dummy_clip(3)]
    for clip, name in zip(clips, ["clean_cry", "no_face", "corrupt_empty"], strict=False):
        shutil.copy(corpus / f"{name}.mp4", root.clip(clip.id).raw_video)
    ledger = Ledger.open(f"sqlite:///{tmp_path / 'ledger.sqlite'}")
    ledger.add_clips(clips)
    ctx = RunContext(CradleConfig(home=root.home))
    # What a kill during an earlier attempt leaves: a landmark spool that was never finished.
    (root.faces / f".tmp-{clips[0].id}-0123456789ab.rows").write_bytes(b"\0" * 5736)
    first = {r.clip_id: r for r in execute_batch(STAGE, clips, ctx, ledger)}
    ok = first[clips[0].id]
    assert ok.status is Status.OK and ok.metrics["segments"] == 1
    track = FaceTrack.load(ok.outputs["track"])
    assert track.frames == 240 and track.landmarks.shape == (240, 478, 3)
    assert {"coverage", "yaw_deg", "occlusion", "face_size_px"} <= set(track.qc)
    rejected = first[clips[1].id]
    assert rejected.reason is ReasonCode.FACE_NOT_FOUND
    # A rejected clip keeps its per-frame QC for the review UI, with no segments.
    assert FaceTrack.load(rejected.outputs["track"]).verdict == "face_not_found"
    assert first[clips[2].id].reason is ReasonCode.CORRUPT_MEDIA
    missing = first[clips[3].id]
    assert (missing.status, missing.reason) == (Status.RETRY, ReasonCode.MISSING_INPUT)
    # The landmark spools of every clip, kept, rejected or killed before, are gone afterwards.
    assert sorted(p.name for p in root.faces.iterdir()) == sorted(
        f"{clip.id}.npz" for clip in clips[:2])
    written = {p: p.stat().st_mtime_ns for p in root.faces.iterdir()}
    # Only the clip whose video is missing is tried again (it may come back); nothing is rewritten.
    again = execute_batch(STAGE, clips, ctx, ledger)
    assert [(r.clip_id, r.status) for r in again] == [(clips[3].id, Status.RETRY)]
    assert {p: p.stat().st_mtime_ns for p in root.faces.iterdir()} == written


@pytest.mark.parametrize(("name", "cfg", "reason"), [
    ("no_face", {}, ReasonCode.FACE_NOT_FOUND),
    # These leave under a second clean at either end: too short a segment to be accepted.
    ("face_out_of_frame", {}, ReasonCode.FACE_OUT_OF_FRAME),
    ("face_turned", {}, ReasonCode.FACE_TURNED),
    ("mouth_occluded_hand", {}, ReasonCode.MOUTH_OCCLUDED),
    ("mouth_occluded_pacifier", {}, ReasonCode.MOUTH_OCCLUDED),
    ("two_faces", {}, ReasonCode.SEVERAL_FACES),
    # The demo's faces are 90-110 px between the eye corners: a stricter size limit rejects them.
    ("clean_cry", {"min_face_px": 150.0}, ReasonCode.FACE_TOO_SMALL),
    # 8 s of good frames cannot make a 20 s segment.
    ("clean_cry", {"min_segment_s": 20.0}, ReasonCode.NO_LONG_SEGMENT),
])
def test_reason_codes(demo_measures: dict[str, FaceMeasures], name: str, cfg: dict,
                      reason: ReasonCode) -> None:
    assert judge(demo_measures[name], FacesConfig(**cfg)).verdict is reason


def test_committed_template_matches_its_derivation() -> None:
    assert abs(derive_template() - load_template()).max() < 1e-3


def test_one_clip_batches_in_threads_of_one_process_get_the_tracks_they_get_alone(
        corpus: Path, tmp_path: Path) -> None:
    """Regression: a batch of one clip runs in the flow's thread, and concurrent such batches
    shared one set of MediaPipe graphs: the run hung in `reset` (or died of SIGSEGV)."""
    root = DataRoot(tmp_path / "home").create()
    clips = [dummy_clip(i) for i in range(4)]
    for clip, name in zip(clips, ["clean_cry", "clean_laugh", "clean_cry", "no_face"],
                          strict=True):
        shutil.copy(corpus / f"{name}.mp4", root.clip(clip.id).raw_video)
    cfg = FacesSettings(FacesConfig(), FacesMachine(workers=1))

    def tracks() -> dict[str, bytes]:
        return {p.name: FaceTrack.load(p).landmarks.tobytes() for p in root.faces.glob("*.npz")}

    with ThreadPoolExecutor(4) as pool:
        together = [r for batch in pool.map(lambda c: run([c], cfg, root), clips) for r in batch]
    concurrent = tracks()
    alone = [r for clip in clips for r in run([clip], cfg, root)]
    assert [(r.status, r.reason) for r in together] == [(r.status, r.reason) for r in alone]
    assert tracks() == concurrent
    assert concurrent[f"{clips[0].id}.npz"] == concurrent[f"{clips[2].id}.npz"]

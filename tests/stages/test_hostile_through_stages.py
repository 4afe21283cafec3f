"""Hostile media through every curation stage: each ends with a verdict that names its cause.

The download stage's hostile corpus (`tests/stages/hostile.py`) plus the demo's clean cry, with a
face and an infant's voice, re-encoded the ways the internet does (VP9, MPEG-2, variable frame
rate, 4K, 96 kHz, 7.1). What the download stage passes goes on to audio, faces and fitting; each
stage takes every clip whose input exists, whatever the stage before said, because a reviewer's
override sends a rejected clip on; the shards stage then builds a dataset of what passed them
all. Nothing may crash or raise, and every `rejected` or `failed` result carries a specific
reason.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from manifests.ledger import Ledger
from manifests.outcomes import ReasonCode, StageResult, Status
from manifests.records import Clip
from stages.audio import stage as audio
from stages.config import load_config
from stages.contract import RunContext, StageSpec, execute_batch, recorded_outputs
from stages.download import stage as download
from stages.faces import stage as faces
from stages.fitting import stage as fitting
from stages.paths import DataRoot
from stages.shards.stage import build_dataset
from tests.stages.hostile import CASES, Case, Verdicts, download_corpus

LATER_STAGES = (audio.STAGE, faces.STAGE, fitting.STAGE)


def _from_cry(corpus: Path, name: str, *args: str) -> Callable[[Path], Path]:
    """The demo's clean cry re-encoded with ffmpeg `args` into `name`."""
    def make(folder: Path) -> Path:
        path = folder / name
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(corpus / "clean_cry.mp4"),
                        *args, str(path)], check=True, timeout=120)
        return path
    return make


def _face_cases(corpus: Path) -> list[Case]:
    x264 = ("-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p")
    return [
        Case("cry_vp9", _from_cry(corpus, "cry.webm", "-c:v", "libvpx-vp9", "-deadline",
                                  "realtime", "-cpu-used", "8", "-c:a", "libopus"), None),
        Case("cry_mpeg2", _from_cry(corpus, "cry.mpg", "-c:v", "mpeg2video", "-q:v", "4",
                                    "-c:a", "mp2"), None),
        Case("cry_vfr", _from_cry(corpus, "cry_vfr.mp4", "-vf", "select='lt(mod(n,10),6)'",
                                  "-fps_mode", "vfr", *x264, "-c:a", "aac"), None),
        Case("cry_4k", _from_cry(corpus, "cry_4k.mp4", "-t", "2.5", "-vf", "scale=3840:2160",
                                 *x264, "-c:a", "aac"), None, 0.2, 2.2),
        Case("cry_96k_7_1", _from_cry(corpus, "cry_71.mkv", *x264, "-ar", "96000", "-af",
                                      "pan=7.1|c0=c0|c1=c0|c2=c0|c3=c0|c4=c0|c5=c0|c6=c0|c7=c0",
                                      "-c:a", "pcm_s24le"), None),
    ]


Outcomes = tuple[Verdicts, dict[str, dict[str, StageResult | BaseException]], int | BaseException]


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory, demo_corpus: Path) -> Outcomes:
    """The corpus downloaded, then each later stage over every clip that has its input, then a
    dataset built of what passed (its sample count, or what building it raised)."""
    root = DataRoot(tmp_path_factory.mktemp("home"))
    cases = CASES + _face_cases(demo_corpus)
    downloads = download_corpus(tmp_path_factory.mktemp("hostile"), root, cases)
    downloaded = [Clip(id=f"h-{name}", url="file:///unused", start_s=case.start_s,
                       end_s=case.end_s, split_group=f"h-{name}")
                  for name, (case, result, _) in downloads.items()
                  if isinstance(result, StageResult) and result.status is Status.OK]
    ctx = RunContext(load_config(home=root.home), "hostile")
    ledger = Ledger.open(ctx.ledger_url)
    ledger.add_clips(downloaded)
    ledger.record(download.STAGE.name, download.STAGE.version, download.STAGE.config_hash(ctx.cfg),
                  [recorded_outputs(downloads[clip.id[2:]][1], root) for clip in downloaded],
                  started_at=datetime.now(UTC))
    later: dict[str, dict[str, StageResult | BaseException]] = {}
    for stage in LATER_STAGES:
        todo = [clip for clip in downloaded if _has_input(stage, clip, root)]
        if stage is fitting.STAGE:
            fitting.ensure_open_model(ctx.cfg.fitting, root, todo)
        later[stage.name] = _run(stage, todo, ctx, ledger)
    try:
        samples: int | BaseException = build_dataset(ledger, root, ctx.cfg.shards, "hostile",
                                                     fitting=ctx.cfg.fitting).samples
    except Exception as e:  # counted as a crash of the shards stage
        samples = e
    ledger.close()
    return downloads, later, samples


def _has_input(stage: StageSpec, clip: Clip, root: DataRoot) -> bool:
    files = root.clip(clip.id)
    needed = {"audio": files.raw_audio, "faces": files.raw_video, "fitting": files.face_track}
    return needed[stage.name].is_file()


def _run(stage: StageSpec, clips: list[Clip], ctx: RunContext,
         ledger: Ledger) -> dict[str, StageResult | BaseException]:
    """The stage as the flow runs it, recorded in the ledger; an escaping error is kept."""
    try:
        results = execute_batch(stage, clips, ctx, ledger)
    except Exception as e:  # a crash of the whole batch: every clip in it is counted
        return {clip.id: e for clip in clips}
    return {result.clip_id: result for result in results}


def _problems(results: dict[str, StageResult | BaseException]) -> list[str]:
    bad = []
    for clip_id, result in results.items():
        if not isinstance(result, StageResult):
            bad.append(f"{clip_id}: raised {result!r}")
        elif result.status not in (Status.OK, Status.REJECTED, Status.FAILED):
            bad.append(f"{clip_id}: {result.status.value} {result.metrics}")
        elif result.reason is ReasonCode.INTERNAL_ERROR or (
                result.status is not Status.OK and result.reason is None):
            bad.append(f"{clip_id}: {result.reason} {result.metrics}")
    return bad


@pytest.mark.slow
@pytest.mark.parametrize("stage", [s.name for s in LATER_STAGES])
def test_every_clip_a_stage_takes_ends_in_a_verdict_with_a_reason(outcomes, stage: str) -> None:
    _, later, _ = outcomes
    assert later[stage], f"no hostile clip reached {stage}"
    assert _problems(later[stage]) == []


@pytest.mark.slow
def test_valid_media_with_a_face_and_a_cry_passes_every_stage(outcomes) -> None:
    """Container, codec, frame rate, size and audio format decide nothing past the download."""
    _, later, samples = outcomes
    for stage in ("audio", "faces", "fitting"):
        verdicts = {clip_id: (r.status.value, r.reason and r.reason.value)
                    for clip_id, r in later[stage].items()
                    if clip_id.startswith("h-cry_") and isinstance(r, StageResult)}
        assert len(verdicts) == 5, stage
        assert set(verdicts.values()) == {("ok", None)}, (stage, verdicts)
    assert isinstance(samples, int) and samples >= 5, samples  # all five reach the dataset


@pytest.mark.slow
def test_summary(outcomes, capsys: pytest.CaptureFixture[str]) -> None:
    downloads, later, samples = outcomes
    handled = {"download": len(downloads), **{name: len(r) for name, r in later.items()}}
    crashes = sum(len(_problems(r)) for r in later.values()) + sum(
        1 for _, result, _ in downloads.values() if not isinstance(result, StageResult)) + (
        0 if isinstance(samples, int) else 1)
    with capsys.disabled():
        print(f"\nhostile media through the stages: {len(downloads)} kinds x {len(handled) + 1} "
              f"stages ({', '.join(f'{k} {v}' for k, v in handled.items())} clips judged, "
              f"shards: {samples} samples), "
              f"{crashes} crashes")
    assert crashes == 0

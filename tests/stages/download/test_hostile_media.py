"""The download stage against hostile local media: every kind ends in a verdict that names it.

The corpus (`tests/stages/hostile.py`) runs through the stage as `file://` clips: valid media must
become a 30 fps CFR clip at most `max_height` tall with 16 kHz mono audio; a segment over
`download.max_duration_s` is rejected before any fetch; anything else must fail at once (never
`retry`) with its own reason.
"""

from __future__ import annotations

from pathlib import Path

import ffmpeg
import pytest

from manifests.outcomes import ReasonCode, StageResult, Status
from manifests.records import Clip
from stages.download.testing import serve_faults
from stages.paths import DataRoot
from tests.stages.hostile import (
    CASE_TIMEOUT_S,
    CASES,
    Case,
    Verdicts,
    av,
    download_corpus,
    settings,
    timed,
)
from tests.stages.hostile import overstated as overstated_file


@pytest.fixture(scope="module")
def verdicts(tmp_path_factory: pytest.TempPathFactory) -> Verdicts:
    return download_corpus(tmp_path_factory.mktemp("hostile"),
                           DataRoot(tmp_path_factory.mktemp("home")))


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_each_kind_ends_in_its_own_verdict_in_bounded_time(verdicts, case: Case) -> None:
    _, result, seconds = verdicts[case.name]
    assert isinstance(result, StageResult), f"the stage raised: {result!r}"
    assert seconds < CASE_TIMEOUT_S
    if case.reason is None:
        assert result.status is Status.OK, result.metrics
        _assert_normalised(result)
        return
    assert (result.status, result.reason) == (case.status, case.reason), result.metrics
    if case.status is Status.REJECTED:  # judged before any fetch, on the segment asked for
        assert result.metrics["duration_s"] > result.metrics["max_duration_s"]
        return
    assert result.metrics["attempts"] == 1  # permanent: never retried, tonight or any night
    assert result.metrics["error"]  # the measurement behind the verdict


def _assert_normalised(result: StageResult) -> None:
    streams = {s["codec_type"]: s for s in ffmpeg.probe(
        str(result.outputs["video"]), count_packets=None)["streams"]}
    video = streams["video"]
    assert video["r_frame_rate"] == video["avg_frame_rate"] == "30/1"
    assert video["codec_name"] == "h264" and int(video["height"]) <= 720
    audio = ffmpeg.probe(str(result.outputs["audio"]))["streams"][0]
    assert (audio["sample_rate"], audio["channels"], audio["codec_name"]) == (
        "16000", 1, "pcm_s16le")


def test_measurements_name_the_cause(verdicts) -> None:
    """What an annotator reads in the ledger: the numbers behind each verdict."""
    errors = {name: r.metrics.get("error", "") for name, (_, r, _) in verdicts.items()
              if isinstance(r, StageResult)}
    assert "0 bytes" in errors["empty"]
    assert "1x1" in errors["one_pixel"] and "moov atom not found" in errors["truncated"]
    assert "png" in errors["png_as_mp4"]
    assert "declares 30.000 s: it decodes to only 3.0" in errors["overstated_duration"]
    assert "NaN" in errors["nan_audio"]
    _, uhd, _ = verdicts["4k"]
    assert isinstance(uhd, StageResult) and uhd.metrics["height"] == 720


def test_a_direct_link_is_judged_by_what_it_decodes_to_and_capped_in_height(
        tmp_path: Path) -> None:
    """Regression: a header declaring 30 s for 3 s of media made the clip `retry` every run."""
    files = {"overstated": overstated_file(tmp_path), "uhd": av(
        tmp_path / "uhd.mp4", video="testsrc=size=3840x2160:rate=30", seconds=1.5)}
    root = DataRoot(tmp_path / "home")
    with serve_faults(files["overstated"], files=files) as server:
        clips = [Clip(id=f"d-{name}", url=server.url("ok", name), start_s=start, end_s=end,
                      split_group=f"d-{name}")
                 for name, start, end in (("overstated", 2.0, 5.0), ("uhd", 0.2, 1.2))]
        overstated, uhd = (timed(c, settings(root.home), root)[0] for c in clips)
    assert (overstated.status, overstated.reason) == (Status.FAILED,
                                                      ReasonCode.DURATION_MISMATCH), \
        overstated.metrics
    assert overstated.metrics["attempts"] == 1
    assert "declares 30.000 s: it decodes to only 3.000 s" in overstated.metrics["error"]
    assert uhd.status is Status.OK, uhd.metrics
    _assert_normalised(uhd)
    assert uhd.metrics["height"] == 720


def test_summary(verdicts, capsys: pytest.CaptureFixture[str]) -> None:
    crashes = [name for name, (case, result, _) in verdicts.items()
               if not isinstance(result, StageResult)
               or result.reason is ReasonCode.INTERNAL_ERROR
               or result.reason != case.reason]
    slowest = max(verdicts.items(), key=lambda kv: kv[1][2])
    with capsys.disabled():
        print(f"\nhostile media: {len(verdicts)} kinds, {len(crashes)} crashes"
              f"{' (' + ', '.join(crashes) + ')' if crashes else ''}; "
              f"slowest {slowest[0]} {slowest[1][2]:.1f} s")
    assert not crashes

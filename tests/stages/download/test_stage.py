"""The download stage against a loopback server that fails the ways real hosts fail."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import ffmpeg
import pandas as pd
import pytest
from yt_dlp.utils import DownloadError, ExtractorError

from manifests.ledger import Ledger
from manifests.ledger.export import export_manifests
from manifests.outcomes import ReasonCode, StageResult, Status
from manifests.records import Clip
from stages.config import load_config
from stages.contract import RunContext, execute_batch
from stages.download.faults import classify
from stages.download.fetch import resolve_demo
from stages.download.stage import STAGE, DownloadSettings, run
from stages.download.stage import settings as download_settings
from stages.download.testing import FaultServer, make_test_video, serve_faults
from stages.paths import DataRoot
from stages.sources.stage import clip_for

RETRIES = 2
# The test server answers from a thread of the test's own process: with 0.5 s, a loaded CI
# machine let a 404's answer wait past the timeout, so the stage retried it (two hits for one).
TIMEOUT_S = 2.0
DRIP_S = 3.0  # a "drip" answer stalls longer than the timeout


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_test_video(tmp_path_factory.mktemp("media") / "source.mp4", seconds=6.0)


@pytest.fixture(scope="module")
def broken(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Files a server delivers whole that do not decode, beside the moov-last original."""
    folder = tmp_path_factory.mktemp("broken")
    moov_last = make_test_video(folder / "moov_last.mp4", seconds=6.0, faststart=False)
    data = moov_last.read_bytes()
    (folder / "halved.mp4").write_bytes(data[: len(data) // 2])  # cut on disk: no moov atom
    (folder / "empty.mp4").write_bytes(b"")
    return {path.stem: path for path in folder.iterdir()}


@pytest.fixture
def server(media: Path, broken: dict[str, Path]) -> Iterator[FaultServer]:
    with serve_faults(media, drip_s=DRIP_S, files=broken) as state:
        yield state


def context(root: DataRoot, run_id: str = "run-1", **network: object) -> RunContext:
    """Tiny backoff, so every fault resolves in seconds, and a timeout a busy machine meets."""
    cfg = load_config(home=root.home,
                      network={"retries": RETRIES, "backoff_s": 0.01, "backoff_max_s": 0.05,
                               "timeout_s": TIMEOUT_S, "requests_per_second": 1000, "workers": 8,
                               **network})
    return RunContext(cfg, run_id)


def settings(run_id: str = "run-1", **network: object) -> DownloadSettings:
    """What a batch of the stage gets, for calling `run` directly."""
    return download_settings(context(DataRoot(Path()), run_id, **network))


def clip(server: FaultServer, fault: str, start: float = 1.5, end: float = 4.0,
         name: str = "clip") -> Clip:
    return Clip(id=f"t-{fault}-{round(start * 1000)}", url=server.url(fault, name),
                start_s=start, end_s=end, split_group=f"t-{fault}")


def probe_streams(path: Path) -> dict[str, dict]:
    streams = ffmpeg.probe(str(path), count_packets=None)["streams"]
    return {s["codec_type"]: s for s in streams}


def test_a_segment_becomes_an_exact_cfr_clip_and_16k_mono_wav(server: FaultServer,
                                                               tmp_path: Path) -> None:
    root = DataRoot(tmp_path)
    [result] = run([clip(server, "ok")], settings(), root)
    assert result.status is Status.OK, result.metrics
    video = probe_streams(result.outputs["video"])["video"]
    assert abs(float(video["duration"]) - 2.5) <= 1 / 30
    assert video["r_frame_rate"] == video["avg_frame_rate"] == "30/1"
    assert int(video["nb_read_packets"]) == 75
    audio = probe_streams(result.outputs["audio"])["audio"]
    assert (audio["sample_rate"], audio["channels"], audio["codec_name"]) == ("16000", 1,
                                                                              "pcm_s16le")
    assert abs(float(audio["duration"]) - 2.5) <= 1 / 30
    provenance = json.loads(result.outputs["provenance"].read_text())
    assert provenance["yt_dlp_version"] == "2026.10.26"
    assert len(provenance["video_sha256"]) == 64 and provenance["format_ids"]
    assert sorted(p.name for p in root.raw.iterdir()) == [
        "t-ok-1500.json", "t-ok-1500.mp4", "t-ok-1500.wav"]  # no partial or temporary files


FAULTS = [  # fault, status, reason, server hits allowed
    ("404", Status.FAILED, ReasonCode.VIDEO_UNAVAILABLE, 1),
    ("403", Status.FAILED, ReasonCode.VIDEO_PRIVATE, 1),
    ("410", Status.FAILED, ReasonCode.VIDEO_REMOVED, 1),
    ("html", Status.FAILED, ReasonCode.VIDEO_UNAVAILABLE, 1),
    ("500", Status.RETRY, ReasonCode.NETWORK_ERROR, RETRIES + 1),
    ("503", Status.RETRY, ReasonCode.NETWORK_ERROR, RETRIES + 1),
    ("reset", Status.RETRY, ReasonCode.NETWORK_ERROR, RETRIES + 1),
    ("drip", Status.RETRY, ReasonCode.TIMEOUT, RETRIES + 1),
    # a truncated body is seen after the transfer: page, media, one read of the whole source
    # (cut short again, so it proves nothing) and a header probe per attempt
    ("truncate", Status.RETRY, ReasonCode.NETWORK_ERROR, 4 * (RETRIES + 1)),
    ("flaky503", Status.OK, None, 3),  # 503 once, then page + media
]


@pytest.fixture(scope="module")
def fault_batch(media: Path, tmp_path_factory: pytest.TempPathFactory
                ) -> tuple[dict[str, StageResult], FaultServer, DataRoot]:
    """Every fault in one threaded batch, as a nightly run would meet them."""
    root = DataRoot(tmp_path_factory.mktemp("faults"))
    with serve_faults(media, drip_s=DRIP_S) as state:
        results = run([clip(state, fault) for fault, *_ in FAULTS], settings(), root)
    return {r.clip_id.split("-")[1]: r for r in results}, state, root


@pytest.mark.parametrize("fault, status, reason, hits", FAULTS, ids=[f[0] for f in FAULTS])
def test_each_fault_ends_in_its_status_within_the_retry_bound(fault_batch, fault, status,
                                                              reason, hits) -> None:
    results, state, root = fault_batch
    result = results[fault]
    assert (result.status, result.reason) == (status, reason), result.metrics
    assert state.count(fault) == hits, result.metrics
    assert not result.deferred
    assert result.metrics["attempts"] == (2 if fault == "flaky503" else
                                          1 if status is Status.FAILED else RETRIES + 1)
    if status is not Status.OK:
        assert not list(root.raw.glob(f"t-{fault}-*"))  # nothing partial became an output


def test_a_segment_past_the_end_of_its_video_fails_as_duration_mismatch(server: FaultServer,
                                                                         tmp_path: Path) -> None:
    [result] = run([clip(server, "ok", start=5.0, end=9.0)], settings(), DataRoot(tmp_path))
    assert (result.status, result.reason) == (Status.FAILED, ReasonCode.DURATION_MISMATCH)


# One attempt's requests: the page, ffmpeg's reads (one more to look for the halved file's
# index at its end) and the single full read that proves the source was delivered whole.
@pytest.mark.parametrize("name, hits", [("empty", 3), ("halved", 4)])
def test_media_delivered_whole_that_does_not_decode_fails_at_once_as_corrupt(
        server: FaultServer, tmp_path: Path, name: str, hits: int) -> None:
    [result] = run([clip(server, "ok", name=name)], settings(), DataRoot(tmp_path))
    assert (result.status, result.reason) == (Status.FAILED, ReasonCode.CORRUPT_CONTAINER), \
        result.metrics
    assert result.metrics["attempts"] == 1  # permanent: never retried, tonight or any night
    assert server.count("ok") == hits
    assert not list(DataRoot(tmp_path).raw.glob("t-*"))


def test_a_body_cut_short_stays_a_transfer_fault_when_ffmpeg_fails(server: FaultServer,
                                                                  tmp_path: Path) -> None:
    """ffmpeg fails on it exactly as on the halved file, but the server broke its promise."""
    [result] = run([clip(server, "truncate", name="moov_last")], settings(), DataRoot(tmp_path))
    assert (result.status, result.reason) == (Status.RETRY, ReasonCode.NETWORK_ERROR), \
        result.metrics
    assert result.metrics["attempts"] == RETRIES + 1
    assert "ffmpeg exited" in result.metrics["error"]  # the failure the source check judged
    assert server.count("truncate") == 4 * (RETRIES + 1)  # page, ffmpeg twice, the check


def test_a_sound_moov_last_file_needs_no_source_check(server: FaultServer,
                                                      tmp_path: Path) -> None:
    [result] = run([clip(server, "ok", name="moov_last")], settings(), DataRoot(tmp_path))
    assert result.status is Status.OK, result.metrics
    assert server.count("ok") == 4  # the page and ffmpeg's three reads: no extra request


def _ledger(tmp_path: Path, clips: list[Clip]) -> Ledger:
    ledger = Ledger.open(f"sqlite:///{tmp_path / 'ledger.sqlite'}")
    ledger.add_clips(clips)
    return ledger


def test_429_trips_the_breaker_and_the_next_run_resumes(server: FaultServer,
                                                        tmp_path: Path) -> None:
    root = DataRoot(tmp_path)
    clips = [clip(server, "ok"), clip(server, "429"), clip(server, "ok", start=2.0)]
    ledger = _ledger(tmp_path, clips)
    first = execute_batch(STAGE, clips, context(root, "night-1", workers=1), ledger)
    assert [(r.status, r.reason, r.deferred) for r in first] == [
        (Status.OK, None, False), (Status.RETRY, ReasonCode.RATE_LIMITED, False),
        (Status.RETRY, ReasonCode.RATE_LIMITED, True)]
    assert server.count("429") == 1  # a rate limit is never retried within the run
    breaker = json.loads((root.run_dir("night-1") / "breaker.json").read_text())
    assert (breaker["reason"], breaker["clip_id"], breaker["retry_after_s"]) == (
        "rate_limited", clips[1].id, 120.0)
    assert first[1].metrics["breaker"]["opened_at"] == breaker["opened_at"]
    assert ledger.attempts(clips[2].id, "download") == []  # deferred: still pending

    server.healed = True
    hits_before = server.count("ok")
    second = execute_batch(STAGE, clips, context(root, "night-2", workers=1), ledger)
    assert [(r.clip_id, r.status) for r in second] == [(clips[1].id, Status.OK),
                                                       (clips[2].id, Status.OK)]
    assert server.count("ok") - hits_before == 2  # only the deferred clip; the done one skipped
    ledger.close()


def test_each_download_records_its_own_time_in_the_stage_results(server: FaultServer,
                                                                 tmp_path: Path) -> None:
    """Regression: a successful download recorded no `seconds`, so the stage_results manifest
    gave every clip its whole batch's time and a slow clip could not be told from a fast one."""
    clips = [clip(server, "ok"), clip(server, "ok", start=2.0)]
    ledger = _ledger(tmp_path, clips)
    results = execute_batch(STAGE, clips, context(DataRoot(tmp_path), "a", workers=1), ledger)
    assert [r.status for r in results] == [Status.OK, Status.OK]
    rows = pd.read_parquet(export_manifests(ledger, tmp_path / "out")["stage_results"])
    ledger.close()
    batch_s = (rows["finished_at"] - rows["started_at"]).dt.total_seconds()
    # One worker: the clips ran one after the other, so their own times fit in the batch's.
    assert (rows["seconds"] > 0).all() and rows["seconds"].sum() <= batch_s.iloc[0]


def test_a_second_run_downloads_nothing(server: FaultServer, tmp_path: Path) -> None:
    clips = [clip(server, "ok"), clip(server, "404")]
    ledger = _ledger(tmp_path, clips)
    root = DataRoot(tmp_path)
    execute_batch(STAGE, clips, context(root, "a"), ledger)
    hits = sum(server.hits.values())
    second = execute_batch(STAGE, clips, context(root, "b"), ledger)
    assert second == []  # the clip done and the permanent failure are both settled
    assert sum(server.hits.values()) == hits
    ledger.close()


def test_proxy_credentials_never_reach_metrics_or_logs(server: FaultServer, tmp_path: Path,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("DEBUG")
    cookies = tmp_path / "cookies.txt"
    cookies.write_text("# Netscape HTTP Cookie File\n")
    [result] = run([clip(server, "ok")],
                   settings(proxy="http://cradle:s3cret-pw@127.0.0.1:9", retries=0,
                            cookies_file=str(cookies)),
                   DataRoot(tmp_path / "root"))
    assert result.status is Status.RETRY  # nothing listens on the discard port
    assert "s3cret-pw" not in json.dumps(result.metrics) and "s3cret-pw" not in caplog.text
    assert cookies.read_text() == "# Netscape HTTP Cookie File\n"  # the user's file untouched


@pytest.mark.parametrize("message, status, reason", [
    ("Sign in to confirm you\u2019re not a bot. This helps protect our community.",
     Status.RETRY, ReasonCode.BOT_CHECK),
    ("Private video. Sign in if you've been granted access", Status.FAILED,
     ReasonCode.VIDEO_PRIVATE),
    ("Sign in to confirm your age. This video may be inappropriate for some users.",
     Status.FAILED, ReasonCode.AGE_RESTRICTED),
    ("The uploader has not made this video available in your country", Status.FAILED,
     ReasonCode.GEO_RESTRICTED),
    ("This video has been removed by the uploader", Status.FAILED, ReasonCode.VIDEO_REMOVED),
    ("Video unavailable", Status.FAILED, ReasonCode.VIDEO_UNAVAILABLE),
])
def test_youtube_messages_map_to_reasons(message: str, status: Status,
                                         reason: ReasonCode) -> None:
    error = DownloadError(f"ERROR: [youtube] abc: {message}",
                          (ExtractorError, ExtractorError(message, expected=True), None))
    fault = classify(error)
    assert (fault.status, fault.reason) == (status, reason)
    assert fault.trips_breaker == (reason is ReasonCode.BOT_CHECK)


def test_a_local_file_is_trimmed_without_a_download(tmp_path: Path) -> None:
    # Regression: yt-dlp cannot cut file:// URLs ("cannot be partially downloaded"), so local
    # files from URL lists ended `retry` every night.
    video = make_test_video(tmp_path / "home.mp4", seconds=5.0)
    clip = clip_for(video.as_uri(), 1.0, 4.0, ("Baby laughter",))
    root = DataRoot(tmp_path / "home")
    [result] = run([clip], settings(), root)
    assert result.status is Status.OK, result.metrics
    streams = probe_streams(result.outputs["video"])
    assert abs(float(streams["video"]["duration"]) - 3.0) <= 1 / 30 + 1e-6


def test_demo_urls_resolve_to_the_demo_server() -> None:
    clip = Clip(id="demo-a-0-1000", url="demo://a.mp4", start_s=0, end_s=1)
    resolved = resolve_demo(clip, "http://127.0.0.1:8000/")
    assert (resolved.id, resolved.url) == (clip.id, "http://127.0.0.1:8000/a.mp4")
    with pytest.raises(ValueError, match="no demo server"):
        resolve_demo(clip, None)


def test_provenance_and_errors_name_no_run_address_or_local_path(server: FaultServer,
                                                                  tmp_path: Path) -> None:
    """Regression: a demo clip's provenance kept the loopback server's URL (a new port every
    run, so shards differed between runs), and error messages the data root's absolute path."""
    root = DataRoot(tmp_path / "home")
    cfg = download_settings(replace(context(root), demo_base_url=server.base_url))
    demo = Clip(id="demo-ok-1500", url="demo://ok/clip.mp4", start_s=1.5, end_s=4.0)
    broken_clip = Clip(id="demo-empty-0", url="demo://x/empty.mp4", start_s=0.0, end_s=2.0)
    ok, failed = run([demo, broken_clip], cfg, root)
    assert ok.status is Status.OK, ok.metrics
    assert ok.metrics["provenance"]["webpage_url"] == "demo://ok/clip.mp4"
    assert json.loads(ok.outputs["provenance"].read_text())["webpage_url"] == "demo://ok/clip.mp4"
    assert failed.status is Status.FAILED and "empty" in failed.metrics["error"]
    for result in (ok, failed):
        text = json.dumps(result.metrics)
        assert server.base_url not in text and str(tmp_path) not in text

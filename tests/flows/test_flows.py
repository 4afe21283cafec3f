"""The flows a data engineer runs one by one (`ingest`, `retry-failed`, ...): what each touches,
the report each publishes in Prefect, and a run stopping early when every download fails alike."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from manifests.errors import RunStopped
from manifests.ledger import Ledger
from manifests.outcomes import ReasonCode, StageResult, Status
from manifests.records import Clip
from stages.config import load_config
from stages.download.testing import FaultServer, make_test_video, serve_faults


@pytest.fixture
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaultServer]:
    media = make_test_video(tmp_path_factory.mktemp("media") / "source.mp4", seconds=5.0)
    with serve_faults(media) as state:
        yield state


@pytest.fixture
def quick_network(isolated_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """One try per clip, no waiting: the flows read their configuration from the environment."""
    for key, value in {"RETRIES": "1", "BACKOFF_S": "0.01", "TIMEOUT_S": "2.0",
                       "REQUESTS_PER_SECOND": "100"}.items():
        monkeypatch.setenv(f"CRADLE_NETWORK__{key}", value)
    return isolated_home


def _url_list(server: FaultServer, *faults: str) -> Path:
    rows = [f"{server.url(fault, f'v{i}')},1.0,2.5,Baby cry" for i, fault in enumerate(faults)]
    path = Path("urls.csv")
    path.write_text("url,start,end,labels\n" + "\n".join(rows) + "\n")
    return path


def _attempts(ledger: Ledger, stage: str) -> dict[str, list[str]]:
    return {clip.id: [a.status.value for a in ledger.attempts(clip.id, stage)]
            for clip in ledger.clips()}


@pytest.mark.slow
def test_retry_failed_reruns_exactly_the_clips_left_at_a_retry(
        quick_network: Path, server: FaultServer, prefect_server: None) -> None:
    from flows.ingest import ingest
    from flows.params import RetryParams, SourceParams
    from flows.retry import retry_failed

    ingest(SourceParams(source_lists=[_url_list(server, "reset", "404", "ok")]))
    ledger = Ledger(load_config().ledger_url)
    clips = {clip.url.split("/")[-2]: clip.id for clip in ledger.clips()}
    ledger.add_clips([Clip(id="never-tried", url=server.url("ok", "v9"), start_s=1.0, end_s=2.5,
                           split_group="never-tried")])
    server.healed = True  # the network is back

    summary = retry_failed(RetryParams())

    assert summary["retry"] == {"clips": 1}
    downloads = _attempts(ledger, "download")
    assert downloads == {clips["reset"]: ["retry", "ok"], clips["404"]: ["failed"],
                         clips["ok"]: ["ok"], "never-tried": []}
    assert ledger.attempts(clips["reset"], "audio")  # the retried clip went on to be curated
    assert not ledger.attempts(clips["ok"], "audio")  # nothing else was touched
    ledger.close()


@pytest.mark.slow
def test_a_run_publishes_its_report_in_prefect_and_the_data_root(
        quick_network: Path, server: FaultServer, prefect_server: None) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    from flows.ingest import ingest
    from flows.params import SourceParams

    ingest(SourceParams(source_lists=[_url_list(server, "ok", "404")]))
    ledger = Ledger(load_config().ledger_url)
    run_id = str(ledger.latest_run_id())
    ledger.close()
    report = json.loads((quick_network / "runs" / run_id / "report.json").read_text())
    markdown = (quick_network / "runs" / run_id / "report.md").read_text()

    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(artifact_filter=ArtifactFilter(
            flow_run_id=ArtifactFilterFlowRunId(any_=[report["prefect_flow_run"]])))
    by_key = {a.key: a for a in artifacts}
    assert set(by_key) == {"cradle-ingest-summary", "cradle-ingest-rejected-clips",
                           "cradle-ingest-progress-download"} | {
        f"cradle-ingest-link-{name}"
        for name in ("clips", "stage-results", "rejections", "reviews", "report")}
    assert by_key["cradle-ingest-progress-download"].data == 100.0
    assert by_key["cradle-ingest-summary"].data == markdown
    assert "| download | 1 | 0 | 1 |" in markdown  # ok, rejected, failed
    assert "video_unavailable" in markdown
    rejected = by_key["cradle-ingest-rejected-clips"].data
    rejected = json.loads(rejected) if isinstance(rejected, str) else rejected
    assert [(row["stage"], row["reason"]) for row in rejected] == [
        ("download", ReasonCode.VIDEO_UNAVAILABLE.value)]
    assert rejected[0]["review"].endswith(f"/clips/{rejected[0]['clip']}")
    # Everything published names paths inside the data root, never where it lies on this disk.
    published = json.dumps([a.model_dump(mode="json") for a in artifacts])
    assert str(quick_network) not in published and str(quick_network.parent) not in published
    # Downloads are fetching, not curation: an ingest run has no curation throughput.
    assert report["clips_curated"] == 0 and report["outputs"]["report"].startswith("runs/")


@pytest.mark.slow
def test_a_run_whose_every_download_meets_the_same_network_fault_stops_without_a_dataset(
        quick_network: Path, server: FaultServer, prefect_server: None) -> None:
    from flows.nightly import NightlyParams, nightly

    with pytest.raises(RunStopped, match="network_error"):
        nightly(NightlyParams(source_lists=[_url_list(server, "reset", "reset")]))

    ledger = Ledger(load_config().ledger_url)
    with ledger.session() as session:
        from manifests.ledger.tables import RunRow

        assert [row.status for row in session.query(RunRow)] == ["failed"]
    ledger.close()
    assert not (quick_network / "shards").exists() or not any((quick_network / "shards").iterdir())


def test_one_fault_shared_by_every_download_is_named_and_anything_else_is_not(
        tmp_path: Path) -> None:
    from flows.ingest import shared_environment_fault

    ledger = Ledger.open(f"sqlite:///{tmp_path / 'ledger.sqlite'}")
    clips = [Clip(id=f"c{i}", url=f"https://example.org/{i}.mp4", start_s=0.0, end_s=2.0,
                  split_group=f"c{i}") for i in range(3)]
    ledger.add_clips(clips)
    run = ledger.start_run("test")

    def record(*results: StageResult) -> None:
        ledger.record("download", "1", "h", list(results), started_at=datetime.now(UTC), run_id=run)

    record(*(StageResult(c.id, Status.RETRY, ReasonCode.NETWORK_ERROR, {}) for c in clips))
    assert "network_error" in str(shared_environment_fault(ledger, clips, run, {"retry": 3}))
    assert shared_environment_fault(ledger, clips, run, {"retry": 2, "skipped": 1}) is None
    record(StageResult("c0", Status.FAILED, ReasonCode.VIDEO_PRIVATE, {}))
    assert shared_environment_fault(ledger, clips, run, {"retry": 2, "failed": 1}) is None
    record(*(StageResult(c.id, Status.FAILED, ReasonCode.VIDEO_PRIVATE, {}) for c in clips))
    # Every video private is a verdict on the clips, not a broken network: the run goes on.
    assert shared_environment_fault(ledger, clips, run, {"failed": 3}) is None
    ledger.close()

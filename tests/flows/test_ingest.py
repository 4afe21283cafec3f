"""Ingest wiring: loopback clips downloaded under Prefect into a data root and a SQLite ledger."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from prefect.states import Failed

from manifests.errors import LedgerError, TransientLedgerError
from manifests.ledger import Ledger
from manifests.outcomes import ReasonCode, Status
from manifests.records import Clip
from stages.config import load_config
from stages.contract import RunContext
from stages.download.testing import FaultServer, make_test_video, serve_faults


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaultServer]:
    media = make_test_video(tmp_path_factory.mktemp("media") / "source.mp4", seconds=5.0)
    with serve_faults(media) as state:
        yield state


def _clips(server: FaultServer, *faults: str) -> list[Clip]:
    return [Clip(id=f"f-{fault}-{i}", url=server.url(fault, f"v{i}"), start_s=1.0,
                 end_s=2.5, split_group=f"f-{i}") for i, fault in enumerate(faults)]


def _flow_cfg(isolated_home: Path, batch_size: int):  # type: ignore[no-untyped-def]
    return load_config(run={"batch_size": batch_size},
                       network={"retries": 1, "backoff_s": 0.01, "timeout_s": 1.0,
                                "requests_per_second": 100, "workers": 2})


@pytest.mark.slow
def test_download_clips_under_prefect_records_every_clip(isolated_home: Path, server: FaultServer,
                                                         prefect_server: None) -> None:
    from prefect import flow

    from flows.ingest import download_clips

    cfg = _flow_cfg(isolated_home, batch_size=2)
    ledger = Ledger.open(cfg.ledger_url)
    clips = _clips(server, "ok", "ok", "404", "ok")
    ledger.add_clips(clips)
    run_id = ledger.start_run("test")

    @flow
    def ingest() -> dict:
        return download_clips(clips, RunContext(cfg, run_id))

    assert ingest() == {"ok": 3, "failed": 1, "skipped": 0, "breaker": None}
    latest = ledger.latest("download")
    assert {c.id: latest[c.id].status for c in clips} == {
        clips[0].id: Status.OK, clips[1].id: Status.OK, clips[2].id: Status.FAILED,
        clips[3].id: Status.OK}
    assert latest[clips[2].id].reason is ReasonCode.VIDEO_UNAVAILABLE
    assert sorted(p.name for p in (isolated_home / "raw").glob("*.mp4")) == sorted(
        f"{c.id}.mp4" for c in clips if c.id != clips[2].id)
    assert ingest()["skipped"] == 4  # a second run downloads nothing
    ledger.close()


@pytest.mark.slow
def test_an_open_breaker_stops_scheduling_batches(isolated_home: Path, server: FaultServer,
                                                  prefect_server: None) -> None:
    from prefect import flow

    from flows.ingest import download_clips

    cfg = _flow_cfg(isolated_home, batch_size=1)
    ledger = Ledger.open(cfg.ledger_url)
    clips = _clips(server, "429", "ok", "ok")
    ledger.add_clips(clips)
    run_id = ledger.start_run("test")
    before = server.count("ok")

    @flow
    def ingest() -> dict:
        return download_clips(clips, RunContext(cfg, run_id))

    summary = ingest()
    assert (summary["retry"], summary["unscheduled"]) == (1, 2)
    assert summary["breaker"]["reason"] == "rate_limited"
    assert server.count("ok") == before  # nothing after the 429 was fetched
    assert (isolated_home / "runs" / run_id / "breaker.json").is_file()
    ledger.close()


@pytest.mark.parametrize("error, retried", [
    (TransientLedgerError("ledger write failed: database is locked"), True),
    (ConnectionError("reset"), True),
    (LedgerError("clip 'x' is not in the ledger"), False),
    (ValueError("stage returned two results"), False),
])
def test_batch_tasks_retry_only_transient_errors(error: Exception, retried: bool) -> None:
    from flows.batches import only_transient

    assert only_transient(None, None, Failed(data=error)) is retried

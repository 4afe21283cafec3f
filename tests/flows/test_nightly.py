"""The nightly flow under Prefect's test harness: registers sources, records the run, exports."""

from __future__ import annotations

from pathlib import Path
from uuid import UUID

import pandas as pd
import pytest
from prefect import Flow
from prefect.client.orchestration import get_client
from prefect.client.schemas.objects import StateType
from prefect.states import Running

from manifests.ledger import Ledger
from stages.config import load_config
from stages.download.testing import make_test_video
from tests.stages.sources.test_stage import SEGMENTS


def test_register_task_logic_runs_without_prefect(isolated_home: Path) -> None:
    from flows.ingest import register_sources
    from flows.session import open_ledger
    from stages.contract import RunContext
    from stages.sources.stage import read_audioset_csv

    Path("segments.csv").write_text(SEGMENTS)
    cfg = load_config()
    open_ledger.fn(cfg.ledger_url)
    clips = read_audioset_csv(Path("segments.csv"))
    assert register_sources.fn(RunContext(cfg, "run-1"), clips) == 2
    assert register_sources.fn(RunContext(cfg, "run-2"), clips) == 0


@pytest.mark.slow
def test_nightly_flow_registers_downloads_and_exports_the_run(isolated_home: Path,
                                                              prefect_server: None) -> None:
    from flows.nightly import NightlyParams, nightly

    make_test_video(Path("home_video.mp4"), seconds=5.0)
    Path("urls.csv").write_text("url,start,end,labels\nhome_video.mp4,1.0,4.0,Baby laughter\n")
    params = NightlyParams(source_lists=[Path("urls.csv")])
    first = nightly(params)
    assert first["sources"] == {"clips": 1, "new": 1}
    assert first["download"]["ok"] == 1
    dead_run, dead_flow_run = _a_run_killed_mid_way(isolated_home)
    second = nightly(params)
    assert second["sources"] == {"clips": 1, "new": 0}
    assert second["download"]["skipped"] == 1

    ledger = Ledger(load_config().ledger_url)
    run_id = ledger.latest_run_id()
    ledger.close()
    exported = isolated_home / "runs" / run_id
    assert pd.read_parquet(exported / "clips.parquet").empty  # the second run did nothing new
    first_run = sorted((isolated_home / "runs").iterdir())[0]
    results = pd.read_parquet(first_run / "stage_results.parquet")
    assert set(results["stage"]) >= {"sources", "download"}

    # What the killed run left is gone, and it is closed as crashed in the ledger and Prefect.
    assert not list(isolated_home.rglob(".tmp-*"))
    ledger = Ledger(load_config().ledger_url)
    assert ledger.close_abandoned_runs(keep=run_id) == {}  # the second run closed it already
    ledger.close()
    with get_client(sync_client=True) as client:
        assert client.read_flow_run(dead_flow_run).state.type is StateType.CRASHED
    assert dead_run != run_id


def _a_run_killed_mid_way(home: Path) -> tuple[str, UUID]:
    """What SIGKILL leaves: a `running` ledger run and Prefect flow run, a download work folder."""
    with get_client(sync_client=True) as client:
        created = client.create_flow_run(Flow(lambda: None, name="cradle-nightly"),
                                         state=Running())
    ledger = Ledger(load_config().ledger_url)
    run_id = ledger.start_run("nightly", {"prefect_flow_run": str(created.id)})
    ledger.close()
    (home / "raw" / ".tmp-yt-x-0-1000-abcdef").mkdir(parents=True)
    (home / "raw" / ".tmp-yt-x-0-1000-abcdef" / "section.mp4").write_bytes(b"partial")
    return run_id, created.id

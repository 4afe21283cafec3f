"""The nightly deployment gets runs scheduled by a real local Prefect server."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pytest

from flows.nightly import NightlyParams
from stages.paths import DataRoot


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_scheduler_creates_nightly_runs(tmp_path: Path, monkeypatch) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from flows.schedule import local_prefect_server, nightly_deployment

    # Let the server's scheduler loop often instead of once a minute.
    monkeypatch.setenv("PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS", "1")
    params = NightlyParams(demo=True)
    with local_prefect_server(DataRoot(tmp_path), free_port()) as url, \
            temporary_settings({PREFECT_API_URL: url}):
        deployment_id = nightly_deployment("0 2 * * *", params).apply()

        async def scheduled_runs() -> list:
            async with get_client() as client:
                deployment = await client.read_deployment(deployment_id)
                assert deployment.parameters == {"params": params.model_dump(mode="json")}
                assert [s.schedule.cron for s in deployment.schedules] == ["0 2 * * *"]
                for _ in range(60):
                    runs = await client.read_flow_runs(deployment_filter=DeploymentFilter(
                        id=DeploymentFilterId(any_=[deployment_id])))
                    if runs:
                        return runs
                    await asyncio.sleep(1)
                return []

        runs = asyncio.run(scheduled_runs())
    assert runs, "the scheduler created no run for the nightly deployment"
    assert all(run.expected_start_time.hour == 2 for run in runs)
    assert {run.state.type.value for run in runs} == {"SCHEDULED"}

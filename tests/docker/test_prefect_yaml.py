"""prefect.yaml deploys the nightly flow on the schedule, pool and paths the images and CLI use.

Prefect's own deploy code reads the file here; the slow test registers it on a real server.
"""

from __future__ import annotations

import asyncio
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.docker.files import (
    DOCKERFILES,
    ROOT,
    cradle_default,
    dockerfile,
    nightly_deployment,
    prefect_yaml,
    service,
)


def test_prefect_yaml_describes_the_nightly_flow_as_prefect_reads_it(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Prefect's deploy code reads the file without a warning; the entrypoint is the nightly
    flow, its parameters are valid NightlyParams, and the schedule is `cradle serve`'s 02:00 in
    the time zone compose gives `prefect deploy` (UTC unless CRADLE_TIMEZONE is set)."""
    from prefect.cli.deploy._config import _load_deploy_configs_and_actions
    from prefect.cli.deploy._schedules import _schedule_config_to_deployment_schedule
    from prefect.flows import Flow, load_flow_from_entrypoint
    from prefect.utilities.templating import apply_values
    from pydantic import ValidationError
    from rich.console import Console

    from flows.nightly import NightlyParams, nightly

    said = io.StringIO()
    (deployment,), actions = _load_deploy_configs_and_actions(
        ROOT / "prefect.yaml", console=Console(file=said))
    assert said.getvalue() == ""
    assert deployment["name"] == "nightly"

    monkeypatch.chdir(ROOT)
    try:
        flow = load_flow_from_entrypoint(deployment["entrypoint"])
    finally:  # it runs flows/nightly.py as a module of its own
        sys.modules.pop("nightly", None)
    assert isinstance(flow, Flow) and flow.name == nightly.name

    params = nightly.validate_parameters(deployment["parameters"])["params"]
    assert isinstance(params, NightlyParams)
    assert params.demo and params.dataset == "demo"  # what `cradle run --demo` curates

    (schedule,) = deployment["schedules"]
    cron = cradle_default("serve", "cron")
    for timezone in (service("worker")["environment"]["CRADLE_TIMEZONE"], "Europe/London"):
        monkeypatch.setenv("CRADLE_TIMEZONE", timezone)
        made = _schedule_config_to_deployment_schedule(
            apply_values(schedule, dict(os.environ), remove_notset=False))["schedule"]
        assert (made.cron, made.timezone) == (cron, timezone)
    assert service("worker")["environment"]["CRADLE_TIMEZONE"] == "UTC"
    monkeypatch.delenv("CRADLE_TIMEZONE")
    with pytest.raises(ValidationError, match="CRADLE_TIMEZONE"):
        _schedule_config_to_deployment_schedule(
            apply_values(schedule, dict(os.environ), remove_notset=False))

    # The worker's pull step goes where the images keep the source of that entrypoint.
    (pull,) = actions["pull"]
    directory = pull["prefect.deployments.steps.set_working_directory"]["directory"]
    top = deployment["entrypoint"].split("/")[0] + "/"
    for kind in DOCKERFILES:
        image = dockerfile(kind)
        assert image.last("WORKDIR") == directory
        assert ([top], top) in image.copies()


@pytest.mark.slow
def test_prefect_deploy_registers_the_nightly_schedule(prefect_server: None, tmp_path: Path
                                                       ) -> None:
    """`prefect --no-prompt deploy --all`, as docker/README.md says to run it, registers the
    nightly deployment on a real server: schedule, time zone, parameters (a run can be created,
    so they pass the flow's schema), work pool, pull step and a limit of one run at a time."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.settings import PREFECT_API_URL

    from flows.nightly import nightly

    pool = nightly_deployment()["work_pool"]["name"]
    env = {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value(),
           "PREFECT_HOME": str(tmp_path), "CRADLE_TIMEZONE": "Europe/London"}

    async def check() -> None:
        async with get_client() as client:
            # The worker makes the pool when it starts; here nothing starts a worker.
            await client.create_work_pool(WorkPoolCreate(name=pool, type="process"),
                                          overwrite=True)
            done = subprocess.run(
                [str(Path(sys.executable).with_name("prefect")), "--no-prompt", "deploy",
                 "--all"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
            assert done.returncode == 0, done.stdout + done.stderr
            deployment = await client.read_deployment_by_name(
                f"{nightly.name}/{nightly_deployment()['name']}")
            try:
                (schedule,) = deployment.schedules
                assert (schedule.schedule.cron, schedule.schedule.timezone) == (
                    cradle_default("serve", "cron"), "Europe/London")
                assert deployment.parameters == nightly_deployment()["parameters"]
                assert deployment.work_pool_name == pool
                assert deployment.pull_steps == prefect_yaml()["pull"]
                assert deployment.global_concurrency_limit.limit == 1
                run = await client.create_flow_run_from_deployment(deployment.id)
                await client.delete_flow_run(run.id)
            finally:
                await client.delete_deployment(deployment.id)

    asyncio.run(check())

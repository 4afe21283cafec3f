"""The nightly schedule: a Prefect deployment of the nightly flow, served from this machine.

Prefect's temporary local server cannot schedule runs, so without `PREFECT_API_URL` Cradle starts
a real `prefect server start` on loopback (SQLite under the data root) for as long as it serves.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from prefect import serve
from prefect.deployments.runner import RunnerDeployment
from prefect.schedules import Cron
from prefect.settings import PREFECT_API_URL, temporary_settings

from flows.nightly import NightlyParams, nightly
from stages.paths import DataRoot

log = logging.getLogger(__name__)

DEPLOYMENT = "nightly"


def nightly_deployment(cron: str, params: NightlyParams, timezone: str = "UTC"
                       ) -> RunnerDeployment:
    """The nightly flow on a cron schedule in `timezone` (an IANA name), with fixed parameters.

    Raises:
        ValueError: `cron` is not a cron expression.
    """
    return nightly.to_deployment(
        name=DEPLOYMENT,
        schedules=[Cron(cron, timezone=timezone)],
        parameters={"params": params.model_dump(mode="json")},
        description="Cradle's nightly curation run.",
    )


@contextmanager
def local_prefect_server(root: DataRoot, port: int, startup_timeout_s: float = 180.0
                         ) -> Iterator[str]:
    """Runs `prefect server start` on 127.0.0.1:`port` and yields its API URL; stops it after."""
    root.prefect_home.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PREFECT_HOME": str(root.prefect_home.resolve()),
           "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1"}
    env.pop("PREFECT_API_URL", None)
    log_path = root.prefect_home / "server.log"
    prefect_cli = Path(sys.executable).with_name("prefect")
    with open(log_path, "ab") as server_log:
        server = subprocess.Popen(
            [str(prefect_cli), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
            env=env, stdout=server_log, stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}/api"
    try:
        _wait_healthy(url, server, startup_timeout_s, log_path)
        log.info("Prefect server and UI at http://127.0.0.1:%d", port)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()


def serve_nightly(deployment: RunnerDeployment, root: DataRoot, port: int = 4200) -> None:
    """Serves `deployment` until interrupted, starting a local server if none is set."""
    if os.environ.get("PREFECT_API_URL"):
        serve(deployment)
        return
    with local_prefect_server(root, port) as url, temporary_settings({PREFECT_API_URL: url}):
        serve(deployment)


def _wait_healthy(url: str, server: subprocess.Popen, timeout_s: float, log_path: Path) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the Prefect server exited early; see {log_path}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.5)
    raise RuntimeError(f"no answer from the Prefect server in {timeout_s:.0f} s; see {log_path}")

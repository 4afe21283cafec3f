"""One Cradle run inside a Prefect flow: the data root held, leftovers swept, a ledger run open.

Every flow that writes to the data root (`ingest`, `curate`, `build-shards`, `retry-failed`,
`nightly`) runs its work inside `run_session`, so a second run on the same data root is refused,
what a killed run left is cleaned first, and every attempt names the run that made it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from prefect import get_run_logger, task
from prefect.client.orchestration import get_client
from prefect.runtime import flow_run
from prefect.states import Crashed

from flows.runtime import restrict_file_modes
from manifests.errors import RunStopped
from manifests.ledger import Ledger
from stages.config import load_config
from stages.contract import RunContext
from stages.exclusive import DataRootLock, sweep_leftovers
from stages.paths import DataRoot


@dataclass
class Session:
    """What a flow's work gets: the run's context, an open ledger and when the run started."""

    ctx: RunContext
    ledger: Ledger
    started: float  # time.monotonic() at the start, for the report's throughput

    @property
    def run_id(self) -> str:
        return str(self.ctx.run_id)

    @property
    def root(self) -> DataRoot:
        return self.ctx.root


@task
def open_ledger(url: str) -> None:
    """Creates or migrates the ledger once, before any worker writes to it."""
    Ledger.open(url).close()


def close_crashed_flow_runs(abandoned: dict[str, dict[str, Any]]) -> None:
    """Marks the Prefect flow runs of ledger runs a dead process left `running` as Crashed, so
    Prefect's UI does not show them running forever."""
    logger = get_run_logger()
    with get_client(sync_client=True) as client:
        for run_id, params in abandoned.items():
            logger.warning("run %s was left running by a process that died: marked crashed",
                           run_id)
            if params.get("prefect_flow_run"):
                client.set_flow_run_state(params["prefect_flow_run"], Crashed(
                    message=f"its process died; Cradle run {run_id} closed as crashed"),
                    force=True)


@contextmanager
def run_session(flow_name: str, params: dict[str, Any]) -> Iterator[Session]:
    """Holds the data root for one run of `flow_name`; call from inside a Prefect flow.

    The ledger run ends `completed` when the block ends, `failed` when it stops on purpose
    (`RunStopped`), `crashed` when anything else is raised.
    """
    cfg = load_config()
    restrict_file_modes(cfg)  # raw infant media and the ledger are the owner's (or group's) only
    root = DataRoot(cfg.home).create()
    # One run per data root: a second is refused with the first named (DataRootBusy).
    with DataRootLock.hold(root, flow_name) as lock:
        sweep_leftovers(root)  # what killed runs left; no live run owns any of it now
        open_ledger(cfg.ledger_url)
        ledger = Ledger(cfg.ledger_url)
        try:
            close_crashed_flow_runs(ledger.close_abandoned_runs())
            run_id = ledger.start_run(flow_name, {**params,
                                                  "prefect_flow_run": str(flow_run.id)})
            lock.update(run_id=run_id)
            try:
                yield Session(RunContext(cfg, run_id), ledger, time.monotonic())
            except RunStopped:
                ledger.finish_run(run_id, "failed")
                raise
            except BaseException:
                ledger.finish_run(run_id, "crashed")
                raise
            ledger.finish_run(run_id, "completed")
        finally:
            ledger.close()

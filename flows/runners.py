"""Where a run's batches execute: Prefect's thread pool in the flow's process, or a Dask cluster.

`flows.batches.run_stage` submits every batch of a stage at once; the task runner decides where
they run. `threads` (the default) keeps them in the flow's process. `dask` sends them to Dask
workers: a `LocalCluster` of worker processes on this machine (one thread each: the stages are
CPU-bound, so a second thread per process only contends for the GIL), or an existing cluster
named by its scheduler's address. Only `run_stage`'s batches travel; the flow's other tasks
(sources, the face model, shards, exports) run in the flow's process under either runner.

What a Dask worker needs that the flow's process has by itself, and how it gets it:

- Non-daemonic processes: the faces stage runs a process pool over a batch of several clips, and
  a daemonic process may not have children. `DASK_CONFIG` turns that off for a LocalCluster;
  start remote workers with `DASK_DISTRIBUTED__WORKER__DAEMON=False`.
- The same configuration: every batch carries the flow's `CradleConfig` (in its `RunContext`), so
  verdict settings, the ledger URL and the data root come from the flow. A remote worker must
  still see the same data root at the same (absolute) path, reach the ledger (PostgreSQL: a
  SQLite file is for one machine) and have the same `CRADLE_*` / cradle.yaml for what it reads
  itself (its file modes, below). The demo corpus is served on the flow's loopback: `--demo`
  works only with workers on the flow's machine.
- Private files: workers write raw infant media, so their umask must be Cradle's
  (`storage.group_access`). `dask_setup` (a Dask preload, set in `DASK_CONFIG`) applies it in
  every LocalCluster worker; start remote ones with `dask worker ADDRESS --preload flows.runners`.
- A real Prefect server: each task run reports its state from its worker, with the flow's
  settings. In Prefect's ephemeral mode each worker would start its own server on one SQLite
  file, so `prefect_api` starts one on loopback for a `dask` run when `PREFECT_API_URL` is unset
  (a remote cluster needs a server every machine reaches).

This module imports Prefect only inside its functions: `runner_options` can check a command line
before `flows.runtime.prepare_environment` (Prefect reads its settings when first imported).
Scripts that start a LocalCluster need the `if __name__ == "__main__":` guard (its worker
processes are spawned and import the script's main module).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Literal, ParamSpec, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from flows.runtime import restrict_file_modes
from manifests.errors import ConfigError
from stages.config import load_config
from stages.paths import DataRoot

if TYPE_CHECKING:
    from prefect import Flow
    from prefect.task_runners import TaskRunner

RunnerName = Literal["threads", "dask"]
P = ParamSpec("P")
R = TypeVar("R")

# Set in this process by `task_runner` for a Dask run (the module docstring says why each).
DASK_CONFIG: dict[str, Any] = {
    "distributed.worker.daemon": False,
    "distributed.worker.preload": ["flows.runners"],
}
PINNED_CORES = "cradle.pinned-cores"  # a LocalCluster's cores per worker index, for `dask_setup`


class RunnerOptions(BaseModel):
    """How a run executes its batches: `cradle run --runner … [--address …] [--workers N]`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    runner: RunnerName = "threads"
    # A running Dask scheduler, e.g. tcp://10.0.0.5:8786; None: a LocalCluster on this machine.
    address: str | None = Field(None, pattern=r"^(tcp|tls)://\S+$")
    # Worker processes of the LocalCluster; None: one per core.
    workers: int | None = Field(None, ge=1)
    # Cores each LocalCluster worker is pinned to; None: an even share of this process's cores.
    # A stage's "all cores" (faces processes, fitting threads) is then the worker's share, not
    # the machine's, so n workers never run n x the cores' worth of threads.
    worker_cores: int | None = Field(None, ge=1)

    @model_validator(mode="after")
    def _consistent(self) -> RunnerOptions:
        if self.runner == "threads" and (self.address or self.workers):
            raise ValueError("address and workers apply to the dask runner only")
        if self.runner == "threads" and self.worker_cores:
            raise ValueError("worker_cores applies to the dask runner only")
        if self.address and (self.workers or self.worker_cores):
            raise ValueError("workers and worker_cores size a local cluster; the cluster at "
                             "address has its own")
        return self

    @property
    def local_workers(self) -> int:
        """Worker processes a LocalCluster gets: as asked, else one per core."""
        return self.workers or len(_cores())

    def pinned_cores(self) -> list[list[int]]:
        """The cores of each LocalCluster worker, by its index: consecutive runs of
        `worker_cores` (default: the cores shared evenly), wrapping round when they run out."""
        cores, n = _cores(), self.local_workers
        share = self.worker_cores or max(1, len(cores) // n)
        return [[cores[(i * share + j) % len(cores)] for j in range(share)] for i in range(n)]


def _cores() -> list[int]:
    """The cores this process may run on (a cpuset or `taskset` narrows them)."""
    return sorted(os.sched_getaffinity(0))


def runner_options(runner: str = "threads", address: str | None = None,
                   workers: int | None = None, worker_cores: int | None = None) -> RunnerOptions:
    """The options, checked.

    Raises:
        ConfigError: an unknown runner, a malformed address, or options that do not go together.
    """
    try:
        return RunnerOptions(runner=runner, address=address, workers=workers,  # type: ignore[arg-type]
                             worker_cores=worker_cores)
    except ValidationError as e:
        problems = []
        for err in e.errors():
            where, what = ".".join(str(p) for p in err["loc"]), err["msg"]
            what = what.removeprefix("Value error, ")
            problems.append(f"{where}: {what}" if where else what)
        raise ConfigError(f"invalid task runner: {'; '.join(problems)}") from e


def task_runner(options: RunnerOptions) -> TaskRunner[Any]:
    """The Prefect task runner the options name.

    For `dask` it also sets `DASK_CONFIG` in this process, for good: prefect-dask makes the
    LocalCluster at the run's first submit, and its worker processes read the config then.
    """
    from prefect.task_runners import ThreadPoolTaskRunner

    if options.runner == "threads":
        return ThreadPoolTaskRunner()
    import dask.config
    from prefect_dask import DaskTaskRunner

    dask.config.set(DASK_CONFIG)
    if options.address:
        return DaskTaskRunner(address=options.address)
    dask.config.set({PINNED_CORES: options.pinned_cores()})
    return DaskTaskRunner(cluster_kwargs={
        "n_workers": options.local_workers,
        "processes": True,  # stages hold the GIL (numpy, MediaPipe's Python side): processes
        "threads_per_worker": 1,
        "host": "127.0.0.1",  # the scheduler and workers listen on loopback only
        "dashboard_address": None,  # no bokeh in the venv; and no port to clash with
    })


def on_runner(flow: Flow[P, R], options: RunnerOptions) -> Flow[P, R]:
    """Any Cradle flow (nightly, ingest, curate, retry-failed) with the options' task runner."""
    return flow.with_options(task_runner=task_runner(options))


def nightly_on(runner: str = "threads", address: str | None = None,
               workers: int | None = None, worker_cores: int | None = None) -> Flow[Any, Any]:
    """The nightly flow with the task runner the options name (call it like `nightly`).

    Raises:
        ConfigError: the options are invalid (see `runner_options`).
    """
    from flows.nightly import nightly

    return on_runner(nightly, runner_options(runner, address, workers, worker_cores))


@contextmanager
def prefect_api(options: RunnerOptions, root: DataRoot) -> Iterator[str | None]:
    """A Prefect API the run's workers can share, for as long as the block lasts.

    Threads, or `PREFECT_API_URL` already set: nothing to do (yields that URL, or None for
    Prefect's ephemeral server). Otherwise a `dask` run gets `prefect server start` on a free
    loopback port, with its state in the data root's Prefect home; the variable is set for the
    block so that the cluster's processes inherit it.
    """
    current = os.environ.get("PREFECT_API_URL")
    if options.runner != "dask" or current:
        yield current
        return
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from flows.schedule import local_prefect_server

    with local_prefect_server(root, free_port()) as url, temporary_settings({PREFECT_API_URL: url}):
        os.environ["PREFECT_API_URL"] = url
        try:
            yield url
        finally:
            os.environ.pop("PREFECT_API_URL", None)
            flush_to_prefect()


def flush_to_prefect() -> None:
    """Sends the log lines and events still queued while the server listens: once it is stopped,
    Prefect's log and event workers retry it at this process's exit ("Error logging to API")."""
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogHandler

    APILogHandler().flush()
    EventsWorker.drain_all(timeout=5)


def free_port() -> int:
    """A loopback port no one listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def dask_setup(worker: Any) -> None:
    """Dask preload hook: a worker process gets the environment `cradle run` gives its own.

    Its own configuration's umask (raw infant media must stay the owner's), pyannote's telemetry
    off and MediaPipe's per-graph warnings silenced, before any stage runs in it; a LocalCluster
    worker is also pinned to its share of the cores (`RunnerOptions.pinned_cores`), every thread
    of it, so that the threads and processes a stage starts stay on that share.
    """
    os.environ.setdefault("GLOG_minloglevel", "2")
    os.environ["PYANNOTE_METRICS_ENABLED"] = "0"
    restrict_file_modes(load_config())
    import dask.config

    pinned = dask.config.get(PINNED_CORES, None)
    if pinned is not None and isinstance(worker.name, int):  # a LocalCluster's worker
        cores = pinned[worker.name % len(pinned)]
        for thread in os.listdir("/proc/self/task"):  # affinity is per thread on Linux
            os.sched_setaffinity(int(thread), cores)

"""The nightly flow on a Dask LocalCluster of two worker processes writes the bytes a
single-process run writes.

A few-clip demo subset (two that reach the shards, one rejected by audio, one by faces), one clip
per batch so that every stage's batches spread over both workers, runs twice: under Prefect's
thread pool with a SQLite ledger, and under `flows.runners`' Dask runner with the ledger on a
throw-away PostgreSQL, as several machines would share it. Both report to one real
`prefect server` on loopback (Dask's worker processes cannot use Prefect's ephemeral server).
The shards' sha256s and every verdict must be equal, the curation batches must have run in two
worker processes (not the test's), and what the workers wrote must be private to its owner.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from manifests.ledger import Ledger
from manifests.outcomes import PIPELINE_STAGES
from stages.paths import DataRoot
from tests.postgres import PostgresCluster

SUBSET = ("clean_cry", "clean_laugh", "music", "no_face")
CURATION = ("audio", "faces", "fitting")
Verdicts = dict[tuple[str, str], tuple[str, str | None]]


@pytest.fixture(scope="module")
def prefect_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Prefect server on a free loopback port, shared by both runs."""
    from flows.runners import flush_to_prefect, free_port
    from flows.schedule import local_prefect_server

    state = DataRoot(tmp_path_factory.mktemp("prefect-server"))
    with local_prefect_server(state, free_port()) as url:
        yield url
        flush_to_prefect()  # what is still queued, while the server listens


def _run(runner: str, home: Path, ledger_url: str | None, prefect_api: str,
         workers: int | None = None) -> None:
    """`nightly` on the demo subset in this process, with only this run's CRADLE_* set (the
    LocalCluster's worker processes inherit them)."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from flows.nightly import NightlyParams
    from flows.runners import nightly_on

    with pytest.MonkeyPatch.context() as patch:
        for name in list(os.environ):
            if name.startswith("CRADLE_"):
                patch.delenv(name)
        patch.chdir(home.parent)
        env = {"CRADLE_HOME": str(home), "CRADLE_DEMO__TRAIN_SIZE": "0",
               "CRADLE_DEMO__CLIPS": json.dumps(SUBSET), "CRADLE_RUN__BATCH_SIZE": "1",
               "CRADLE_TRAINING__NIGHTLY": "false",  # curation only: training is not on trial
               "PREFECT_API_URL": prefect_api, "PREFECT_HOME": str(home.parent / "prefect"),
               "GLOG_minloglevel": "2"}
        if ledger_url:
            env["CRADLE_LEDGER__URL"] = ledger_url
        for name, value in env.items():
            patch.setenv(name, value)
        flow = nightly_on(runner, workers=workers)
        with temporary_settings({PREFECT_API_URL: prefect_api}):
            summary = flow(NightlyParams(demo=True, dataset="demo"))
    assert summary["fitting"].get("ok") == 2, summary


def _home(folder: Path, corpus: Path) -> Path:
    home = folder / "cradle-data"
    shutil.copytree(corpus, home / "demo")
    return home


def _shards(home: Path) -> list[tuple[str, str]]:
    (card_path,) = (home / "shards" / "demo").glob("v*/dataset.json")
    card = json.loads(card_path.read_text())
    return [(shard["path"], shard["sha256"]) for shard in card["shards"]]


def _verdicts(ledger: Ledger) -> Verdicts:
    return {(stage, clip_id): (a.status.value, a.reason and a.reason.value)
            for stage in PIPELINE_STAGES for clip_id, a in ledger.latest(stage).items()}


def _not_private(home: Path) -> list[str]:
    """Files and folders the curation stages wrote that others than the owner may read."""
    found = []
    for folder in ("raw", "audio", "faces", "fits", "shards"):
        for path in [home / folder, *(home / folder).rglob("*")]:
            if stat.S_IMODE(path.stat().st_mode) & 0o077:
                found.append(f"{path.relative_to(home)} {oct(stat.S_IMODE(path.stat().st_mode))}")
    return found


def test_runner_options_build_the_runner_they_name() -> None:
    import dask.config
    from prefect.task_runners import ThreadPoolTaskRunner
    from prefect_dask import DaskTaskRunner

    from flows.runners import runner_options, task_runner

    assert isinstance(task_runner(runner_options()), ThreadPoolTaskRunner)
    local = task_runner(runner_options("dask", workers=3))
    assert isinstance(local, DaskTaskRunner) and local.address is None
    assert local.cluster_kwargs["n_workers"] == 3
    assert local.cluster_kwargs["threads_per_worker"] == 1  # CPU-bound stages: processes
    assert task_runner(runner_options("dask", "tcp://10.0.0.5:8786")).address == (
        "tcp://10.0.0.5:8786")
    assert runner_options("dask").local_workers == len(os.sched_getaffinity(0))
    assert dask.config.get("distributed.worker.daemon") is False  # the faces stage has children
    assert dask.config.get("distributed.worker.preload") == ["flows.runners"]


def test_local_workers_share_the_cores_so_a_stages_all_cores_is_its_share(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from flows import runners
    from flows.runners import runner_options

    monkeypatch.setattr(runners, "_cores", lambda: [0, 1, 2, 3])
    assert runner_options("dask", workers=2).pinned_cores() == [[0, 1], [2, 3]]
    assert runner_options("dask").pinned_cores() == [[0], [1], [2], [3]]
    assert runner_options("dask", workers=3).pinned_cores() == [[0], [1], [2]]
    assert runner_options("dask", workers=6).pinned_cores()[4:] == [[0], [1]]  # wraps round
    assert runner_options("dask", workers=1, worker_cores=1).pinned_cores() == [[0]]


def test_a_local_clusters_worker_processes_are_pinned_to_their_cores() -> None:
    """Regression: each worker of a LocalCluster ran the faces stage on one MediaPipe process
    per core of the machine, so n workers ran n x the cores' processes."""
    from distributed import Client, LocalCluster

    from flows.runners import runner_options, task_runner

    options = runner_options("dask", workers=2, worker_cores=1)
    runner = task_runner(options)
    with LocalCluster(**runner.cluster_kwargs) as cluster, Client(cluster) as client:
        pinned = client.run(lambda: sorted(os.sched_getaffinity(0)))
    assert sorted(pinned.values()) == sorted(options.pinned_cores())


@pytest.mark.parametrize("runner, address, workers", [
    ("processes", None, None),  # no such runner
    ("threads", None, 2),  # workers size a Dask LocalCluster only
    ("threads", "tcp://10.0.0.5:8786", None),
    ("dask", "10.0.0.5:8786", None),  # no scheme
    ("dask", "tcp://10.0.0.5:8786", 2),  # a running cluster has its own workers
    ("dask", None, 0),
])
def test_bad_runner_options_are_one_config_error(runner: str, address: str | None,
                                                 workers: int | None) -> None:
    from flows.runners import runner_options
    from manifests.errors import ConfigError

    with pytest.raises(ConfigError, match="invalid task runner"):
        runner_options(runner, address, workers)


@pytest.mark.slow
@pytest.mark.postgres
def test_two_dask_workers_write_a_single_process_runs_shards(
        tmp_path: Path, demo_corpus: Path, prefect_api: str,
        postgres_cluster: PostgresCluster) -> None:
    started = time.monotonic()
    reference = _home(tmp_path / "threads", demo_corpus)
    _run("threads", reference, None, prefect_api)
    single = time.monotonic()

    home = _home(tmp_path / "dask", demo_corpus)
    ledger_url = postgres_cluster.new_database()
    _run("dask", home, ledger_url, prefect_api, workers=2)
    done = time.monotonic()

    assert _shards(home) == _shards(reference)
    assert len(_shards(reference)) >= 1
    expected = Ledger(f"sqlite:///{reference / 'ledger.sqlite'}")
    ledger = Ledger(ledger_url)
    try:
        assert _verdicts(ledger) == _verdicts(expected)
        workers = {a.worker for stage in CURATION for a in ledger.latest(stage).values()}
    finally:
        ledger.close()
        expected.close()
    assert len(workers) >= 2, workers  # both worker processes curated (a restarted one: 3)
    assert not any(w.endswith(f":{os.getpid()}") for w in workers), workers  # none in this one
    assert _not_private(home) == []  # the workers wrote with Cradle's umask
    print(f"\nthreads run {single - started:.0f} s, dask run (2 workers, PostgreSQL) "
          f"{done - single:.0f} s; curation batches ran in {sorted(workers)}")

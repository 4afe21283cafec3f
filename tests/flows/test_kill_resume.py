"""SIGKILL at random points of a demo run, then re-runs, and two runs at once: the end state is
an uninterrupted run's.

A few-clip subset of the demo (two that reach the shards, one rejected by audio, one by faces) runs
as `cradle run --demo` in its own process group, one clip per batch so that every stage writes
often. Each attempt is killed (the whole group, as the OOM killer or a lost machine would) a random
fraction of a second after the ledger reaches a result count drawn at random from the
uninterrupted run's, so the kills land inside every stage and between them; the next attempt
resumes. After the last, clean, re-run the shards' sha256s and every clip's verdicts equal those
of an uninterrupted run, and nothing is left behind: no temporary file, work folder or `running`
row.

The uninterrupted run is another process with its own demo server: it is also the regression
test for samples that embedded their stages' wall-clock `seconds` and the demo server's URL with
that run's random port, so two runs of the same demo gave different tar bytes (the Dask test
compares two runs as well).
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from manifests.ledger import Ledger
from manifests.outcomes import PIPELINE_STAGES

SUBSET = ("clean_cry", "clean_laugh", "music", "no_face")
# Kills at result counts drawn from the uninterrupted run's, so they spread over every stage and
# between them; results come in bursts that pass several counts at once, so fewer attempts are
# killed. Each attempt costs CI ~15-20 s: killing after every new result until an attempt
# happened to finish took 131-202 s of a 26-28 min CI run (over the ~25 min it may take).
KILL_POINTS = 10
MIN_KILLS = 4
ATTEMPT_TIMEOUT_S = 240.0  # one attempt, generous for 2 busy cores


@pytest.fixture(scope="module")
def prefect_api(prefect_server: None) -> str:
    from prefect.settings import PREFECT_API_URL

    url = PREFECT_API_URL.value()
    assert url, "the Prefect test harness sets an API URL"
    return str(url)


def _env(home: Path, prefect_api: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CRADLE_", "PREFECT_"))}
    return {**env, "CRADLE_HOME": str(home), "CRADLE_DEMO__TRAIN_SIZE": "0",
            "CRADLE_DEMO__CLIPS": json.dumps(SUBSET), "CRADLE_RUN__BATCH_SIZE": "1",
            "CRADLE_TRAINING__NIGHTLY": "false",  # curation is what is killed here
            "PREFECT_API_URL": prefect_api, "PREFECT_HOME": str(home.parent / "prefect"),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "GLOG_minloglevel": "2",
            "PYTHONFAULTHANDLER": "1"}  # a crash of an attempt prints every thread


def _start(home: Path, prefect_api: str) -> subprocess.Popen[bytes]:
    """`cradle run --demo` in its own process group; its output goes to `attempts.log`."""
    with open(home.parent / "attempts.log", "ab") as log:
        return subprocess.Popen([sys.executable, "-c", "from flows.cli import app; app()",
                                 "run", "--demo"], env=_env(home, prefect_api),
                                cwd=home.parent, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)


def _log_tail(home: Path) -> str:
    return (home.parent / "attempts.log").read_text(errors="replace")[-3000:]


def _results_recorded(home: Path) -> int:
    try:
        with sqlite3.connect(f"file:{home / 'ledger.sqlite'}?mode=ro", uri=True,
                             timeout=5) as db:
            return int(db.execute("SELECT count(*) FROM stage_results").fetchone()[0])
    except sqlite3.OperationalError:  # not created yet, or being migrated
        return 0


def _home(folder: Path, name: str, corpus: Path) -> Path:
    home = folder / name / "cradle-data"
    shutil.copytree(corpus, home / "demo")
    return home


def _uninterrupted(home: Path, prefect_api: str) -> None:
    assert _start(home, prefect_api).wait(timeout=ATTEMPT_TIMEOUT_S) == 0, _log_tail(home)


def _killed_until_done(home: Path, prefect_api: str, kill_at: list[int],
                       rng: random.Random) -> list[int]:
    """Attempts, each killed a random fraction of a second after the ledger reaches the next
    count of `kill_at` it has not passed; the last runs to the end. Returns the result counts
    at the kills."""
    kills: list[int] = []
    while True:
        recorded = _results_recorded(home)
        targets = [t for t in kill_at if t > recorded]
        attempt = _start(home, prefect_api)
        if targets:
            deadline = time.monotonic() + ATTEMPT_TIMEOUT_S
            while attempt.poll() is None and _results_recorded(home) < targets[0]:
                assert time.monotonic() < deadline, _log_tail(home)
                time.sleep(0.05)
            time.sleep(rng.uniform(0.0, 1.0))
            if attempt.poll() is None:
                os.killpg(attempt.pid, signal.SIGKILL)
                attempt.wait()
                kills.append(_results_recorded(home))
                continue
        assert attempt.wait(timeout=ATTEMPT_TIMEOUT_S) == 0, _log_tail(home)
        return kills


def _shards(home: Path) -> list[tuple[str, str]]:
    versions = sorted((home / "shards" / "demo").glob("v*/dataset.json"))
    assert [v.parent.name for v in versions] == ["v0001"]  # no version from a killed run
    card = json.loads(versions[0].read_text())
    return [(shard["path"], shard["sha256"]) for shard in card["shards"]]


def _verdicts(home: Path) -> dict[tuple[str, str], tuple[str, str | None]]:
    ledger = Ledger(f"sqlite:///{home / 'ledger.sqlite'}")
    try:
        return {(stage, clip_id): (a.status.value, a.reason and a.reason.value)
                for stage in PIPELINE_STAGES for clip_id, a in ledger.latest(stage).items()}
    finally:
        ledger.close()


def _leftovers(home: Path) -> list[str]:
    left = [str(p.relative_to(home)) for p in home.rglob(".tmp-*")]
    with sqlite3.connect(home / "ledger.sqlite") as db:
        left += [f"run {run_id} {status}" for run_id, status in db.execute(
            "SELECT id, status FROM runs WHERE status = 'running'")]
    return left


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory, demo_corpus: Path,
              prefect_api: str) -> Path:
    """The data root of an uninterrupted run of the subset."""
    home = _home(tmp_path_factory.mktemp("reference"), "reference", demo_corpus)
    _uninterrupted(home, prefect_api)
    return home


@pytest.mark.slow
def test_a_run_killed_at_random_points_resumes_to_an_uninterrupted_runs_bytes(
        tmp_path: Path, demo_corpus: Path, prefect_api: str, reference: Path) -> None:
    rng = random.Random(20261202)
    total = _results_recorded(reference)
    home = _home(tmp_path, "killed", demo_corpus)
    points = sorted(rng.sample(range(1, total), KILL_POINTS))
    kills = _killed_until_done(home, prefect_api, points, rng)
    assert _shards(home) == _shards(reference)
    assert _verdicts(home) == _verdicts(reference)
    assert _leftovers(home) == []
    assert len(_shards(reference)) >= 1 and len(kills) >= MIN_KILLS
    print(f"\n{len(kills)} SIGKILLs, after results {kills} of {total}; the re-run completed")


@pytest.mark.slow
def test_of_two_runs_started_together_on_one_data_root_the_second_is_refused(
        tmp_path: Path, demo_corpus: Path, prefect_api: str, reference: Path) -> None:
    home = _home(tmp_path, "twice", demo_corpus)
    first, second = _start(home, prefect_api), _start(home, prefect_api)
    codes = sorted(run.wait(timeout=ATTEMPT_TIMEOUT_S) for run in (first, second))
    assert codes[0] == 0 and codes[1] != 0, _log_tail(home)
    log = (home.parent / "attempts.log").read_text(errors="replace")
    assert "another Cradle run is using this data root" in log, log[-3000:]
    assert _shards(home) == _shards(reference)  # nothing lost: the first run did it all
    assert _verdicts(home) == _verdicts(reference)
    assert _leftovers(home) == []


@pytest.mark.slow
def test_a_runs_console_log_names_no_local_path(reference: Path) -> None:
    """Regression: the demo corpus, its server and the open face model were logged with their
    absolute paths, which Prefect also keeps in its database."""
    log = (reference.parent / "attempts.log").read_text(errors="replace")
    assert "Finished in state Completed()" in log
    assert str(reference.parent) not in log.replace("\n", "").replace(" ", "")

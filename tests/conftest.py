"""Shared fixtures: isolated data roots, the demo corpus and a curated demo data root, a Prefect
test server, and the ledger on SQLite and on a real PostgreSQL."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.postgres import PostgresCluster, find_postgres_bin

# Keep tests off the network and off the user's state, before any test imports Prefect.
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
os.environ["DO_NOT_TRACK"] = "1"
os.environ["PYANNOTE_METRICS_ENABLED"] = "0"
os.environ["HF_HUB_OFFLINE"] = "1"

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
DEMO_SEED = 0  # the default `demo.seed`: tests see the corpus `make run` curates
# Training clips in `demo_home`: with demo/training.py's split plan, 6 train videos (clean_cry
# and clean_laugh among them), 2 val and 2 test, curated in about a minute on 2 cores.
DEMO_HOME_TRAIN_SIZE = 8
DEMO_HOME_TRAIN_STEPS = 20


@pytest.fixture(scope="session")
def demo_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The offline demo corpus, generated once per test session with the real process pool."""
    from demo.corpus import generate_corpus

    out = tmp_path_factory.mktemp("demo-corpus")
    generate_corpus(out, seed=DEMO_SEED, workers=2)
    return out


@pytest.fixture(scope="session")
def prefect_server() -> Iterator[None]:
    """One Prefect test server for every test that runs a flow (starting one takes ~15 s)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=180):
        yield


@pytest.fixture(scope="session")
def demo_home(tmp_path_factory: pytest.TempPathFactory, demo_corpus: Path,
              prefect_server: None) -> Path:
    """A data root after `cradle run --demo` with `DEMO_HOME_TRAIN_SIZE` training clips.

    Built once per session, and only when a test asks for it (about a minute past `demo_corpus`
    and `prefect_server`; mark such tests `slow`): the session's corpus gains the training clips
    and the nightly flow curates it through the CLI, so `<home>/shards/demo/v0001` holds train,
    val and test shards and `<home>/ledger.sqlite` every verdict. Read it, never change it:
    other tests share it.
    """
    work = tmp_path_factory.mktemp("demo-home")
    home = work / "cradle-data"
    shutil.copytree(demo_corpus, home / "demo")  # the failure variants are reused as they are
    curate_demo(home, work, train=True)
    return home


def curate_demo(home: Path, work: Path, train: bool = False) -> None:
    """`cradle run --demo` on `home` through the CLI, as `demo_home` builds it, with no
    cradle.yaml or CRADLE_* leaking in; Prefect keeps its state under `work`. `train`: the
    nightly run's short training and evaluation too (`demo_home` has them; others need not)."""
    from typer.testing import CliRunner

    from flows.cli import app

    with pytest.MonkeyPatch.context() as patch:
        for name in list(os.environ):
            if name.startswith("CRADLE_"):
                patch.delenv(name)
        patch.chdir(work)
        patch.setenv("CRADLE_HOME", str(home))
        patch.setenv("CRADLE_DEMO__TRAIN_SIZE", str(DEMO_HOME_TRAIN_SIZE))
        # The nightly run trains and evaluates a model on the new version: briefly, here.
        patch.setenv("CRADLE_TRAINING__NIGHTLY", "true" if train else "false")
        patch.setenv("CRADLE_TRAINING__DEMO_STEPS", str(DEMO_HOME_TRAIN_STEPS))
        patch.setenv("CRADLE_TRAINING__BOOTSTRAP", "50")
        patch.setenv("PREFECT_HOME", str(work / "prefect"))
        result = CliRunner().invoke(app, ["run", "--demo"], catch_exceptions=False,
                                    terminal_width=120)
    assert result.exit_code == 0, result.output


@pytest.fixture(scope="session")
def shared() -> Path:
    """../shared beside the checkout: real fixtures, present in CI, absent in a user's clone."""
    if not (SHARED / "fixtures").is_dir():
        pytest.skip(f"real fixtures not found at {SHARED} (they sit beside the checkout in CI)")
    return SHARED


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PostgresCluster]:
    bin_dir = find_postgres_bin()
    if bin_dir is None:
        message = "PostgreSQL is not installed: `make test` installs it (apt package postgresql)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    cluster = PostgresCluster.start(bin_dir)
    yield cluster
    cluster.stop()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def ledger_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty ledger URL on each backend the ledger supports."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    cluster: PostgresCluster = request.getfixturevalue("postgres_cluster")
    return cluster.new_database()


@pytest.fixture
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working folder with its own data root and no cradle.yaml or CRADLE_* leaking in."""
    for name in list(os.environ):
        if name.startswith("CRADLE_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    home = tmp_path / "cradle-data"
    monkeypatch.setenv("CRADLE_HOME", str(home))
    return home

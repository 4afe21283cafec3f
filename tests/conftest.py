"""Shared fixtures: isolated data roots, and the ledger on SQLite and on a real PostgreSQL."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.postgres import PostgresCluster, find_postgres_bin

# Keep tests off the network and off the user's state, before any test imports Prefect.
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
os.environ["PYANNOTE_METRICS_ENABLED"] = "0"
os.environ["HF_HUB_OFFLINE"] = "1"

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
DEMO_SEED = 0  # the default `demo.seed`: tests see the corpus `make run` curates


@pytest.fixture(scope="session")
def demo_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The offline demo corpus, generated once per test session with the real process pool."""
    from demo.corpus import generate_corpus

    out = tmp_path_factory.mktemp("demo-corpus")
    generate_corpus(out, seed=DEMO_SEED, workers=2)
    return out


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

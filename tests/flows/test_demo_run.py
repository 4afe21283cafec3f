"""`cradle run --demo`, the command a new user runs first, end to end under Prefect."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from flows.cli import app
from manifests.ledger import Ledger
from stages.config import load_config


@pytest.mark.slow
def test_demo_run_registers_the_corpus_and_reports(isolated_home: Path, demo_corpus: Path,
                                                   prefect_server: None, monkeypatch) -> None:
    monkeypatch.setenv("PREFECT_HOME", str(isolated_home / "prefect"))
    shutil.copytree(demo_corpus, isolated_home / "demo")  # an intact corpus is reused as is
    runner = CliRunner()
    result = runner.invoke(app, ["run", "--demo"], catch_exceptions=False, terminal_width=120)
    assert result.exit_code == 0, result.output
    assert "sources: clips 15, new 15" in result.output
    assert "download: ok 4, failed 4" in result.output
    assert "sources" in result.output  # the status table follows the run

    ledger = Ledger(load_config().ledger_url)
    clips = ledger.clips()
    ledger.close()
    assert len(clips) == 15
    assert all(c.url.startswith("demo://") and c.id.startswith("demo-") for c in clips)
    assert {c.source for c in clips} == {"audioset:segments.csv"}

    status = runner.invoke(app, ["status"], terminal_width=120)
    assert "15 clips in the ledger" in status.output


def test_demo_data_writes_a_corpus_and_contact_sheet(isolated_home: Path,
                                                     demo_corpus: Path) -> None:
    target = isolated_home / "corpus"
    shutil.copytree(demo_corpus, target)
    result = CliRunner().invoke(app, ["demo-data", "--out", str(target), "--preview"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "15 clips" in result.output
    assert (target / "contact_sheet.png").stat().st_size > 10_000

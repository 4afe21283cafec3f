"""`cradle run --demo`, the command a new user runs first: every demo clip ends where its ground
truth says, through every stage the nightly flow runs today."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from flows.cli import app
from manifests.ledger import Ledger
from manifests.outcomes import PIPELINE_STAGES
from stages.config import load_config


@pytest.mark.slow
def test_demo_run_ends_every_clip_as_its_ground_truth_says(
        isolated_home: Path, demo_corpus: Path, prefect_server: None, monkeypatch) -> None:
    monkeypatch.setenv("PREFECT_HOME", str(isolated_home / "prefect"))
    shutil.copytree(demo_corpus, isolated_home / "demo")  # an intact corpus is reused as is
    runner = CliRunner()
    result = runner.invoke(app, ["run", "--demo"], catch_exceptions=False, terminal_width=120)
    assert result.exit_code == 0, result.output
    ran = [line.split(":")[0] for line in result.output.splitlines()
           if re.match(r"^[a-z]+: ", line)]
    assert ran[:4] == ["sources", "download", "audio", "faces"]
    # Every stage records a per-clip outcome; an accepted clip ends in a dataset version.
    curated = [stage for stage in PIPELINE_STAGES if stage in ran and stage != "sources"]

    ledger = Ledger(load_config().ledger_url)
    clips = ledger.clips()
    assert len(clips) == 15
    assert all(c.url.startswith("demo://") for c in clips)
    wrong = []
    for clip in clips:
        name = clip.id.removeprefix("demo-").rsplit("-", 2)[0]
        expected = json.loads((demo_corpus / f"{name}.json").read_text())["expected"]
        for stage in curated:
            latest = ledger.latest(stage, [clip.id]).get(clip.id)
            if stage == expected["stage"]:
                got = (latest.status.value, latest.reason.value if latest.reason else None)
                if got != (expected["verdict"], expected["reason"]):
                    wrong.append((name, stage, got, expected))
                break
            if latest is None or latest.status.value != "ok":
                wrong.append((name, stage, latest and latest.status.value, expected))
                break
    ledger.close()
    assert wrong == []

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

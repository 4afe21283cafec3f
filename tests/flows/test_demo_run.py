"""`cradle run --demo`, the command a new user runs first: every demo clip ends where its ground
truth says, through every stage, and the training clips make a dataset split three ways by video."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from demo.variants import VARIANTS
from flows.cli import app
from manifests.ledger import Ledger
from manifests.outcomes import PIPELINE_STAGES
from tests.conftest import DEMO_HOME_TRAIN_SIZE, DEMO_HOME_TRAIN_STEPS

runner = CliRunner()


@pytest.mark.slow
def test_demo_run_ends_every_clip_as_its_ground_truth_says(demo_home: Path) -> None:
    corpus = demo_home / "demo"
    ledger = Ledger(f"sqlite:///{demo_home / 'ledger.sqlite'}")
    clips = ledger.clips()
    assert len(clips) == len(VARIANTS) + DEMO_HOME_TRAIN_SIZE
    assert all(c.url.startswith("demo://") for c in clips)
    wrong = []
    for clip in clips:
        name = clip.id.removeprefix("demo-").rsplit("-", 2)[0]
        expected = json.loads((corpus / f"{name}.json").read_text())["expected"]
        # Every stage records a per-clip outcome; an accepted clip ends in a dataset version.
        for stage in PIPELINE_STAGES[1:]:
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


@pytest.mark.slow
def test_demo_dataset_holds_videos_in_every_split(demo_home: Path) -> None:
    card = json.loads((demo_home / "shards" / "demo" / "v0001" / "dataset.json").read_text())
    by_split = card["stats"]["by_split"]
    # The two clean failure variants and every training clip, each its own source video.
    assert sum(s["videos"] for s in by_split.values()) == 2 + DEMO_HOME_TRAIN_SIZE
    assert {name: s["videos"] >= 2 for name, s in by_split.items()} == {
        "train": True, "val": True, "test": True}
    assert all(s["samples"] >= s["videos"] for s in by_split.values())


@pytest.mark.slow
def test_infant_media_and_the_ledger_are_the_owners_alone(demo_home: Path) -> None:
    """Regression: raw infant media and the ledger were world-readable (0644)."""
    ledger = Ledger(f"sqlite:///{demo_home / 'ledger.sqlite'}")
    download = next(iter(ledger.latest("download").values()))
    ledger.close()
    written = [demo_home / "ledger.sqlite",
               *(download.output(role, demo_home) for role in download.outputs),
               *(demo_home / "audio").iterdir(), *(demo_home / "faces").iterdir(),
               *(demo_home / "shards" / "demo" / "v0001").iterdir()]
    assert {path.stat().st_mode & 0o777 for path in written} == {0o600}
    folders = [demo_home / name for name in ("raw", "audio", "faces", "fits", "shards")]
    assert {path.stat().st_mode & 0o777 for path in folders} == {0o700}


@pytest.mark.slow
def test_ledger_and_exports_hold_no_local_path_or_run_address(demo_home: Path) -> None:
    """Regression: full local paths landed in stage metrics, outputs and exports, and the demo
    server's loopback address (with its port) in every demo clip's provenance."""
    dump = _dump_sqlite(demo_home / "ledger.sqlite")
    parquets = sorted((demo_home / "runs").rglob("*.parquet"))
    assert parquets
    exports = "\n".join(pd.read_parquet(path).to_json() for path in parquets)
    for text, what in ((dump, "ledger"), (exports, "exports")):
        assert str(demo_home.parent) not in text, what
        assert "127.0.0.1" not in text, what


@pytest.mark.slow
def test_prefect_keeps_no_local_path_or_secret_of_the_run(demo_home: Path) -> None:
    """What Prefect's database holds of a demo run (flow and task runs, their parameters,
    logs, artifacts, events) names no local path, and none of the configuration's secrets."""
    import sqlite3

    from prefect.settings import PREFECT_API_DATABASE_CONNECTION_URL

    from flows.nightly import NightlyParams

    url = str(PREFECT_API_DATABASE_CONNECTION_URL.value())
    assert url.startswith("sqlite"), url
    dump = _dump_sqlite(Path(url.split("///", 1)[1]))
    assert "cradle-nightly" in dump  # the demo run is in it
    assert str(demo_home.parent) not in dump
    # Secrets live in the configuration (network.proxy, cookies_file), which Prefect never
    # gets: a nightly run's parameters are what it works on, nothing more.
    with sqlite3.connect(f"file:{url.split('///', 1)[1]}?mode=ro", uri=True) as db:
        parameters = [json.loads(text) for (text,) in db.execute(
            "SELECT flow_run.parameters FROM flow_run JOIN flow ON flow.id = flow_run.flow_id "
            "WHERE flow.name = 'cradle-nightly'")]
    assert parameters
    assert all(set(p) <= {"params"} and set(p.get("params", {})) <= set(NightlyParams.model_fields)
               for p in parameters), parameters


@pytest.mark.slow
def test_prefect_lists_the_demo_run_and_every_artifact_of_its_report(demo_home: Path) -> None:
    """What a data engineer finds in Prefect's UI the morning after: the nightly run, its
    summary (curation, the dataset version, the model trained and its evaluation), the table of
    rejected clips and links to the exports, the dataset card and the evaluation report."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterFlowRunId,
        FlowFilter,
        FlowFilterName,
    )

    report = json.loads(next((demo_home / "runs").glob("*/report.json")).read_text())
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(flow_filter=FlowFilter(name=FlowFilterName(
            any_=["cradle-nightly"])))
        assert report["prefect_flow_run"] in {str(run.id) for run in runs}
        artifacts = {a.key: a for a in client.read_artifacts(artifact_filter=ArtifactFilter(
            flow_run_id=ArtifactFilterFlowRunId(any_=[report["prefect_flow_run"]])))}
    links = {f"cradle-nightly-link-{name}" for name in (
        "clips", "stage-results", "rejections", "reviews", "report", "dataset-card",
        "evaluation", "metrics")}
    assert {"cradle-nightly-summary", "cradle-nightly-rejected-clips"} | links <= set(artifacts)
    summary = artifacts["cradle-nightly-summary"].data
    assert "Dataset: **demo@v0001** (new version)" in summary
    assert f"step {DEMO_HOME_TRAIN_STEPS}" in summary and "Evaluation on demo@v0001" in summary
    assert report["reasons"] and all(  # the run's top reasons, in words
        f"**{r['reason']}** at {r['stage']}" in summary and r["meaning"] in summary
        for r in report["reasons"])
    model = demo_home / report["stages"]["training"]["run"]
    assert (model / "checkpoints").is_dir()
    assert (demo_home / report["stages"]["evaluation"]["report"]).is_file()


def _dump_sqlite(path: Path) -> str:
    """Every row of every table, as text."""
    import sqlite3

    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        tables = [name for (name,) in db.execute("SELECT name FROM sqlite_master "
                                                 "WHERE type = 'table'")]
        return "\n".join(str(row) for table in tables
                         for row in db.execute(f'SELECT * FROM "{table}"'))


@pytest.mark.slow
def test_status_counts_every_demo_clip(demo_home: Path, isolated_home: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRADLE_HOME", str(demo_home))
    status = runner.invoke(app, ["status"], terminal_width=120)
    assert f"{len(VARIANTS) + DEMO_HOME_TRAIN_SIZE} clips in the ledger" in status.output


def test_demo_data_writes_a_corpus_and_contact_sheet(isolated_home: Path,
                                                     demo_corpus: Path) -> None:
    target = isolated_home / "corpus"
    shutil.copytree(demo_corpus, target)
    result = runner.invoke(app, ["demo-data", "--out", str(target), "--train-size", "0",
                                 "--preview"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "15 clips (0 for training)" in result.output
    assert (target / "contact_sheet.png").stat().st_size > 10_000


@pytest.mark.slow
def test_demo_data_takes_the_training_size_from_the_flag_or_the_config(
        isolated_home: Path, demo_corpus: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = isolated_home / "corpus"
    shutil.copytree(demo_corpus, target)
    monkeypatch.setenv("CRADLE_DEMO__TRAIN_SIZE", "1")
    result = runner.invoke(app, ["demo-data", "--out", str(target)], catch_exceptions=False)
    assert "16 clips (1 for training)" in result.output
    [extra] = json.loads((target / "corpus.json").read_text())["clips"][len(VARIANTS):]
    assert all((target / name).is_file() for name in extra["files"])

    result = runner.invoke(app, ["demo-data", "--out", str(target), "--train-size", "0"],
                           catch_exceptions=False)
    assert "15 clips (0 for training)" in result.output
    assert not any((target / name).exists() for name in extra["files"])
    assert runner.invoke(app, ["demo-data", "--train-size", "-1"]).exit_code == 2

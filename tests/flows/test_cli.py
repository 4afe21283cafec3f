"""The `cradle` commands a data engineer types, on an empty and on a populated ledger."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pytest
from typer.testing import CliRunner

from flows.cli import app
from manifests.ledger import Ledger
from manifests.outcomes import ReasonCode, StageResult, Status
from manifests.testing import dummy_clip, dummy_clips, dummy_rejection
from stages.config import load_config

runner = CliRunner()


def cradle(*args: str) -> str:
    result = runner.invoke(app, list(args), catch_exceptions=False, terminal_width=120)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture
def populated(isolated_home: Path) -> Ledger:
    ledger = Ledger.open(load_config().ledger_url)
    clips = dummy_clips(5)
    ledger.add_clips(clips)
    run_id = ledger.start_run("nightly")
    now = datetime.now(UTC)
    ledger.record("download", "1", "h", [StageResult.ok(c.id) for c in clips], started_at=now,
                  run_id=run_id)
    ledger.record("audio", "1", "h",
                  [StageResult.ok(clips[0].id), dummy_rejection(clips[1]),
                   StageResult.rejected(clips[2].id, ReasonCode.ADULT_SPEECH,
                                        {"adult_speech_ratio": 0.6})],
                  started_at=now, run_id=run_id)
    ledger.finish_run(run_id)
    return ledger


def test_help_lists_only_working_commands() -> None:
    output = cradle("--help")
    for command in ("init", "config", "status", "export", "run"):
        assert command in output


def test_init_creates_the_data_root_and_ledger(isolated_home: Path) -> None:
    cradle("init")
    for folder in ("raw", "audio", "faces", "fits", "shards", "runs", "models"):
        assert (isolated_home / folder).is_dir()
    assert (isolated_home / "ledger.sqlite").is_file()
    cradle("init")


def test_config_show_prints_effective_values_and_hashes(isolated_home: Path, monkeypatch) -> None:
    monkeypatch.setenv("CRADLE_RUN__BATCH_SIZE", "5")
    output = cradle("config", "show")
    assert "batch_size: 5" in output
    assert f"# run: {load_config().section_hash('run')}" in output


def test_bad_config_is_a_clear_error_not_a_traceback(isolated_home: Path) -> None:
    Path("cradle.yaml").write_text("run:\n  batch_size: -1\n")
    result = runner.invoke(app, ["status"])
    assert result.exit_code == 2
    assert "run.batch_size" in result.output and "Traceback" not in result.output


def test_a_source_list_with_no_valid_row_stops_run_in_one_line_per_problem(
        isolated_home: Path) -> None:
    """Regression: `inf` in a source list raised an uncaught OverflowError, and the CLI printed
    a 160-line traceback."""
    Path("bad.csv").write_text("url,start,end,labels\nhttp://example.com/a.mp4,inf,3,\n"
                               "http://example.com/b.mp4,-1,3,\n")
    result = runner.invoke(app, ["run", "--source", "bad.csv"])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "bad.csv:2: start 'inf' is not a finite number of seconds" in result.output
    assert "bad.csv:3: start '-1' is negative" in result.output
    assert not (isolated_home / "ledger.sqlite").exists()  # refused before anything started


def test_dry_run_lists_what_would_be_selected_and_fetched_and_starts_nothing(
        isolated_home: Path) -> None:
    rows = "".join(f"http://example.com/{i}.mp4,0,3,Baby cry\n" for i in range(4))
    Path("urls.csv").write_text("url,start,end,labels\n" + rows)
    output = cradle("run", "--source", "urls.csv", "--limit", "3", "--dry-run")
    assert "would select 3 clips; would fetch 3 (0 already downloaded or failed for good)" in (
        output)
    assert output.count("Baby cry") == 3
    assert not (isolated_home / "ledger.sqlite").exists()  # nothing was started
    assert not (isolated_home / "prefect").exists()


def test_dry_run_leaves_out_what_the_run_would_not_fetch_again(isolated_home: Path) -> None:
    """Regression: after a demo run, the dry run listed its 4 clips that failed for good (a
    corrupt file) as "would fetch", though the run's resume rule never fetches them again."""
    from flows.ingest import select_clips
    from flows.params import SourceParams
    from stages.download.stage import STAGE as DOWNLOAD

    rows = "".join(f"http://example.com/{i}.mp4,0,3,Baby cry\n" for i in range(3))
    Path("urls.csv").write_text("url,start,end,labels\n" + rows)
    cfg = load_config()
    clips = select_clips(SourceParams(source_lists=[Path("urls.csv")]), cfg)
    ledger = Ledger.open(cfg.ledger_url)
    ledger.add_clips(clips)
    ledger.record(DOWNLOAD.name, DOWNLOAD.version, DOWNLOAD.config_hash(cfg), [
        StageResult(clips[0].id, Status.FAILED, ReasonCode.CORRUPT_CONTAINER, {}),
        StageResult(clips[1].id, Status.RETRY, ReasonCode.NETWORK_ERROR, {})],
        started_at=datetime.now(UTC))
    ledger.close()
    output = cradle("run", "--source", "urls.csv", "--dry-run")
    assert "would select 3 clips; would fetch 2 (1 already downloaded or failed for good)" in (
        output)
    assert clips[0].id not in output and clips[1].id in output and clips[2].id in output


def test_every_run_command_exists_with_the_options_the_readme_gives() -> None:
    for command, options in {"run": ("--demo", "--source", "--limit", "--dry-run", "--json",
                                     "--runner", "--address", "--workers"),
                             "ingest": ("--source", "--limit", "--dry-run", "--runner"),
                             "curate": ("--limit", "--runner"),
                             "build-shards": ("--dataset", "--demo"),
                             "retry-failed": ("--dataset", "--demo"),
                             "serve": ("--cron", "--timezone", "--dataset")}.items():
        output = cradle(command, "--help")
        assert all(option in output for option in options), (command, output)


def test_runner_options_that_do_not_go_together_stop_before_anything_starts(
        isolated_home: Path) -> None:
    result = runner.invoke(app, ["run", "--demo", "--runner", "threads", "--workers", "2"])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "apply to the dask runner only" in result.output
    assert not (isolated_home / "ledger.sqlite").exists()


def test_native_library_noise_is_dropped_and_everything_else_reaches_the_terminal(
        capfd: pytest.CaptureFixture[str]) -> None:
    import os

    from flows.runtime import native_noise_filtered

    with native_noise_filtered():
        for line in ("W0000 00:00:1796232508.212012   30519 inference_feedback_manager.cc:114] "
                     "Feedback manager requires a model with a single signature inference.",
                     "INFO: Created TensorFlow Lite XNNPACK delegate for CPU.",
                     "AttributeError: 'MessageFactory' object has no attribute 'GetPrototype'",
                     "E0000 00:00:17.5 12 calculator_graph.cc:9] a real error",
                     "faces: 2/8 clips"):
            os.write(2, (line + "\n").encode())
    assert capfd.readouterr().err.splitlines() == [
        "E0000 00:00:17.5 12 calculator_graph.cc:9] a real error", "faces: 2/8 clips"]


def test_a_run_logs_no_absolute_path_from_tensorboards_event_reader(
        caplog: pytest.LogCaptureFixture, tmp_path: Path) -> None:
    """Regression: `cradle run --demo` printed "No path found after /abs/.../events.out..." while
    the evaluation report read the training's curves."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from torch.utils.tensorboard import SummaryWriter

    from flows.runtime import quiet_third_party_logs

    with SummaryWriter(str(tmp_path)) as writer:
        writer.add_scalar("loss", 1.0, 0)
    quiet_third_party_logs(verbose=False)
    with caplog.at_level(logging.INFO):
        EventAccumulator(str(tmp_path)).Reload()
    assert str(tmp_path) not in caplog.text


def test_status_on_an_empty_ledger_says_what_to_do(isolated_home: Path) -> None:
    assert "cradle run --demo" in cradle("status")


def test_status_table_counts_clips_per_stage_and_reason(populated: Ledger) -> None:
    output = cradle("status")
    stage_table = output.split("Why clips stopped")[0]
    lines = {line.split("│")[1].strip(): line for line in stage_table.splitlines() if "│" in line}
    download = [cell.strip() for cell in lines["download"].split("│")[2:-1]]
    audio = [cell.strip() for cell in lines["audio"].split("│")[2:-1]]
    # columns: ok, rejected, retry, failed, pending
    assert download == ["5", "0", "0", "0", "0"]
    assert audio == ["1", "2", "0", "0", "2"]
    assert "adult_speech" in output and "silent" in output


def test_status_as_json_and_labels_by_name(populated: Ledger, shared: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Scripts read the same counts as JSON; labels are named through the configured ontology."""
    monkeypatch.setenv("CRADLE_SOURCES__ONTOLOGY",
                       str(shared / "fixtures" / "audioset" / "ontology.json"))
    summary = json.loads(cradle("status", "--json"))
    assert summary["clips"] == 5
    assert summary["stages"]["download"] == {"ok": 5, "rejected": 0, "retry": 0, "failed": 0,
                                             "pending": 0}
    assert summary["stages"]["audio"]["pending"] == 2
    assert {(r["reason"], r["clips"]) for r in summary["reasons"]} == {
        ("adult_speech", 1), ("silent", 1)}
    assert summary["labels"] == [{"label": "/t/dd00002", "name": "Baby cry, infant cry",
                                  "clips": 5, "curated": 0}]
    assert "Baby cry, infant cry" in cradle("status")


def test_status_without_an_ontology_shows_mids_and_says_how_to_name_them(
        populated: Ledger) -> None:
    populated.add_clips([dummy_clip(9, labels=("/m/0ytgt",))])
    output = cradle("status")
    assert "/m/0ytgt" in output and "sources.ontology" in output


def test_status_names_the_demo_labels_without_an_ontology(populated: Ledger) -> None:
    """Regression: the demo's labels showed as MIDs (`/t/dd00002`), though the demo defines
    them; and a hint to set an ontology the demo does not ship."""
    output = cradle("status")
    assert "Baby cry, infant cry (/t/dd00002)" in output and "sources.ontology" not in output


def test_verbose_is_taken_before_and_after_every_command() -> None:
    """Regression: `cradle run --demo --verbose` was refused: "No such option: --verbose"."""
    from typer.main import get_command

    def leaves(command: Any, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
        children = getattr(command, "commands", {})
        return [leaf for name, child in children.items()
                for leaf in leaves(child, (*path, name))] if children else [path]

    commands = leaves(get_command(app))
    assert ("run",) in commands and ("datasets", "show") in commands
    for command in commands:
        for args in (["-v", *command, "--help"], [*command, "--verbose", "--help"],
                     [*command, "-v", "--help"]):
            result = runner.invoke(app, args)
            assert result.exit_code == 0, (args, result.output)


def test_export_writes_manifests_for_the_latest_run(populated: Ledger,
                                                    isolated_home: Path) -> None:
    output = cradle("export")
    run_dir = isolated_home / "runs" / populated.latest_run_id()
    assert str(run_dir) in output.replace("\n", "")
    results = pd.read_parquet(run_dir / "stage_results.parquet")
    assert len(results) == 8
    reasons = duckdb.sql(
        f"SELECT reason_code, count(*) FROM '{run_dir / 'rejections.parquet'}' "
        "GROUP BY reason_code ORDER BY 1").fetchall()
    assert reasons == [("adult_speech", 1), ("silent", 1)]


@pytest.mark.slow
def test_a_run_command_keeps_prefects_state_under_the_data_root(tmp_path: Path) -> None:
    """Regression: the run commands imported their flow, and so Prefect's settings, before
    pointing Prefect at the data root; its database went to ~/.prefect."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith(("CRADLE_", "PREFECT_"))}
    env |= {"HOME": str(tmp_path / "user"), "CRADLE_HOME": str(tmp_path / "data"),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    done = subprocess.run([sys.executable, "-c", "from flows.cli import app; app()",
                           "build-shards"], env=env, cwd=tmp_path, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "no clip has passed every stage yet" in done.stdout + done.stderr
    assert list((tmp_path / "data" / "prefect").glob("*.db"))
    assert not (tmp_path / "user" / ".prefect").exists()

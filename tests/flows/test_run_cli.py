"""The run commands (`run`, `ingest`, `build-shards`, `retry-failed`, `serve`) as a user meets
them: what they refuse and how, what a dry run promises, how a crash ends. No flow runs here:
where a command would start Prefect, the flow or the server is stood in for."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from demo.corpus import corpus_variants
from flows import run_cli
from flows.cli import app
from flows.params import SourceParams
from manifests.ledger import Ledger
from stages.config import DemoConfig, load_config
from stages.sources.stage import merge_segments

runner = CliRunner()


def invoke(*args: str) -> Result:
    return runner.invoke(app, list(args), terminal_width=120)


def cradle(*args: str) -> str:
    result = runner.invoke(app, list(args), catch_exceptions=False, terminal_width=120)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture
def prefect_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Keeps what `prepare_environment` sets for Prefect to this test."""
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "prefect"))
    return tmp_path / "prefect"


def test_a_missing_source_list_is_one_error_line_on_stderr_even_with_json(
        isolated_home: Path) -> None:
    """Regression: three lines (a warning, then the error with the reason again), on stdout,
    so `--json` output carried them; the list was named by its basename only."""
    result = invoke("run", "--source", "lists/missing.csv", "--json")
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.splitlines() == ["error: source list lists/missing.csv: no such file"]


def test_a_wrong_file_given_as_source_list_is_a_short_error(
        isolated_home: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Regression: a markdown file gave a warning per line, then 50 of them again in the error."""
    prose = "".join(f"line {i}, of prose\n" for i in range(100))
    Path("notes.md").write_text(f"# Notes\n\n{prose}")
    with caplog.at_level("WARNING"):
        result = invoke("run", "--source", "notes.md")
    lines = result.stderr.splitlines()
    assert result.exit_code == 2 and result.stdout == ""
    assert lines[0].startswith("error: no valid source rows in notes.md (100 problems; is each "
                               "an AudioSet segment CSV or a url,start,end,labels list?)")
    assert lines[1] == ("notes.md:3: expected 4 fields (YTID, start_seconds, end_seconds, "
                        "positive_labels), found 2")
    assert len(lines) == 7 and lines[-1] == "... and 95 more"
    assert not caplog.records  # nothing logged besides


def test_a_demo_dry_run_on_a_fresh_home_lists_the_corpus_the_run_would_generate(
        isolated_home: Path) -> None:
    """Regression: it said the corpus was not generated yet and would select 0 clips, while
    the run generates it and takes every clip; `ingest --dry-run` did not exist."""
    clips = len(corpus_variants(DemoConfig().train_size))
    output = cradle("run", "--demo", "--dry-run")
    assert "would generate the demo corpus in cradle-data/demo first" in output
    assert (f"would select {clips} clips; would fetch {clips} (0 already downloaded or failed "
            "for good)") in output
    assert "demo-clean_laugh-0-8000  0.0-8.0 s  Baby laughter, Television" in output
    assert "/t/dd0000" not in output  # the demo's labels by name
    assert cradle("ingest", "--demo", "--dry-run") == output
    assert not isolated_home.exists()  # nothing was generated or started


def test_a_dry_run_names_labels_from_the_ontology_beside_the_list(isolated_home: Path,
                                                                  shared: Path) -> None:
    """Regression: AudioSet lists were shown by MID although their ontology sat beside them."""
    Path("lists").mkdir()
    shutil.copy(shared / "fixtures" / "audioset" / "ontology.json", "lists")
    Path("lists/segments.csv").write_text(
        "# header\n# header\n# YTID, start_seconds, end_seconds, positive_labels\n"
        'abcDEF12345, 30.000, 40.000, "/t/dd00001,/m/0ytgt"\n')
    output = cradle("run", "--source", "lists/segments.csv", "--dry-run")
    assert "yt-abcDEF12345-30000-40000  30.0-40.0 s  Baby laughter, Child speech, kid speaking" \
        in output


@pytest.mark.parametrize("command", ["build-shards", "retry-failed"])
def test_shard_commands_build_the_demo_dataset_with_demo(
        command: str, isolated_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Regression: neither took --demo although their help promised "demo with --demo", so
    after a demo run they could only build `infant`."""
    datasets: list[str] = []
    monkeypatch.setattr(run_cli, "_start",
                        lambda cfg, flow, params, *rest: datasets.append(params.dataset))
    for args in (["--demo"], [], ["--dataset", "mine"]):
        cradle(command, *args)
    assert datasets == ["demo", "infant", "mine"]


def test_serve_schedules_the_right_dataset_in_the_chosen_time_zone(
        isolated_home: Path, prefect_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Regression: `serve --demo` scheduled runs into `infant`, and always at 02:00 UTC, while
    prefect.yaml's deployment runs in CRADLE_TIMEZONE."""
    served: list[Any] = []
    monkeypatch.setattr("flows.schedule.serve_nightly",
                        lambda deployment, root, port: served.append(deployment))
    monkeypatch.setenv("CRADLE_TIMEZONE", "Europe/London")
    cradle("serve", "--demo")
    cradle("serve", "--demo", "--dataset", "mine", "--timezone", "UTC", "--cron", "30 1 * * *")
    assert [(d.parameters["params"]["dataset"], d.schedules[0].schedule.cron,
             d.schedules[0].schedule.timezone) for d in served] == [
        ("demo", "0 2 * * *", "Europe/London"), ("mine", "30 1 * * *", "UTC")]


@pytest.mark.parametrize(("option", "error"), [
    (["--timezone", "Mars/Olympus"], "error: unknown time zone 'Mars/Olympus': give an IANA name "
                                     "such as Europe/London, or UTC"),
    (["--cron", "0 2 * *"], 'error: --cron: Invalid cron string: "0 2 * *"'),
])
def test_serve_refuses_a_bad_schedule_in_one_line(option: list[str], error: str,
                                                  isolated_home: Path,
                                                  prefect_home: Path) -> None:
    result = invoke("serve", "--demo", *option)
    assert result.exit_code == 2 and result.stderr.splitlines() == [error]


class CrashingFlow:
    """Stands in for the nightly flow: opens its ledger run as the real one does, then meets a
    bug in stage code."""

    name = "cradle-nightly"

    def __call__(self, params: SourceParams) -> None:
        ledger = Ledger.open(load_config().ledger_url)
        ledger.start_run("nightly")
        ledger.close()
        merge_segments([object()])  # type: ignore[list-item]  # AttributeError in stages.sources


@pytest.fixture
def crashing_run(isolated_home: Path, prefect_home: Path,
                 monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """`cradle run` arguments whose flow crashes."""
    monkeypatch.setattr("flows.runners.on_runner", lambda flow, options: CrashingFlow())
    Path("urls.csv").write_text("url,start,end\nhttp://example.com/a.mp4,0,3\n")
    return ["run", "--source", "urls.csv"]


def test_a_crashed_run_ends_in_one_line_naming_the_step_and_the_traceback_file(
        crashing_run: list[str], isolated_home: Path) -> None:
    """Regression: any exception but Cradle's own ended `cradle run` in a raw traceback."""
    result = invoke(*crashing_run)
    assert result.exit_code == 1 and result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith("error: cradle-nightly crashed in the sources stage: AttributeError: "
                           "'object' object has no attribute 'split_group'; traceback in "
                           "cradle-data/runs/")
    saved = Path(line.split("traceback in ")[1].removesuffix(" (or rerun with --verbose)"))
    assert saved.resolve().parent.parent == isolated_home / "runs"
    assert saved.name == "traceback.txt"
    text = saved.read_text()
    assert "in merge_segments" in text
    assert str(isolated_home) not in text and str(Path.home()) + "/" not in text


@pytest.mark.parametrize("where", ["before", "after"])
def test_verbose_before_or_after_the_command_shows_a_crash_in_full(
        where: str, crashing_run: list[str]) -> None:
    """Regression: `cradle run --verbose` was refused ("No such option")."""
    args = ["--verbose", *crashing_run] if where == "before" else [*crashing_run, "--verbose"]
    result = invoke(*args)
    assert result.exit_code == 1 and isinstance(result.exception, AttributeError)
    assert "error:" not in result.stderr

"""The run report's sums and advice: throughput counts only the clips a curation stage judged,
and the next steps fit what stopped (a rejection to review, a fault to retry) and the dataset
the run built."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

from flows.report import RunReport, build_report, render_markdown
from flows.session import Session
from manifests.ledger import Ledger
from manifests.outcomes import ReasonCode, StageResult, Status
from manifests.testing import dummy_clip
from stages.config import load_config
from stages.contract import RunContext
from stages.paths import DataRoot

NOW = datetime(2025, 1, 1, tzinfo=UTC)
A, B = dummy_clip(0), dummy_clip(1)  # 10 s each


def report_of(flow: str, attempts: dict[str, list[StageResult]],
              dataset: str | None = None) -> RunReport:
    """The report of a `flow` run that recorded `attempts` (stage: results) in a fresh ledger."""
    cfg = load_config()
    DataRoot(cfg.home).create()
    ledger = Ledger.open(cfg.ledger_url)
    ledger.add_clips([A, B])
    run_id = ledger.start_run(flow)
    for stage, results in attempts.items():
        ledger.record(stage, "1", "h", results, started_at=NOW, finished_at=NOW, run_id=run_id)
    summary = {stage: {s.value: sum(r.status is s for r in results) for s in Status}
               for stage, results in attempts.items()}
    try:
        return build_report(Session(RunContext(cfg, run_id), ledger, time.monotonic()), flow,
                            summary, dataset)
    finally:
        ledger.close()


def test_downloads_that_failed_again_are_no_throughput_and_ask_for_a_retry(
        isolated_home: Path) -> None:
    """Regression: after `retry-failed` met the network down again, the report counted both
    failed downloads as throughput ("2 clips ... 66.7 clips/min") and suggested review."""
    retried = [StageResult(c.id, Status.RETRY, ReasonCode.NETWORK_ERROR, {"seconds": 0.4})
               for c in (A, B)]
    report = report_of("retry-failed", {"download": retried}, dataset="demo")
    markdown = render_markdown(report)
    assert report.clips_curated == 0 and report.media_seconds == 0
    assert "clips/min" not in markdown and "Throughput: none" in markdown
    assert "cradle retry-failed --demo  (re-runs the clips left at a retry)" in report.next_steps
    assert not any("review" in step for step in report.next_steps)


def test_throughput_counts_the_clips_judged_and_rejections_are_sent_to_review(
        isolated_home: Path) -> None:
    report = report_of("nightly", {
        "download": [StageResult.ok(A.id), StageResult.ok(B.id)],
        "audio": [StageResult.ok(A.id), StageResult.rejected(B.id, ReasonCode.SILENT)],
        "faces": [StageResult.ok(A.id)]})
    assert (report.clips_curated, report.media_seconds) == (2, 20.0)
    assert "Throughput: 2 clips (20 s of media)" in render_markdown(report)
    assert any(step.startswith("cradle review serve") for step in report.next_steps)
    assert not any("retry-failed" in step for step in report.next_steps)
    assert "**silent** at audio (1 clip):" in render_markdown(report)  # not "(1 clips)"


def test_a_fault_at_a_curation_stage_is_neither_throughput_nor_for_review(
        isolated_home: Path) -> None:
    report = report_of("nightly", {
        "download": [StageResult.ok(A.id)],
        "audio": [StageResult(A.id, Status.RETRY, ReasonCode.MISSING_INPUT, {})]},
        dataset="infant")
    assert report.clips_curated == 0
    assert [s for s in report.next_steps if "retry" in s or "review" in s] == [
        "cradle retry-failed  (re-runs the clips left at a retry)"]  # the default dataset


def test_a_retry_on_another_dataset_names_it(isolated_home: Path) -> None:
    retried = [StageResult(A.id, Status.RETRY, ReasonCode.TIMEOUT, {})]
    report = report_of("retry-failed", {"download": retried}, dataset="toddlers")
    assert "cradle retry-failed --dataset toddlers  (re-runs the clips left at a retry)" in (
        report.next_steps)


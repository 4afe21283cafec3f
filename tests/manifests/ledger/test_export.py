"""Exported manifests load in pandas and DuckDB with the documented columns."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pandas as pd

from manifests.ledger import Decision, Ledger, Review
from manifests.ledger.export import (
    CLIPS_SCHEMA,
    REJECTIONS_SCHEMA,
    REVIEWS_SCHEMA,
    STAGE_RESULTS_SCHEMA,
    export_manifests,
)
from manifests.outcomes import ReasonCode, StageResult
from manifests.testing import dummy_clips, dummy_rejection

NOW = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)


def test_empty_ledger_exports_empty_tables_with_all_columns(tmp_path: Path) -> None:
    ledger = Ledger.open(f"sqlite:///{tmp_path / 'l.sqlite'}")
    written = export_manifests(ledger, tmp_path / "out")
    for name, schema in (("clips", CLIPS_SCHEMA), ("stage_results", STAGE_RESULTS_SCHEMA),
                         ("rejections", REJECTIONS_SCHEMA), ("reviews", REVIEWS_SCHEMA)):
        frame = pd.read_parquet(written[name])
        assert list(frame.columns) == schema.names and frame.empty


def test_run_export_holds_its_attempts_and_latest_rejections(tmp_path: Path) -> None:
    ledger = Ledger.open(f"sqlite:///{tmp_path / 'l.sqlite'}")
    a, b, c = dummy_clips(3)
    ledger.add_clips([a, b, c])
    first = ledger.start_run("nightly")
    ledger.record("audio", "1", "h", [dummy_rejection(a), StageResult.ok(b.id)], started_at=NOW,
                  run_id=first)
    second = ledger.start_run("nightly")
    ledger.record("audio", "1", "h", [StageResult.ok(a.id)], started_at=NOW, run_id=second)
    ledger.record("faces", "1", "h", [StageResult.rejected(b.id, ReasonCode.MOUTH_OCCLUDED,
                                                           {"occluded_ratio": 0.7})],
                  started_at=NOW, run_id=second)

    written = export_manifests(ledger, tmp_path / "run2", run_id=second)
    results = pd.read_parquet(written["stage_results"])
    assert sorted(results["clip_id"]) == sorted([a.id, b.id])
    clips = pd.read_parquet(written["clips"])
    assert sorted(clips["clip_id"]) == sorted([a.id, b.id])
    assert clips["duration_s"].tolist() == [10.0, 10.0]

    rejections = duckdb.sql(
        f"SELECT clip_id, stage, reason_code, reason, metrics_json "
        f"FROM '{written['rejections']}'").fetchall()
    assert len(rejections) == 1
    clip_id, stage, code, reason, metrics = rejections[0]
    assert (clip_id, stage, code) == (b.id, "faces", "mouth_occluded")
    assert "mouth" in reason and json.loads(metrics) == {"occluded_ratio": 0.7}

    everything = export_manifests(ledger, tmp_path / "all")
    assert duckdb.sql(f"SELECT count(*) FROM '{everything['stage_results']}'").fetchall() == [(4,)]
    # a's audio rejection was superseded by an ok attempt: it is no longer a rejection
    assert duckdb.sql(f"SELECT clip_id FROM '{everything['rejections']}'").fetchall() == [(b.id,)]
    ledger.close()


def test_exports_show_review_outcomes_without_annotator_names(tmp_path: Path) -> None:
    ledger = Ledger.open(f"sqlite:///{tmp_path / 'l.sqlite'}")
    a, b = dummy_clips(2)
    ledger.add_clips([a, b])
    ledger.record("faces", "2", "h", [dummy_rejection(a), dummy_rejection(b)], started_at=NOW)
    ledger.add_review(Review(a.id, "faces", Decision.OVERRIDE, "ann-secret-name", 1,
                             ReasonCode.MOUTH_OCCLUDED, "the hand is beside the mouth"))

    written = export_manifests(ledger, tmp_path / "all")
    rejections = duckdb.sql(f"SELECT clip_id, review FROM '{written['rejections']}' "
                            "ORDER BY clip_id").fetchall()
    assert rejections == [(a.id, "override"), (b.id, None)]
    reviews = pd.read_parquet(written["reviews"])
    assert reviews[["clip_id", "attempt", "decision"]].values.tolist() == [[a.id, 1, "override"]]
    assert not any("ann-secret-name" in path.read_bytes().decode("latin-1")
                   for path in written.values())
    ledger.close()


def test_exported_seconds_are_each_clips_own_not_its_batchs(tmp_path: Path) -> None:
    """Regression: every clip of a batch was exported with the batch's wall time."""
    ledger = Ledger.open(f"sqlite:///{tmp_path / 'l.sqlite'}")
    a, b = dummy_clips(2)
    ledger.add_clips([a, b])
    ledger.record("faces", "1", "h", [StageResult.ok(a.id, metrics={"seconds": 1.5}),
                                      StageResult.ok(b.id, metrics={"seconds": 4.0})],
                  started_at=NOW, finished_at=NOW + timedelta(seconds=30))
    ledger.record("sources", "1", "h", [StageResult.ok(a.id)], started_at=NOW,
                  finished_at=NOW + timedelta(seconds=2))
    results = pd.read_parquet(export_manifests(ledger, tmp_path / "out")["stage_results"])
    assert dict(zip(results["clip_id"] + "/" + results["stage"], results["seconds"],
                    strict=True)) == {f"{a.id}/faces": 1.5, f"{b.id}/faces": 4.0,
                                      f"{a.id}/sources": 2.0}

"""Parquet manifests of a run (or the whole ledger) for pandas and DuckDB.

Four files with fixed schemas, so an empty run still loads with the documented columns:
`clips.parquet`, `stage_results.parquet` (every attempt), `rejections.parquet` (each clip's
latest non-ok attempt per stage, with the newest review decision on it) and `reviews.parquet`
(every decision on the exported clips; annotators' names stay in the ledger).
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import func, select

from manifests.files import atomic_path
from manifests.ledger import Ledger
from manifests.ledger.tables import ClipRow, ReviewRow, StageResultRow
from manifests.outcomes import ReasonCode, Status

_TIME = pa.timestamp("us", tz="UTC")

CLIPS_SCHEMA = pa.schema([
    ("clip_id", pa.string()),
    ("url", pa.string()),
    ("start_s", pa.float64()),
    ("end_s", pa.float64()),
    ("duration_s", pa.float64()),
    ("labels", pa.list_(pa.string())),
    ("split_group", pa.string()),
    ("source", pa.string()),
])

STAGE_RESULTS_SCHEMA = pa.schema([
    ("clip_id", pa.string()),
    ("stage", pa.string()),
    ("stage_version", pa.string()),
    ("config_hash", pa.string()),
    ("attempt", pa.int32()),
    ("status", pa.string()),
    ("reason_code", pa.string()),
    ("metrics_json", pa.string()),
    ("outputs_json", pa.string()),
    ("started_at", _TIME),
    ("finished_at", _TIME),
    ("seconds", pa.float64()),
    ("worker", pa.string()),
    ("run_id", pa.string()),
])

REJECTIONS_SCHEMA = pa.schema([
    ("clip_id", pa.string()),
    ("stage", pa.string()),
    ("attempt", pa.int32()),
    ("status", pa.string()),
    ("reason_code", pa.string()),
    ("reason", pa.string()),
    ("metrics_json", pa.string()),
    ("finished_at", _TIME),
    ("run_id", pa.string()),
    ("review", pa.string()),
])

REVIEWS_SCHEMA = pa.schema([
    ("clip_id", pa.string()),
    ("stage", pa.string()),
    ("attempt", pa.int32()),
    ("decision", pa.string()),
    ("reason_code", pa.string()),
    ("note", pa.string()),
    ("created_at", _TIME),
])


def export_manifests(ledger: Ledger, out_dir: Path, run_id: str | None = None) -> dict[str, Path]:
    """Writes the four manifests for `run_id` (every run when None) into `out_dir`.

    Returns:
        The written files by name ("clips", "stage_results", "rejections", "reviews").
    """
    with ledger.session() as session:
        attempts = select(StageResultRow).order_by(
            StageResultRow.clip_id, StageResultRow.stage, StageResultRow.attempt
        )
        if run_id is not None:
            attempts = attempts.where(StageResultRow.run_id == run_id)
        result_rows = list(session.scalars(attempts))
        clip_query = select(ClipRow).order_by(ClipRow.id)
        if run_id is not None:
            clip_query = clip_query.where(ClipRow.id.in_({row.clip_id for row in result_rows}))
        clip_rows = list(session.scalars(clip_query))
        review_query = select(ReviewRow).order_by(ReviewRow.id)
        if run_id is not None:
            review_query = review_query.where(ReviewRow.clip_id.in_({r.id for r in clip_rows}))
        review_rows = list(session.scalars(review_query))
        newest = dict(
            ((clip_id, stage), attempt)
            for clip_id, stage, attempt in session.execute(
                select(StageResultRow.clip_id, StageResultRow.stage,
                       func.max(StageResultRow.attempt))
                .group_by(StageResultRow.clip_id, StageResultRow.stage)
            )
        )

    clips = pa.Table.from_pylist(
        [
            {"clip_id": r.id, "url": r.url, "start_s": r.start_s, "end_s": r.end_s,
             "duration_s": r.end_s - r.start_s, "labels": list(r.labels or []),
             "split_group": r.split_group, "source": r.source}
            for r in clip_rows
        ],
        schema=CLIPS_SCHEMA,
    )
    results = pa.Table.from_pylist(
        [
            {"clip_id": r.clip_id, "stage": r.stage, "stage_version": r.stage_version,
             "config_hash": r.config_hash, "attempt": r.attempt, "status": r.status,
             "reason_code": r.reason_code, "metrics_json": json.dumps(r.metrics, sort_keys=True),
             "outputs_json": json.dumps(r.outputs, sort_keys=True),
             "started_at": r.started_at, "finished_at": r.finished_at,
             "seconds": _clip_seconds(r),
             "worker": r.worker, "run_id": r.run_id}
            for r in result_rows
        ],
        schema=STAGE_RESULTS_SCHEMA,
    )
    answered = {(r.clip_id, r.stage, r.attempt): r.decision for r in review_rows}
    rejections = pa.Table.from_pylist(
        [
            {"clip_id": r.clip_id, "stage": r.stage, "attempt": r.attempt, "status": r.status,
             "reason_code": r.reason_code,
             "reason": ReasonCode(r.reason_code).description if r.reason_code else None,
             "metrics_json": json.dumps(r.metrics, sort_keys=True),
             "finished_at": r.finished_at, "run_id": r.run_id,
             "review": answered.get((r.clip_id, r.stage, r.attempt))}
            for r in result_rows
            if r.status != Status.OK.value and newest[(r.clip_id, r.stage)] == r.attempt
        ],
        schema=REJECTIONS_SCHEMA,
    )
    reviews = pa.Table.from_pylist(
        [
            {"clip_id": r.clip_id, "stage": r.stage, "attempt": r.attempt,
             "decision": r.decision, "reason_code": r.reason_code, "note": r.note,
             "created_at": r.created_at}
            for r in review_rows
        ],
        schema=REVIEWS_SCHEMA,
    )
    written = {}
    tables = (("clips", clips), ("stage_results", results), ("rejections", rejections),
              ("reviews", reviews))
    for name, table in tables:
        destination = Path(out_dir) / f"{name}.parquet"
        with atomic_path(destination) as tmp:
            pq.write_table(table, tmp)
        written[name] = destination
    return written


def _clip_seconds(row: StageResultRow) -> float:
    """The clip's own time when its stage measured it, else its batch's wall time."""
    measured = (row.metrics or {}).get("seconds")
    if isinstance(measured, int | float):
        return float(measured)
    return (row.finished_at - row.started_at).total_seconds()

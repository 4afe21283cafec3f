"""The ledger keeps every attempt, numbers them without gaps or duplicates, and resumes."""

from __future__ import annotations

import multiprocessing
import sqlite3
from datetime import UTC, datetime

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from manifests.errors import LedgerError, TransientLedgerError
from manifests.ledger import Decision, Ledger, Review
from manifests.ledger.tables import Base
from manifests.outcomes import ReasonCode, StageResult, Status
from manifests.testing import dummy_clip, dummy_clips, dummy_rejection

NOW = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)


@pytest.fixture
def ledger(ledger_url: str):
    ledger = Ledger.open(ledger_url)
    yield ledger
    ledger.close()


def test_migrated_schema_matches_the_tables_the_code_uses(ledger: Ledger) -> None:
    with ledger.engine.connect() as connection:
        drift = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert drift == []


def test_opening_again_keeps_data(ledger: Ledger) -> None:
    ledger.add_clips(dummy_clips(3))
    again = Ledger.open(ledger.url)
    assert [c.id for c in again.clips()] == sorted(c.id for c in dummy_clips(3))
    again.close()


def test_clips_are_registered_once(ledger: Ledger) -> None:
    assert len(ledger.add_clips(dummy_clips(5))) == 5
    assert ledger.add_clips(dummy_clips(7)) == sorted(c.id for c in dummy_clips(7)[5:])
    assert ledger.clip_count() == 7
    assert ledger.clips([dummy_clip(3).id]) == [dummy_clip(3)]


def test_attempts_are_numbered_per_clip_and_stage(ledger: Ledger) -> None:
    a, b = dummy_clips(2)
    ledger.add_clips([a, b])
    assert ledger.record("audio", "1", "h1", [StageResult.ok(a.id), dummy_rejection(b)],
                         started_at=NOW) == [1, 1]
    assert ledger.record("audio", "1", "h1", [StageResult.ok(b.id)], started_at=NOW) == [2]
    assert ledger.record("faces", "1", "h1", [StageResult.ok(b.id)], started_at=NOW) == [1]
    history = ledger.attempts(b.id, "audio")
    assert [(x.attempt, x.status, x.reason) for x in history] == [
        (1, Status.REJECTED, ReasonCode.SILENT),
        (2, Status.OK, None),
    ]
    assert history[0].metrics == {"rms_dbfs": -80.0}


def test_a_batch_naming_an_unknown_clip_records_nothing(ledger: Ledger) -> None:
    known = dummy_clip(0)
    ledger.add_clips([known])
    with pytest.raises(LedgerError, match="not in the ledger"):
        ledger.record("audio", "1", "h", [StageResult.ok(known.id), StageResult.ok("yt-nope-0-1")],
                      started_at=NOW)
    assert ledger.attempts(known.id) == []


def test_a_lock_that_outlasts_every_try_is_a_transient_error(
        ledger: Ledger, monkeypatch: pytest.MonkeyPatch) -> None:
    """Regression: a lock timeout was a plain LedgerError, so the batch task never retried it."""
    from manifests.ledger import store

    monkeypatch.setattr(store, "_WRITE_TRIES", 2)
    monkeypatch.setattr(store.time, "sleep", lambda seconds: None)

    def locked(session: object) -> None:
        raise OperationalError("INSERT", {}, sqlite3.OperationalError("database is locked"))

    with pytest.raises(TransientLedgerError, match="database is locked"):
        ledger._write(locked)


def test_a_write_that_is_wrong_is_not_transient(ledger: Ledger) -> None:
    with pytest.raises(LedgerError) as caught:
        ledger.record("audio", "1", "h", [StageResult.ok("nobody")], started_at=NOW)
    assert not isinstance(caught.value, TransientLedgerError)


def test_status_counts_follow_the_latest_attempt_and_count_pending(ledger: Ledger) -> None:
    clips = dummy_clips(4)
    ledger.add_clips(clips)
    ledger.record("audio", "1", "h", [dummy_rejection(clips[0]), StageResult.ok(clips[1].id)],
                  started_at=NOW)
    ledger.record("audio", "1", "h", [StageResult.ok(clips[0].id)], started_at=NOW)
    counts = {(c.stage, c.status, c.reason): c.clips for c in ledger.status_counts()}
    # Nothing downloaded: no clip is known to be waiting for audio; four for the download, and
    # the two audio accepted for faces.
    assert counts == {("audio", "ok", None): 2, ("download", "pending", None): 4,
                      ("faces", "pending", None): 2}


def test_pending_counts_only_clips_still_eligible_for_the_stage(ledger: Ledger) -> None:
    """Regression: clips that failed their download showed as pending for audio, faces and
    fitting, which will never run them; a reviewer's override makes a rejected clip eligible."""
    clips = dummy_clips(5)
    ledger.add_clips(clips)
    ledger.record("sources", "1", "h", [StageResult.ok(c.id) for c in clips], started_at=NOW)
    ledger.record("download", "1", "h", [
        *(StageResult.ok(c.id) for c in clips[:3]),
        StageResult(clips[3].id, Status.FAILED, ReasonCode.VIDEO_PRIVATE)], started_at=NOW)
    ledger.record("audio", "1", "h", [StageResult.ok(clips[0].id), dummy_rejection(clips[1])],
                  started_at=NOW)
    pending = {c.stage: c.clips for c in ledger.status_counts() if c.status == "pending"}
    assert pending == {"download": 1, "audio": 1, "faces": 1}
    ledger.add_review(Review(clips[1].id, "audio", Decision.OVERRIDE, "ann1", 1,
                             dummy_rejection(clips[1]).reason, "that is the infant"))
    pending = {c.stage: c.clips for c in ledger.status_counts() if c.status == "pending"}
    assert pending == {"download": 1, "audio": 1, "faces": 2}


def test_reviews_are_append_only(ledger: Ledger) -> None:
    clip = dummy_clip()
    ledger.add_clips([clip])
    ledger.add_review(Review(clip.id, "faces", Decision.OVERRIDE, "ann1", 1,
                             ReasonCode.MOUTH_OCCLUDED, "the pacifier is out of the mouth"))
    assert [r.decision for r in ledger.reviews(clip.id)] == ["override"]
    for statement in ("UPDATE reviews SET note = 'edited'", "DELETE FROM reviews"):
        with pytest.raises(Exception, match="append-only"), ledger.engine.begin() as conn:
            conn.execute(text(statement))
    assert ledger.reviews(clip.id)[0].note == "the pacifier is out of the mouth"


def test_runs_are_opened_and_closed(ledger: Ledger) -> None:
    first = ledger.start_run("nightly", {"demo": True})
    second = ledger.start_run("nightly")
    ledger.finish_run(first)
    assert ledger.latest_run_id() == second
    with ledger.session() as session:
        states = dict(session.execute(text("SELECT id, status FROM runs")).all())
    assert states == {first: "completed", second: "running"}


def test_shards_record_their_members(ledger: Ledger) -> None:
    clips = dummy_clips(2)
    ledger.add_clips(clips)
    ledger.add_shard("infant", "v1", "shard-000000.tar", "0" * 64, 1024,
                     [(f"{c.id}/0", c.id) for c in clips])
    with ledger.session() as session:
        assert session.execute(text("SELECT count(*) FROM shard_members")).scalar() == 2


WRITERS = 4
RESULTS_PER_WRITER = 500
SHARED_CLIPS = 25


def _write_results(url: str, writer: int) -> None:
    ledger = Ledger.open(url, migrate=False)
    clips = dummy_clips(SHARED_CLIPS)
    for i in range(RESULTS_PER_WRITER):
        clip = clips[(i + writer) % SHARED_CLIPS]
        result = StageResult.ok(clip.id, metrics={"writer": writer, "i": i})
        ledger.record("download", "1", "h", [result], started_at=NOW, worker=f"w{writer}")
    ledger.close()


@pytest.mark.slow
def test_concurrent_writers_lose_nothing_and_never_duplicate_an_attempt(ledger: Ledger) -> None:
    ledger.add_clips(dummy_clips(SHARED_CLIPS))
    context = multiprocessing.get_context("spawn")
    writers = [context.Process(target=_write_results, args=(ledger.url, w)) for w in range(WRITERS)]
    for process in writers:
        process.start()
    for process in writers:
        process.join(timeout=600)
        assert process.exitcode == 0

    rows = [a for clip in dummy_clips(SHARED_CLIPS) for a in ledger.attempts(clip.id, "download")]
    assert len(rows) == WRITERS * RESULTS_PER_WRITER
    written = {(a.metrics["writer"], a.metrics["i"]) for a in rows}
    assert len(written) == WRITERS * RESULTS_PER_WRITER
    for clip in dummy_clips(SHARED_CLIPS):
        numbers = [a.attempt for a in ledger.attempts(clip.id, "download")]
        assert numbers == list(range(1, len(numbers) + 1))

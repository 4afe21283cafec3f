"""The queue's rules on a small ledger: which verdict a clip is reviewed on, paging, counting."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from manifests.ledger import Decision, Ledger, Review, ReviewReason
from manifests.outcomes import ReasonCode, StageResult, Status
from manifests.testing import dummy_clips, dummy_rejection
from review.queue import QueueFilters, neighbour, page_of, verdict_of, verdicts

NOW = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)


@pytest.fixture
def ledger(tmp_path):
    ledger = Ledger.open(f"sqlite:///{tmp_path / 'ledger.sqlite'}")
    yield ledger
    ledger.close()


def record(ledger: Ledger, stage: str, *results: StageResult) -> None:
    ledger.record(stage, "1", "h", list(results), started_at=NOW)


def test_a_clip_is_reviewed_at_the_first_stage_that_rejected_it(ledger: Ledger) -> None:
    audio_no, faces_no, accepted, broken = clips = dummy_clips(4)
    ledger.add_clips(clips)
    record(ledger, "download", *(StageResult.ok(c.id) for c in clips[:3]),
           StageResult(broken.id, Status.FAILED, ReasonCode.CORRUPT_MEDIA))
    record(ledger, "audio", dummy_rejection(audio_no), StageResult.ok(faces_no.id),
           StageResult.ok(accepted.id))
    record(ledger, "faces", dummy_rejection(faces_no, ReasonCode.FACE_TURNED),
           StageResult.ok(accepted.id))
    record(ledger, "fitting", StageResult.ok(accepted.id))

    found = {v.clip.id: (v.stage, v.status) for v in verdicts(ledger, 0.0, 0)}
    # A fault is no verdict, and an accepted clip joins only as a spot check.
    assert found == {audio_no.id: ("audio", "rejected"), faces_no.id: ("faces", "rejected")}
    spot = {v.clip.id: (v.stage, v.status) for v in verdicts(ledger, 1.0, 0)}
    assert spot[accepted.id] == ("fitting", "accepted") and broken.id not in spot


def test_an_override_carried_on_by_the_next_run_leaves_the_queue(ledger: Ledger) -> None:
    (clip,) = dummy_clips(1)
    ledger.add_clips([clip])
    record(ledger, "download", StageResult.ok(clip.id))
    record(ledger, "audio", dummy_rejection(clip))
    ledger.decide(Review(clip.id, "audio", Decision.OVERRIDE, "ann", 1,
                         ReviewReason.MEASUREMENT_WRONG, "a cry"), 0)
    (waiting,) = verdicts(ledger, 0.0, 0)
    assert waiting.decision is Decision.OVERRIDE and waiting.version == "1.1"
    record(ledger, "faces", StageResult.ok(clip.id))
    assert verdicts(ledger, 0.0, 0) == []
    # Its page still opens, on its latest judged verdict, with the history.
    page = verdict_of(ledger, clip.id, 0.0, 0)
    assert page is not None and (page.stage, page.reviews) == ("faces", 1)


def test_pages_counts_and_stepping_follow_the_filters(ledger: Ledger) -> None:
    clips = dummy_clips(7)
    ledger.add_clips(clips)
    record(ledger, "download", *(StageResult.ok(c.id) for c in clips))
    reasons = [ReasonCode.SILENT] * 4 + [ReasonCode.MUSIC] * 3
    record(ledger, "audio", *(dummy_rejection(c, r) for c, r in zip(clips, reasons, strict=True)))
    items = verdicts(ledger, 0.0, 0)

    first = page_of(items, QueueFilters(), 1, 3)
    assert (first.total, first.pages, len(first.items)) == (7, 3, 3)
    assert first.reason_counts == [("silent", 4), ("music", 3)]
    last = page_of(items, QueueFilters(), 99, 3)
    assert last.page == 3 and len(last.items) == 1
    music = page_of(items, QueueFilters(reason=ReasonCode.MUSIC), 1, 10)
    assert [v.clip.id for v in music.items] == [c.id for c in clips[4:]]
    assert music.reason_counts == first.reason_counts  # counts ignore the reason filter

    ids = [c.id for c in clips]
    assert neighbour(items, QueueFilters(), ids[0], 1) == ids[1]
    assert neighbour(items, QueueFilters(reason=ReasonCode.MUSIC), ids[4], -1) is None
    assert neighbour(items, QueueFilters(), ids[-1], 1) is None

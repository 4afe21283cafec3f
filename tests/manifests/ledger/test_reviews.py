"""Review decisions: optimistic locking, and what an override or a requeue does to resume."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text

from manifests.ledger import Decision, Ledger, Review, StaleVerdict
from manifests.outcomes import ReasonCode, StageResult
from manifests.testing import dummy_clips, dummy_rejection
from stages.contract import StageSpec, is_settled

NOW = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)
FACES = StageSpec("faces", "2", lambda clips, cfg, root: [], section="faces")


@pytest.fixture
def ledger(ledger_url: str):
    ledger = Ledger.open(ledger_url)
    yield ledger
    ledger.close()


def test_second_decision_on_a_clip_seen_before_the_first_is_refused(ledger: Ledger) -> None:
    (clip,) = dummy_clips(1)
    ledger.add_clips([clip])
    ledger.record("faces", "2", "h", [dummy_rejection(clip, ReasonCode.MOUTH_OCCLUDED)],
                  started_at=NOW)
    # Both annotators loaded the page while the clip had attempt 1 and no review.
    ledger.decide(Review(clip.id, "faces", Decision.OVERRIDE, "ann1", 1,
                         ReasonCode.MOUTH_OCCLUDED, "the hand is beside the mouth"), 0)
    with pytest.raises(StaleVerdict, match=r"ann1 decided 'override'.*not recorded"):
        ledger.decide(Review(clip.id, "faces", Decision.CONFIRM, "ann2", 1), 0)
    assert [(r.annotator, r.decision) for r in ledger.reviews(clip.id)] == [
        ("ann1", Decision.OVERRIDE)]
    # Having seen the first decision, the second annotator may answer it.
    ledger.decide(Review(clip.id, "faces", Decision.CONFIRM, "ann2", 1), 1)
    assert [r.annotator for r in ledger.reviews(clip.id)] == ["ann1", "ann2"]


def test_decision_on_a_verdict_the_stage_has_replaced_is_refused(ledger: Ledger) -> None:
    (clip,) = dummy_clips(1)
    ledger.add_clips([clip])
    for _ in range(2):
        ledger.record("faces", "2", "h", [dummy_rejection(clip)], started_at=NOW)
    with pytest.raises(StaleVerdict, match="attempt 1 shown, 2 now"):
        ledger.decide(Review(clip.id, "faces", Decision.OVERRIDE, "ann1", 1), 0)
    assert ledger.reviews(clip.id) == []


def test_override_passes_a_rejection_and_drops_an_acceptance(ledger: Ledger) -> None:
    rejected, accepted, untouched = dummy_clips(3)
    ledger.add_clips([rejected, accepted, untouched])
    ids = [rejected.id, accepted.id, untouched.id]
    ledger.record("faces", "2", "h", [dummy_rejection(rejected), StageResult.ok(accepted.id),
                                      StageResult.ok(untouched.id)], started_at=NOW)
    assert ledger.passed("faces", ids) == [accepted.id, untouched.id]
    for clip in (rejected, accepted):
        ledger.decide(Review(clip.id, "faces", Decision.OVERRIDE, "ann1", 1), 0)
    assert ledger.passed("faces", ids) == [rejected.id, untouched.id]
    assert ledger.latest("faces")[rejected.id].review is Decision.OVERRIDE


def test_requeue_reruns_the_stage_and_a_confirmation_settles_it(ledger: Ledger) -> None:
    requeued, confirmed = dummy_clips(2)
    ledger.add_clips([requeued, confirmed])
    ledger.record("faces", "2", "h", [dummy_rejection(requeued), dummy_rejection(confirmed)],
                  started_at=NOW)
    ledger.decide(Review(requeued.id, "faces", Decision.REQUEUE, "ann1", 1, note="re-run"), 0)
    ledger.decide(Review(confirmed.id, "faces", Decision.CONFIRM, "ann1", 1), 0)
    latest = ledger.latest("faces")
    assert not is_settled(latest[requeued.id], FACES, "h", Path())
    assert is_settled(latest[confirmed.id], FACES, "h", Path())
    assert ledger.passed("faces", [requeued.id, confirmed.id]) == []
    # The re-run's new attempt is what counts from then on: the requeue answered attempt 1.
    ledger.record("faces", "2", "h", [dummy_rejection(requeued)], started_at=NOW)
    assert is_settled(ledger.latest("faces")[requeued.id], FACES, "h", Path())


def test_audit_log_is_append_only(ledger: Ledger) -> None:
    ledger.audit("admin1", "user_added", "ann1", {"role": "annotator"})
    for statement in ("UPDATE review_audit SET actor = 'x'", "DELETE FROM review_audit"):
        with pytest.raises(Exception, match="append-only"), ledger.engine.begin() as conn:
            conn.execute(text(statement))
    assert [e.action for e in ledger.audit_log()] == ["user_added"]

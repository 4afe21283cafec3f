"""Decisions over HTTP: recorded with who, when and what they answer; concurrent ones refused
cleanly; the queue filtered, counted and stepped through."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from manifests.ledger import Decision, Ledger
from review.queue import spot_checked, verdicts
from tests.review.conftest import HAND, MUSIC, form_fields, sign_in

pytestmark = pytest.mark.slow  # the curated demo data root is built once per session (~1 min)


def queue_clips(html: str) -> list[str]:
    return re.findall(r'<tr data-clip="([^"]+)"', html)


def test_queue_lists_rejections_filters_by_reason_and_counts_them(alice: TestClient,
                                                                   ledger: Ledger) -> None:
    everything = alice.get("/queue?show=all")
    assert HAND in queue_clips(everything.text) and MUSIC in queue_clips(everything.text)
    counts = dict(re.findall(r'data-reason="([^"]+)">[^<]*<b>(\d+)</b>', everything.text))
    rejected = [v for v in verdicts(ledger, 0.0, 0) if v.status == "rejected"]
    assert sum(map(int, counts.values())) == len(rejected) >= 8
    hands = alice.get("/queue?show=all&reason=mouth_occluded")
    assert HAND in queue_clips(hands.text) and MUSIC not in queue_clips(hands.text)
    assert all(v.reason.value == "mouth_occluded" for v in rejected
               if v.clip.id in queue_clips(hands.text))
    audio = queue_clips(alice.get("/queue?show=all&stage=audio").text)
    assert MUSIC in audio and HAND not in audio
    assert queue_clips(alice.get("/queue?show=all&since=2999-01-01").text) == []
    assert "Baby cry, infant cry" in everything.text  # labels by name where the ontology knows


def test_spot_checks_are_a_stable_seeded_sample_of_accepted_clips(ledger: Ledger) -> None:
    everyone = [v for v in verdicts(ledger, 1.0, 0) if v.status == "accepted"]
    assert everyone, "the demo has accepted clips"
    half = {v.clip.id for v in verdicts(ledger, 0.5, 7) if v.status == "accepted"}
    assert half == {v.clip.id for v in everyone if spot_checked(v.clip.id, 0.5, 7)}
    assert half == {v.clip.id for v in verdicts(ledger, 0.5, 7) if v.status == "accepted"}
    assert not [v for v in verdicts(ledger, 0.0, 0) if v.status == "accepted"]


def test_next_clip_is_one_request_away(alice: TestClient) -> None:
    order = queue_clips(alice.get("/queue").text)
    step = alice.get(f"/queue/step?after={order[0]}", follow_redirects=False)
    assert step.headers["location"] == f"/clips/{order[1]}"
    last = alice.get(f"/queue/step?after={order[-1]}", follow_redirects=False)
    assert last.headers["location"].startswith("/queue?end=1")


def test_an_override_needs_a_reason_and_a_note(alice: TestClient, ledger: Ledger) -> None:
    page = alice.get(f"/clips/{HAND}")
    fields = form_fields(page.text, "form-override")
    refused = alice.post(f"/clips/{HAND}/decisions", data={**fields, "reason": "",
                                                           "note": "fine"})
    assert refused.status_code == 422 and "needs a reason" in refused.text
    refused = alice.post(f"/clips/{HAND}/decisions", data={**fields,
                                                           "reason": "usable_anyway"})
    assert refused.status_code == 422 and "needs a note" in refused.text
    assert ledger.reviews(HAND) == []


def test_second_annotator_on_the_same_clip_is_refused_and_nothing_is_lost(
        app, ledger: Ledger) -> None:
    alice = sign_in(TestClient(app, headers={"accept": "text/html"}), "alice")
    bob = sign_in(TestClient(app, headers={"accept": "text/html"}), "bob")
    seen_by_alice = form_fields(alice.get(f"/clips/{MUSIC}").text, "form-override")
    seen_by_bob = form_fields(bob.get(f"/clips/{MUSIC}").text, "form-confirm")

    first = alice.post(f"/clips/{MUSIC}/decisions", follow_redirects=False, data={
        **seen_by_alice, "reason": "measurement_wrong", "note": "a lullaby hummed, no music"})
    assert first.status_code == 303
    second = bob.post(f"/clips/{MUSIC}/decisions", data=seen_by_bob)
    assert second.status_code == 409
    assert "alice decided &#39;override&#39;" in second.text
    assert "Your decision was not recorded" in second.text
    # Both decisions' records are intact: alice's in the ledger, bob's refusal in the audit.
    (review,) = ledger.reviews(MUSIC)
    assert (review.annotator, review.decision, review.stage, review.attempt) == (
        "alice", Decision.OVERRIDE, "audio", 1)
    assert review.note == "a lullaby hummed, no music"
    refused = [e for e in ledger.audit_log(50) if e.action == "decision_refused"]
    assert refused and refused[0].actor == "bob" and refused[0].target == MUSIC
    # The refusal page shows the decision bob missed, and its fresh form can answer it.
    assert "a lullaby hummed, no music" in second.text
    again = bob.post(f"/clips/{MUSIC}/decisions", follow_redirects=False,
                     data=form_fields(second.text, "form-confirm"))
    assert again.status_code == 303
    assert [r.annotator for r in ledger.reviews(MUSIC)] == ["alice", "bob"]


def test_decision_shows_in_the_clip_history(alice: TestClient, ledger: Ledger) -> None:
    fields = form_fields(alice.get(f"/clips/{HAND}").text, "form-requeue")
    done = alice.post(f"/clips/{HAND}/decisions", data={**fields, "note": "look at 2 s"})
    assert done.status_code == 200 and "Decision recorded" in done.text
    history = re.search(r'<ol id="history">(.*?)</ol>', done.text, re.S).group(1)
    assert "alice" in history and "sent the clip back for a re-run" in history
    assert "look at 2 s" in history and "faces attempt 1" in history

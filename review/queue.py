"""The review queue: each clip's verdict under review, filtered, counted and paged.

A clip's verdict under review is the first stage, in pipeline order, whose latest attempt
rejected it (an overridden rejection stays there until the next run carries the clip on). Clips
that passed every stage join the queue as spot checks when the seeded hash of their id falls in
`spot_check_fraction`: the same clips for every annotator and after every restart.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from manifests.ledger import Attempt, Decision, Ledger
from manifests.outcomes import ReasonCode, Status
from manifests.records import Clip

# The stages that give verdicts on a clip, in pipeline order.
VERDICT_STAGES: tuple[str, ...] = ("download", "audio", "faces", "fitting")
SPOT_CHECK = "accepted"  # a queue item's status when it is a spot check of an accepted clip


@dataclass(frozen=True)
class Verdict:
    """The verdict an annotator answers: stage, attempt, and what the page showed of it."""

    clip: Clip
    attempt: Attempt
    reviews: int  # decisions on the clip so far (the optimistic-lock counter)

    @property
    def stage(self) -> str:
        return self.attempt.stage

    @property
    def status(self) -> str:
        return "rejected" if self.attempt.status is Status.REJECTED else SPOT_CHECK

    @property
    def reason(self) -> ReasonCode | None:
        return self.attempt.reason

    @property
    def decision(self) -> Decision | None:
        """The newest decision on this very attempt, if any."""
        return self.attempt.review

    @property
    def day(self) -> date:
        return self.attempt.finished_at.date()

    @property
    def version(self) -> str:
        """What a decision form carries back: the attempt and the review count it was shown."""
        return f"{self.attempt.attempt}.{self.reviews}"


@dataclass(frozen=True)
class QueueFilters:
    stage: str | None = None
    reason: ReasonCode | None = None
    label: str | None = None
    since: date | None = None
    until: date | None = None
    show: str = "unreviewed"  # unreviewed | reviewed | all

    def matches(self, item: Verdict, *, ignore_reason: bool = False) -> bool:
        reviewed = item.decision is not None
        return ((self.stage is None or item.stage == self.stage)
                and (ignore_reason or self.reason is None or item.reason is self.reason)
                and (self.label is None or self.label in item.clip.labels)
                and (self.since is None or item.day >= self.since)
                and (self.until is None or item.day <= self.until)
                and (self.show == "all" or reviewed == (self.show == "reviewed")))


@dataclass(frozen=True)
class QueuePage:
    items: list[Verdict]
    total: int
    page: int
    pages: int
    reason_counts: list[tuple[str, int]]  # reason (or "spot check") -> clips, most first


def spot_checked(clip_id: str, fraction: float, seed: int) -> bool:
    digest = hashlib.sha256(f"{seed}:{clip_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < fraction


def verdicts(ledger: Ledger, spot_check_fraction: float, seed: int,
             clip_ids: Sequence[str] | None = None, *, any_judged: bool = False
             ) -> list[Verdict]:
    """Every clip's verdict under review (or the named clips'), in clip-id order.

    With `any_judged`, a clip with no verdict under review (accepted and not sampled, or
    carried on by an override) gets its latest judged verdict instead, so its page and history
    stay reachable.
    """
    latest = {stage: ledger.latest(stage, clip_ids) for stage in VERDICT_STAGES}
    counts = Counter(review.clip_id for review in ledger.all_reviews(clip_ids))
    found = []
    for clip in ledger.clips(clip_ids):
        stages = [latest[stage].get(clip.id) for stage in VERDICT_STAGES]
        attempt = _under_review(clip.id, stages, spot_check_fraction, seed)
        if attempt is None and any_judged:
            attempt = next((a for a in reversed(_judged(stages))), None)
        if attempt is not None:
            found.append(Verdict(clip, attempt, counts[clip.id]))
    return found


def verdict_of(ledger: Ledger, clip_id: str, spot_check_fraction: float,
               seed: int) -> Verdict | None:
    """The verdict a clip's page shows: the one under review, else its latest judged one."""
    found = verdicts(ledger, spot_check_fraction, seed, [clip_id], any_judged=True)
    return found[0] if found else None


def _judged(stages: Sequence[Attempt | None]) -> list[Attempt]:
    """The stages' attempts up to the first that has not judged the clip (none yet, or a fault)."""
    judged = []
    for attempt in stages:
        if attempt is None or attempt.status in (Status.RETRY, Status.FAILED):
            break
        judged.append(attempt)
    return judged


def _under_review(clip_id: str, stages: Sequence[Attempt | None], fraction: float,
                  seed: int) -> Attempt | None:
    judged = _judged(stages)
    for index, attempt in enumerate(judged):
        if attempt.status is Status.REJECTED:
            carried_on = attempt.passed and index + 1 < len(judged)
            if not carried_on:
                return attempt
    if len(judged) == len(stages) and spot_checked(clip_id, fraction, seed):
        return judged[-1]
    return None


def page_of(items: Sequence[Verdict], filters: QueueFilters, page: int,
            page_size: int) -> QueuePage:
    """One page of the filtered queue, with counts per reason under the other filters."""
    chosen = [item for item in items if filters.matches(item)]
    counts = Counter(item.reason.value if item.reason else "spot check" for item in items
                     if filters.matches(item, ignore_reason=True))
    pages = max(1, -(-len(chosen) // page_size))
    page = min(max(1, page), pages)
    return QueuePage(chosen[(page - 1) * page_size:page * page_size], len(chosen), page, pages,
                     sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def neighbour(items: Sequence[Verdict], filters: QueueFilters, clip_id: str,
              step: int) -> str | None:
    """The clip after (`step` 1) or before (-1) `clip_id` among the filtered queue; with
    `show="unreviewed"` that is the next clip still to decide."""
    chosen = [item.clip.id for item in items if filters.matches(item) or item.clip.id == clip_id]
    if clip_id not in chosen:
        return chosen[0] if chosen and step > 0 else None
    index = chosen.index(clip_id) + step
    return chosen[index] if 0 <= index < len(chosen) else None


def when(moment: datetime) -> str:
    """How pages print a time: UTC, to the second."""
    return f"{moment:%Y-%m-%d %H:%M:%S} UTC"

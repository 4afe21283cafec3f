"""Politeness towards the source: a process-wide rate limit and a per-run circuit breaker.

The rate limit spaces clip downloads across every thread of the process. The breaker opens on
the first 429 or bot check and stays open for the rest of the run, in every batch and on every
machine sharing the data root, because it lives in `runs/<run_id>/breaker.json`.
"""

from __future__ import annotations

import json
import random
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from manifests.files import atomic_write_json
from manifests.outcomes import ReasonCode

BREAKER_FILE = "breaker.json"


class RateLimiter:
    """Hands out at most `rate` starts per second, in order, to any number of threads."""

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate
        self._next = time.monotonic()
        self._lock = threading.Lock()

    def acquire(self) -> float:
        """Blocks until this caller may start; returns the seconds waited."""
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next)
            self._next = start + self.interval
        wait = start - now
        if wait > 0:
            time.sleep(wait)
        return wait


# One limiter per rate for the whole process: every batch and thread shares the budget.
_limiters: dict[float, RateLimiter] = {}
_limiters_lock = threading.Lock()


def shared_limiter(rate: float) -> RateLimiter:
    with _limiters_lock:
        return _limiters.setdefault(rate, RateLimiter(rate))


def backoff_delay(attempt: int, base_s: float, cap_s: float) -> float:
    """Exponential backoff with "equal jitter": half fixed, half random, so peers spread out."""
    delay = min(cap_s, base_s * 2**attempt)
    return delay / 2 + random.uniform(0, delay / 2)


@dataclass(frozen=True)
class BreakerState:
    """Why and when the breaker opened; written to `runs/<run_id>/breaker.json`."""

    reason: ReasonCode
    clip_id: str
    opened_at: str  # ISO 8601, UTC
    message: str
    retry_after_s: float | None = None
    resume_after: str | None = None  # opened_at + Retry-After, when the source said

    def to_dict(self) -> dict[str, Any]:
        return {"reason": self.reason.value, "clip_id": self.clip_id, "opened_at": self.opened_at,
                "message": self.message, "retry_after_s": self.retry_after_s,
                "resume_after": self.resume_after}


class CircuitBreaker:
    """Open once, open for the rest of the run; the first trip's record is kept."""

    def __init__(self, run_dir: Path) -> None:
        self.path = Path(run_dir) / BREAKER_FILE
        self._state: BreakerState | None = None
        self._lock = threading.Lock()

    def state(self) -> BreakerState | None:
        """The open breaker's record, or None; also sees trips by other processes."""
        if self._state is None and self.path.exists():
            data = json.loads(self.path.read_text())
            self._state = BreakerState(
                reason=ReasonCode(data["reason"]), clip_id=data["clip_id"],
                opened_at=data["opened_at"], message=data["message"],
                retry_after_s=data.get("retry_after_s"), resume_after=data.get("resume_after"),
            )
        return self._state

    def trip(self, reason: ReasonCode, clip_id: str, message: str,
             retry_after_s: float | None = None) -> BreakerState:
        """Opens the breaker (the first caller wins) and returns the record in force."""
        with self._lock:
            current = self.state()
            if current is not None:
                return current
            now = datetime.now(UTC)
            resume = (now + timedelta(seconds=retry_after_s)).isoformat() if retry_after_s else None
            self._state = BreakerState(reason, clip_id, now.isoformat(), message, retry_after_s,
                                       resume)
            atomic_write_json(self.path, self._state.to_dict())
            return self._state

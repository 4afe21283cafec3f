"""Download failures → (status, reason): the failure taxonomy of the download stage.

Permanent faults (removed, private, restricted) end a clip as `failed`; transient ones (5xx,
resets, timeouts, truncated bodies) as `retry`; a rate limit or a bot check trips the circuit
breaker, because hammering on would get the machine banned. yt-dlp reports most problems as a
`DownloadError` whose message and cause chain carry the evidence, so both are read here.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from yt_dlp.networking.exceptions import HTTPError, TransportError
from yt_dlp.utils import GeoRestrictedError, UnsupportedError

from manifests.outcomes import ReasonCode, Status


class DownloadFault(Exception):
    """A per-clip fault found by Cradle itself (not yt-dlp), with its verdict."""

    def __init__(self, message: str, status: Status, reason: ReasonCode) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason


@dataclass(frozen=True)
class Fault:
    """How one failed attempt is judged."""

    status: Status
    reason: ReasonCode
    message: str  # redacted, so it may go to the ledger and the logs
    trips_breaker: bool = False
    retry_after_s: float | None = None

    @property
    def transient(self) -> bool:
        return self.status is Status.RETRY and not self.trips_breaker


# Message patterns (YouTube's wording as yt-dlp passes it on), checked in this order.
_PATTERNS: tuple[tuple[re.Pattern[str], Status, ReasonCode], ...] = tuple(
    (re.compile(pattern, re.IGNORECASE), status, reason) for pattern, status, reason in (
        (r"not a bot|captcha|unusual traffic", Status.RETRY, ReasonCode.BOT_CHECK),
        (r"too many requests|HTTP Error 429", Status.RETRY, ReasonCode.RATE_LIMITED),
        (r"private video|video is private", Status.FAILED, ReasonCode.VIDEO_PRIVATE),
        (r"confirm your age|age[- ]restricted|inappropriate for some users",
         Status.FAILED, ReasonCode.AGE_RESTRICTED),
        (r"available in your country|geo[- ]?restrict|blocked it in your country",
         Status.FAILED, ReasonCode.GEO_RESTRICTED),
        (r"has been removed|account .*terminated|copyright claim|no longer available",
         Status.FAILED, ReasonCode.VIDEO_REMOVED),
        (r"video unavailable|unsupported url|does not exist|no video formats",
         Status.FAILED, ReasonCode.VIDEO_UNAVAILABLE),
        (r"timed? ?out", Status.RETRY, ReasonCode.TIMEOUT),
    )
)

# HTTP status codes of the page or media request.
_HTTP: dict[int, tuple[Status, ReasonCode]] = {
    401: (Status.FAILED, ReasonCode.VIDEO_PRIVATE),
    403: (Status.FAILED, ReasonCode.VIDEO_PRIVATE),  # the host refuses us this video
    404: (Status.FAILED, ReasonCode.VIDEO_UNAVAILABLE),
    410: (Status.FAILED, ReasonCode.VIDEO_REMOVED),
    451: (Status.FAILED, ReasonCode.GEO_RESTRICTED),
    408: (Status.RETRY, ReasonCode.TIMEOUT),
    429: (Status.RETRY, ReasonCode.RATE_LIMITED),
}

BREAKER_REASONS = frozenset({ReasonCode.RATE_LIMITED, ReasonCode.BOT_CHECK})


def classify(error: BaseException, secrets: Iterable[str] = ()) -> Fault:
    """Judges one failed download attempt.

    Unknown errors count as transient network faults: retrying a clip costs one request next
    night, losing it for good costs a training example.
    """
    message = redact(str(error), secrets)
    chain = list(_causes(error))
    for cause in chain:
        if isinstance(cause, DownloadFault):
            return Fault(cause.status, cause.reason, message)
    for cause in chain:
        if isinstance(cause, HTTPError):
            status, reason = _HTTP.get(
                cause.status, (Status.RETRY, ReasonCode.NETWORK_ERROR)  # 5xx and the rest
            )
            return _fault(status, reason, message, _retry_after(cause))
        if isinstance(cause, GeoRestrictedError):
            return Fault(Status.FAILED, ReasonCode.GEO_RESTRICTED, message)
    text = " ".join(str(cause) for cause in chain)
    for pattern, status, reason in _PATTERNS:
        if pattern.search(text):
            return _fault(status, reason, message)
    if any(isinstance(c, TimeoutError | socket.timeout) for c in chain):
        return Fault(Status.RETRY, ReasonCode.TIMEOUT, message)
    if any(isinstance(c, UnsupportedError) for c in chain):
        return Fault(Status.FAILED, ReasonCode.VIDEO_UNAVAILABLE, message)
    if any(isinstance(c, TransportError | ConnectionError | OSError) for c in chain):
        return Fault(Status.RETRY, ReasonCode.NETWORK_ERROR, message)
    return Fault(Status.RETRY, ReasonCode.NETWORK_ERROR, message)


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """Masks credentials in URLs (`//user:pass@`) and every known secret value."""
    text = re.sub(r"//[^/\s:@]+:[^/\s@]+@", "//***@", text)
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def _fault(status: Status, reason: ReasonCode, message: str,
           retry_after_s: float | None = None) -> Fault:
    return Fault(status, reason, message, trips_breaker=reason in BREAKER_REASONS,
                 retry_after_s=retry_after_s)


def _causes(error: BaseException) -> Iterator[BaseException]:
    """The error and everything it wraps: yt-dlp's exc_info and cause, Python's chain."""
    seen: set[int] = set()
    todo: list[BaseException | None] = [error]
    while todo:
        current = todo.pop(0)
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        exc_info = getattr(current, "exc_info", None)
        wrapped = exc_info[1] if isinstance(exc_info, tuple) and len(exc_info) > 1 else None
        cause = getattr(current, "cause", None)
        todo += [wrapped, cause if isinstance(cause, BaseException) else None,
                 current.__cause__, current.__context__]


def _retry_after(error: HTTPError) -> float | None:
    value = error.response.headers.get("Retry-After") if error.response else None
    try:
        return float(value) if value else None
    except ValueError:  # an HTTP date instead of seconds: keep no number rather than guess
        return None

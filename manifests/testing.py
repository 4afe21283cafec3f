"""Factories for tests: realistic records without boilerplate."""

from __future__ import annotations

from manifests.outcomes import ReasonCode, StageResult
from manifests.records import Clip


def dummy_clip(
    index: int = 0, *, video: str | None = None, labels: tuple[str, ...] = ("/t/dd00002",)
) -> Clip:
    """A 10-second AudioSet-style clip; clips with the same `video` share a split group."""
    video = video or f"vid{index:05d}"
    start_ms = 30_000 + 1000 * index
    return Clip(
        id=f"yt-{video}-{start_ms}-{start_ms + 10_000}",
        url=f"https://www.youtube.com/watch?v={video}",
        start_s=start_ms / 1000,
        end_s=start_ms / 1000 + 10,
        labels=labels,
        split_group=f"yt-{video}",
        source="test",
    )


def dummy_clips(count: int) -> list[Clip]:
    return [dummy_clip(i) for i in range(count)]


def dummy_rejection(clip: Clip, reason: ReasonCode = ReasonCode.SILENT) -> StageResult:
    return StageResult.rejected(clip.id, reason, {"rms_dbfs": -80.0})

"""Clip records: what Cradle knows about a source segment before any media exists.

Records are plain, frozen data: paths and metadata, never arrays.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Clip:
    """One source segment to curate.

    `id` is deterministic from the source (e.g. `yt-<video_id>-<start_ms>-<end_ms>`), so the same
    input always yields the same ids, shards and splits. `split_group` names the source video:
    train, validation and test never share one.
    """

    id: str
    url: str
    start_s: float
    end_s: float
    labels: tuple[str, ...] = ()
    split_group: str = ""
    source: str = ""  # the list the clip came from, e.g. "audioset:eval_segments.csv"
    meta: dict[str, Any] = field(default_factory=dict)  # untrusted provenance text

    def __post_init__(self) -> None:
        if not self.id:
            raise ValueError("a clip needs an id")
        if self.end_s <= self.start_s:
            raise ValueError(f"clip {self.id}: end {self.end_s} is not after start {self.start_s}")

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "url": self.url,
            "start_s": self.start_s,
            "end_s": self.end_s,
            "labels": list(self.labels),
            "split_group": self.split_group,
            "source": self.source,
            "meta": dict(self.meta),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Clip:
        return cls(
            id=data["id"],
            url=data["url"],
            start_s=float(data["start_s"]),
            end_s=float(data["end_s"]),
            labels=tuple(data.get("labels") or ()),
            split_group=data.get("split_group") or "",
            source=data.get("source") or "",
            meta=dict(data.get("meta") or {}),
        )

"""Source lists → clip records.

Reads AudioSet segment CSVs (three `# ` header lines, then `YTID, start, end, "label,label"`) and
plain URL lists (`url,start,end,labels`; a URL may also be a local file). YouTube URLs in any of
their spellings become one canonical URL; segments of one video that overlap or touch merge into
one clip. Clip ids are deterministic from the source (`yt-<video_id>-<start_ms>-<end_ms>`, a hash
for other URLs and files), and the split group is the source video, so train, validation and test
never share one.
"""

from __future__ import annotations

import csv
import hashlib
import re
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs, urlparse

from manifests.errors import CradleError
from manifests.ledger import Ledger
from manifests.outcomes import StageResult
from manifests.records import Clip
from stages.sources.config import SourcesConfig
from stages.sources.ontology import Ontology, Selection, select

STAGE = "sources"
VERSION = "1"

YOUTUBE_URL = "https://www.youtube.com/watch?v={ytid}"

_VIDEO_ID = re.compile(r"^[A-Za-z0-9_-]{11}$")
_YOUTUBE_HOSTS = {"youtube.com", "www.youtube.com", "m.youtube.com", "music.youtube.com",
                  "youtube-nocookie.com", "www.youtube-nocookie.com"}
_PATH_ID = re.compile(r"^/(?:shorts|embed|v|live|e)/([A-Za-z0-9_-]{11})")


def read_audioset_csv(path: Path, *, url_template: str = YOUTUBE_URL, id_prefix: str = "yt"
                      ) -> list[Clip]:
    """Parses one AudioSet-format segment list.

    Raises:
        CradleError: a row is malformed; the message names the file and line.
    """
    clips = []
    with open(path, newline="", encoding="utf-8") as handle:
        rows = csv.reader(handle, skipinitialspace=True)
        for line, row in enumerate(rows, start=1):
            if not row or row[0].startswith("#"):
                continue
            try:
                ytid, start, end, labels = row[0], float(row[1]), float(row[2]), row[3]
                clips.append(Clip(
                    id=_segment_id(f"{id_prefix}-{ytid}", start, end),
                    url=url_template.format(ytid=ytid),
                    start_s=start,
                    end_s=end,
                    labels=_split_labels(labels),
                    split_group=f"{id_prefix}-{ytid}",
                    source=f"audioset:{Path(path).name}",
                ))
            except (IndexError, ValueError) as e:
                raise CradleError(f"{path}:{line}: not an AudioSet segment row ({e})") from e
    return clips


def read_url_list(path: Path) -> list[Clip]:
    """Parses a plain CSV with a `url,start,end,labels` header; labels split on `;`.

    (Not on `,`: ontology names such as "Baby cry, infant cry" contain commas.)

    A `url` may be any yt-dlp URL or a local file path (relative to the list's folder).

    Raises:
        CradleError: a row is malformed; the message names the file and line.
    """
    clips = []
    with open(path, newline="", encoding="utf-8") as handle:
        for line, row in enumerate(csv.DictReader(handle, skipinitialspace=True), start=2):
            try:
                url = _resolve_local(row["url"].strip(), Path(path).parent)
                clips.append(clip_for(url, float(row["start"]), float(row["end"]),
                                      _split_labels(row.get("labels") or "", ";"),
                                      source=f"urls:{Path(path).name}"))
            except (KeyError, TypeError, ValueError, AttributeError) as e:
                raise CradleError(f"{path}:{line}: not a url,start,end,labels row ({e!r})") from e
    return clips


def clip_for(url: str, start_s: float, end_s: float, labels: Sequence[str] = (),
             source: str = "") -> Clip:
    """The clip record of one segment of any URL, with its deterministic id and split group."""
    canonical = normalise_url(url)
    video = youtube_id(canonical)
    if video is not None:
        group = f"yt-{video}"
    else:
        kind = "file" if canonical.startswith("file:") else "url"
        group = f"{kind}-{hashlib.sha256(canonical.encode()).hexdigest()[:16]}"
    return Clip(id=_segment_id(group, start_s, end_s), url=canonical, start_s=start_s,
                end_s=end_s, labels=tuple(labels), split_group=group, source=source)


def normalise_url(url: str) -> str:
    """One spelling per YouTube video (youtu.be, shorts, embed, m., `&t=` → watch?v=ID)."""
    video = youtube_id(url)
    return YOUTUBE_URL.format(ytid=video) if video is not None else url.strip()


def youtube_id(url: str) -> str | None:
    """The 11-character video id of a YouTube URL, or None for anything else."""
    parsed = urlparse(url.strip())
    host = (parsed.hostname or "").lower()
    candidate: str | None = None
    if host in ("youtu.be", "www.youtu.be"):
        candidate = parsed.path.lstrip("/").split("/")[0]
    elif host in _YOUTUBE_HOSTS:
        match = _PATH_ID.match(parsed.path)
        ids = parse_qs(parsed.query).get("v")
        candidate = match.group(1) if match else (ids[0] if ids else None)
    return candidate if candidate and _VIDEO_ID.match(candidate) else None


def merge_segments(clips: Iterable[Clip], gap_s: float = 0.0) -> list[Clip]:
    """Merges segments of one video that overlap or are at most `gap_s` apart.

    The merged clip spans both, carries the union of their labels (first seen first) and gets
    the id of its new span; clips come back sorted by (split group, start).
    """
    merged: list[Clip] = []
    for clip in sorted(clips, key=lambda c: (c.split_group, c.url, c.start_s, c.end_s)):
        last = merged[-1] if merged else None
        if (last is not None and last.url == clip.url
                and clip.start_s <= last.end_s + gap_s):
            end = max(last.end_s, clip.end_s)
            labels = tuple(dict.fromkeys((*last.labels, *clip.labels)))
            merged[-1] = Clip(id=_segment_id(last.split_group, last.start_s, end), url=last.url,
                              start_s=last.start_s, end_s=end, labels=labels,
                              split_group=last.split_group, source=last.source, meta=last.meta)
        else:
            merged.append(clip)
    return merged


def collect(lists: Sequence[Path], cfg: SourcesConfig, ontology: Path | None = None
            ) -> list[Clip]:
    """Every clip of the given lists that the configured selection keeps, merged per video.

    AudioSet lists are filtered by label (with ontology descendants; the ontology is `ontology`,
    else `sources.ontology`, else `ontology.json` beside each list); URL lists are taken whole,
    their owner chose them.

    Raises:
        CradleError: a list is malformed or the ontology or selection cannot be read.
    """
    selection = Selection.load(cfg.selection).with_exclude(cfg.exclude)
    clips: list[Clip] = []
    for path in lists:
        if _is_audioset(path):
            tree = Ontology.load(ontology or cfg.ontology or Path(path).parent / "ontology.json")
            clips += select(read_audioset_csv(path), selection, tree)
        else:
            clips += read_url_list(path)
    return merge_segments(clips, cfg.merge_gap_s)


def register_clips(ledger: Ledger, clips: Sequence[Clip], run_id: str | None = None) -> list[str]:
    """Adds new clips to the ledger with an `ok` sources outcome; known clips are left alone.

    Returns:
        The ids of the clips that were new.
    """
    started = datetime.now(UTC)
    added = ledger.add_clips(clips)
    by_id = {clip.id: clip for clip in clips}
    results = [
        StageResult.ok(clip_id, metrics={"source": by_id[clip_id].source,
                                         "labels": list(by_id[clip_id].labels)})
        for clip_id in added
    ]
    ledger.record(STAGE, VERSION, "-", results, started_at=started, run_id=run_id)
    return added


def _segment_id(group: str, start_s: float, end_s: float) -> str:
    return f"{group}-{round(start_s * 1000)}-{round(end_s * 1000)}"


def _split_labels(text: str, separator: str = ",") -> tuple[str, ...]:
    return tuple(label.strip() for label in text.split(separator) if label.strip())


def _resolve_local(url: str, base: Path) -> str:
    if "://" in url or url.startswith("file:"):
        return url
    return (base / url).resolve().as_uri()


def _is_audioset(path: Path) -> bool:
    with open(path, encoding="utf-8") as handle:
        return handle.readline().startswith("#")

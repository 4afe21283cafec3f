"""Source lists → clip records.

Reads AudioSet segment CSVs (three `# ` header lines, then `YTID, start, end, "label,label"`) and
plain URL lists (`url,start,end,labels`; a URL may also be a local file). YouTube URLs in any of
their spellings become one canonical URL; segments of one video that overlap or touch merge into
one clip. Clip ids are deterministic from the source (`yt-<video_id>-<start_ms>-<end_ms>`, a hash
for other URLs and files), and the split group is the source video, so train, validation and test
never share one.

Lists are hostile input: a bad row (or an unreadable list) is reported as a `SourceProblem` with
its file and line, logged once and skipped; only a run with no valid row left at all fails, with
the first few problems in its error.
"""

from __future__ import annotations

import codecs
import hashlib
import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs, urlparse

from manifests.errors import ConfigError
from manifests.ledger import Ledger
from manifests.outcomes import StageResult
from manifests.records import Clip
from stages.sources.config import SourcesConfig
from stages.sources.ontology import Ontology, Selection, ontology_path, select
from stages.sources.rows import (
    BadRow,
    SourceProblem,
    checked_url,
    csv_rows,
    field_count,
    report,
    shown,
    shown_name,
    span,
)

log = logging.getLogger(__name__)

STAGE = "sources"
VERSION = "1"

YOUTUBE_URL = "https://www.youtube.com/watch?v={ytid}"

_VIDEO_ID = re.compile(r"^[A-Za-z0-9_-]{11}$")
_YOUTUBE_HOSTS = {"youtube.com", "www.youtube.com", "m.youtube.com", "music.youtube.com",
                  "youtube-nocookie.com", "www.youtube-nocookie.com"}
_PATH_ID = re.compile(r"^/(?:shorts|embed|v|live|e)/([A-Za-z0-9_-]{11})")
# An AudioSet YTID, or a demo file stem: safe inside a URL template and a clip id.
_SEGMENT_YTID = re.compile(r"^[A-Za-z0-9_-]+$")
# Problems named in the error when nothing is left: enough to see what is wrong with a list, few
# enough that a wrong file (a README, a spreadsheet) costs a few lines, not one per row.
_PROBLEMS_SHOWN = 5
_FORMATS = "is each an AudioSet segment CSV or a url,start,end,labels list?"


def read_audioset_csv(path: Path, *, url_template: str = YOUTUBE_URL, id_prefix: str = "yt",
                      problems: list[SourceProblem] | None = None) -> list[Clip]:
    """Parses one AudioSet-format segment list; `#` lines are its header.

    A bad row is skipped and added to `problems` (logged instead when no list is given): the
    rest still count.
    """
    clips = []
    name = shown_name(path)
    for line, row in csv_rows(path, problems):
        if row[0].startswith("#"):
            continue
        try:
            field_count(row, 4, 4, "YTID, start_seconds, end_seconds, positive_labels")
            ytid, (start, end) = _segment_ytid(row[0]), span(row[1], row[2])
        except BadRow as e:
            report(problems, SourceProblem(name, line, str(e)))
            continue
        clips.append(Clip(
            id=_segment_id(f"{id_prefix}-{ytid}", start, end),
            url=url_template.format(ytid=ytid),
            start_s=start,
            end_s=end,
            labels=_split_labels(row[3]),
            split_group=f"{id_prefix}-{ytid}",
            source=f"audioset:{Path(path).name}",
        ))
    return clips


def read_url_list(path: Path, problems: list[SourceProblem] | None = None) -> list[Clip]:
    """Parses a plain CSV with a `url,start,end,labels` header; labels split on `;`.

    (Not on `,`: ontology names such as "Baby cry, infant cry" contain commas.)

    A `url` may be any yt-dlp URL or a local file path (relative to the list's folder). A bad
    row is skipped and added to `problems` (logged instead when no list is given); a bad header
    costs the list.
    """
    clips: list[Clip] = []
    name = shown_name(path)
    rows = csv_rows(path, problems)
    first = next(rows, None)
    if first is None:
        return clips
    line, header = first
    columns = [column.strip().lower() for column in header]
    if not {"url", "start", "end"} <= set(columns):
        report(problems, SourceProblem(name, line, "the header must name url, start, end (and "
                                       f"optionally labels), not {shown(', '.join(header))}"))
        return clips
    at = {column: columns.index(column) for column in ("url", "start", "end")}
    labels_at = columns.index("labels") if "labels" in columns else None
    least = max(at.values()) + 1  # columns after the last needed one (labels) may be left off
    for line, row in rows:
        try:
            field_count(row, least, len(columns), ", ".join(columns))
            url = checked_url(row[at["url"]], Path(path).parent)
            start, end = span(row[at["start"]], row[at["end"]])
        except BadRow as e:
            report(problems, SourceProblem(name, line, str(e)))
            continue
        labels = row[labels_at] if labels_at is not None and labels_at < len(row) else ""
        clips.append(clip_for(url, start, end, _split_labels(labels, ";"),
                              source=f"urls:{Path(path).name}"))
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


@dataclass(frozen=True)
class Collected:
    """What `collect` made of its lists: the clips kept, and every row or file it skipped."""

    clips: list[Clip]
    problems: list[SourceProblem]


def collect(lists: Sequence[Path], cfg: SourcesConfig, *, log_skipped: bool = True
            ) -> Collected:
    """Every clip of the given lists that the configured selection keeps, merged per video.

    AudioSet lists are filtered by label (with ontology descendants; the ontology is
    `ontology_path`'s); URL lists are taken whole, their owner chose them. Bad rows and missing
    lists are skipped (and logged once each, unless `log_skipped` is False: a caller that only
    checks the lists leaves them to the run), so one of them never costs the run the rest.

    Raises:
        ConfigError: not one valid row in all the lists (the first few problems are named, one
            a line, and the rest counted), or the ontology or selection cannot be read.
    """
    selection = Selection.load(cfg.selection).with_exclude(cfg.exclude)
    clips: list[Clip] = []
    problems: list[SourceProblem] = []
    rows = 0
    for path in lists:
        if _is_audioset(path):
            listed = read_audioset_csv(path, problems=problems)
            if listed:
                clips += select(listed, selection, Ontology.load(ontology_path(cfg, path)))
        else:
            listed = read_url_list(path, problems)
            clips += listed
        rows += len(listed)
    if lists and not rows:
        raise ConfigError(_nothing_valid(lists, problems))
    if log_skipped:
        for problem in problems:
            log.warning("skipped %s", problem)
    return Collected(merge_segments(clips, cfg.merge_gap_s), problems)


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


def _segment_ytid(text: str) -> str:
    ytid = text.strip()
    if not _SEGMENT_YTID.match(ytid):
        raise BadRow(f"YTID {shown(ytid)} is not a video id" if ytid else "empty YTID")
    return ytid


def _segment_id(group: str, start_s: float, end_s: float) -> str:
    return f"{group}-{round(start_s * 1000)}-{round(end_s * 1000)}"


def _split_labels(text: str, separator: str = ",") -> tuple[str, ...]:
    return tuple(label.strip() for label in text.split(separator) if label.strip())


def _is_audioset(path: Path) -> bool:
    try:
        with open(path, "rb") as handle:
            return handle.readline().removeprefix(codecs.BOM_UTF8).startswith(b"#")
    except OSError:
        return False  # reported by the reader, which names the file and the reason


def _nothing_valid(lists: Sequence[Path], problems: Sequence[SourceProblem]) -> str:
    named = ", ".join(shown_name(path) for path in lists)
    if not problems:
        return f"no source rows in {named}"
    if len(problems) <= _PROBLEMS_SHOWN:
        return "\n".join([f"no valid source rows in {named}:", *map(str, problems)])
    return "\n".join([
        f"no valid source rows in {named} ({len(problems)} problems; {_FORMATS}):",
        *map(str, problems[:_PROBLEMS_SHOWN]),
        f"... and {len(problems) - _PROBLEMS_SHOWN} more"])

"""Source lists → clip records.

Reads AudioSet segment CSVs (three `# ` header lines, then `YTID, start, end, "label,label"`).
Clip ids are deterministic from the source: `<prefix>-<ytid>-<start_ms>-<end_ms>`, and the split
group is the source video, so train, validation and test never share one.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from manifests.errors import CradleError
from manifests.ledger import Ledger
from manifests.outcomes import StageResult
from manifests.records import Clip

STAGE = "sources"
VERSION = "1"

YOUTUBE_URL = "https://www.youtube.com/watch?v={ytid}"
# Demo clips name a file of the offline demo corpus; the download stage resolves the scheme to
# the loopback server that `cradle run --demo` starts.
DEMO_URL = "demo://{ytid}.mp4"


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
                start_ms, end_ms = round(start * 1000), round(end * 1000)
                clips.append(Clip(
                    id=f"{id_prefix}-{ytid}-{start_ms}-{end_ms}",
                    url=url_template.format(ytid=ytid),
                    start_s=start,
                    end_s=end,
                    labels=tuple(label.strip() for label in labels.split(",") if label.strip()),
                    split_group=f"{id_prefix}-{ytid}",
                    source=f"audioset:{Path(path).name}",
                ))
            except (IndexError, ValueError) as e:
                raise CradleError(f"{path}:{line}: not an AudioSet segment row ({e})") from e
    return clips


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

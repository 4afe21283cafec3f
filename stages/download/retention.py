"""Retention of raw downloads: delete them when the policy says, and record that in the ledger.

A purge is a new download attempt that keeps the old one's verdict, version and settings hash but
lists only the provenance sidecar as its output, with `purged_at` in its metrics and the sidecar.
So the resume rule sees the download settled (nothing is fetched again), a later stage that needs
the raw media fails with `raw_media_purged` instead of waiting for it, and the review UI knows.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from manifests.files import atomic_write_json
from manifests.ledger import Attempt, Ledger
from manifests.outcomes import StageResult, Status
from stages.paths import DataRoot

log = logging.getLogger(__name__)

STAGE = "download"
RAW_ROLES = ("video", "audio")  # what a purge deletes; the provenance sidecar stays


@dataclass(frozen=True)
class Purged:
    clip_id: str
    files: tuple[str, ...]  # relative to the data root
    bytes: int


def due(policy: str, download: Attempt, fitting: Attempt | None, now: datetime) -> bool:
    """Whether the policy deletes this clip's raw media now.

    "after-fit" waits for the fitting stage's verdict: a clip rejected earlier keeps its raw
    media, since an annotator may still override that rejection and a stage re-run needs it.
    """
    if policy == "keep":
        return False
    if policy == "after-fit":
        return fitting is not None and fitting.status in (Status.OK, Status.REJECTED)
    days = int(policy.removeprefix("days:"))
    return download.finished_at <= now - timedelta(days=days)


def purge_raw_media(ledger: Ledger, root: DataRoot, policy: str, *, now: datetime | None = None,
                    run_id: str | None = None, dry_run: bool = False) -> list[Purged]:
    """Deletes the raw downloads `policy` says are due and records each purge.

    Files go first, then the record: a kill between them leaves an ordinary missing output,
    which the next run downloads again, never a record of files that still exist.
    """
    now = now or datetime.now(UTC)
    downloads = ledger.latest(STAGE)
    fittings = ledger.latest("fitting", list(downloads))
    purged = []
    for clip_id, attempt in sorted(downloads.items()):
        files = [attempt.output(role, root.home) for role in RAW_ROLES]
        present = [path for path in files if path is not None and path.is_file()]
        if attempt.status is not Status.OK or not present:
            continue
        if not due(policy, attempt, fittings.get(clip_id), now):
            continue
        size = sum(path.stat().st_size for path in present)
        names = tuple(root.relative(path) for path in present)
        purged.append(Purged(clip_id, names, size))
        if dry_run:
            continue
        for path in present:
            path.unlink(missing_ok=True)
        _record(ledger, root, attempt, names, policy, now, run_id)
    if purged and not dry_run:
        log.info("retention (%s): deleted the raw media of %d clips (%.1f MB)", policy,
                 len(purged), sum(p.bytes for p in purged) / 1e6)
    return purged


def purged_at(root: DataRoot, clip_id: str) -> str | None:
    """When the clip's raw media was purged, as its provenance sidecar says (None: it was not)."""
    sidecar = root.clip(clip_id).provenance
    try:
        return json.loads(sidecar.read_text(encoding="utf-8")).get("purged_at")
    except (OSError, ValueError):
        return None


def _record(ledger: Ledger, root: DataRoot, attempt: Attempt, names: tuple[str, ...],
            policy: str, now: datetime, run_id: str | None) -> None:
    stamp = now.isoformat(timespec="seconds")
    sidecar = attempt.output("provenance", root.home) or root.clip(attempt.clip_id).provenance
    try:
        provenance = json.loads(sidecar.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        provenance = dict(attempt.metrics.get("provenance") or {})
    atomic_write_json(sidecar, {**provenance, "purged_at": stamp, "purge_policy": policy})
    metrics = {**attempt.metrics, "purged_at": stamp, "purge_policy": policy,
               "purged": list(names)}
    ledger.record(STAGE, attempt.stage_version, attempt.config_hash,
                  [StageResult.ok(attempt.clip_id, metrics,
                                  {"provenance": Path(root.recorded(sidecar))})],
                  started_at=now, finished_at=now, run_id=run_id)

"""The stage contract: `run(clips, cfg, root) -> list[StageResult]`, and how results are kept.

A stage is a plain function over a batch of clips (so models load once per batch); it never
imports Prefect. `execute_batch` applies the resume rule, runs the stage, checks that every clip
got exactly one result, and records the results in the ledger — the same under Prefect, Dask or a
test.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from manifests.ledger import Attempt, Ledger
from manifests.outcomes import ReasonCode, StageResult, Status
from manifests.records import Clip
from stages.paths import DataRoot

log = logging.getLogger(__name__)

StageFn = Callable[[Sequence[Clip], Any, DataRoot], list[StageResult]]


@dataclass(frozen=True)
class StageSpec:
    """A stage as the flows see it: its name, its version and its function.

    Bump `version` whenever the stage's outputs would change for the same input and configuration;
    the ledger then re-runs it on every clip.
    """

    name: str
    version: str
    run: StageFn


def outputs_present(attempt: Attempt) -> bool:
    return all(Path(path).exists() for path in attempt.outputs.values())


def is_done(ledger: Ledger, clip_id: str, stage: StageSpec, config_hash: str) -> bool:
    """The resume rule: an `ok` result with this stage version and config hash, outputs present."""
    attempt = ledger.latest_ok(clip_id, stage.name, stage.version, config_hash)
    return attempt is not None and outputs_present(attempt)


def pending(
    ledger: Ledger, clips: Sequence[Clip], stage: StageSpec, config_hash: str
) -> list[Clip]:
    """The clips that still need `stage` under the resume rule."""
    return [clip for clip in clips if not is_done(ledger, clip.id, stage, config_hash)]


def execute_batch(
    stage: StageSpec,
    clips: Sequence[Clip],
    cfg: Any,
    config_hash: str,
    root: DataRoot,
    ledger: Ledger,
    run_id: str | None = None,
) -> list[StageResult]:
    """Runs one stage on the batch's pending clips and records one attempt per clip.

    A stage that raises, or returns no result for a clip, does not lose the clip: each one gets a
    `failed` result with reason `internal_error` and the error's repr.

    Returns:
        The results of the clips tried now: recorded ones, plus deferred ones (not recorded, so
        those clips stay pending). Clips already done are skipped and not returned.
    """
    todo = pending(ledger, clips, stage, config_hash)
    if not todo:
        return []
    started = datetime.now(UTC)
    try:
        results = list(stage.run(todo, cfg, root))
    except Exception as e:  # turned into values below, repr kept: nothing is swallowed
        log.exception("stage %s failed on a batch of %d clips", stage.name, len(todo))
        results = [StageResult.from_exception(clip.id, e) for clip in todo]
    results = _one_result_per_clip(stage.name, todo, results)
    ledger.record(stage.name, stage.version, config_hash,
                  [result for result in results if not result.deferred],
                  started_at=started, run_id=run_id)
    return results


def _one_result_per_clip(
    stage: str, clips: Sequence[Clip], results: list[StageResult]
) -> list[StageResult]:
    by_clip: dict[str, StageResult] = {}
    for result in results:
        if result.clip_id in by_clip:
            raise ValueError(f"stage {stage} returned two results for clip {result.clip_id}")
        by_clip[result.clip_id] = result
    unknown = set(by_clip) - {clip.id for clip in clips}
    if unknown:
        raise ValueError(f"stage {stage} returned results for clips it was not given: {unknown}")
    return [by_clip.get(clip.id) or _no_result(stage, clip.id) for clip in clips]


def _no_result(stage: str, clip_id: str) -> StageResult:
    return StageResult(clip_id, Status.FAILED, ReasonCode.INTERNAL_ERROR,
                       {"error": f"stage {stage} returned no result"})

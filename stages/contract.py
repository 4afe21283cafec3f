"""The stage contract: `run(clips, cfg, root) -> list[StageResult]`, and how results are kept.

A stage is a plain function over a batch of clips (so models load once per batch); it never
imports Prefect. `execute_batch` applies the resume rule, runs the stage, checks that every clip
got exactly one result, and records the results in the ledger — the same under Prefect, Dask or a
test. `guarded` and `missing_input` are the two per-clip rules every stage shares.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Generic, TypeVar

from manifests.ledger import Attempt, Decision, Ledger
from manifests.outcomes import ReasonCode, StageResult, Status
from manifests.records import Clip
from stages.config import CradleConfig
from stages.download.retention import purged_at
from stages.paths import DataRoot

log = logging.getLogger(__name__)

T = TypeVar("T")
S = TypeVar("S")
M = TypeVar("M")
StageFn = Callable[[Sequence[Clip], Any, DataRoot], list[StageResult]]


@dataclass(frozen=True)
class RunContext:
    """What every batch of one run needs: the configuration and the ledger run it belongs to."""

    cfg: CradleConfig
    run_id: str | None = None
    demo_base_url: str | None = None  # where the demo corpus is served while a demo run lasts

    @property
    def root(self) -> DataRoot:
        return DataRoot(self.cfg.home)

    @property
    def ledger_url(self) -> str:
        return self.cfg.ledger_url


@dataclass(frozen=True)
class StageSpec:
    """A stage as the flows see it: its name, version, function and configuration section.

    Bump `version` whenever the stage's outputs would change for the same input and configuration;
    the ledger then re-runs it on every clip. The hash of `section` is recorded with every result,
    so a changed verdict setting re-runs exactly this stage. `settings` builds what `run` gets as
    `cfg` when the section alone is not enough (download: the network settings and run id).
    `machine` names the stage's part of the unhashed `machine` section: `run` then gets both as
    a `WithMachine`. `halted` may name a reason to schedule no further batch this run (download's
    breaker).
    `parallel_batches` bounds the batches in flight when the stage parallelises inside a batch.
    `device` is what its batches mostly need, `cpu` or `gpu` (when there is one): the flows tag
    their tasks with it, so a work pool or a concurrency limit can route them.
    """

    name: str
    version: str
    run: StageFn
    section: str
    settings: Callable[[RunContext], Any] | None = None
    machine: str | None = None
    halted: Callable[[RunContext], str | None] | None = None
    parallel_batches: int | None = None
    device: str = "cpu"

    def config_hash(self, cfg: CradleConfig) -> str:
        return cfg.section_hash(self.section)

    def stage_config(self, ctx: RunContext) -> Any:
        """What `run` gets as `cfg` in this run."""
        if self.settings is not None:
            return self.settings(ctx)
        section = getattr(ctx.cfg, self.section)
        if self.machine is None:
            return section
        return WithMachine(section, getattr(ctx.cfg.machine, self.machine))


@dataclass(frozen=True)
class WithMachine(Generic[S, M]):
    """A stage's `cfg` when it has machine settings: its hashed verdict section, and this
    machine's unhashed settings for it (`machine.<stage>`)."""

    section: S
    machine: M


def guarded(stage: str, clip_id: str, work: Callable[[], T]) -> T | StageResult:
    """Runs one clip's work; an unexpected error becomes that clip's `failed` result.

    One clip's bug must not lose the rest of its batch: the error's repr is kept in the metrics,
    so nothing is swallowed.
    """
    try:
        return work()
    except Exception as e:  # kept as a value with repr(e), see above
        log.exception("%s: clip %s failed", stage, clip_id)
        return StageResult.from_exception(clip_id, e)


def with_seconds(result: StageResult, seconds: float) -> StageResult:
    """`result` with the clip's own processing time (`seconds`, a run metric shards leave out),
    so a slow clip shows in the ledger even when its batch ran many at once."""
    return replace(result, metrics={**result.metrics, "seconds": round(seconds, 3)})


def missing_input(clip_id: str, role: str, path: Path, root: DataRoot) -> StageResult:
    """An earlier stage's output is gone: `retry`, the same in every stage.

    Not a verdict on the clip: the earlier stage sees its output missing and runs again, and
    then this one does too. The path is named relative to the data root (no local paths leak).
    Raw media the retention policy deleted will not come back: that is `failed`.
    """
    metrics = {"missing": role, "path": root.relative(path)}
    purged = purged_at(root, clip_id)
    if purged is not None:
        return StageResult(clip_id, Status.FAILED, ReasonCode.RAW_MEDIA_PURGED,
                           {**metrics, "purged_at": purged})
    return StageResult(clip_id, Status.RETRY, ReasonCode.MISSING_INPUT, metrics)


def outputs_present(attempt: Attempt, home: Path) -> bool:
    return all((path := attempt.output(role, home)) is not None and path.exists()
               for role in attempt.outputs)


def is_settled(attempt: Attempt | None, stage: StageSpec, config_hash: str, home: Path) -> bool:
    """The resume rule: does this clip's latest attempt make running the stage again pointless?

    Settled: the attempt used this stage version and config hash, and it is `ok` with its outputs
    present, or a data verdict (`rejected`) or permanent fault (`failed`) that would repeat. A
    `retry`, a new stage version, a changed configuration, a missing output or a reviewer's
    `requeue` runs it again. (A reviewer's override settles nothing here: `Attempt.passed` lets the
    clip go on to the next stage.)
    """
    if attempt is None or (attempt.stage_version, attempt.config_hash) != (stage.version,
                                                                           config_hash):
        return False
    if attempt.review is Decision.REQUEUE:
        return False
    if attempt.status is Status.OK:
        return outputs_present(attempt, home)
    return attempt.status in (Status.REJECTED, Status.FAILED)


def pending(ledger: Ledger, clips: Sequence[Clip], stage: StageSpec, config_hash: str,
            root: DataRoot) -> list[Clip]:
    """The clips that still need `stage` under the resume rule."""
    latest = ledger.latest(stage.name, [clip.id for clip in clips])
    return [clip for clip in clips
            if not is_settled(latest.get(clip.id), stage, config_hash, root.home)]


def execute_batch(stage: StageSpec, clips: Sequence[Clip], ctx: RunContext,
                  ledger: Ledger) -> list[StageResult]:
    """Runs one stage on the batch's pending clips and records one attempt per clip.

    A stage that raises does not lose its clips: each gets a `retry` result with reason
    `internal_error` and the error's repr (an environment fault may pass). A stage that returns no
    result for a clip has a bug: that clip gets `failed` / `internal_error`.

    Returns:
        The results of the clips tried now: recorded ones, plus deferred ones (not recorded, so
        those clips stay pending). Clips already done are skipped and not returned.
    """
    config_hash = stage.config_hash(ctx.cfg)
    todo = pending(ledger, clips, stage, config_hash, ctx.root)
    if not todo:
        return []
    started = datetime.now(UTC)
    try:
        results = list(stage.run(todo, stage.stage_config(ctx), ctx.root))
    except Exception as e:  # turned into values below, repr kept: nothing is swallowed
        log.exception("stage %s failed on a batch of %d clips", stage.name, len(todo))
        results = [StageResult.from_exception(clip.id, e, Status.RETRY) for clip in todo]
    results = _one_result_per_clip(stage.name, todo, results)
    ledger.record(stage.name, stage.version, config_hash,
                  [recorded_outputs(result, ctx.root) for result in results if not result.deferred],
                  started_at=started, run_id=ctx.run_id)
    return results


def recorded_outputs(result: StageResult, root: DataRoot) -> StageResult:
    """The result with its outputs named as the ledger keeps them: relative to the data root."""
    return replace(result, outputs={role: Path(root.recorded(path))
                                    for role, path in result.outputs.items()})


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

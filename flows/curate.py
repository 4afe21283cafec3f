"""Curation wiring: audio → faces → fitting over batches of clips, then the dataset's shards.

Each stage takes the clips that passed the one before (reviews counted); the ledger, not Prefect,
decides what is already done, so any of these flows can be re-run at any time.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task

from flows.batches import passed, run_stage
from flows.params import CurateParams, ShardsParams
from flows.report import publish_report
from flows.session import Session, run_session
from manifests.formats.dataset import load_card
from manifests.ledger import Ledger
from manifests.records import Clip
from stages.audio import stage as audio
from stages.contract import RunContext
from stages.download import stage as download
from stages.faces import stage as faces
from stages.fitting import stage as fitting
from stages.shards.stage import NothingToShard, build_dataset, record_clip_outcomes


@task
def prepare_face_model(ctx: RunContext, clips: list[Clip]) -> Path | None:
    """The open face model is learnt from accepted tracks the first time it is needed."""
    return fitting.ensure_open_model(ctx.cfg.fitting, ctx.root, clips)


@task
def build_shards(ctx: RunContext, dataset: str) -> dict[str, Any]:
    """Builds (or confirms) the dataset version that matches the ledger after this run."""
    ledger = Ledger(ctx.ledger_url)
    try:
        versions_before = ledger.dataset_versions(dataset)
        card = build_dataset(ledger, ctx.root, ctx.cfg.shards, dataset, fitting=ctx.cfg.fitting,
                             ontology=ctx.cfg.sources.ontology)
        new_clips = record_clip_outcomes(ledger, card, ctx.run_id)
    except NothingToShard as e:
        get_run_logger().warning("shards: %s", e)
        return {"dataset": None, "shards": 0, "samples": 0, "new clips": 0}
    finally:
        ledger.close()
    parent = load_card(ctx.root.shards, f"{dataset}@{card.parent}") if card.parent else None
    return {"dataset": f"{card.name}@{card.version}", "shards": len(card.shards),
            "samples": card.samples, "new clips": new_clips, "parent": card.parent,
            "new version": card.version not in versions_before,
            "growth": (card.samples / parent.samples - 1) if parent and parent.samples else None}


def curate_clips(session: Session, clips: Sequence[Clip]) -> dict[str, dict[str, Any]]:
    """Runs audio, faces and fitting over those of `clips` that got that far; counts per stage."""
    ctx, ledger = session.ctx, session.ledger
    summary: dict[str, dict[str, Any]] = {}
    downloaded = passed(ledger, clips, download.STAGE.name)
    summary["audio"] = run_stage(audio.STAGE, downloaded, ctx)
    heard = passed(ledger, downloaded, audio.STAGE.name)
    summary["faces"] = run_stage(faces.STAGE, heard, ctx)
    tracked = passed(ledger, heard, faces.STAGE.name)
    prepare_face_model(ctx, tracked)
    summary["fitting"] = run_stage(fitting.STAGE, tracked, ctx)
    return summary


@flow(name="cradle-curate")
def curate(params: CurateParams | None = None) -> dict[str, dict[str, Any]]:
    """Curates every registered clip a stage still owes (downloaded ones; nothing is fetched)."""
    params = params or CurateParams()
    with run_session("curate", params.model_dump(mode="json")) as session:
        clips = session.ledger.clips()
        summary = curate_clips(session, clips[:params.limit] if params.limit else clips)
        publish_report(session, "curate", summary)
        return summary


@flow(name="cradle-build-shards")
def build_shards_flow(params: ShardsParams | None = None) -> dict[str, dict[str, Any]]:
    """Builds (or confirms) the dataset version that matches the ledger now."""
    params = params or ShardsParams()
    with run_session("build-shards", params.model_dump(mode="json")) as session:
        summary = {"shards": build_shards(session.ctx, params.dataset)}
        publish_report(session, "build-shards", summary, params.dataset)
        return summary

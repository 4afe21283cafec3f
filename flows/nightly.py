"""The nightly flow: register sources, then run every curation stage over batches of clips.

Wiring only: each task wraps one library call; stages themselves never import Prefect.
"""

from __future__ import annotations

import contextlib
from dataclasses import replace
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.client.orchestration import get_client
from prefect.runtime import flow_run
from prefect.states import Crashed
from pydantic import BaseModel, Field

from demo.server import serve_corpus
from flows.batches import passed, run_stage
from flows.ingest import download_clips, register_sources
from flows.runtime import restrict_file_modes
from manifests.ledger import Ledger
from manifests.ledger.export import export_manifests
from manifests.records import Clip
from stages.audio import stage as audio
from stages.config import CradleConfig, load_config
from stages.contract import RunContext
from stages.download import stage as download
from stages.download.fetch import DEMO_URL
from stages.download.retention import purge_raw_media
from stages.exclusive import DataRootLock, sweep_leftovers
from stages.faces import stage as faces
from stages.fitting import stage as fitting
from stages.paths import DataRoot
from stages.shards.stage import build_dataset, record_clip_outcomes
from stages.sources.stage import collect, read_audioset_csv


class NightlyParams(BaseModel):
    """What one run works on."""

    demo: bool = Field(False, description="Curate the offline demo corpus (made if missing).")
    source_lists: list[Path] = Field(
        default_factory=list, description="AudioSet segment CSVs or url,start,end,labels lists."
    )
    dataset: str = Field("infant", description="The dataset the run's shards go to.")


@task
def open_ledger(url: str) -> None:
    """Creates or migrates the ledger once, before any worker writes to it."""
    Ledger.open(url).close()


@task
def prepare_demo_corpus(folder: Path, seed: int, train_size: int) -> Path:
    """Generates the demo corpus unless an intact one with this seed and size is already there."""
    from demo import generate_corpus

    generate_corpus(folder, seed=seed, train_size=train_size)
    return folder / "segments.csv"


@task
def prepare_face_model(ctx: RunContext, clips: list[Clip]) -> Path | None:
    """The open face model is learnt from accepted tracks the first time it is needed."""
    return fitting.ensure_open_model(ctx.cfg.fitting, ctx.root, clips)


@task
def build_shards(ctx: RunContext, dataset: str) -> dict[str, Any]:
    """Builds (or confirms) the dataset version that matches the ledger after this run."""
    ledger = Ledger(ctx.ledger_url)
    try:
        card = build_dataset(ledger, ctx.root, ctx.cfg.shards, dataset, fitting=ctx.cfg.fitting,
                             ontology=ctx.cfg.sources.ontology)
        new_clips = record_clip_outcomes(ledger, card, ctx.run_id)
    finally:
        ledger.close()
    return {"dataset": f"{card.name}@{card.version}", "shards": len(card.shards),
            "samples": card.samples, "new clips": new_clips}


@task
def apply_retention(ctx: RunContext) -> dict[str, Any]:
    """Deletes the raw downloads the retention policy (`storage.raw_media`) says are due."""
    ledger = Ledger(ctx.ledger_url)
    try:
        purged = purge_raw_media(ledger, ctx.root, ctx.cfg.storage.raw_media, run_id=ctx.run_id)
    finally:
        ledger.close()
    return {"clips": len(purged), "bytes": sum(p.bytes for p in purged)}


@task
def export_run(ctx: RunContext) -> dict[str, Path]:
    """The run's parquet manifests, in `runs/<run_id>/`."""
    ledger = Ledger(ctx.ledger_url)
    try:
        return export_manifests(ledger, ctx.root.run_dir(str(ctx.run_id)), run_id=ctx.run_id)
    finally:
        ledger.close()


def close_crashed_flow_runs(abandoned: dict[str, dict[str, Any]]) -> None:
    """Marks the Prefect flow runs of ledger runs a dead process left `running` as Crashed, so
    Prefect's UI does not show them running forever."""
    logger = get_run_logger()
    with get_client(sync_client=True) as client:
        for run_id, params in abandoned.items():
            logger.warning("run %s was left running by a process that died: marked crashed",
                           run_id)
            if params.get("prefect_flow_run"):
                client.set_flow_run_state(params["prefect_flow_run"], Crashed(
                    message=f"its process died; Cradle run {run_id} closed as crashed"),
                    force=True)


@flow(name="cradle-nightly")
def nightly(params: NightlyParams | None = None) -> dict[str, dict[str, Any]]:
    """Registers the run's sources and curates them, stage by stage; returns counts per stage."""
    params = params or NightlyParams()
    cfg = load_config()
    restrict_file_modes(cfg)  # raw infant media and the ledger are the owner's (or group's) only
    root = DataRoot(cfg.home).create()
    # One run per data root: a second is refused with the first named (DataRootBusy).
    with DataRootLock.hold(root, "nightly") as lock:
        return _curate(params, cfg, root, lock)


def _curate(params: NightlyParams, cfg: CradleConfig, root: DataRoot,
            lock: DataRootLock) -> dict[str, dict[str, Any]]:
    """The nightly flow's work, run while it holds the data root."""
    logger = get_run_logger()
    sweep_leftovers(root)  # what killed runs left; no live run owns any of it now
    open_ledger(cfg.ledger_url)

    ledger = Ledger(cfg.ledger_url)
    close_crashed_flow_runs(ledger.close_abandoned_runs())
    run_id = ledger.start_run("nightly", {**params.model_dump(mode="json"),
                                          "prefect_flow_run": str(flow_run.id)})
    lock.update(run_id=run_id)
    try:
        summary: dict[str, dict[str, Any]] = {}
        clips = collect(params.source_lists, cfg.sources).clips if params.source_lists else []
        ctx = RunContext(cfg, run_id)
        with contextlib.ExitStack() as stack:
            fetching = ctx
            if params.demo:
                segments = prepare_demo_corpus(root.demo, cfg.demo.seed, cfg.demo.train_size)
                clips += [clip for clip in read_audioset_csv(segments, url_template=DEMO_URL,
                                                             id_prefix="demo")
                          if cfg.demo.selects(clip.url)]
                # The demo goes through the real download path: a loopback server for this run.
                fetching = replace(ctx, demo_base_url=stack.enter_context(serve_corpus(root.demo)))
                logger.info("demo corpus served at %s", fetching.demo_base_url)
            summary["sources"] = {"clips": len(clips), "new": register_sources(ctx, clips)}
            summary["download"] = download_clips(clips, fetching)
        downloaded = passed(ledger, clips, download.STAGE.name)
        summary["audio"] = run_stage(audio.STAGE, downloaded, ctx)
        heard = passed(ledger, downloaded, audio.STAGE.name)
        summary["faces"] = run_stage(faces.STAGE, heard, ctx)
        tracked = passed(ledger, heard, faces.STAGE.name)
        prepare_face_model(ctx, tracked)
        summary["fitting"] = run_stage(fitting.STAGE, tracked, ctx)
        summary["shards"] = build_shards(ctx, params.dataset)
        if cfg.storage.raw_media != "keep":
            summary["retention"] = apply_retention(ctx)

        export_run(ctx)
        _publish(run_id, summary, ledger)
        ledger.finish_run(run_id, "completed")
        return summary
    except BaseException:
        ledger.finish_run(run_id, "crashed")
        raise
    finally:
        ledger.close()


def _publish(run_id: str, summary: dict[str, dict[str, Any]], ledger: Ledger) -> None:
    rows = [
        {"stage": c.stage, "status": c.status, "reason": c.reason or "", "clips": c.clips}
        for c in ledger.status_counts()
    ]
    create_markdown_artifact(
        key="nightly-summary",
        markdown="\n".join([f"# Cradle run {run_id}", ""]
                           + [f"- {stage}: {counts}" for stage, counts in summary.items()]),
    )
    create_table_artifact(key="nightly-outcomes", table=rows or [{"stage": "", "clips": 0}])

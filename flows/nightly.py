"""The nightly flow: register sources, then run every curation stage over batches of clips.

Wiring only: each task wraps one library call; stages themselves never import Prefect.
"""

from __future__ import annotations

import contextlib
import functools
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from pydantic import BaseModel, Field

from demo.server import serve_corpus
from flows.batches import count_outcomes, passed, run_stage
from flows.ingest import download_clips
from manifests.ledger import Ledger
from manifests.ledger.export import export_manifests
from manifests.records import Clip
from stages.audio import stage as audio
from stages.config import CradleConfig, load_config
from stages.contract import StageSpec
from stages.faces import stage as faces
from stages.fitting import stage as fitting
from stages.fitting.config import FittingConfig
from stages.paths import DataRoot
from stages.shards.config import ShardsConfig
from stages.shards.stage import build_dataset, record_clip_outcomes
from stages.sources.stage import DEMO_URL, collect, read_audioset_csv, register_clips


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
def register_sources(url: str, clips: list[Clip], run_id: str) -> int:
    ledger = Ledger(url)
    try:
        return len(register_clips(ledger, clips, run_id=run_id))
    finally:
        ledger.close()


@task
def prepare_demo_corpus(folder: Path, seed: int) -> Path:
    """Generates the demo corpus unless an intact one with this seed is already there."""
    from demo import generate_corpus

    generate_corpus(folder, seed=seed)
    return folder / "segments.csv"


@task
def prepare_face_model(cfg: FittingConfig, root: DataRoot, clips: list[Clip]) -> Path | None:
    """The open face model is learnt from accepted tracks the first time it is needed."""
    return fitting.ensure_open_model(cfg, root, clips)


@task
def build_shards(url: str, root: DataRoot, cfg: ShardsConfig, dataset: str,
                 run_id: str) -> dict[str, Any]:
    """Builds (or confirms) the dataset version that matches the ledger after this run."""
    ledger = Ledger(url)
    try:
        card = build_dataset(ledger, root, cfg, dataset)
        new_clips = record_clip_outcomes(ledger, card, run_id)
    finally:
        ledger.close()
    return {"dataset": f"{card.name}@{card.version}", "shards": len(card.shards),
            "samples": card.samples, "new clips": new_clips}


@task
def export_run(url: str, out_dir: Path, run_id: str) -> dict[str, Path]:
    ledger = Ledger(url)
    try:
        return export_manifests(ledger, out_dir, run_id=run_id)
    finally:
        ledger.close()


@flow(name="cradle-nightly")
def nightly(params: NightlyParams | None = None) -> dict[str, dict[str, Any]]:
    """Registers the run's sources and curates them, stage by stage; returns counts per stage."""
    params = params or NightlyParams()
    logger = get_run_logger()
    cfg = load_config()
    root = DataRoot(cfg.home).create()
    open_ledger(cfg.ledger_url)

    ledger = Ledger(cfg.ledger_url)
    run_id = ledger.start_run("nightly", params.model_dump(mode="json"))
    try:
        summary: dict[str, dict[str, Any]] = {}
        clips = collect(params.source_lists, cfg.sources) if params.source_lists else []
        with contextlib.ExitStack() as stack:
            demo_url = None
            if params.demo:
                segments = prepare_demo_corpus(root.demo, cfg.demo.seed)
                clips += read_audioset_csv(segments, url_template=DEMO_URL, id_prefix="demo")
                # The demo goes through the real download path: a loopback server for this run.
                demo_url = stack.enter_context(serve_corpus(root.demo))
                logger.info("demo corpus served at %s", demo_url)
            added = register_sources(cfg.ledger_url, clips, run_id)
            summary["sources"] = {"clips": len(clips), "new": added}
            summary["download"] = download_clips(clips, cfg, cfg.ledger_url, run_id,
                                                 demo_base_url=demo_url)
        downloaded = passed(ledger, clips, "download")
        curate = functools.partial(_curate, cfg=cfg, root=root, ledger=ledger, run_id=run_id)
        summary["audio"] = curate(audio.STAGE, downloaded, cfg.audio, "audio")
        heard = passed(ledger, downloaded, "audio")
        summary["faces"] = curate(faces.STAGE, heard, cfg.faces, "faces")
        tracked = passed(ledger, heard, "faces")
        prepare_face_model(cfg.fitting, root, tracked)
        summary["fitting"] = curate(fitting.STAGE, tracked, cfg.fitting, "fitting")
        summary["shards"] = build_shards(cfg.ledger_url, root, cfg.shards, params.dataset,
                                         run_id)

        export_run(cfg.ledger_url, root.run_dir(run_id), run_id)
        _publish(run_id, summary, ledger)
        ledger.finish_run(run_id, "completed")
        return summary
    except BaseException:
        ledger.finish_run(run_id, "crashed")
        raise
    finally:
        ledger.close()


def _curate(stage: StageSpec, clips: list[Clip], section: Any, section_name: str, *,
            cfg: CradleConfig, root: DataRoot, ledger: Ledger, run_id: str) -> dict[str, int]:
    """Runs one stage over the clips in batches; counts this run's outcomes by status."""
    results = run_stage(stage, clips, section, cfg.section_hash(section_name), root,
                        cfg.ledger_url, run_id, cfg.run.batch_size)
    return dict(count_outcomes(results, len(clips)))


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

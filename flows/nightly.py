"""The nightly flow: register sources, then run every curation stage over batches of clips.

Wiring only: each task wraps one library call; stages themselves never import Prefect.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from pydantic import BaseModel, Field

from manifests.export import export_manifests
from manifests.ledger import Ledger
from manifests.records import Clip
from stages.config import load_config
from stages.demo.server import serve_corpus
from stages.paths import DataRoot
from stages.sources import DEMO_URL, read_audioset_csv, register_clips


class NightlyParams(BaseModel):
    """What one run works on."""

    demo: bool = Field(False, description="Curate the offline demo corpus (made if missing).")
    source_lists: list[Path] = Field(
        default_factory=list, description="AudioSet-format segment CSVs to register."
    )


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
    from stages.demo import generate_corpus

    generate_corpus(folder, seed=seed)
    return folder / "segments.csv"


@task
def export_run(url: str, out_dir: Path, run_id: str) -> dict[str, Path]:
    ledger = Ledger(url)
    try:
        return export_manifests(ledger, out_dir, run_id=run_id)
    finally:
        ledger.close()


@flow(name="cradle-nightly")
def nightly(params: NightlyParams | None = None) -> dict[str, int]:
    """Registers the configured sources and curates them; returns counts for the summary."""
    params = params or NightlyParams()
    logger = get_run_logger()
    cfg = load_config()
    root = DataRoot(cfg.home).create()
    open_ledger(cfg.ledger_url)

    ledger = Ledger(cfg.ledger_url)
    run_id = ledger.start_run("nightly", params.model_dump(mode="json"))
    try:
        clips: list[Clip] = []
        for source in params.source_lists:
            clips += read_audioset_csv(source)
        with contextlib.ExitStack() as stack:
            if params.demo:
                segments = prepare_demo_corpus(root.demo, cfg.demo.seed)
                clips += read_audioset_csv(segments, url_template=DEMO_URL, id_prefix="demo")
                # The demo goes through the real download path: a loopback server for this run.
                demo_url = stack.enter_context(serve_corpus(root.demo))
                logger.info("demo corpus served at %s", demo_url)
            added = register_sources(cfg.ledger_url, clips, run_id)
            logger.info("registered %d new of %d source clips", added, len(clips))

        summary = {"source_clips": len(clips), "new_clips": added,
                   "ledger_clips": ledger.clip_count()}
        export_run(cfg.ledger_url, root.run_dir(run_id), run_id)
        _publish(run_id, summary, ledger)
        ledger.finish_run(run_id, "completed")
        return summary
    except BaseException:
        ledger.finish_run(run_id, "crashed")
        raise
    finally:
        ledger.close()


def _publish(run_id: str, summary: dict[str, int], ledger: Ledger) -> None:
    rows = [
        {"stage": c.stage, "status": c.status, "reason": c.reason or "", "clips": c.clips}
        for c in ledger.status_counts()
    ]
    create_markdown_artifact(
        key="nightly-summary",
        markdown="\n".join([f"# Cradle run {run_id}", ""]
                           + [f"- {name.replace('_', ' ')}: {n}" for name, n in summary.items()]),
    )
    create_table_artifact(key="nightly-outcomes", table=rows or [{"stage": "", "clips": 0}])

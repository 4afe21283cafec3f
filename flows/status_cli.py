"""`cradle status`: where every clip stands, as tables for people or JSON for scripts."""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from demo.variants import LABEL_NAMES as DEMO_LABEL_NAMES
from flows.console import config_or_exit, console, ledger_or_exit
from manifests.errors import ConfigError
from manifests.ledger import Ledger, Review
from manifests.outcomes import PIPELINE_STAGES, ReasonCode, Status
from stages.config import CradleConfig
from stages.sources.ontology import Ontology, ontology_path

log = logging.getLogger(__name__)
COLUMNS = [s.value for s in Status] + ["pending"]
CURATED_AT = "fitting"  # the last stage that judges a clip: past it, a clip is training data


def status(as_json: Annotated[bool, typer.Option(
        "--json", help="Print the counts as JSON for scripts.")] = False) -> None:
    """Show how many clips stand where: per stage, by status and reason, per label."""
    cfg = config_or_exit()
    ledger = ledger_or_exit(cfg)
    try:
        summary = status_summary(ledger, label_names(cfg))
    finally:
        ledger.close()
    if as_json:
        print(json.dumps(summary, indent=2))
        return
    if summary["clips"] == 0:
        console.print(f"The ledger at {ledger.safe_url} holds no clips yet. "
                      "Run [bold]cradle run --demo[/] to curate the demo corpus.")
        return
    console.print(_stage_table(summary))
    for table in (_reason_table(summary), _label_table(summary), _review_table(summary)):
        if table.row_count:
            console.print(table)


def label_names(cfg: CradleConfig, source_lists: Sequence[Path] = ()) -> dict[str, str]:
    """MID -> AudioSet name for every label Cradle can name: the demo's, and those of the
    ontology of each source list (`ontology_path`), or the configured one without lists.

    An ontology that cannot be read costs its names only: the counts matter more.
    """
    names = dict(DEMO_LABEL_NAMES)
    configured = {cfg.sources.ontology} if cfg.sources.ontology else set()
    wanted = {ontology_path(cfg.sources, path) for path in source_lists} or configured
    for path in sorted(wanted):
        if path not in configured and not path.is_file():
            continue  # no ontology beside a URL list: its labels are names already
        try:
            names |= Ontology.load(path).names
        except ConfigError as e:
            log.warning("label names left out: %s", e)
    return names


def status_summary(ledger: Ledger, names: dict[str, str]) -> dict[str, Any]:
    """Every count `cradle status` shows, as plain data.

    `labels` counts each label's clips and how many of them came through curation (their fit
    passed); `name` is null where no ontology names the label.
    """
    counts = ledger.status_counts()
    clips = ledger.clips()
    stages: dict[str, dict[str, int]] = {}
    for count in sorted(counts, key=lambda c: _order(c.stage)):
        stages.setdefault(count.stage, dict.fromkeys(COLUMNS, 0))[count.status] += count.clips
    curated = set(ledger.passed(CURATED_AT, [clip.id for clip in clips]))
    per_label = Counter(label for clip in clips for label in clip.labels)
    per_label_curated = Counter(label for clip in clips if clip.id in curated
                                for label in clip.labels)
    return {
        "clips": len(clips),
        "stages": stages,
        "reasons": [{"stage": c.stage, "status": c.status, "reason": c.reason, "clips": c.clips,
                     "meaning": ReasonCode(c.reason).description}
                    for c in sorted(counts, key=lambda c: (_order(c.stage), c.status, -c.clips))
                    if c.reason],
        "labels": [{"label": label, "name": names.get(label), "clips": n,
                    "curated": per_label_curated[label]}
                   for label, n in sorted(per_label.items(), key=lambda kv: (-kv[1], kv[0]))],
        "reviews": _review_counts(ledger.all_reviews()),
    }


def _order(stage: str) -> int:
    return PIPELINE_STAGES.index(stage) if stage in PIPELINE_STAGES else len(PIPELINE_STAGES)


def _review_counts(reviews: list[Review]) -> list[dict[str, Any]]:
    """Clips per stage by their newest review decision (`cradle review` records them)."""
    newest = {(r.clip_id, r.stage): r.decision for r in reviews}  # oldest first: last wins
    tally = Counter((stage, decision) for (_, stage), decision in newest.items())
    return [{"stage": stage, "decision": decision.value, "clips": clips,
             "effect": decision.effect}
            for (stage, decision), clips in sorted(
                tally.items(), key=lambda kv: (_order(kv[0][0]), kv[0][1]))]


def _stage_table(summary: dict[str, Any]) -> Table:
    table = Table(title=f"Clips per stage ({summary['clips']} clips in the ledger)")
    table.add_column("stage")
    for column in COLUMNS:
        table.add_column(column, justify="right")
    for stage, per_status in summary["stages"].items():
        table.add_row(stage, *(str(per_status[c]) for c in COLUMNS))
    return table


def _reason_table(summary: dict[str, Any]) -> Table:
    table = Table(title="Why clips stopped (latest attempt)")
    for column in ("stage", "status", "reason", "clips", "meaning"):
        table.add_column(column, justify="right" if column == "clips" else "left")
    for row in summary["reasons"]:
        table.add_row(row["stage"], row["status"], row["reason"], str(row["clips"]),
                      row["meaning"])
    return table


def _label_table(summary: dict[str, Any]) -> Table:
    table = Table(title="Clips per label (curated: their fit passed)",
                  caption=None if all(r["name"] for r in summary["labels"]) else
                  "set sources.ontology to AudioSet's ontology.json to see every label's name")
    for column in ("label", "clips", "curated"):
        table.add_column(column, justify="left" if column == "label" else "right")
    for row in summary["labels"]:
        shown = f"{row['name']} ({row['label']})" if row["name"] else row["label"]
        table.add_row(shown, str(row["clips"]), str(row["curated"]))
    return table


def _review_table(summary: dict[str, Any]) -> Table:
    table = Table(title="Review outcomes (newest decision per clip)")
    for column in ("stage", "decision", "clips", "effect on the next run"):
        table.add_column(column, justify="right" if column == "clips" else "left")
    for row in summary["reviews"]:
        table.add_row(row["stage"], row["decision"], str(row["clips"]), row["effect"])
    return table

"""The run report: what a data engineer reads in the morning, in Prefect's UI and the terminal.

One markdown summary written for people (counts per stage, throughput, the top reasons in words,
breaker events, the dataset version and its growth), a table of this run's rejections clip by clip
with a link to each clip's review page, and links to the run's exports and the dataset card. The
same summary is saved as `runs/<run_id>/report.md` (and `report.json` for scripts) and printed by
`cradle run`. Paths are named relative to the data root: the report reaches Prefect's database.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

from prefect.artifacts import (
    create_link_artifact,
    create_markdown_artifact,
    create_table_artifact,
)
from prefect.runtime import flow_run

from flows.params import DEFAULT_DATASET, DEMO_DATASET
from flows.session import Session
from manifests.files import atomic_write_json, atomic_write_text
from manifests.ledger.attempts import Attempt
from manifests.ledger.export import export_manifests
from manifests.outcomes import PIPELINE_STAGES, RUN_METRICS, Status
from review.settings import load_settings

COUNT_COLUMNS = ("ok", "rejected", "failed", "retry", "deferred", "skipped", "unscheduled")
CURATION_STAGES = ("download", "audio", "faces", "fitting")
# Throughput counts the clips these stages gave a verdict: a download, failed or not, is fetching.
JUDGING_STAGES = ("audio", "faces", "fitting")
VERDICTS = (Status.OK, Status.REJECTED)
HEADLINE = {"lve": "LVE", "dtw": "DTW", "pcc": "L-PCC", "ccc": "L-CCC"}  # metrics: name
TOP_REASONS = 8
MEASUREMENTS_SHOWN = 4


@dataclass
class RunReport:
    """One run's report, as saved in `report.json`."""

    flow: str
    run_id: str
    prefect_flow_run: str
    elapsed_s: float
    stages: dict[str, dict[str, Any]]
    clips_curated: int  # clips given an audio, faces or fitting verdict (ok or rejected)
    media_seconds: float  # their length: the run's "x real time" is this over elapsed_s
    reasons: list[dict[str, Any]]  # the top reasons of this run's stops, most clips first
    rejections: list[dict[str, Any]]  # every clip this run stopped, with its measurement
    outputs: dict[str, str] = field(default_factory=dict)  # name -> path in the data root
    next_steps: list[str] = field(default_factory=list)

    @property
    def clips_per_minute(self) -> float:
        return 60.0 * self.clips_curated / self.elapsed_s if self.elapsed_s else 0.0

    @property
    def real_time_factor(self) -> float:
        return self.media_seconds / self.elapsed_s if self.elapsed_s else 0.0


def publish_report(session: Session, flow_name: str, summary: dict[str, dict[str, Any]],
                   dataset: str | None = None) -> RunReport:
    """Exports the run's manifests, saves its report and publishes both as Prefect artifacts.

    Args:
        dataset: the dataset the run builds, so that the commands it suggests target it too.
    """
    run_dir = session.root.run_dir(session.run_id)
    exports = export_manifests(session.ledger, run_dir, run_id=session.run_id)
    report = build_report(session, flow_name, summary, dataset)
    report.outputs |= {name: session.root.relative(path) for name, path in exports.items()}
    report.outputs["report"] = session.root.relative(run_dir / "report.md")
    atomic_write_json(run_dir / "report.json", {**asdict(report),
                                                "clips_per_minute": report.clips_per_minute,
                                                "real_time_factor": report.real_time_factor})
    markdown = render_markdown(report)
    atomic_write_text(run_dir / "report.md", markdown)
    key = f"cradle-{flow_name}"
    create_markdown_artifact(key=f"{key}-summary", markdown=markdown,
                             description=f"Cradle {flow_name} run {report.run_id}")
    create_table_artifact(key=f"{key}-rejected-clips",
                          table=report.rejections or [dict.fromkeys(REJECTION_COLUMNS, "")],
                          description="This run's rejections and failures, clip by clip")
    for name, path in report.outputs.items():
        create_link_artifact(key=f"{key}-link-{name.replace('_', '-')}", link=path,
                             link_text=f"{name}: {path} (in the data root)")
    return report


REJECTION_COLUMNS = ("clip", "stage", "status", "reason", "measurement", "review")


def build_report(session: Session, flow_name: str, summary: dict[str, dict[str, Any]],
                 dataset: str | None = None) -> RunReport:
    attempts = session.ledger.run_attempts(session.run_id)
    stopped = [a for a in attempts if a.status is not Status.OK and a.stage in PIPELINE_STAGES]
    curated = {a.clip_id for a in attempts if a.stage in JUDGING_STAGES and a.status in VERDICTS}
    clips = {clip.id: clip for clip in session.ledger.clips(sorted(curated))} if curated else {}
    review_url = load_settings().base_url
    reasons = Counter((a.stage, a.status.value, a.reason) for a in stopped)
    version = summary.get("shards", {}).get("dataset")
    outputs = {}
    if version:
        name, number = version.split("@")
        outputs["dataset_card"] = f"shards/{name}/{number}/dataset.json"
    if "report" in summary.get("evaluation", {}):  # absent when evaluation was skipped
        outputs["evaluation"] = summary["evaluation"]["report"]
        outputs["metrics"] = summary["evaluation"]["metrics"]
    return RunReport(
        flow=flow_name, run_id=session.run_id, prefect_flow_run=str(flow_run.id),
        elapsed_s=round(time.monotonic() - session.started, 1), stages=summary,
        clips_curated=len(curated),
        media_seconds=round(sum(c.end_s - c.start_s for c in clips.values()), 1),
        reasons=[{"stage": stage, "status": status, "reason": reason.value if reason else None,
                  "clips": n, "meaning": reason.description if reason else ""}
                 for (stage, status, reason), n in reasons.most_common(TOP_REASONS)],
        rejections=[_rejection_row(a, review_url) for a in stopped],
        outputs=outputs, next_steps=_next_steps(summary, {a.status for a in stopped}, dataset),
    )


def _rejection_row(attempt: Attempt, review_url: str) -> dict[str, Any]:
    return {"clip": attempt.clip_id, "stage": attempt.stage, "status": attempt.status.value,
            "reason": attempt.reason.value if attempt.reason else "",
            "measurement": measurement(attempt.metrics),
            "review": f"{review_url}/clips/{attempt.clip_id}"}


def measurement(metrics: dict[str, Any]) -> str:
    """The numbers behind a verdict, short enough for a table cell."""
    shown = []
    for key, value in metrics.items():
        if key in RUN_METRICS or isinstance(value, dict | list):
            continue
        shown.append(f"{key}={round(value, 3) if isinstance(value, float) else value}")
        if len(shown) == MEASUREMENTS_SHOWN:
            break
    return ", ".join(shown)


def _next_steps(summary: dict[str, dict[str, Any]], stops: set[Status],
                dataset: str | None) -> list[str]:
    """What to run next; review only for rejections, which annotators can act on (a retry or a
    failure is a fault, not a verdict)."""
    steps = ["cradle status"]
    if Status.REJECTED in stops:
        steps.append("cradle review serve  (annotators confirm or override the rejections)")
    if Status.RETRY in stops:
        steps.append(f"cradle retry-failed{dataset_option(dataset)}  (re-runs the clips left "
                     "at a retry)")
    version = summary.get("shards", {}).get("dataset")
    if version:
        steps.append(f"cradle datasets show {version.split('@')[0]}")
    model = summary.get("training", {}).get("run")
    if model:
        steps.append(f"cradle sample --checkpoint <data root>/{model} --audio FILE")
    elif version:
        steps.append(f"cradle train --dataset {version.split('@')[0]}")
    return steps


def dataset_option(dataset: str | None) -> str:
    """The option that points `build-shards` or `retry-failed` at `dataset`: `--demo` for the
    demo's, none for the default."""
    if dataset in (None, DEFAULT_DATASET):
        return ""
    return " --demo" if dataset == DEMO_DATASET else f" --dataset {dataset}"


def render_markdown(report: RunReport) -> str:
    """The report for people: Prefect's UI shows it, `cradle run` prints it."""
    lines = [f"# Cradle {report.flow} run {report.run_id}", "",
             f"Prefect flow run `{report.prefect_flow_run}`, {_duration(report.elapsed_s)}.", ""]
    stage_rows = [(stage, counts) for stage, counts in report.stages.items()
                  if any(k in counts for k in COUNT_COLUMNS)]
    if stage_rows:
        lines += ["| stage | " + " | ".join(COUNT_COLUMNS) + " |",
                  "|---|" + "---:|" * len(COUNT_COLUMNS)]
        lines += [f"| {stage} | " + " | ".join(str(counts.get(c, 0)) for c in COUNT_COLUMNS)
                  + " |" for stage, counts in stage_rows]
        lines.append("")
    if report.clips_curated:
        lines += [f"Throughput: {_clips(report.clips_curated)} ({report.media_seconds:.0f} s of "
                  f"media) in {_duration(report.elapsed_s)}: {report.clips_per_minute:.1f} "
                  f"clips/min, {report.real_time_factor:.2f}x real time.", ""]
    elif any(stage in report.stages for stage in CURATION_STAGES):
        lines += ["Throughput: none; no clip reached an audio, faces or fitting verdict in this "
                  "run.", ""]
    lines += _dataset_lines(report.stages) + _breaker_lines(report.stages)
    lines += model_markdown(report.stages).splitlines()
    if report.reasons:
        lines += ["## Why clips stopped in this run", ""]
        lines += [f"- **{r['reason'] or r['status']}** at {r['stage']} ({_clips(r['clips'])}): "
                  f"{r['meaning']}" for r in report.reasons]
        lines.append("")
    if report.outputs:
        lines += ["## Outputs (in the data root)", ""]
        lines += [f"- {name}: `{path}`" for name, path in report.outputs.items()]
        lines.append("")
    if report.next_steps:
        lines += ["## Next", ""] + [f"- `{step}`" for step in report.next_steps] + [""]
    return "\n".join(lines)


def model_markdown(summary: dict[str, dict[str, Any]]) -> str:
    """The model part of a report: the run, its losses and its headline metrics."""
    lines = []
    decision = summary.get("training decision")
    if decision:
        lines += [f"Training: {decision['why']}" + ("; training now." if decision["train"] else
                                                    "; no training this run."), ""]
    training = summary.get("training")
    if training and "error" in training:
        lines += [f"Training failed: {training['error']}", ""]
    elif training:
        lines += [f"Model **{training['run']}**: step {training['step']}, loss "
                  f"{training['loss']}, validation loss {training['val loss']}.", ""]
    evaluation = summary.get("evaluation")
    if evaluation and "skipped because" in evaluation:
        lines += [f"Evaluation skipped: {evaluation['skipped because']}.", ""]
    elif evaluation:
        lines += [f"Evaluation on {evaluation['dataset']} ({evaluation['windows']} test "
                  "windows): " + ", ".join(f"{title} {evaluation[title]}"
                                           for title in HEADLINE.values())
                  + f"; every metric and baseline in `{evaluation['metrics']}`.", ""]
    return "\n".join(lines)


def _dataset_lines(stages: dict[str, dict[str, Any]]) -> list[str]:
    shards = stages.get("shards")
    if not shards:
        return []
    if not shards.get("dataset"):
        return ["Dataset: no clip has passed every stage yet, so no version was made.", ""]
    growth = shards.get("growth")
    grown = (f", {growth:+.0%} samples over {shards['parent']}" if growth is not None
             else ", its first version" if not shards.get("parent") else "")
    state = "new version" if shards.get("new version") else "unchanged"
    return [f"Dataset: **{shards['dataset']}** ({state}): {shards['samples']} samples in "
            f"{shards['shards']} shards{grown}.", ""]


def _breaker_lines(stages: dict[str, dict[str, Any]]) -> list[str]:
    breaker = stages.get("download", {}).get("breaker")
    if not breaker:
        return []
    return [f"Circuit breaker: opened on `{breaker.get('reason')}` at clip "
            f"{breaker.get('clip_id')} ({breaker.get('opened_at')}); the clips left wait for "
            "the next run.", ""]


def _duration(seconds: float) -> str:
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest} s" if minutes else f"{rest} s"


def _clips(count: int) -> str:
    return f"{count} clip" if count == 1 else f"{count} clips"

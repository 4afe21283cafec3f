"""Training and evaluation wiring: the `train` and `evaluate` flows, and the nightly rule that
trains once the dataset has grown enough since the newest model's version.

Wiring only: `model.train.main` trains (resuming a killed run), `model.evaluate.evaluate`
scores a run against the baselines. Models read shard versions, which never change, so these
flows do not hold the data root: a modeller can train while a nightly run curates.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from pydantic import BaseModel, Field

from flows.params import DEFAULT_DATASET
from flows.report import HEADLINE, model_markdown
from manifests.errors import CradleError
from manifests.formats.dataset import load_card
from model.checkpoint import latest_step
from model.train_config import CONFIG_FILE, TrainConfig, load_preset
from stages.config import CradleConfig, TrainingConfig, load_config
from stages.paths import DataRoot


class TrainParams(BaseModel):
    dataset: str = Field(DEFAULT_DATASET, description="NAME (its latest version) or NAME@VERSION.")
    preset: str = Field("infant-diffusion", description="A preset in model/presets.")
    steps: int | None = Field(None, ge=1, description="Training steps; None: the preset's.")
    evaluate: bool = Field(True, description="Evaluate the trained run on the test split.")


class EvaluateParams(BaseModel):
    run: str = Field(description="A model run folder under <home>/models.")
    dataset: str | None = Field(None, description="NAME[@VERSION]; None: the run's own.")


@dataclass(frozen=True)
class TrainingDecision:
    """Whether a nightly run trains, and why, in words for its report."""

    train: bool
    why: str


def training_due(cfg: TrainingConfig, root: DataRoot, dataset: str, preset: str
                 ) -> TrainingDecision:
    """The nightly rule: train when the newest version of `dataset` has grown by
    `retrain_growth` (in samples) over the version the newest `preset` model used, when no such
    model exists yet, or when that model's own training was cut short (it resumes)."""
    if not cfg.nightly:
        return TrainingDecision(False, "training.nightly is off")
    current = load_card(root.shards, dataset)
    if not any(ref.split == "train" for ref in current.shards):
        return TrainingDecision(False, f"{current.name}@{current.version} has no train samples "
                                       "yet (splits go by source video)")
    models = _models_of(root.models, current.name, preset)
    if not models:
        return TrainingDecision(True, f"no {preset} model of {current.name} yet")
    newest_cfg, newest = models[-1]
    trained = load_card(root.shards, newest_cfg.dataset)
    if trained.version == current.version:
        done = latest_step(newest) >= newest_cfg.steps
        return TrainingDecision(not done, f"{newest.name} was trained on {trained.version}"
                                + ("" if done else "; its training was cut short: resuming"))
    growth = current.samples / max(trained.samples, 1) - 1
    due = growth >= cfg.retrain_growth
    return TrainingDecision(due, f"{current.version} has {growth:+.0%} samples over "
                                 f"{trained.version}, which {newest.name} used (threshold "
                                 f"{cfg.retrain_growth:+.0%})")


def _models_of(models: Path, dataset: str, preset: str) -> list[tuple[TrainConfig, Path]]:
    """The preset's runs on `dataset`, oldest version first (run folders hold config.json)."""
    found = []
    for config in sorted(models.glob(f"*/{CONFIG_FILE}")):
        cfg = TrainConfig.load(config.parent)
        name, _, version = cfg.dataset.partition("@")
        if name == dataset and cfg.preset == preset and version:
            found.append((version, cfg, config.parent))
    return [(cfg, folder) for _, cfg, folder in sorted(found, key=lambda f: f[0])]


def train_config(cfg: CradleConfig, params: TrainParams) -> TrainConfig:
    overrides = [f"dataset={params.dataset}"]
    if params.steps is not None:
        overrides.append(f"steps={params.steps}")
    return load_preset(params.preset).with_overrides(overrides)


@task(cache_policy=NO_CACHE, tags=["gpu"])
def train_model(cfg: CradleConfig, params: TrainParams) -> dict[str, Any]:
    """Trains (or resumes) the run; the GPU when present (`model.train.main`)."""
    from model.train import TrainPaths, main

    root = DataRoot(cfg.home)
    result = main(train_config(cfg, params),
                  TrainPaths(root.home, root.shards, root.models, root.cache),
                  show_progress=False)
    return {"run": root.relative(result.run_dir), "step": result.step,
            "loss": round(result.losses[-1], 4) if result.losses else None,
            "val loss": round(result.val_losses[-1][1], 4) if result.val_losses else None}


@task(cache_policy=NO_CACHE, tags=["gpu"])
def evaluate_model(cfg: CradleConfig, run: str, dataset: str | None = None) -> dict[str, Any]:
    """Scores the run and the baselines on the test split (`model.evaluate.evaluate`); a
    version with no test samples yet is skipped with the reason, as the run's report says."""
    from model.data import EmptySplitError
    from model.evaluate import EvalConfig, evaluate

    root = DataRoot(cfg.home)
    try:
        report = evaluate([root.home / run], root.home, dataset,
                          EvalConfig(bootstrap=cfg.training.bootstrap, report=True,
                                     regressor=cfg.training.regressor_baseline))
    except EmptySplitError as e:
        get_run_logger().warning("evaluation skipped: %s", e)
        return {"skipped because": str(e)}  # not "skipped": the report counts that key
    folder = Path(run) / "eval" / f"{report['dataset'].replace('@', '-')}-{report['split']}"
    name = Path(run).name
    headline = {title: round(report["results"][name]["metrics"][key]["mean"], 4)
                for key, title in HEADLINE.items()}
    return {"dataset": report["dataset"], "windows": report["windows"], **headline,
            "metrics": f"{folder}/metrics.json", "report": f"{folder}/report/index.html"}


def train_and_evaluate(cfg: CradleConfig, params: TrainParams) -> dict[str, dict[str, Any]]:
    """Trains, then evaluates when asked: the `train` flow's work and the nightly run's."""
    summary = {"training": train_model(cfg, params)}
    if params.evaluate:
        summary["evaluation"] = evaluate_model(cfg, summary["training"]["run"])
    return summary


def nightly_training(cfg: CradleConfig, dataset: str, demo: bool) -> dict[str, dict[str, Any]]:
    """Trains and evaluates when `training_due` says so; the decision is in the summary."""
    preset = "demo" if demo else cfg.training.preset
    decision = training_due(cfg.training, DataRoot(cfg.home), dataset, preset)
    get_run_logger().info("training: %s", decision.why)
    summary: dict[str, dict[str, Any]] = {"training decision": {"train": decision.train,
                                                                "why": decision.why}}
    if decision.train:
        try:
            steps = cfg.training.demo_steps if demo else cfg.training.steps
            summary |= train_and_evaluate(cfg, TrainParams(dataset=dataset, preset=preset,
                                                           steps=steps))
        except (CradleError, ValueError) as e:  # e.g. losses needing a face model
            # The curation this run did stands; the report says why no model came of it.
            get_run_logger().warning("training: %s", e)
            summary["training"] = {"error": str(e)}
    return summary


@flow(name="cradle-train")
def train(params: TrainParams | None = None) -> dict[str, dict[str, Any]]:
    """Trains (or resumes) a model on a dataset version, then evaluates it."""
    params = params or TrainParams()
    cfg = load_config()
    summary = train_and_evaluate(cfg, params)
    create_markdown_artifact(key="cradle-train-summary", markdown=model_markdown(summary))
    return summary


@flow(name="cradle-evaluate")
def evaluate(params: EvaluateParams) -> dict[str, dict[str, Any]]:
    """Scores a trained run and the baselines on the test split."""
    summary = {"evaluation": evaluate_model(load_config(), params.run, params.dataset)}
    create_markdown_artifact(key="cradle-evaluate-summary", markdown=model_markdown(summary))
    return summary

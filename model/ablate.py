"""`cradle evaluate --ablate`: the study's ablations, scored in the same table as the model.

An ablation either retrains the checkpoint's own config with a few overrides (band width, FiLM
vs an added timestep, without the lip and DTW losses; `REGRESSOR`, without diffusion, is the
evaluator's regressor baseline) or samples the checkpoint differently
(DDIM steps, guidance scale). Retrained variants are ordinary runs beside the checkpoint's, named
by their config's hash, so a second `--ablate` reuses them (or resumes them if interrupted).
The list lives in `model/ablations.json`; `--ablations FILE` swaps in another.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from model.checkpoint import TrainedModel, load_trained
from model.train import TrainPaths, main
from model.train_config import TrainConfigError

if TYPE_CHECKING:
    from model.evaluate import EvalConfig

ABLATIONS = Path(__file__).parent / "ablations.json"


@dataclass(frozen=True)
class Ablation:
    """One row of the ablation table: retrain with `train` overrides, or sample differently."""

    name: str
    why: str = ""
    train: tuple[str, ...] = ()  # `--set` overrides of the checkpoint's config
    steps: int | None = None  # DDIM steps to sample with
    guidance: float | None = None  # classifier-free guidance scale to sample with


@dataclass(frozen=True)
class Variant:
    """An ablation made concrete: the model to score and how to sample it."""

    name: str
    model: TrainedModel
    cfg: EvalConfig


# FaceTalk's "without diffusion": the same backbone and losses, one deterministic pass. The
# evaluator trains it as a baseline row, so the ablation list leaves it out.
REGRESSOR = Ablation("without diffusion", train=("task=regression",))


def load_ablations(path: Path | None = None) -> list[Ablation]:
    """The ablation list from JSON: [{"name": ..., "train": [...] | "steps": k | ...}, ...]."""
    source = path or ABLATIONS
    try:
        rows = json.loads(source.read_text())
        return [Ablation(**{**row, "train": tuple(row.get("train", ()))}) for row in rows]
    except (OSError, ValueError, TypeError) as e:
        raise TrainConfigError(f"cannot read the ablations in {source.name}: {e}") from e


def variants(run_dir: Path, model: TrainedModel, ablations: list[Ablation], home: Path,
             cfg: EvalConfig, train_steps: int | None = None,
             show_progress: bool = False) -> list[Variant]:
    """Each ablation of the checkpoint in `run_dir`, retrained where it needs to be.

    Args:
        train_steps: train the retrained variants this long instead of the checkpoint's own
            length (a quick look); the unablated config is then retrained as long too, as the
            `reference` row, so every retrained row is compared with its equal.
    """
    if model.cfg.task != "diffusion":
        raise TrainConfigError(f"--ablate needs a diffusion checkpoint; {run_dir.name} is a "
                               f"{model.cfg.task} model")
    paths = TrainPaths(home, home / "shards", run_dir.parent, home / "cache")
    steps = [f"steps={train_steps}"] if train_steps and train_steps != model.cfg.steps else []
    out: list[Variant] = []
    if steps and any(a.train for a in ablations):
        reference = main(model.cfg.with_overrides(steps), paths, show_progress=show_progress)
        out.append(Variant(f"reference ({train_steps} steps)", load_trained(reference.run_dir),
                           cfg))
    for ablation in ablations:
        variant = model
        if ablation.train:
            trained = main(model.cfg.with_overrides([*ablation.train, *steps]), paths,
                           show_progress=show_progress)
            variant = load_trained(trained.run_dir)
        sampled = replace(cfg, steps=ablation.steps if ablation.steps is not None else cfg.steps,
                          guidance=cfg.guidance if ablation.guidance is None
                          else ablation.guidance)
        out.append(Variant(ablation.name, variant, sampled))
    return out

"""Run folders and checkpoints: `models/<run>/` with config.json, checkpoints/, logs/.

A checkpoint holds everything that decides the rest of the run (weights, optimiser, scheduler,
EMA, the target statistics, every RNG state and the data position), so a resumed run continues
the uninterrupted one exactly. Writes are atomic: a kill mid-save leaves the previous checkpoint.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from manifests.errors import CradleError
from manifests.files import atomic_path
from model.denoiser import Denoiser, DenoiserConfig
from model.diffusion import Diffusion
from model.regressor import Regressor
from model.targets import Targets
from model.train_config import TrainConfig

CHECKPOINTS = "checkpoints"
LOGS = "logs"
KEEP = 2  # older checkpoints are removed once a newer one is safely written
_NAME = re.compile(r"^step-(\d{7})\.pt$")


class CheckpointError(CradleError):
    """A run folder or checkpoint is missing, or belongs to a different configuration."""


def run_folder(run_or_checkpoint: Path) -> Path:
    """A run folder, or the run a checkpoint file belongs to (`<run>/checkpoints/step-*.pt`)."""
    return run_or_checkpoint if run_or_checkpoint.is_dir() else run_or_checkpoint.parent.parent


def checkpoint_paths(run_dir: Path) -> list[Path]:
    """The run's checkpoints, oldest first."""
    folder = Path(run_dir) / CHECKPOINTS
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if _NAME.match(p.name))


def latest_step(run_dir: Path) -> int:
    """The step of the run's newest checkpoint; 0 before the first."""
    found = checkpoint_paths(run_dir)
    match = _NAME.match(found[-1].name) if found else None
    return int(match.group(1)) if match else 0


def save_checkpoint(run_dir: Path, step: int, state: dict[str, Any]) -> Path:
    path = Path(run_dir) / CHECKPOINTS / f"step-{step:07d}.pt"
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        torch.save(state, tmp)
    for old in checkpoint_paths(run_dir)[:-KEEP]:
        old.unlink()
    return path


def load_checkpoint(path: Path) -> dict[str, Any]:
    # Our own files, holding RNG states and config dicts besides tensors.
    state: dict[str, Any] = torch.load(path, map_location="cpu", weights_only=False)
    return state


def build_network(cfg: TrainConfig, denoiser: DenoiserConfig) -> nn.Module:
    """The network a config trains: the diffusion denoiser or the deterministic regressor."""
    return Denoiser(denoiser) if cfg.task == "diffusion" else Regressor(denoiser)


@dataclass
class TrainedModel:
    """What sampling needs from a run: the EMA network, its target map and the schedule."""

    cfg: TrainConfig
    denoiser_cfg: DenoiserConfig
    network: nn.Module
    targets: Targets
    diffusion: Diffusion
    face_model: dict[str, Any] | None  # the dataset card's face-model entry
    step: int
    fps: float  # video frames per second of the training data


def load_trained(run_or_checkpoint: Path, weights: str = "ema") -> TrainedModel:
    """A run folder (its newest checkpoint) or one checkpoint file, ready for inference."""
    path = Path(run_or_checkpoint)
    if path.is_dir():
        found = checkpoint_paths(path)
        if not found:
            raise CheckpointError(f"{path} holds no checkpoints; train first (cradle train)")
        path = found[-1]
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}")
    state = load_checkpoint(path)
    cfg = TrainConfig.from_dict(state["config"])
    denoiser_cfg = DenoiserConfig.from_dict(state["denoiser"])
    network = build_network(cfg, denoiser_cfg)
    if weights == "ema":
        ema = {k.removeprefix("module."): v for k, v in state["ema"].items()
               if k.startswith("module.")}
        network.load_state_dict(ema)
    else:
        network.load_state_dict(state["network"])
    network.eval()
    return TrainedModel(cfg, denoiser_cfg, network, Targets.from_state(state["targets"]),
                        Diffusion(cfg.diffusion), state.get("face_model"), int(state["step"]),
                        float(state["fps"]))

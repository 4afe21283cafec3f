"""The trainer: `main(cfg, paths)` trains one run on a dataset version's train split.

A run's folder name is a hash of its pinned config, so running the same command again resumes
the same run from its newest checkpoint, and reproduces the uninterrupted run's losses exactly:
the checkpoint carries the data position and every RNG state. The train split streams through
`model.data` (a shuffle buffer, any worker count); audio features come from the per-clip cache,
so a second epoch never re-encodes. AMP (bfloat16) on CUDA, float32 on CPU.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from transformers import get_cosine_schedule_with_warmup

from manifests.formats.dataset import DatasetCard, load_card
from model.audio.cache import FeatureCache
from model.audio.encoders import SAMPLE_RATE, AudioEncoder, load_encoder
from model.checkpoint import (
    LOGS,
    CheckpointError,
    build_network,
    checkpoint_paths,
    load_checkpoint,
    save_checkpoint,
)
from model.data import make_loader
from model.diffusion import Diffusion
from model.face.base import FaceModel
from model.face.from_card import load_card_face_model
from model.losses import Losses
from model.targets import Targets, raw_targets
from model.train_config import TrainConfig

log = logging.getLogger(__name__)

STATS_BATCHES = 4  # batches that set the target normalisation at the start of a run


@dataclass(frozen=True)
class TrainPaths:
    """Where a run reads and writes, all under the Cradle data home."""

    home: Path
    shards: Path
    runs: Path  # run folders: <runs>/<run name>/
    cache: Path  # audio features, shared by runs with the same encoder


@dataclass
class TrainResult:
    run_dir: Path
    step: int
    losses: list[float] = field(default_factory=list)  # the total training loss at every step
    val_losses: list[tuple[int, float]] = field(default_factory=list)


def run_name(cfg: TrainConfig) -> str:
    digest = hashlib.sha256(json.dumps(cfg.to_dict(), sort_keys=True).encode()).hexdigest()
    return f"{cfg.preset}-{cfg.dataset.replace('@', '-')}-{digest[:8]}"


def pin_dataset(cfg: TrainConfig, shards: Path) -> tuple[TrainConfig, DatasetCard]:
    """`NAME` becomes `NAME@<latest version>`, so a resumed run never switches data."""
    card = load_card(shards, cfg.dataset)
    return replace(cfg, dataset=f"{card.name}@{card.version}"), card


class Trainer:
    """One run's state and its step; `main` drives it."""

    def __init__(self, cfg: TrainConfig, paths: TrainPaths, card: DatasetCard,
                 device: torch.device) -> None:
        self.cfg, self.paths, self.device = cfg, paths, device
        torch.manual_seed(cfg.seed)  # dropout and initial weights
        self.generator = torch.Generator().manual_seed(cfg.seed)  # noise, timesteps, drops
        self.encoder: AudioEncoder = load_encoder(cfg.encoder, str(device))
        self.cache = FeatureCache(paths.cache / "features", self.encoder)
        self.card_face_model = card.face_model.to_dict() if card.face_model else None
        self.has_val = any(ref.split == "val" for ref in card.shards)
        self.face_model = self._face_model(card)
        first = self._first_batches()
        self.targets = Targets.measure(cfg.target, first)
        self.fps = SAMPLE_RATE * first[0]["mask"].shape[1] / first[0]["audio"].shape[1]
        cond_dim = 0
        if cfg.condition_on_identity:
            cond_dim = first[0]["identity"].shape[-1] + first[0]["age"].shape[-1]
        self.denoiser_cfg = replace(cfg.denoiser, latent_dim=self.targets.dim(),
                                    audio_dim=self.encoder.dim, cond_dim=cond_dim)
        self.network = build_network(cfg, self.denoiser_cfg).to(device)
        self.ema = AveragedModel(self.network, multi_avg_fn=get_ema_multi_avg_fn(
            cfg.optimiser.ema_decay), use_buffers=True)
        opt = cfg.optimiser
        self.optimiser = torch.optim.AdamW(self.network.parameters(), lr=opt.lr,
                                           betas=opt.betas, weight_decay=opt.weight_decay)
        self.scheduler = get_cosine_schedule_with_warmup(self.optimiser, opt.warmup_steps,
                                                         cfg.steps)
        self.diffusion = Diffusion(cfg.diffusion)
        self.losses = Losses(cfg.losses, self.face_model)
        self.step, self.epoch, self.position = 0, 0, 0
        self.history: list[float] = []
        self.val_history: list[tuple[int, float]] = []

    # -- data -----------------------------------------------------------------------------------

    def batches(self, split: str = "train", epoch: int = 0) -> Iterator[dict[str, Any]]:
        reader = replace(self.cfg.reader, train=split == "train", seed=self.cfg.seed)
        loader = make_loader(self.paths.shards, self.cfg.dataset, self.cfg.batch_size,
                             self.cfg.num_workers, reader, split, epoch)
        # Starting an iterator draws a seed from the global RNG, which dropout also uses; a
        # resumed run starts one at another step, so the draw must not touch the global state.
        with torch.random.fork_rng(devices=[]):
            iterator = iter(loader)
        yield from iterator

    def training_batches(self) -> Iterator[dict[str, Any]]:
        """Endless epochs, starting at the saved (epoch, position): what a resume needs."""
        while True:
            seen = 0
            for seen, batch in enumerate(self.batches("train", self.epoch), start=1):
                if seen <= self.position:
                    continue  # already trained on before the checkpoint
                self.position = seen
                yield batch
            if not seen:
                raise CheckpointError(f"{self.cfg.dataset} has no training samples")
            self.epoch, self.position = self.epoch + 1, 0

    def _first_batches(self) -> list[dict[str, Any]]:
        first = [b for _, b in zip(range(STATS_BATCHES), self.batches("train"), strict=False)]
        if not first:
            raise CheckpointError(f"{self.cfg.dataset} has no training samples")
        return first

    def features(self, batch: dict[str, Any]) -> torch.Tensor:
        """(B, T, A) audio features at the frame rate, cached per window."""
        frames = batch["mask"].shape[1]
        per_item = [self.cache.features(a.numpy(), frames) for a in batch["audio"]]
        return torch.from_numpy(np.stack(per_item)).to(self.device)

    def _face_model(self, card: DatasetCard) -> FaceModel | None:
        if not self.cfg.losses.needs_decoder:
            return None
        return load_card_face_model(card, self.paths.home).to(self.device)

    # -- one step -------------------------------------------------------------------------------

    def loss(self, network: nn.Module, batch: dict[str, Any],
             generator: torch.Generator) -> tuple[torch.Tensor, dict[str, float]]:
        """The configured loss on one batch, drawing noise, timesteps and drops from `generator`."""
        cfg, dev = self.cfg, self.device
        mask = batch["mask"].to(dev)  # (B, T)
        raw = raw_targets(cfg.target, batch).to(dev)  # (B, T, K)
        b = raw.shape[0]
        if cfg.expression_scale and cfg.target == "expression" and network.training:
            lo, hi = cfg.expression_scale
            raw = raw * (lo + (hi - lo) * torch.rand(b, generator=generator)).to(dev)[:, None, None]
        x0 = self.targets.normalise(raw)  # (B, T, K)
        audio = self.features(batch)  # (B, T, A)
        cond = self._cond(batch)
        with torch.autocast(device_type=dev.type, dtype=torch.bfloat16, enabled=dev.type == "cuda"):
            if cfg.task == "diffusion":
                t = torch.randint(0, cfg.diffusion.train_steps, (b,), generator=generator).to(dev)
                noise = torch.randn(x0.shape, generator=generator).to(dev)
                drop = (torch.rand(b, generator=generator) < self.denoiser_cfg.audio_drop).to(dev)
                if not network.training:
                    drop = torch.zeros_like(drop)
                pred = network(self.diffusion.add_noise(x0, t, noise), t, audio, mask, drop, cond)
            else:
                pred = network(audio, mask, cond)
        pred = pred.float()
        decoded = (self.targets.restore(pred), raw) if self.losses.cfg.needs_decoder else None
        return self.losses(pred, x0, mask, decoded, batch["identity"].to(dev),
                           batch["age"].to(dev))

    def train_step(self, batch: dict[str, Any]) -> dict[str, float]:
        self.network.train()
        total, terms = self.loss(self.network, batch, self.generator)
        self.optimiser.zero_grad(set_to_none=True)
        total.backward()
        norm = torch.nn.utils.clip_grad_norm_(self.network.parameters(),
                                              self.cfg.optimiser.grad_clip)
        self.optimiser.step()
        self.scheduler.step()
        self.ema.update_parameters(self.network)
        self.step += 1
        self.history.append(float(total.detach()))
        return {**terms, "loss": float(total.detach()), "grad_norm": float(norm),
                "lr": self.scheduler.get_last_lr()[0]}

    def validate(self) -> float | None:
        """Mean loss of the EMA weights on the val split, with fixed noise; None without one."""
        if not self.has_val:
            return None
        network = self.ema.module
        network.eval()
        generator = torch.Generator().manual_seed(self.cfg.seed + 1)
        values = []
        with torch.no_grad():
            for _, batch in zip(range(self.cfg.val_batches), self.batches("val"), strict=False):
                values.append(float(self.loss(network, batch, generator)[0]))
        if not values:
            return None
        self.val_history.append((self.step, sum(values) / len(values)))
        return self.val_history[-1][1]

    def _cond(self, batch: dict[str, Any]) -> torch.Tensor | None:
        if not self.cfg.condition_on_identity:
            return None
        return torch.cat([batch["identity"], batch["age"]], -1).to(self.device)  # (B, I + A)

    # -- checkpoints ----------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        return {
            "config": self.cfg.to_dict(), "denoiser": self.denoiser_cfg.to_dict(),
            "step": self.step, "epoch": self.epoch, "position": self.position,
            "network": self.network.state_dict(), "ema": self.ema.state_dict(),
            "optimiser": self.optimiser.state_dict(), "scheduler": self.scheduler.state_dict(),
            "targets": self.targets.state_dict(), "face_model": self.card_face_model,
            "fps": self.fps,
            "rng": {"generator": self.generator.get_state(), "torch": torch.get_rng_state(),
                    "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []},
            "history": self.history, "val_history": self.val_history,
        }

    def restore(self, state: dict[str, Any]) -> None:
        if state["config"] != self.cfg.to_dict():
            raise CheckpointError("the checkpoint was written by a different configuration")
        self.network.load_state_dict(state["network"])
        self.ema.load_state_dict(state["ema"])
        self.optimiser.load_state_dict(state["optimiser"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.targets = Targets.from_state(state["targets"])
        self.generator.set_state(state["rng"]["generator"])
        torch.set_rng_state(state["rng"]["torch"])
        if state["rng"]["cuda"]:
            torch.cuda.set_rng_state_all(state["rng"]["cuda"])
        self.step, self.epoch, self.position = state["step"], state["epoch"], state["position"]
        self.history, self.val_history = list(state["history"]), list(state["val_history"])


def main(cfg: TrainConfig, paths: TrainPaths, device: str = "auto",
         stop_after: int | None = None, show_progress: bool = True) -> TrainResult:
    """Trains (or resumes) the run for `cfg`; returns its folder and loss history.

    Args:
        stop_after: stop once this many steps are done (a checkpoint is written there), as an
            interruption would; running again resumes.
    """
    cfg, card = pin_dataset(cfg, paths.shards)
    run_dir = paths.runs / run_name(cfg)
    run_dir.mkdir(parents=True, exist_ok=True)
    cfg.save(run_dir)
    dev = torch.device(("cuda" if torch.cuda.is_available() else "cpu") if device == "auto"
                       else device)
    trainer = Trainer(cfg, paths, card, dev)
    found = checkpoint_paths(run_dir)
    if found:
        trainer.restore(load_checkpoint(found[-1]))
        log.info("train: resuming %s at step %d", run_dir.name, trainer.step)
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(str(run_dir / LOGS), purge_step=trainer.step or None)
    last = min(cfg.steps, stop_after if stop_after is not None else cfg.steps)
    columns = (TextColumn("[bold]train"), BarColumn(), MofNCompleteColumn(),
               TextColumn("{task.fields[terms]}"), TimeRemainingColumn())
    with Progress(*columns, disable=not show_progress) as progress:
        task = progress.add_task("train", total=cfg.steps, completed=trainer.step, terms="")
        batches = trainer.training_batches()
        while trainer.step < last:
            scalars = trainer.train_step(next(batches))
            if trainer.step % cfg.log_every == 0 or trainer.step == last:
                for name, value in scalars.items():
                    writer.add_scalar(f"train/{name}", value, trainer.step)
                progress.update(task, terms=_terms_text(scalars))
            if trainer.step % cfg.val_every == 0 or trainer.step == cfg.steps:
                val = trainer.validate()
                if val is not None:
                    writer.add_scalar("val/loss", val, trainer.step)
            if trainer.step % cfg.checkpoint_every == 0 or trainer.step == last:
                save_checkpoint(run_dir, trainer.step, trainer.state())
            progress.update(task, completed=trainer.step)
    writer.close()
    log.info("train: %s at step %d, loss %.4g", run_dir.name, trainer.step,
             trainer.history[-1] if trainer.history else math.nan)
    return TrainResult(run_dir, trainer.step, trainer.history, trainer.val_history)


def _terms_text(scalars: dict[str, float]) -> str:
    return " ".join(f"{k} {v:.3g}" for k, v in scalars.items() if k not in ("lr", "grad_norm"))

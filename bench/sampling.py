"""Sampling speed and quality: DDIM with 25 vs 1000 steps, and training throughput.

1. Speed: seconds to generate 10 s of 30 fps motion (300 frames, crossfaded windows) with the
   default denoiser size (DenoiserConfig(): width 256, 4 layers, voc2vec-sized 768-d features),
   with 25 and with 1000 DDIM steps at the sampler's default precision (bfloat16 matmuls where
   the CPU has them natively, as cradle sample does) and 25 in float32; the baseline is one
   denoiser forward on the same windows, measured in the same run, so the ratios hold on a busy
   machine. Goal: <= 0.5 s for 25 steps.
2. Quality: the demo preset trained on the demo dataset (a run in the data home, resumed or
   reused when it exists), then LVE against the truth on its training windows with 25 and 1000
   steps (default precision and float32) against 1000 steps in float32, scored by the
   evaluator's code. Goal: 25 steps at most 5 % worse.
3. Training samples/s of the demo preset.

    .venv/bin/python -m bench.sampling [--dataset demo] [--train-steps 600] [--threads 2]

Needs a built demo dataset: run `make run` first.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from model.checkpoint import TrainedModel, load_trained
from model.denoiser import Denoiser, DenoiserConfig
from model.diffusion import Diffusion
from model.evaluate import EvalConfig, ModelPredictor, VertexScorer, read_windows
from model.face.from_card import load_entry_face_model
from model.sample import SampleConfig, generate, low_precision
from model.targets import Targets
from model.train import Trainer, TrainPaths, main, pin_dataset
from model.train_config import load_preset
from stages.config import load_config
from stages.paths import DataRoot

FRAMES, FPS = 300, 30.0  # 10 s of motion


def timed(fn, repeats: int = 3) -> float:
    """The median wall time of `fn()` in seconds."""
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        fn()
        times.append(time.perf_counter() - began)
    return statistics.median(times)


def speed() -> None:
    cfg = DenoiserConfig()
    preset = load_preset("infant-diffusion")
    torch.manual_seed(0)
    network = Denoiser(cfg).eval()
    model = TrainedModel(preset, cfg, network, Targets("expression", torch.zeros(cfg.latent_dim),
                                                       torch.ones(cfg.latent_dim)),
                         Diffusion(preset.diffusion), None, 0, FPS)
    features = np.random.default_rng(0).standard_normal((FRAMES, cfg.audio_dim)).astype("f4")
    window = preset.reader.frames
    x = torch.zeros(3, window, cfg.latent_dim)
    audio = torch.zeros(3, window, cfg.audio_dim)
    with torch.no_grad():
        forward = timed(lambda: network(x, torch.zeros(3, dtype=torch.long), audio), repeats=5)
    exact = timed(lambda: generate(model, features, SampleConfig(steps=25, precision="float32")))
    fast = timed(lambda: generate(model, features, SampleConfig(steps=25)))
    slow = timed(lambda: generate(model, features, SampleConfig(steps=1000)), repeats=1)
    fast_mode = "bfloat16" if low_precision("auto", "cpu") else "float32"
    print(f"speed: 10 s of 30 fps motion ({FRAMES} frames, windows of {window}), default size "
          f"(width {cfg.width}, {cfg.layers} layers, {cfg.audio_dim}-d audio), default "
          f"precision here: {fast_mode}")
    print(f"  baseline: one float32 forward over the windows {forward * 1000:.1f} ms")
    print(f"  DDIM   25 steps: {fast:.3f} s ({fast / forward:.0f} forwards)  goal <= 0.5 s")
    print(f"  DDIM   25 steps in float32: {exact:.3f} s ({exact / forward:.0f} forwards)")
    print(f"  DDIM 1000 steps: {slow:.2f} s ({slow / forward:.0f} forwards), "
          f"{slow / fast:.1f}x the 25-step time")


def quality(root: DataRoot, dataset: str, train_steps: int | None) -> None:
    paths = TrainPaths(root.home, root.shards, root.models, root.cache)
    steps = [f"steps={train_steps}"] if train_steps else []
    cfg = load_preset("demo").with_overrides([f"dataset={dataset}", *steps])
    began = time.perf_counter()
    result = main(cfg, paths, show_progress=False)
    print(f"quality: demo preset, {result.step} steps ({time.perf_counter() - began:.0f} s here, "
          f"0 when the run already existed), loss {result.losses[0]:.3g} -> "
          f"{result.losses[-1]:.3g}")
    model = load_trained(result.run_dir)
    scorer = VertexScorer(load_entry_face_model(model.face_model, root.home))
    windows = read_windows(root.shards, model.cfg.dataset, "train")
    errors = {}
    for steps, precision in ((25, "auto"), (25, "float32"), (1000, "float32")):
        predict = ModelPredictor(model, root.cache, EvalConfig(steps=steps, precision=precision))
        frames = np.concatenate([scorer.score(w, predict(w))["lve_frames"] for w in windows])
        errors[steps, precision] = float(frames.mean())  # LVE: mean per-frame worst lip error
    reference = errors[1000, "float32"]
    print(f"  LVE on the {len(windows)} training windows, 1000 steps float32: {reference:.3f} "
          f"(sqrt {np.sqrt(reference):.2f})")
    for (steps, precision), error in errors.items():
        if steps != 1000:
            gap = (error - reference) / reference  # > 0: 25 steps is further from the truth
            print(f"  25 steps {precision:>7}: {error:.3f} (sqrt {np.sqrt(error):.2f}), "
                  f"{100 * gap:+.1f} % against 1000 steps  goal <= +5 % (negative: closer to "
                  f"the truth)")


def throughput(root: DataRoot, dataset: str, steps: int = 20) -> None:
    """Optimiser steps on cached features (as every epoch after the first is)."""
    cfg, card = pin_dataset(load_preset("demo").with_overrides([f"dataset={dataset}"]),
                            root.shards)
    with tempfile.TemporaryDirectory() as runs:
        paths = TrainPaths(root.home, root.shards, Path(runs), root.cache)
        trainer = Trainer(cfg, paths, card, torch.device("cpu"))
        batches = trainer.training_batches()
        for _ in range(3):
            trainer.train_step(next(batches))  # warm the feature cache and the allocator
        began = time.perf_counter()
        for _ in range(steps):
            trainer.train_step(next(batches))
        seconds = time.perf_counter() - began
    print(f"training: demo preset, {cfg.batch_size} windows of {cfg.reader.frames} frames a "
          f"step: {steps * cfg.batch_size / seconds:.1f} samples/s")


def run() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="demo")
    parser.add_argument("--train-steps", type=int, default=None,
                        help="Default: the demo preset's.")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    root = DataRoot(load_config().home)
    speed()
    quality(root, args.dataset, args.train_steps)
    throughput(root, args.dataset)


if __name__ == "__main__":
    run()

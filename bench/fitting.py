"""Fitting throughput: whole-clip fits vs FaceTalk's sequential sliding windows.

Synthetic clips (known latents, 1.5 px landmark noise) stand in for infant tracks; the open
default model is built from them exactly as `cradle build-face-model` builds it. Prints frames/s
of whole-clip fits side by side, one per core on one torch thread each (what the stage does on a
CPU), one clip at a time on torch's threads (a GPU's order), of all clips in one padded batch
(faster on a GPU, but a clip's floats then depend on its batch-mates), and the speed-up over
sequential 10-frame windows with 2 frames of overlap (same iterations per window), with each
method's landmark error against the noise-free truth.

    .venv/bin/python -m bench.fitting [--clips 8] [--frames 300] [--window-clips 2]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch

from model.face.base import FaceModel, LatentDims
from model.face.fit import FitInput, FitResult, fit_sequences, resolve_device
from model.face.fit_config import FitConfig
from model.face.hdf5 import load_face_model
from model.face.open_model import build_open_face_model
from model.face.testing import Synthetic, synthetic_track, write_synthetic_pca
from model.threads import single_threaded_torch

WINDOW, OVERLAP = 10, 2  # FaceTalk's dataset-creation scheme


def reproject(model: FaceModel, fit: FitResult) -> np.ndarray:
    """The fitted landmarks in pixels, (T, M, 2)."""
    t = len(fit.expression)
    with torch.no_grad():
        pts = model.landmarks(
            torch.as_tensor(fit.identity, dtype=torch.float32).expand(t, -1),
            torch.as_tensor(fit.expression, dtype=torch.float32),
            torch.as_tensor(fit.age, dtype=torch.float32).expand(t, -1)).numpy()  # (T, M, 3)
    cam = np.einsum("tij,tmj->tmi", fit.rotation, pts)[..., :2] * np.array([1.0, -1.0])
    return fit.translation[:, None] + fit.scale[:, None, None] * cam


def truth_error(model: FaceModel, fit: FitResult, synth: Synthetic, frames: slice) -> float:
    clean = synth.clean[frames][:, model.correspondence.landmarks, :2]  # (T, M, 2)
    return float(np.linalg.norm(reproject(model, fit) - clean, axis=-1).mean())


def sliding_windows(model: FaceModel, synth: Synthetic, cfg: FitConfig) -> tuple[float, float]:
    """Sequential windows; each frame keeps the fit of the first window that covered it."""
    frames, errors, start = len(synth.landmarks), [], 0
    began = time.perf_counter()
    while start < frames - OVERLAP:
        end = min(start + WINDOW, frames)
        lm = synth.landmarks[start:end]
        [fit] = fit_sequences(model, [FitInput(lm, np.ones(lm.shape[:2]), 0)], cfg)
        keep = slice(0 if start == 0 else OVERLAP, None)
        clean = synth.clean[start:end][keep][:, model.correspondence.landmarks, :2]
        errors.append(np.linalg.norm(reproject(model, fit)[keep] - clean, axis=-1).mean(-1))
        start += WINDOW - OVERLAP
    return time.perf_counter() - began, float(np.concatenate(errors).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=8)
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--window-clips", type=int, default=2)
    parser.add_argument("--iterations", type=int, default=FitConfig().iterations)
    args = parser.parse_args()
    cfg = FitConfig(iterations=args.iterations)
    with tempfile.TemporaryDirectory() as tmp:
        source = load_face_model(write_synthetic_pca(Path(tmp) / "src.h5", LatentDims(8, 64, 0)))
        pairs = [synthetic_track(source, args.frames, seed=s, noise_px=1.5)
                 for s in range(args.clips)]
        build_open_face_model([t for t, _ in pairs], Path(tmp) / "open.h5")
        model = load_face_model(Path(tmp) / "open.h5")
    synths = [s for _, s in pairs]
    inputs = [FitInput(s.landmarks, np.ones(s.landmarks.shape[:2]), i)
              for i, s in enumerate(synths)]
    fit_sequences(model, inputs[:1], FitConfig(iterations=2))  # warm-up: lazy library loading
    began = time.perf_counter()
    fits = [fit for item in inputs for fit in fit_sequences(model, [item], cfg)]
    per_clip_s = time.perf_counter() - began
    workers = len(os.sched_getaffinity(0))
    began = time.perf_counter()
    with single_threaded_torch(), ThreadPoolExecutor(workers) as pool:
        side_fits = [fit for fits_ in pool.map(
            lambda item: fit_sequences(model, [item], cfg), inputs) for fit in fits_]
    side_s = time.perf_counter() - began
    assert all(np.array_equal(a.expression, b.expression)
               for a, b in zip(fits, side_fits, strict=True)), "a fit changed with its thread"
    began = time.perf_counter()
    fit_sequences(model, inputs, cfg)
    batched_s = time.perf_counter() - began
    total = args.clips * args.frames
    print(f"device {resolve_device('auto')}, torch threads {torch.get_num_threads()}, "
          f"load average {os.getloadavg()[0]:.1f} (other processes share the machine)")
    print(f"open model {model.dims}; {args.clips} clips x {args.frames} frames, "
          f"{cfg.iterations} iterations")
    print(f"whole-clip fits side by side, {workers} at a time on one torch thread each "
          f"(the stage on a CPU): {total / side_s:,.0f} frames/s ({side_s:.2f} s)")
    print(f"whole-clip fits, one clip at a time on torch's threads: {total / per_clip_s:,.0f} "
          f"frames/s ({per_clip_s:.2f} s)")
    print(f"all clips in one padded batch: {total / batched_s:,.0f} frames/s ({batched_s:.2f} s), "
          f"{per_clip_s / batched_s:.2f}x the per-clip time")
    n = min(args.window_clips, args.clips)
    window_s, window_err = 0.0, []
    for synth in synths[:n]:
        seconds, err = sliding_windows(model, synth, cfg)
        window_s += seconds
        window_err.append(err)
    batched_err = np.mean([truth_error(model, f, s, slice(None))
                           for f, s in zip(fits[:n], synths[:n], strict=True)])
    window_fps = n * args.frames / window_s
    print(f"sliding windows ({WINDOW} frames, overlap {OVERLAP}, sequential, {n} clips): "
          f"{window_fps:,.0f} frames/s")
    print(f"speed-up of the stage's fits over windows: {total / side_s / window_fps:.1f}x")
    print(f"landmark error vs noise-free truth: whole-clip {batched_err:.3f} px, "
          f"windows {np.mean(window_err):.3f} px")


if __name__ == "__main__":
    main()

"""Sampling: audio of any length in, expression latents (or landmarks) and vertices out.

Long audio is cut into overlapping windows of the training length, all denoised together in
batches (DDIM, k steps, classifier-free guidance in one forward), and joined with a linear
crossfade over each overlap, so there are no seams and memory grows with the batch, not the
audio. The same seed gives the same motion.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from manifests.files import atomic_save_npz, atomic_write_text
from model.audio.decode import read_audio
from model.audio.encoders import SAMPLE_RATE, load_encoder
from model.checkpoint import TrainedModel, load_trained, run_folder
from model.denoiser import Denoiser
from model.face.base import FaceModel
from model.face.from_card import load_entry_face_model
from model.preview import write_preview
from model.targets import LANDMARKS

OUTPUT_FORMAT = 1
WINDOWS_PER_BATCH = 32  # bounds memory whatever the audio's length


@dataclass(frozen=True)
class SampleConfig:
    steps: int | None = None  # DDIM steps; None: the run's diffusion.sample_steps (25)
    guidance: float = 1.0  # 0 ignores the audio, 1 is the plain conditional, > 1 exaggerates
    seed: int = 0
    eta: float | None = None  # None: the run's diffusion.eta (0, deterministic DDIM)
    window: int | None = None  # frames per window; None: the run's training window
    overlap: int | None = None  # crossfaded frames between windows; None: a quarter window
    # "auto": bfloat16 matmuls (autocast) where the device computes them natively, float32
    # elsewhere; "float32" gives the same numbers on every machine (the evaluator's choice).
    precision: str = "auto"

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, "
                             f"not {self.precision!r}")


PRECISIONS = ("auto", "float32", "bfloat16")


def low_precision(precision: str, device: str) -> bool:
    """Whether sampling runs under bfloat16 autocast: ~1.4x faster on CPUs with AVX512-BF16 or
    AMX, at a measured LVE cost well inside the 25-vs-1000-step tolerance (bench/sampling.py)."""
    if precision != "auto":
        return precision == "bfloat16"
    if torch.device(device).type == "cuda":
        return torch.cuda.is_bf16_supported()
    return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


def windows(frames: int, window: int, overlap: int) -> list[int]:
    """Start frames of windows covering `frames`, each overlapping the next by `overlap`."""
    if frames <= window:
        return [0]
    stride = window - overlap
    starts = list(range(0, frames - window, stride))
    return [*starts, frames - window]


def crossfade_weights(starts: list[int], frames: int, window: int) -> np.ndarray:
    """(W, window) weights: linear ramps where windows overlap, 1 elsewhere; columns sum to 1."""
    weights = np.ones((len(starts), window))
    for w in range(1, len(starts)):
        overlap = starts[w - 1] + window - starts[w]
        if overlap > 0:
            ramp = (np.arange(overlap) + 1) / (overlap + 1)  # (O,) rising into window w
            weights[w, :overlap] = np.minimum(weights[w, :overlap], ramp)
            weights[w - 1, window - overlap:] = np.minimum(weights[w - 1, window - overlap:],
                                                           ramp[::-1])
    total = np.zeros(frames)
    for w, start in enumerate(starts):
        total[start:start + window] += weights[w, :max(0, min(window, frames - start))]
    for w, start in enumerate(starts):
        span = slice(start, min(start + window, frames))
        weights[w, :span.stop - start] /= total[span]
    return weights


def generate(model: TrainedModel, features: np.ndarray, cfg: SampleConfig,
             cond: torch.Tensor | None = None, device: str = "cpu") -> np.ndarray:
    """(F, A) audio features at the frame rate -> (F, K) targets in raw units."""
    frames = len(features)
    window = min(cfg.window or model.cfg.reader.frames, max(frames, 1))
    overlap = cfg.overlap if cfg.overlap is not None else window // 4
    starts = windows(frames, window, min(overlap, window - 1))
    weights = crossfade_weights(starts, frames, window)
    generator = torch.Generator(device=device).manual_seed(cfg.seed)
    out = np.zeros((frames, model.targets.dim()))
    for first in range(0, len(starts), WINDOWS_PER_BATCH):
        group = starts[first:first + WINDOWS_PER_BATCH]
        audio = torch.zeros(len(group), window, features.shape[1], device=device)  # (W, T, A)
        mask = torch.zeros(len(group), window, dtype=torch.bool, device=device)  # (W, T)
        for w, start in enumerate(group):
            part = torch.from_numpy(features[start:start + window])
            audio[w, :len(part)], mask[w, :len(part)] = part, True
        batch_cond = None if cond is None else cond.to(device).expand(len(group), -1)
        with torch.inference_mode():
            x = denoise_windows(model, audio, mask, batch_cond, cfg, generator, device)
        motion = model.targets.restore(x).cpu().numpy()  # (W, T, K)
        for w, start in enumerate(group):
            n = min(window, frames - start)
            out[start:start + n] += weights[first + w, :n, None] * motion[w, :n]
    return out.astype(np.float32)


def denoise_windows(model: TrainedModel, audio: torch.Tensor, mask: torch.Tensor,
                    cond: torch.Tensor | None, cfg: SampleConfig, generator: torch.Generator,
                    device: str) -> torch.Tensor:
    """Windows of features (W, T, A) with masks (W, T) -> normalised targets (W, T, K)."""
    network = model.network.to(device)
    if not isinstance(network, Denoiser):
        return network(audio, mask, cond)  # the deterministic regressor: one pass

    with torch.autocast(torch.device(device).type, torch.bfloat16,
                        enabled=low_precision(cfg.precision, device)):
        if cfg.guidance == 1.0:  # the plain conditional: no unconditional pass needed
            ctx = network.context(audio, mask, None, cond)

            def predict_x0(x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
                return network.denoise(x_t, t, ctx).float()
        else:
            ctx = network.guided_context(audio, mask, cond)

            def predict_x0(x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
                return network.guided_denoise(x_t, t, ctx, cfg.guidance).float()

        shape = (audio.shape[0], audio.shape[1], model.targets.dim())
        return model.diffusion.sample(predict_x0, shape, cfg.steps, cfg.eta, generator, device)


@dataclass(frozen=True)
class Motion:
    """A generated sequence: the network's output, and what the face model makes of it."""

    fps: float
    targets: np.ndarray  # (F, K) expression latents, or flattened head-frame landmarks
    vertices: np.ndarray | None  # (F, N, 3) face-model vertices (expression targets)
    landmarks: np.ndarray  # (F, M, 3) points for the preview wireframe
    landmark_ids: np.ndarray  # (M,) the MediaPipe index of each point


def synthesise(model: TrainedModel, wave: np.ndarray, cfg: SampleConfig,
               face_model: FaceModel | None, device: str = "cpu") -> Motion:
    """Motion for 16 kHz audio: features, windows, then vertices through the face model."""
    frames = max(1, round(len(wave) / SAMPLE_RATE * model.fps))
    encoder = load_encoder(model.cfg.encoder, device)
    features = encoder.encode(wave, frames)  # (F, A)
    targets = generate(model, features, cfg, device=device)
    if model.cfg.target == "landmarks":
        points = targets.reshape(frames, LANDMARKS, 3)
        return Motion(model.fps, targets, None, points, np.arange(LANDMARKS))
    if face_model is None:
        raise ValueError("expression latents need the dataset's face model to become vertices")
    i, e = face_model.dims.identity, face_model.dims.identity + face_model.dims.expression
    prior = face_model.latent_mean  # (D,) the average identity and age
    expression = torch.from_numpy(targets)  # (F, E)
    with torch.no_grad():
        ident = prior[:i].expand(frames, -1)
        age = prior[e:].expand(frames, -1)
        vertices = face_model.decode(ident, expression, age).numpy()  # (F, N, 3)
        points = face_model.landmarks(ident, expression, age).numpy()  # (F, M, 3)
    return Motion(model.fps, targets, vertices, points, face_model.correspondence.landmarks)


def save_motion(motion: Motion, out: Path, extra: dict[str, Any] | None = None) -> Path:
    """Writes the npz `out`: targets, vertices (if any), landmarks and their MediaPipe ids, fps."""
    arrays = {"targets": motion.targets, "landmarks": motion.landmarks.astype(np.float32),
              "landmark_ids": motion.landmark_ids.astype(np.int64),
              "fps": np.float32(motion.fps)}
    if motion.vertices is not None:
        arrays["vertices"] = motion.vertices.astype(np.float32)
    for name, value in (extra or {}).items():
        arrays[name] = np.asarray(value)
    return atomic_save_npz(out, OUTPUT_FORMAT, arrays)


def save_obj_sequence(motion: Motion, folder: Path) -> list[Path]:
    """One OBJ per frame (vertex positions; the face models here carry no triangles)."""
    points = motion.vertices if motion.vertices is not None else motion.landmarks
    folder.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for f, frame in enumerate(points):
        path = folder / f"frame_{f:05d}.obj"
        written.append(atomic_write_text(
            path, "".join(f"v {x:.5f} {y:.5f} {z:.5f}\n" for x, y, z in frame)))
    return written


def render(checkpoint: Path, audio: Path, cfg: SampleConfig, home: Path,
           out: Path | None = None, obj: bool = False, preview: bool = True,
           device: str = "cpu") -> list[Path]:
    """`cradle sample`: motion for an audio file, written as npz (+ OBJs, + a preview mp4).

    Returns:
        The files (and the OBJ folder) written.
    """
    model = load_trained(checkpoint)
    face_model = None
    if model.cfg.target == "expression":
        face_model = load_entry_face_model(model.face_model, home)
    motion = synthesise(model, read_audio(audio), cfg, face_model, device)
    run_dir = run_folder(checkpoint)
    stem = out or run_dir / "samples" / f"{audio.name.split('.')[0]}-s{cfg.seed}"
    stem.parent.mkdir(parents=True, exist_ok=True)
    settings = {"seed": cfg.seed, "guidance": cfg.guidance, "checkpoint_step": model.step,
                "steps": cfg.steps or model.cfg.diffusion.sample_steps}
    written = [save_motion(motion, stem.parent / f"{stem.name}.npz", settings)]
    if obj:
        save_obj_sequence(motion, stem.parent / f"{stem.name}-obj")
        written.append(stem.parent / f"{stem.name}-obj")
    if preview:
        written.append(write_preview(motion.landmarks, motion.landmark_ids, motion.fps, audio,
                                     stem.parent / f"{stem.name}.mp4"))
    return written

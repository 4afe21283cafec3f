"""Temporally regularised latent fitting: whole clips, many at once, as one batched problem.

Per clip an identity and age latent; per frame an expression latent and a scaled orthographic
camera. The objective is a MAP estimate:

    Σ_frames Σ_landmarks w · rho(|proj - target| / sigma)     robust (Charbonnier) landmark term
  + λ_t   Σ Huber(Δu)  + λ_tt Σ |Δ²u|²                       expression smoothness
  + λ_p   Σ Huber(Δpose) + λ_tt Σ |Δ²pose|²                  camera smoothness
  + λ_z · ½ Σ |u|²                                           latent prior

with u the latents whitened by the model's prior (z = mean + std · u), so one learning rate and
one prior weight suit every model. Sliding windows (FaceTalk: 10 frames, overlap 2) flicker at
window seams and solve the same frames twice; one padded batch with a frame mask does neither.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch.nn import functional as F

from model.face.base import FaceModel
from model.face.camera import flip, project, rodrigues, similarity, so3_log
from model.face.mediapipe import EYE_CORNERS, LIPS

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FitConfig:
    """Fitting hyper-parameters; units are whitened latents and inter-ocular distances (IOD)."""

    iterations: int = 60  # from the linear start, tests reach their targets in 40 (PCA models)
    lr: float = 0.05  # whitened latents move O(1); this reaches them in ~50 steps
    pose_lr: float = 0.01  # the camera starts from a closed-form fit and needs only refining
    lr_final: float = 0.05  # cosine decay to this fraction of lr: large steps early, fine late
    sigma: float = 0.02  # landmark noise in IOD (≈1.2 px at 60 px IOD); robust loss scale
    mouth_weight: float = 3.0  # lip landmarks drive the training target; weight them higher
    temporal: float = 300.0  # Huber on Δexpression: ~6x less jitter, +2 % error (tests)
    temporal_delta: float = 0.3  # Huber knee in prior std per frame; faster motion is kept
    pose_temporal: float = 300.0  # the head moves smoothly; pose units (rad, IOD) are small
    second_difference: float = 3.0  # a small Δ² term against zig-zag that Huber tolerates
    prior: float = 1.0  # 1 = the Gaussian prior proper, against implausible faces
    seed: int = 0  # determinism: fits are reproducible training targets
    device: str = "auto"  # CUDA when present, else CPU


@dataclass(frozen=True)
class FitInput:
    """One sequence of consecutive frames to fit (an accepted segment of a clip).

    Attributes:
        landmarks: (T, 478, 3) MediaPipe landmarks in pixels (z only seeds the camera); NaN
            where missing.
        weights: (T, 478) per-landmark visibility in [0, 1]; 0 ignores a landmark or frame.
        clip: sequences with the same clip key share identity and age.
    """

    landmarks: np.ndarray
    weights: np.ndarray
    clip: int | str


@dataclass(frozen=True)
class FitResult:
    """One sequence's fit. Camera: image_xy = translation + scale · (flipY · rotation · v)[:2].

    Attributes:
        identity: (I,), age: (A,), expression: (T, E) latents in the model's raw units.
        rotation: (T, 3, 3) model to camera, in the model's y-up frame.
        translation: (T, 2) px; scale: (T,) px per model unit.
        residual_px: (T,) mean distance of visible landmarks to the fit; NaN with none visible.
        size_px: the inter-ocular distance that normalised this sequence.
        loss_initial, loss_final: objective per frame before and after fitting.
    """

    identity: np.ndarray
    age: np.ndarray
    expression: np.ndarray
    rotation: np.ndarray
    translation: np.ndarray
    scale: np.ndarray
    residual_px: np.ndarray
    size_px: float
    loss_initial: float
    loss_final: float

    @property
    def diverged(self) -> bool:
        """The objective went non-finite or ended above where it started (1 % slack for noise)."""
        return not (math.isfinite(self.loss_final) and self.loss_final <= 1.01 * self.loss_initial
                    and np.isfinite(self.expression).all())


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def fit_sequences(model: FaceModel, inputs: Sequence[FitInput], cfg: FitConfig) -> list[FitResult]:
    """Fits every sequence jointly: one padded batch, one optimiser, one result per input."""
    if not inputs:
        return []
    torch.manual_seed(cfg.seed)
    device = resolve_device(cfg.device)
    model = model.to(device)
    batch = _Batch.build(model, inputs, cfg, device)
    params = _Params.init(model, batch, cfg)
    opt = torch.optim.Adam([
        {"params": [params.u_id, params.u_age, params.u_exp], "lr": cfg.lr},
        {"params": [params.omega, params.log_s, params.trans], "lr": cfg.pose_lr},
    ])
    steps = max(cfg.iterations, 1)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda i: cfg.lr_final + (1 - cfg.lr_final)
                                              * 0.5 * (1 + math.cos(math.pi * i / steps)))
    with torch.no_grad():
        initial, _ = _objective(model, params, batch, cfg)  # (R,)
    for _ in range(cfg.iterations):
        opt.zero_grad(set_to_none=True)
        per_row, _ = _objective(model, params, batch, cfg)  # (R,)
        per_row.sum().backward()
        opt.step()
        sched.step()
    with torch.no_grad():
        final, dist = _objective(model, params, batch, cfg)  # (R,), (R, T, M)
    log.debug("fitted %d sequences, %d frames on %s", len(inputs), int(batch.mask.sum()), device)
    return _results(model, params, batch, initial, final, dist)


@dataclass
class _Batch:
    target: torch.Tensor  # (R, T, M, 2) normalised, y up
    target3: torch.Tensor  # (R, T, M, 3) normalised, y up, z towards the viewer
    vis: torch.Tensor  # (R, T, M) visibility
    weight: torch.Tensor  # (R, T, M) visibility times the mouth weight, over sigma
    mask: torch.Tensor  # (R, T) real (unpadded) frames
    onehot: torch.Tensor  # (R, C) which clip each row belongs to; a matmul gathers and
    # scatters deterministically on CUDA, where index_add_ uses atomics
    clips: int
    lengths: list[int]
    centre: np.ndarray  # (R, 2) px
    size: np.ndarray  # (R,) px

    @classmethod
    def build(cls, model: FaceModel, inputs: Sequence[FitInput], cfg: FitConfig,
              device: torch.device) -> _Batch:
        lm_idx = model.correspondence.landmarks
        keys = list(dict.fromkeys(item.clip for item in inputs))
        rows, t_max, m = len(inputs), max(len(item.landmarks) for item in inputs), len(lm_idx)
        target = np.zeros((rows, t_max, m, 3), np.float32)
        vis = np.zeros((rows, t_max, m), np.float32)
        mask = np.zeros((rows, t_max), bool)
        centre, size = np.zeros((rows, 2)), np.ones(rows)
        for r, item in enumerate(inputs):
            pts = np.asarray(item.landmarks, np.float64)  # (T, 478, 3)
            ok = np.isfinite(pts).all(-1) & (np.asarray(item.weights) > 0)  # (T, 478)
            centre[r], size[r] = _normaliser(pts, ok)
            norm = (pts - np.array([*centre[r], 0.0])) / size[r]  # (T, 478, 3)
            t = len(pts)
            target[r, :t] = np.where(ok[..., None], norm, 0.0)[:, lm_idx]
            vis[r, :t] = np.where(ok, item.weights, 0.0)[:, lm_idx]
            mask[r, :t] = True
        mouth = np.where(np.isin(lm_idx, LIPS), cfg.mouth_weight, 1.0)  # (M,)
        target_t = flip(torch.as_tensor(target, device=device))  # (R, T, M, 3)
        vis_t = torch.as_tensor(vis, device=device)  # (R, T, M)
        return cls(
            target=target_t[..., :2].contiguous(), target3=target_t, vis=vis_t,
            weight=vis_t * torch.as_tensor(mouth, dtype=torch.float32, device=device),
            mask=torch.as_tensor(mask, device=device),
            onehot=F.one_hot(torch.as_tensor([keys.index(item.clip) for item in inputs]),
                             len(keys)).float().to(device),
            clips=len(keys), lengths=[len(item.landmarks) for item in inputs],
            centre=centre, size=size)


def _normaliser(pts: np.ndarray, ok: np.ndarray) -> tuple[np.ndarray, float]:
    """Centre (px) and inter-ocular distance (px) of a sequence; robust to missing frames."""
    if not ok.any():
        return np.zeros(2), 1.0
    centre = pts[..., :2][ok].mean(0)
    a, b = EYE_CORNERS
    both = ok[:, a] & ok[:, b]
    if both.any():
        eyes = np.linalg.norm(pts[both, a, :2] - pts[both, b, :2], axis=-1)  # (T',)
        return centre, float(np.median(eyes))
    extent = pts[..., :2][ok]
    return centre, float(np.linalg.norm(extent.max(0) - extent.min(0)) / 3)


@dataclass
class _Params:
    u_id: torch.Tensor  # (C, I) whitened identity
    u_age: torch.Tensor  # (C, A) whitened age
    u_exp: torch.Tensor  # (R, T, E) whitened expression
    omega: torch.Tensor  # (R, T, 3) axis-angle
    log_s: torch.Tensor  # (R, T, 1) log scale
    trans: torch.Tensor  # (R, T, 2) translation, normalised units

    @classmethod
    def init(cls, model: FaceModel, batch: _Batch, cfg: FitConfig) -> _Params:
        """The camera from a per-frame Procrustes fit of the mean face, then the model's quick
        latent estimate (identity and age averaged per clip)."""
        dims = model.dims
        with torch.no_grad():
            mu_i, mu_e, mu_a = model.split(model.latent_mean)
            neutral = model.landmarks(mu_i, mu_e, mu_a)  # (M, 3)
            seen = batch.vis.sum(-1) > 0  # (R, T)
            w = torch.where(seen[..., None], batch.vis, torch.ones_like(batch.vis))  # (R, T, M)
            rot, scale, shift = similarity(neutral, batch.target3, w)  # (R,T,3,3) (R,T) (R,T,3)
            pose = torch.cat([so3_log(rot), torch.log(scale.clamp_min(1e-9))[..., None],
                              shift[..., :2]], -1)  # (R, T, 6)
            # Unseen or padded frames start from their sequence's mean seen pose.
            good = (seen & batch.mask)[..., None].float()  # (R, T, 1)
            mean_pose = (pose * good).sum(1, keepdim=True) / good.sum(1, keepdim=True).clamp_min(1)
            pose = torch.where(good.bool(), pose, mean_pose)  # (R, T, 6)
            u = _initial_latents(model, batch, neutral, rot, scale, shift, good, cfg)  # (R,T,D)
            u_id, u_exp, u_age = model.split(u)
            both = torch.cat([u_id, u_age], -1) * good  # (R, T, I + A)
            sums = batch.onehot.T @ both.sum(1)  # (C, I + A)
            count = batch.onehot.T @ good[..., 0].sum(1)  # (C,)
            shared = sums / count.clamp_min(1)[:, None]  # (C, I + A)

        def leaf(x: torch.Tensor) -> torch.Tensor:
            return x.detach().clone().contiguous().requires_grad_(True)

        return cls(
            u_id=leaf(shared[:, :dims.identity]), u_age=leaf(shared[:, dims.identity:]),
            u_exp=leaf(u_exp * good),
            omega=leaf(pose[..., :3]), log_s=leaf(pose[..., 3:4]), trans=leaf(pose[..., 4:]))

    def latents(self, model: FaceModel, batch: _Batch) -> tuple[torch.Tensor, ...]:
        """Raw identity (R, T, I), expression (R, T, E), age (R, T, A)."""
        mu_i, mu_e, mu_a = model.split(model.latent_mean)
        sd_i, sd_e, sd_a = model.split(model.latent_std)
        r, t = batch.mask.shape
        ident = (batch.onehot @ (mu_i + sd_i * self.u_id))[:, None].expand(r, t, -1)  # (R, T, I)
        age = (batch.onehot @ (mu_a + sd_a * self.u_age))[:, None].expand(r, t, -1)  # (R, T, A)
        return ident, mu_e + sd_e * self.u_exp, age  # expression (R, T, E)


def _initial_latents(model: FaceModel, batch: _Batch, neutral: torch.Tensor, rot: torch.Tensor,
                     scale: torch.Tensor, shift: torch.Tensor, good: torch.Tensor,
                     cfg: FitConfig) -> torch.Tensor:
    """Whitened latents (R, T, D) from the 3D landmarks moved into the model's frame."""
    inv = (batch.target3 - shift[..., None, :]) @ rot / scale.clamp_min(1e-9)[..., None, None]
    points = torch.where(batch.vis[..., None] > 0, inv, neutral)  # (R, T, M, 3)
    typical = scale[good[..., 0].bool()].median() if good.any() else scale.new_tensor(1.0)
    return model.initial_latents(points, float((cfg.sigma / typical) ** 2))  # (R, T, D)


def _objective(model: FaceModel, p: _Params, batch: _Batch,
               cfg: FitConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-row objective (R,) and the landmark distances (R, T, M) in normalised units."""
    ident, expr, age = p.latents(model, batch)
    points = model.landmarks(ident, expr, age)  # (R, T, M, 3)
    proj = project(points, p.omega, p.log_s, p.trans)  # (R, T, M, 2)
    d2 = ((proj - batch.target) ** 2).sum(-1)  # (R, T, M)
    rho = torch.sqrt(1 + d2 / cfg.sigma**2) - 1  # (R, T, M) Charbonnier ~ d^2/(2 sigma^2)
    data = (batch.weight * rho).sum(-1)  # (R, T)
    mask = batch.mask.float()  # (R, T)
    pose = torch.cat([p.omega, p.log_s, p.trans], -1)  # (R, T, 6)
    smooth = (cfg.temporal * _first(p.u_exp, mask, cfg.temporal_delta)
              + cfg.pose_temporal * _first(pose, mask, cfg.temporal_delta)
              + cfg.second_difference * (_second(p.u_exp, mask) + _second(pose, mask)))  # (R,)
    prior = 0.5 * cfg.prior * ((p.u_exp**2).sum(-1) * mask).sum(-1)  # (R,)
    shared = 0.5 * cfg.prior * ((p.u_id**2).sum(-1) + (p.u_age**2).sum(-1))  # (C,)
    per_row = (data * mask).sum(-1) + smooth + prior + batch.onehot @ shared  # (R,)
    return per_row / mask.sum(-1), d2.sqrt()


def _first(x: torch.Tensor, mask: torch.Tensor, delta: float) -> torch.Tensor:
    """Huber on first differences between real consecutive frames, summed per row: (R,)."""
    pair = mask[:, 1:] * mask[:, :-1]  # (R, T-1)
    huber = F.huber_loss(x[:, 1:], x[:, :-1], reduction="none", delta=delta)  # (R, T-1, C)
    return (huber.sum(-1) * pair).sum(-1)


def _second(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Squared second differences over real frame triples, summed per row: (R,)."""
    triple = mask[:, 2:] * mask[:, 1:-1] * mask[:, :-2]  # (R, T-2)
    acc = x[:, 2:] - 2 * x[:, 1:-1] + x[:, :-2]  # (R, T-2, C)
    return ((acc**2).sum(-1) * triple).sum(-1)


def _results(model: FaceModel, p: _Params, batch: _Batch, initial: torch.Tensor,
             final: torch.Tensor, dist: torch.Tensor) -> list[FitResult]:
    with torch.no_grad():
        ident, expr, age = (x.cpu().numpy().astype(np.float64) for x in p.latents(model, batch))
        rot = rodrigues(p.omega).cpu().numpy()  # (R, T, 3, 3)
        vis = batch.vis > 0  # (R, T, M)
        resid = ((dist * vis).sum(-1) / vis.sum(-1)).cpu().numpy()  # (R, T), NaN with none seen
        scale = p.log_s.exp()[..., 0].cpu().numpy()  # (R, T)
        trans = p.trans.cpu().numpy()  # (R, T, 2)
    out = []
    for r, t in enumerate(batch.lengths):
        size, centre = batch.size[r], batch.centre[r]
        out.append(FitResult(
            identity=ident[r, 0], age=age[r, 0], expression=expr[r, :t], rotation=rot[r, :t],
            translation=centre + size * trans[r, :t] * np.array([1.0, -1.0]),
            scale=size * scale[r, :t], residual_px=size * resid[r, :t], size_px=float(size),
            loss_initial=float(initial[r]), loss_final=float(final[r])))
    return out


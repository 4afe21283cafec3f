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

from manifests.facemesh import EYE_CORNERS, LIPS
from model.face.base import FaceModel
from model.face.camera import camera_matrix, flip, rodrigues, similarity, so3_log
from model.face.fit_config import FitConfig

log = logging.getLogger(__name__)


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


def fit_sequences(model: FaceModel, inputs: Sequence[FitInput], cfg: FitConfig,
                  device: str = "auto") -> list[FitResult]:
    """Fits every sequence jointly: one padded batch, one optimiser, one result per input.

    Args:
        device: "auto" (CUDA when present, else CPU) or a torch device name.
    """
    if not inputs:
        return []
    torch.manual_seed(cfg.seed)
    torch_device = resolve_device(device)
    model = model.to(torch_device)
    batch = _Batch.build(model, inputs, cfg, torch_device)
    params = _Params.init(model, batch, cfg)
    decoder = _Decoder.build(model)
    # The fused kernel updates all six tensors in one pass; the per-tensor loop is ~10 small ops
    # each, a tenth of a CPU step.
    opt = torch.optim.Adam([
        {"params": [params.u_id, params.u_age, params.u_exp], "lr": cfg.lr},
        {"params": [params.omega, params.log_s, params.trans], "lr": cfg.pose_lr},
    ], fused=True)
    steps = max(cfg.iterations, 1)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda i: cfg.lr_final + (1 - cfg.lr_final)
                                              * 0.5 * (1 + math.cos(math.pi * i / steps)))
    with torch.inference_mode():
        initial, _ = _objective(model, decoder, params, batch, cfg)  # (R,)
    for _ in range(cfg.iterations):
        opt.zero_grad(set_to_none=True)
        per_row, _ = _objective(model, decoder, params, batch, cfg)  # (R,)
        per_row.sum().backward()
        opt.step()
        sched.step()
    with torch.inference_mode():
        final, dist = _objective(model, decoder, params, batch, cfg)  # (R,), (R, T, M)
    log.debug("fitted %d sequences, %d frames on %s", len(inputs), int(batch.mask.sum()),
              torch_device)
    return _results(model, params, batch, initial, final, dist)


@dataclass
class _Batch:
    target: torch.Tensor  # (R, T, M, 2) normalised, y up
    target3: torch.Tensor  # (R, T, M, 3) normalised, y up, z towards the viewer
    target_sigma: torch.Tensor  # (R·T, 2, M) coordinate-major, in units of the noise sigma
    vis: torch.Tensor  # (R, T, M) visibility
    weight: torch.Tensor  # (R, T, M) visibility times the mouth weight, over sigma
    mask: torch.Tensor  # (R, T) real (unpadded) frames
    frames: torch.Tensor  # (R,) real frames per row, at least 1
    pair: torch.Tensor  # (R, T-1) real consecutive frame pairs
    triple: torch.Tensor  # (R, T-2) real consecutive frame triples
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
        mask_t = torch.as_tensor(mask, device=device).float()  # (R, T)
        return cls(
            target=target_t[..., :2].contiguous(), target3=target_t, vis=vis_t,
            target_sigma=(target_t[..., :2] / cfg.sigma).flatten(0, 1).transpose(1, 2)
            .contiguous(),
            weight=vis_t * torch.as_tensor(mouth, dtype=torch.float32, device=device),
            mask=mask_t.bool(), frames=mask_t.sum(-1).clamp_min(1),
            pair=mask_t[:, 1:] * mask_t[:, :-1],
            triple=mask_t[:, 2:] * mask_t[:, 1:-1] * mask_t[:, :-2],
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
    """Whitened latents (R, T, D) from the 3D landmarks moved into the model's frame.

    The ridge follows each clip's own typical scale, so a clip starts where it would alone,
    whatever other clips share the batch.
    """
    inv = (batch.target3 - shift[..., None, :]) @ rot / scale.clamp_min(1e-9)[..., None, None]
    points = torch.where(batch.vis[..., None] > 0, inv, neutral)  # (R, T, M, 3)
    latents = points.new_zeros(*points.shape[:2], model.dims.total)  # (R, T, D)
    for rows in batch.onehot.T.bool():  # (R,) the rows of one clip
        seen = scale[rows][good[rows][..., 0].bool()]
        typical = seen.median() if len(seen) else scale.new_tensor(1.0)
        latents[rows] = model.initial_latents(points[rows], float((cfg.sigma / typical) ** 2))
    return latents


@dataclass
class _Decoder:
    """A linear model's landmarks split into a per-clip and a per-frame part, coordinate-major.

    Identity and age are fixed per clip, so their share of the decode is one small matmul per
    clip rather than per frame; the latent prior's mean and std are folded into the bases, so the
    step decodes the whitened latents directly. Coordinate-major (3, M) points let one (2, 3)
    camera matmul per frame project them. `linear` is None for non-linear models, which decode
    through `FaceModel.landmarks`.
    """

    linear: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None  # (3M,) (I+A, 3M) (E, 3M)

    @classmethod
    def build(cls, model: FaceModel) -> _Decoder:
        found = model.linear_landmarks()
        if found is None:
            return cls(None)
        mean, basis = found  # (M, 3), (D, M, 3)
        basis = basis.transpose(1, 2).flatten(1)  # (D, 3M) coordinate-major
        base = mean.T.flatten() + model.latent_mean @ basis  # (3M,)
        whitened = model.latent_std[:, None] * basis  # (D, 3M)
        b_id, b_exp, b_age = model.split(whitened.T)  # (3M, I), (3M, E), (3M, A)
        return cls((base, torch.cat([b_id, b_age], -1).T.contiguous(), b_exp.T.contiguous()))

    def points(self, model: FaceModel, p: _Params, batch: _Batch) -> torch.Tensor:
        """Landmarks (R·T, 3, M) in the model's frame."""
        r, t = batch.mask.shape
        if self.linear is None:
            ident, expr, age = p.latents(model, batch)
            return model.landmarks(ident, expr, age).flatten(0, 1).transpose(1, 2)  # (R·T, 3, M)
        base, shared, expression = self.linear
        clip = torch.cat([p.u_id, p.u_age], -1) @ shared  # (C, 3M)
        row = base + batch.onehot @ clip  # (R, 3M)
        # One batched matmul adds each row's clip part to its frames' expression part.
        points = torch.baddbmm(row[:, None], p.u_exp, expression.expand(r, -1, -1))  # (R, T, 3M)
        return points.view(r * t, 3, -1)  # (R·T, 3, M)


def _objective(model: FaceModel, decoder: _Decoder, p: _Params, batch: _Batch,
               cfg: FitConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-row objective (R,) and the landmark distances (R, T, M) in normalised units."""
    r, t = batch.mask.shape
    points = decoder.points(model, p, batch)  # (R·T, 3, M)
    # Residuals in units of sigma straight from one fused camera matmul: s R v + t - target.
    cam = camera_matrix(p.omega, p.log_s).flatten(0, 1) / cfg.sigma  # (R·T, 2, 3)
    shift = (p.trans / cfg.sigma).flatten(0, 1)[..., None] - batch.target_sigma  # (R·T, 2, M)
    resid = torch.baddbmm(shift, cam, points)  # (R·T, 2, M)
    per_frame, d2 = _Charbonnier.apply(resid, batch.weight.view(r * t, -1))  # (R·T,), (R·T, M)
    data = per_frame.view(r, t).sum(-1)  # (R,); padded frames have zero weight
    mask = batch.mask.float()  # (R, T)
    pose = torch.cat([p.omega, p.log_s, p.trans], -1)  # (R, T, 6)
    smooth = (cfg.temporal * _first(p.u_exp, batch.pair, cfg.temporal_delta)
              + cfg.pose_temporal * _first(pose, batch.pair, cfg.temporal_delta)
              + cfg.second_difference * (_second(p.u_exp, batch.triple)
                                         + _second(pose, batch.triple)))  # (R,)
    prior = 0.5 * cfg.prior * ((p.u_exp**2).sum(-1) * mask).sum(-1)  # (R,)
    shared = 0.5 * cfg.prior * ((p.u_id**2).sum(-1) + (p.u_age**2).sum(-1))  # (C,)
    per_row = data + smooth + prior + batch.onehot @ shared  # (R,)
    return per_row / batch.frames, cfg.sigma * d2.sqrt().view(r, t, -1)


class _Charbonnier(torch.autograd.Function):
    """The weighted robust landmark term per frame, Σ_m w · (sqrt(1 + |r|^2) - 1), residuals r in
    units of sigma (Charbonnier ~ |r|^2 / 2 near zero).

    Autograd would keep five (R·T, M)-sized intermediates and run as many element-wise passes
    back; the closed-form gradient w · r / sqrt(1 + |r|^2) needs two, and the step is bound by
    these passes once the decode is a single matmul.
    """

    @staticmethod
    def forward(ctx: torch.autograd.function.FunctionCtx, resid: torch.Tensor,
                weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        d2 = (resid * resid).sum(1)  # (N, 2, M) -> (N, M) squared distance over sigma^2
        root = (d2 + 1).sqrt_()  # (N, M)
        ctx.save_for_backward(resid, root, weight)
        ctx.mark_non_differentiable(d2)
        return (weight * root).sum(-1) - weight.sum(-1), d2  # (N,), (N, M)

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx, grad: torch.Tensor,
                 _: torch.Tensor) -> tuple[torch.Tensor, None]:
        resid, root, weight = ctx.saved_tensors  # (N, 2, M), (N, M), (N, M)
        coef = weight / root * grad[:, None]  # (N, M)
        return resid * coef[:, None], None  # (N, 2, M)


def _first(x: torch.Tensor, pair: torch.Tensor, delta: float) -> torch.Tensor:
    """Huber on first differences between real consecutive frames (pair mask), per row: (R,)."""
    huber = F.huber_loss(x[:, 1:], x[:, :-1], reduction="none", delta=delta)  # (R, T-1, C)
    return (huber.sum(-1) * pair).sum(-1)


def _second(x: torch.Tensor, triple: torch.Tensor) -> torch.Tensor:
    """Squared second differences over real frame triples (triple mask), per row: (R,)."""
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


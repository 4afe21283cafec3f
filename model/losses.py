"""Training losses over the valid (batch, frame) pairs only, each with its weight in LossConfig.

The infant-expression study's objective is
    λ_latent·L_latent + λ_velocity·L_velocity + λ_lip·L_lip + λ_lipvel·L_lipvel + λ_DTW·L_DTW
    + λ_closed·L_BCE
with the lip terms on lip vertices decoded through the face model (so INFACE and the open model
both work), soft-DTW on the mouth-aperture trajectory and BCE on fully closed mouths. Animote's
regressor uses MSE plus 0.1 x an L1 on frame differences (`temporal_l1`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

from model.face.base import FaceModel


@dataclass(frozen=True)
class LossConfig:
    """Weights (0 switches a term off, and skips its computation) and the terms' constants."""

    latent: float = 1.0
    velocity: float = 0.0
    temporal_l1: float = 0.0  # Animote's L1 on frame differences
    lip: float = 0.0  # lip-vertex L2 through the face model's decoder
    lip_velocity: float = 0.0
    dtw: float = 0.0  # soft-DTW divergence of the mouth-aperture trajectories
    closed: float = 0.0  # BCE on frames whose true mouth is closed
    dtw_gamma: float = 0.1  # soft-min temperature, in squared aperture units (normalised)
    closed_sharpness: float = 10.0  # logit slope per neutral-mouth-width of aperture

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LossConfig:
        return cls(**data)

    @property
    def needs_decoder(self) -> bool:
        return any((self.lip, self.lip_velocity, self.dtw, self.closed))


def masked_mse(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean squared error over valid frames; pred, target (B, T, ...), mask (B, T) bool."""
    per_frame = (pred - target).pow(2).flatten(2).mean(-1)  # (B, T)
    return _masked_mean(per_frame, mask)


def velocity(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor,
             p: int = 2) -> torch.Tensor:
    """Error of first differences (p = 2: squared, p = 1: absolute) where both frames are real."""
    both = mask[:, 1:] & mask[:, :-1]  # (B, T-1)
    diff = (pred.diff(dim=1) - target.diff(dim=1)).abs().pow(p)  # (B, T-1, ...)
    return _masked_mean(diff.flatten(2).mean(-1), both)


def soft_dtw(x: torch.Tensor, y: torch.Tensor, lengths: torch.Tensor,
             gamma: float) -> torch.Tensor:
    """Soft-DTW (Cuturi & Blondel 2017) between 1-D sequences of per-item lengths; (B,).

    x, y: (B, T); each item's value is its own (length, length) cell, so padding never enters.
    """
    out = _SoftDTW.apply(x, y, lengths, gamma)
    assert isinstance(out, torch.Tensor)
    return out


class _SoftDTW(torch.autograd.Function):
    """Forward recursion and the paper's backward recursion (its Algorithm 2) in numpy.

    Both run over anti-diagonals i + j = k, one vector operation across the batch each; autograd
    through the 2T-step recursion would record ~10 small ops per step and is ~100x slower.
    """

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, y: torch.Tensor, lengths: torch.Tensor,
                gamma: float) -> torch.Tensor:
        xs, ys = (v.detach().cpu().double().numpy() for v in (x, y))
        n = xs.shape[1]
        sizes = lengths.cpu().numpy().clip(0, n)
        inside = (np.arange(1, n + 1)[None, :] <= sizes[:, None])  # (B, T)
        block = inside[:, :, None] & inside[:, None, :]  # (B, T, T) cells of each item
        cost = np.zeros((len(xs), n + 2, n + 2))
        cost[:, 1:-1, 1:-1] = np.where(block, (xs[:, :, None] - ys[:, None, :]) ** 2, 0.0)
        r = np.full_like(cost, np.inf)
        r[:, 0, 0] = 0.0
        for ii, jj in _diagonals(n, reverse=False):
            prev = np.stack([r[:, ii - 1, jj - 1], r[:, ii - 1, jj], r[:, ii, jj - 1]])
            r[:, ii, jj] = cost[:, ii, jj] + _softmin(prev, gamma)
        b = np.arange(len(xs))
        value = np.where(sizes > 0, r[b, sizes, sizes], 0.0)
        ctx.save_for_backward(x, y)
        ctx.state = (r, cost, sizes, block, gamma)
        return torch.as_tensor(value, dtype=x.dtype, device=x.device)

    @staticmethod
    def backward(ctx: Any, *grads: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        x, y = ctx.saved_tensors
        r, cost, sizes, block, gamma = ctx.state
        n = x.shape[1]
        b = np.arange(len(sizes))
        # Close each item's grid at row and column length + 1 (Algorithm 2, lines 3-5).
        r = r.copy()
        e = np.zeros_like(r)
        row = np.arange(n + 2)[None, :]
        beyond = row > sizes[:, None]  # (B, T+2)
        r[beyond[:, :, None].repeat(n + 2, axis=2)] = -np.inf
        r[beyond[:, None, :].repeat(n + 2, axis=1)] = -np.inf
        r[b, sizes + 1, sizes + 1] = r[b, sizes, sizes]
        e[b, sizes + 1, sizes + 1] = 1.0
        with np.errstate(invalid="ignore", over="ignore"):
            for ii, jj in _diagonals(n, reverse=True):
                here = r[:, ii, jj]
                a = np.exp((r[:, ii + 1, jj] - here - cost[:, ii + 1, jj]) / gamma)
                c = np.exp((r[:, ii, jj + 1] - here - cost[:, ii, jj + 1]) / gamma)
                d = np.exp((r[:, ii + 1, jj + 1] - here - cost[:, ii + 1, jj + 1]) / gamma)
                total = e[:, ii + 1, jj] * a + e[:, ii, jj + 1] * c + e[:, ii + 1, jj + 1] * d
                inside = block[:, ii - 1, jj - 1]
                e[:, ii, jj] = np.where(inside, np.nan_to_num(total), e[:, ii, jj])
        upstream = grads[0].detach().cpu().double().numpy()[:, None, None]  # (B, 1, 1)
        weights = np.where(block, e[:, 1:-1, 1:-1], 0.0) * upstream
        xs, ys = (v.detach().cpu().double().numpy() for v in (x, y))
        diff = 2 * (xs[:, :, None] - ys[:, None, :]) * weights  # (B, T, T) dD/dx · E
        as_x = torch.as_tensor(diff.sum(2), dtype=x.dtype, device=x.device)
        as_y = torch.as_tensor(-diff.sum(1), dtype=y.dtype, device=y.device)
        return as_x, as_y, None, None


def _diagonals(n: int, reverse: bool) -> list[tuple[np.ndarray, np.ndarray]]:
    """Cell indices (1-based rows, columns) of each anti-diagonal of an n x n grid."""
    out = []
    for k in range(2, 2 * n + 1):
        ii = np.arange(max(1, k - n), min(n, k - 1) + 1)
        out.append((ii, k - ii))
    return out[::-1] if reverse else out


def _softmin(values: np.ndarray, gamma: float) -> np.ndarray:
    """-gamma log sum exp(-v / gamma) over axis 0, stable and exact where some values are inf."""
    low = values.min(axis=0)
    safe = np.where(np.isinf(low), 0.0, low)
    return safe - gamma * np.log(np.exp(-(values - safe) / gamma).sum(axis=0))


def soft_dtw_divergence(x: torch.Tensor, y: torch.Tensor, mask: torch.Tensor,
                        gamma: float) -> torch.Tensor:
    """D(x, y) - (D(x, x) + D(y, y)) / 2 per frame, averaged over items: 0 when x equals y."""
    lengths = mask.sum(1)  # (B,)
    b = x.shape[0]
    both = soft_dtw(torch.cat([x, x, y]), torch.cat([y, x, y]), lengths.repeat(3), gamma)
    xy, xx, yy = both[:b], both[b:2 * b], both[2 * b:]  # (B,) each
    return ((xy - (xx + yy) / 2) / lengths.clamp(min=1)).mean()


class Losses:
    """The configured terms for one batch; `__call__` returns the weighted total and each term.

    Args:
        face_model: decodes expression latents to vertices (needed by the lip, DTW and BCE terms).
    """

    def __init__(self, cfg: LossConfig, face_model: FaceModel | None = None) -> None:
        if cfg.needs_decoder and face_model is None:
            raise ValueError("the lip, DTW and closed-mouth losses need a face model")
        self.cfg = cfg
        self.face_model = face_model
        if face_model is not None:
            with torch.no_grad():
                self.closed_below = face_model.mouth_closed_threshold()

    def __call__(self, pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor,
                 raw: tuple[torch.Tensor, torch.Tensor] | None = None,
                 identity: torch.Tensor | None = None,
                 age: torch.Tensor | None = None) -> tuple[torch.Tensor, dict[str, float]]:
        """Weighted sum and the unweighted terms.

        Args:
            pred, target: (B, T, K) in the network's (normalised) units; mask (B, T).
            raw: pred and target in the face model's raw expression units, for decoding.
            identity: (B, I) and age: (B, A), the clips' fixed latents, for decoding.
        """
        cfg = self.cfg
        terms: dict[str, torch.Tensor] = {}
        if cfg.latent:
            terms["latent"] = masked_mse(pred, target, mask)
        if cfg.velocity:
            terms["velocity"] = velocity(pred, target, mask)
        if cfg.temporal_l1:
            terms["temporal_l1"] = velocity(pred, target, mask, p=1)
        if cfg.needs_decoder:
            if raw is None or identity is None or age is None:
                raise ValueError("the decoder losses need raw latents, identity and age")
            terms.update(self._decoded(*raw, mask, identity, age))
        weights = {name: getattr(cfg, name) for name in terms}
        total = sum(weights[name] * value for name, value in terms.items())
        assert isinstance(total, torch.Tensor)
        return total, {name: float(value.detach()) for name, value in terms.items()}

    def _decoded(self, pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor,
                 identity: torch.Tensor, age: torch.Tensor) -> dict[str, torch.Tensor]:
        cfg, model = self.cfg, self.face_model
        assert model is not None
        frames = pred.shape[1]
        ident = identity[:, None].expand(-1, frames, -1)  # (B, T, I)
        ages = age[:, None].expand(-1, frames, -1)  # (B, T, A)
        verts_pred = model.decode(ident, pred, ages)  # (B, T, N, 3)
        with torch.no_grad():
            verts_true = model.decode(ident, target, ages)  # (B, T, N, 3)
        terms: dict[str, torch.Tensor] = {}
        lips_pred = verts_pred[:, :, model.lip_vertices]  # (B, T, L, 3)
        lips_true = verts_true[:, :, model.lip_vertices]
        if cfg.lip:
            terms["lip"] = masked_mse(lips_pred, lips_true, mask)
        if cfg.lip_velocity:
            terms["lip_velocity"] = velocity(lips_pred, lips_true, mask)
        ap_pred = model.mouth_aperture(verts_pred)  # (B, T)
        ap_true = model.mouth_aperture(verts_true)  # (B, T)
        width = self.closed_below / model.closed_fraction  # the neutral mouth width
        if cfg.dtw:
            zero = torch.zeros_like(ap_pred)
            terms["dtw"] = soft_dtw_divergence(torch.where(mask, ap_pred / width, zero),
                                               torch.where(mask, ap_true / width, zero),
                                               mask, cfg.dtw_gamma)
        if cfg.closed:
            logits = cfg.closed_sharpness * (self.closed_below - ap_pred) / width  # (B, T)
            closed = (ap_true < self.closed_below).float()  # (B, T)
            bce = F.binary_cross_entropy_with_logits(logits, closed, reduction="none")
            terms["closed"] = _masked_mean(bce, mask)
        return terms


def _masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of (B, T) values over True mask entries (0 when there are none)."""
    weights = mask.to(values.dtype)
    return (values * weights).sum() / weights.sum().clamp(min=1.0)

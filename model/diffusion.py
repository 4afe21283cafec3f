"""Diffusion over expression-latent sequences: the cosine schedule, noising, and a DDIM sampler.

The denoiser predicts the clean latents x0 (not the noise), as the infant-expression study and
FaceTalk do; the sampler turns each x0 prediction into the previous, less noisy step.

References:
- [IDDPM] Nichol & Dhariwal 2021, Improved Denoising Diffusion Probabilistic Models, eq. 17.
- [DDPM] Ho et al. 2020, Denoising Diffusion Probabilistic Models, eq. 4, 6, 7.
- [DDIM] Song et al. 2021, Denoising Diffusion Implicit Models, eq. 12 and 16.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import torch

X0Fn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (x_t (B, T, K), t (B,)) -> x0


@dataclass(frozen=True)
class DiffusionConfig:
    """The noise schedule and the sampler's defaults; saved beside every checkpoint."""

    train_steps: int = 1000  # the study's and FaceTalk's T
    cosine_offset: float = 0.008  # [IDDPM]'s s: keeps β small near t = 0
    max_beta: float = 0.999  # [IDDPM] clips β to avoid a singularity at t = T
    sample_steps: int = 25  # DDIM steps at inference: ~40x fewer forwards, little quality lost
    eta: float = 0.0  # 0: deterministic DDIM; 1: DDPM's ancestral variance

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DiffusionConfig:
        return cls(**data)


@dataclass(frozen=True)
class SamplerOutput:
    """One reverse step: the less noisy sample and the clean estimate it was made from."""

    prev: torch.Tensor  # (B, T, K) x at the previous (smaller) timestep
    x0: torch.Tensor  # (B, T, K) the denoiser's clean estimate at this step


def cosine_alpha_bar(cfg: DiffusionConfig) -> torch.Tensor:
    """ᾱ_t for t = 0 … T-1 in float64 ([IDDPM] eq. 17, with β clipped to `max_beta`)."""
    steps = cfg.train_steps
    t = torch.arange(steps + 1, dtype=torch.float64) / steps  # (T+1,)
    f = torch.cos((t + cfg.cosine_offset) / (1 + cfg.cosine_offset) * math.pi / 2) ** 2
    betas = (1 - f[1:] / f[:-1]).clamp(max=cfg.max_beta)  # (T,)
    return torch.cumprod(1 - betas, dim=0)  # (T,)


class Diffusion:
    """Noising for training and DDIM steps for sampling, on one schedule."""

    def __init__(self, cfg: DiffusionConfig | None = None) -> None:
        self.cfg = cfg or DiffusionConfig()
        self.alpha_bar = cosine_alpha_bar(self.cfg)  # (T,) float64

    def add_noise(self, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """x_t = √ᾱ_t · x0 + √(1 - ᾱ_t) · ε ([DDPM] eq. 4); x0 (B, T, K), t (B,) → (B, T, K)."""
        a = self.alpha_bar.to(x0.device)[t].to(x0.dtype)[:, None, None]  # (B, 1, 1)
        return a.sqrt() * x0 + (1 - a).sqrt() * noise

    def timesteps(self, steps: int | None = None) -> list[int]:
        """The `steps` timesteps a sampler visits, from T-1 down to 0, evenly spaced."""
        k = self.cfg.sample_steps if steps is None else steps
        if not 1 <= k <= self.cfg.train_steps:
            raise ValueError(f"sample steps must be 1 … {self.cfg.train_steps}, got {k}")
        grid = torch.linspace(self.cfg.train_steps - 1, 0, k, dtype=torch.float64)
        return [int(v) for v in grid.round().tolist()]

    def step(self, x0: torch.Tensor, x_t: torch.Tensor, t: int, t_prev: int | None,
             eta: float | None = None, generator: torch.Generator | None = None) -> SamplerOutput:
        """One DDIM step from timestep t to t_prev (None: to the clean sample) ([DDIM] eq. 12)."""
        eta = self.cfg.eta if eta is None else eta
        a_t = float(self.alpha_bar[t])
        a_prev = float(self.alpha_bar[t_prev]) if t_prev is not None else 1.0
        # 1. The noise the x0 estimate implies: ε̂ = (x_t - √ᾱ_t x0) / √(1 - ᾱ_t).
        eps = (x_t - math.sqrt(a_t) * x0) / math.sqrt(1 - a_t)  # (B, T, K)
        # 2. The step's spread ([DDIM] eq. 16): η = 1 is DDPM's posterior variance β̃_t.
        sigma = eta * math.sqrt((1 - a_prev) / (1 - a_t) * (1 - a_t / a_prev))
        # 3. Point back along ε̂ with what variance is left, then add fresh noise.
        direction = math.sqrt(max(1 - a_prev - sigma**2, 0.0)) * eps
        prev = math.sqrt(a_prev) * x0 + direction
        if sigma > 0:
            noise = torch.randn(x_t.shape, generator=generator, dtype=x_t.dtype,
                                device=x_t.device)
            prev = prev + sigma * noise
        return SamplerOutput(prev=prev, x0=x0)

    def sample(self, predict_x0: X0Fn, shape: tuple[int, ...], steps: int | None = None,
               eta: float | None = None, generator: torch.Generator | None = None,
               device: str | torch.device = "cpu") -> torch.Tensor:
        """Runs the reverse process from pure noise with `steps` DDIM steps; returns x0 (B, T, K).

        Args:
            predict_x0: the (guided) denoiser: (x_t, t) → its clean estimate.
        """
        x = torch.randn(shape, generator=generator, device=device)  # (B, T, K)
        visited = self.timesteps(steps)
        for i, t in enumerate(visited):
            t_prev = visited[i + 1] if i + 1 < len(visited) else None
            x0 = predict_x0(x, torch.full((shape[0],), t, device=device, dtype=torch.long))
            x = self.step(x0, x, t, t_prev, eta, generator).prev
        return x


def guided(conditional: torch.Tensor, unconditional: torch.Tensor, scale: float) -> torch.Tensor:
    """Classifier-free guidance on x0: scale 0 ignores the audio, 1 is the plain conditional."""
    return unconditional + scale * (conditional - unconditional)

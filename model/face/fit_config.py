"""The fitter's hyper-parameters: the one place their defaults (and the reasons for them) live.

Torch-free, so that `stages.fitting.config` can nest it in Cradle's configuration without making
every command import torch. Units are whitened latents and inter-ocular distances (IOD).
"""

from __future__ import annotations

from pydantic import ConfigDict, Field
from pydantic.dataclasses import dataclass


@dataclass(frozen=True, config=ConfigDict(extra="forbid"))
class FitConfig:
    """Fitting hyper-parameters; which device runs them is the caller's machine setting."""

    # From the closed-form start, PCA fits reach their targets in ~40 steps (tests).
    iterations: int = Field(default=60, ge=1)
    # Whitened latents move O(1): 0.05 reaches them in ~50 steps.
    lr: float = Field(default=0.05, gt=0)
    # The camera starts from a closed-form fit and needs only refining.
    pose_lr: float = Field(default=0.01, gt=0)
    # Cosine decay to this fraction of lr: large steps early, fine ones late.
    lr_final: float = Field(default=0.05, gt=0)
    # Landmark noise in IOD (≈1.2 px at 60 px IOD): the robust loss's scale.
    sigma: float = Field(default=0.02, gt=0)
    # Lip landmarks drive the training target: weight them higher.
    mouth_weight: float = Field(default=3.0, ge=0)
    # Huber on Δexpression: ~6x less jitter for +2 % landmark error (tests)...
    temporal: float = Field(default=300.0, ge=0)
    # ...with its knee in prior std per frame: faster motion is kept.
    temporal_delta: float = Field(default=0.3, gt=0)
    # The head moves smoothly; pose units (rad, IOD) are small.
    pose_temporal: float = Field(default=300.0, ge=0)
    # A small Δ² term against zig-zag that Huber tolerates.
    second_difference: float = Field(default=3.0, ge=0)
    # 1 = the Gaussian latent prior proper, against implausible faces.
    prior: float = Field(default=1.0, ge=0)
    # Fits are training targets: reproducible.
    seed: int = 0

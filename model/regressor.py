"""A deterministic audio-to-motion transformer (Animote's system): no diffusion, no timestep.

The same blocks as the denoiser (causal self-attention, banded cross-attention to the audio,
feed-forward, FiLM), but the sequence starts from the audio features themselves and the FiLM
conditioning is a learnt constant (plus identity / age when configured), so one forward gives
the motion.
"""

from __future__ import annotations

import torch
from torch import nn

from model.denoiser import (
    Block,
    DenoiserConfig,
    band_mask,
    film_parameters,
    self_bias,
    stack_films,
)


class Regressor(nn.Module):
    """audio features (B, T, A) -> targets (B, T, K) in one pass."""

    def __init__(self, cfg: DenoiserConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.audio_in = nn.Linear(cfg.audio_dim, cfg.width)
        self.style = nn.Parameter(torch.zeros(cfg.width))  # the FiLM input without a timestep
        self.cond = nn.Linear(cfg.cond_dim, cfg.width) if cfg.cond_dim else None
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.layers))
        self.norm = nn.LayerNorm(cfg.width)
        self.out = nn.Linear(cfg.width, cfg.latent_dim)

    def forward(self, audio: torch.Tensor, mask: torch.Tensor | None = None,
                cond: torch.Tensor | None = None) -> torch.Tensor:
        """Args: audio (B, T, A); mask (B, T) True on real frames; cond (B, C). -> (B, T, K)."""
        b, frames, _ = audio.shape
        memory = self.audio_in(audio)  # (B, T, W)
        emb = self.style.expand(b, -1)  # (B, W)
        if self.cond is not None and cond is not None:
            emb = emb + self.cond(cond)
        bias = self_bias(self.cfg, frames, audio.device)
        allowed = band_mask(self.cfg.band, b, frames, mask, audio.device)
        h = memory
        films = film_parameters(stack_films(self.blocks), emb, len(self.blocks))
        for block, film in zip(self.blocks, films, strict=True):
            h = block(h, block.cross_attn.keys_values(memory), film, bias, allowed)
        return self.out(self.norm(h))  # (B, T, K)

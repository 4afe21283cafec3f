"""The denoiser: a transformer decoder over expression-latent frames that predicts clean latents.

Per layer (pre-norm): causal self-attention over the noisy latents, cross-attention to the audio
features restricted to a band |i - j| <= b around each frame (b = 0 is FaceTalk's strict alignment
mask), a feed-forward block; each followed by FiLM from the diffusion timestep (Mish + linear ->
scale, shift). A learnt null audio embedding stands in for dropped audio, which is what
classifier-free guidance needs. Optional identity / age conditioning joins the timestep embedding.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from manifests.files import atomic_write_json
from model.diffusion import guided

CONFIG_FILE = "denoiser.json"


@dataclass(frozen=True)
class DenoiserConfig:
    """Sizes and attention layout; saved as JSON beside every checkpoint."""

    latent_dim: int = 64  # K: the face model's expression latents (the open model's default)
    audio_dim: int = 768  # voc2vec / wav2vec2-base hidden size
    cond_dim: int = 0  # identity + age latents to condition on (0: none)
    width: int = 256
    layers: int = 4
    heads: int = 4
    ff_mult: int = 2  # FaceFormer's feed-forward width; 4 costs ~25 % more per sampling step
    dropout: float = 0.1
    band: int = 0  # cross-attention sees audio frames |i - j| <= band (0: strict alignment)
    alibi_period: int = 0  # FaceFormer's periodic ALiBi on self-attention (0: off)
    audio_drop: float = 0.25  # training: audio replaced by the null embedding this often (CFG)
    # "film": FiLM after every sub-layer (FaceTalk); "add": the timestep embedding added to the
    # input frames instead (the alternative FaceTalk's ablation found worse)
    timestep: str = "film"

    def __post_init__(self) -> None:
        if self.timestep not in ("film", "add"):
            raise ValueError(f"denoiser.timestep must be film or add, not {self.timestep!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DenoiserConfig:
        return cls(**data)

    def save(self, folder: Path) -> Path:
        return atomic_write_json(Path(folder) / CONFIG_FILE, self.to_dict())

    @classmethod
    def load(cls, folder: Path) -> DenoiserConfig:
        return cls.from_dict(json.loads((Path(folder) / CONFIG_FILE).read_text()))


def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal embedding of integer timesteps: (B,) -> (B, dim)."""
    half = dim // 2
    freqs = torch.exp(-math.log(10_000) * torch.arange(half, device=t.device) / half)  # (dim/2,)
    angles = t.float()[:, None] * freqs[None]  # (B, dim/2)
    return torch.cat([angles.sin(), angles.cos()], dim=-1)  # (B, dim)


def alibi_bias(frames: int, heads: int, period: int, device: torch.device) -> torch.Tensor:
    """FaceFormer's periodic ALiBi: a penalty growing every `period` frames back; (H, T, T)."""
    slopes = torch.tensor([2 ** (-8 * (h + 1) / heads) for h in range(heads)], device=device)
    i = torch.arange(frames, device=device)
    distance = ((i[:, None] - i[None, :]).clamp(min=0) // period).float()  # (T, T)
    return -slopes[:, None, None] * distance[None]  # (H, T, T)


class FiLM(nn.Module):
    """Feature-wise scale and shift from the conditioning embedding (Mish + linear). Its
    parameters live here; `film_parameters` applies every layer's at once."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.proj = nn.Sequential(nn.Mish(), nn.Linear(width, 2 * width))
        nn.init.zeros_(self.proj[1].weight)  # starts as the identity
        nn.init.zeros_(self.proj[1].bias)


Stacked = tuple[torch.Tensor, torch.Tensor]  # every FiLM's weights (3L * 2W, W) and biases


def stack_films(blocks: nn.ModuleList) -> Stacked | None:
    """Every block's FiLM projections as one matrix, or None without FiLM."""
    linears = [film.proj[1] for block in blocks if block.films is not None
               for film in block.films]
    if not linears:
        return None
    return torch.cat([lin.weight for lin in linears]), torch.cat([lin.bias for lin in linears])


def film_parameters(stacked: Stacked | None, emb: torch.Tensor,
                    layers: int) -> list[torch.Tensor | None]:
    """Per layer, (B, 3, 2, W): the scale and shift after each sub-layer, from one product.

    They depend on the conditioning embedding alone (the timestep), not on the frames, so one
    (B, W) x (W, 3L * 2W) product replaces 3L small ones at every step."""
    if stacked is None:
        return [None] * layers
    b, w = emb.shape
    params = F.linear(F.mish(emb), *stacked)  # (B, 3L * 2W)
    return list(params.view(b, layers, 3, 2, w).unbind(1))  # L x (B, 3, 2, W)


class Attention(nn.Module):
    """Multi-head attention with an explicit mask (True = may attend) or additive bias."""

    def __init__(self, cfg: DenoiserConfig) -> None:
        super().__init__()
        self.heads, self.dropout = cfg.heads, cfg.dropout
        self.q = nn.Linear(cfg.width, cfg.width)
        self.kv = nn.Linear(cfg.width, 2 * cfg.width)
        self.out = nn.Linear(cfg.width, cfg.width)

    def keys_values(self, memory: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, S, W) -> keys and values (B, H, S, W/H) each; reusable while memory is fixed."""
        b, s, _ = memory.shape
        k, v = self.kv(memory).view(b, s, 2, self.heads, -1).unbind(2)
        return k.transpose(1, 2), v.transpose(1, 2)

    def forward(self, x: torch.Tensor, kv: tuple[torch.Tensor, torch.Tensor],
                bias: torch.Tensor | None) -> torch.Tensor:
        """Causal self-attention; `bias` (H, T, T) adds ALiBi (-inf above the diagonal)."""
        b, t, w = x.shape
        q = self.q(x).view(b, t, self.heads, -1).transpose(1, 2)  # (B, H, T, W/H)
        y = F.scaled_dot_product_attention(q, *kv, attn_mask=bias, is_causal=bias is None,
                                           dropout_p=self.dropout if self.training else 0.0)
        return self.out(y.transpose(1, 2).reshape(b, t, w))  # (B, T, W)

    def banded(self, x: torch.Tensor, kv: tuple[torch.Tensor, torch.Tensor],
               allowed: torch.Tensor) -> torch.Tensor:
        """Frame i attends to memory frames i - b ... i + b where `allowed` (B, T, 2b+1) says.

        Only the 2b + 1 keys in the band are scored, so the cost grows with T, not T².
        """
        band = (allowed.shape[-1] - 1) // 2
        b, t, w = x.shape
        q = self.q(x).view(b, t, self.heads, -1).transpose(1, 2)  # (B, H, T, d)
        k, v = (F.pad(m, (0, 0, band, band)).unfold(2, 2 * band + 1, 1).transpose(-1, -2)
                for m in kv)  # (B, H, T, 2b+1, d) each: for frame i, memory frames i-b ... i+b
        # Broadcast products, not einsum: einsum copies the unfolded views (3x slower here).
        scores = (q[..., None, :] * k).sum(-1) / math.sqrt(q.shape[-1])  # (B, H, T, 2b+1)
        scores = scores.masked_fill(~allowed[:, None], float("-inf"))
        weights = F.dropout(scores.softmax(-1), self.dropout, self.training)  # (B, H, T, 2b+1)
        y = (weights[..., None] * v).sum(-2)  # (B, H, T, d)
        return self.out(y.transpose(1, 2).reshape(b, t, w))  # (B, T, W)


class Block(nn.Module):
    def __init__(self, cfg: DenoiserConfig) -> None:
        super().__init__()
        self.norms = nn.ModuleList(nn.LayerNorm(cfg.width) for _ in range(3))
        self.self_attn, self.cross_attn = Attention(cfg), Attention(cfg)
        self.ff = nn.Sequential(nn.Linear(cfg.width, cfg.ff_mult * cfg.width), nn.GELU(),
                                nn.Linear(cfg.ff_mult * cfg.width, cfg.width),
                                nn.Dropout(cfg.dropout))
        self.films = (nn.ModuleList(FiLM(cfg.width) for _ in range(3))
                      if cfg.timestep == "film" else None)

    def forward(self, h: torch.Tensor, audio_kv: tuple[torch.Tensor, torch.Tensor],
                film: torch.Tensor | None, bias: torch.Tensor | None,
                allowed: torch.Tensor) -> torch.Tensor:
        """`film`: (B, 3, 2, W) this block's scales and shifts (`film_parameters`), or None."""

        def modulate(i: int, x: torch.Tensor) -> torch.Tensor:
            if film is None:
                return x
            return x * (1 + film[:, None, i, 0]) + film[:, None, i, 1]  # (B, T, W)

        x = self.norms[0](h)
        h = modulate(0, h + self.self_attn(x, self.self_attn.keys_values(x), bias))
        h = modulate(1, h + self.cross_attn.banded(self.norms[1](h), audio_kv, allowed))
        return modulate(2, h + self.ff(self.norms[2](h)))  # (B, T, W)


@dataclass
class AudioContext:
    """What stays fixed over a whole reverse process: the audio's cross-attention keys and
    values in every layer, the masks and the identity conditioning. Building it once per sample
    instead of once per step saves the audio projections at every DDIM step."""

    kv: list[tuple[torch.Tensor, torch.Tensor]]  # per layer, (B, H, T, W/H) each
    bias: torch.Tensor | None  # (H, T, T) ALiBi for self-attention, or None: plain causal
    allowed: torch.Tensor  # (B, T, 2b+1) which audio frames in each frame's band it sees
    cond: torch.Tensor | None  # (B, W) embedded identity / age, or None
    films: Stacked | None  # every layer's FiLM projections in one matrix (`stack_films`)


class Denoiser(nn.Module):
    """(x_t, t, audio) -> the clean latents x0."""

    def __init__(self, cfg: DenoiserConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.latent_in = nn.Linear(cfg.latent_dim, cfg.width)
        self.audio_in = nn.Linear(cfg.audio_dim, cfg.width)
        self.null_audio = nn.Parameter(torch.zeros(cfg.width))  # stands in for dropped audio
        self.time = nn.Sequential(nn.Linear(cfg.width, cfg.width), nn.Mish(),
                                  nn.Linear(cfg.width, cfg.width))
        self.cond = nn.Linear(cfg.cond_dim, cfg.width) if cfg.cond_dim else None
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.layers))
        self.norm = nn.LayerNorm(cfg.width)
        self.latent_out = nn.Linear(cfg.width, cfg.latent_dim)

    def forward(self, x_t: torch.Tensor, t: torch.Tensor, audio: torch.Tensor,
                mask: torch.Tensor | None = None, drop_audio: torch.Tensor | None = None,
                cond: torch.Tensor | None = None) -> torch.Tensor:
        """Predicts x0.

        Args:
            x_t: (B, T, K) noisy latents; t: (B,) timesteps; audio: (B, T, A) features at the
                frame rate; mask: (B, T) True on real frames; drop_audio: (B,) True where the
                audio is replaced by the null embedding; cond: (B, C) identity / age latents.

        Returns:
            (B, T, K) the clean latents' estimate.
        """
        return self.denoise(x_t, t, self.context(audio, mask, drop_audio, cond))

    def context(self, audio: torch.Tensor, mask: torch.Tensor | None = None,
                drop_audio: torch.Tensor | None = None,
                cond: torch.Tensor | None = None) -> AudioContext:
        """The step-independent part of `forward` for audio (B, T, A); see `forward`."""
        b, frames, _ = audio.shape
        memory = self.audio_in(audio)  # (B, T, W)
        if drop_audio is not None:
            memory = torch.where(drop_audio[:, None, None], self.null_audio, memory)
        embedded = self.cond(cond) if self.cond is not None and cond is not None else None
        return AudioContext([block.cross_attn.keys_values(memory) for block in self.blocks],
                            self_bias(self.cfg, frames, audio.device),
                            band_mask(self.cfg.band, b, frames, mask, audio.device), embedded,
                            stack_films(self.blocks))

    def denoise(self, x_t: torch.Tensor, t: torch.Tensor, ctx: AudioContext) -> torch.Tensor:
        """x0 from x_t (B, T, K) and timesteps t (B,) under a prepared audio context."""
        h = self.latent_in(x_t)  # (B, T, W)
        emb = self.time(timestep_embedding(t, self.cfg.width))  # (B, W)
        if ctx.cond is not None:
            emb = emb + ctx.cond
        if self.cfg.timestep == "add":
            h = h + emb[:, None]  # (B, T, W)
        films = film_parameters(ctx.films, emb, len(self.blocks))
        for block, kv, film in zip(self.blocks, ctx.kv, films, strict=True):
            h = block(h, kv, film, ctx.bias, ctx.allowed)
        return self.latent_out(self.norm(h))  # (B, T, K)

    def guided_context(self, audio: torch.Tensor, mask: torch.Tensor | None = None,
                       cond: torch.Tensor | None = None) -> AudioContext:
        """A context of 2B rows for `guided_denoise`: first with the audio, then without."""
        b = audio.shape[0]
        drop = torch.arange(2 * b, device=audio.device) >= b  # (2B,) second half: no audio
        return self.context(audio.repeat(2, 1, 1), None if mask is None else mask.repeat(2, 1),
                            drop, None if cond is None else cond.repeat(2, 1))

    def guided_denoise(self, x_t: torch.Tensor, t: torch.Tensor, ctx: AudioContext,
                       scale: float) -> torch.Tensor:
        """Classifier-free guidance, the conditional and unconditional passes in one forward."""
        b = x_t.shape[0]
        both = self.denoise(x_t.repeat(2, 1, 1), t.repeat(2), ctx)  # (2B, T, K)
        return guided(both[:b], both[b:], scale)

    def guided(self, x_t: torch.Tensor, t: torch.Tensor, audio: torch.Tensor, scale: float,
               mask: torch.Tensor | None = None, cond: torch.Tensor | None = None) -> torch.Tensor:
        """`guided_denoise` with the context built for this one call."""
        return self.guided_denoise(x_t, t, self.guided_context(audio, mask, cond), scale)


def self_bias(cfg: DenoiserConfig, frames: int, device: torch.device) -> torch.Tensor | None:
    """Self-attention's additive bias: None (plain causal) or causal periodic ALiBi, (H, T, T)."""
    if not cfg.alibi_period:
        return None
    i = torch.arange(frames, device=device)
    causal = i[None, :] <= i[:, None]  # (T, T)
    bias = alibi_bias(frames, cfg.heads, cfg.alibi_period, device)  # (H, T, T)
    return bias.masked_fill(~causal, float("-inf"))


def band_mask(band: int, b: int, frames: int, mask: torch.Tensor | None,
              device: torch.device) -> torch.Tensor:
    """(B, T, 2b+1): may frame i attend to audio frame i + o (o = -b ... b)? Inside the clip and
    on a real frame; a frame always sees its own audio, so no row is empty (padding included)."""
    real = torch.ones(b, frames, dtype=torch.bool, device=device) if mask is None else mask
    offsets = torch.arange(-band, band + 1, device=device)  # (2b+1,)
    j = torch.arange(frames, device=device)[:, None] + offsets  # (T, 2b+1)
    inside = (j >= 0) & (j < frames)
    seen = F.pad(real, (band, band)).unfold(1, 2 * band + 1, 1)  # (B, T, 2b+1)
    return inside & (seen | (offsets == 0))

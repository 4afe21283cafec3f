"""The denoiser: causality and the audio band, guidance, padding, and a config that round-trips."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from model.denoiser import Denoiser, DenoiserConfig, FiLM
from tests.model.conftest import one_torch_thread  # noqa: F401  (autouse: small problems)

B, T, K, A = 2, 12, 6, 10


def tiny(**changes: object) -> Denoiser:
    torch.manual_seed(0)
    cfg = DenoiserConfig(latent_dim=K, audio_dim=A, width=32, layers=2, heads=4, dropout=0.0,
                         **changes)  # type: ignore[arg-type]
    model = Denoiser(cfg).eval()
    for film in model.modules():  # FiLM starts as the identity; give it something to do
        if isinstance(film, torch.nn.Linear):
            torch.nn.init.normal_(film.weight, std=0.2)
    return model


def inputs() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    return (torch.randn(B, T, K, generator=g), torch.tensor([10, 900]),
            torch.randn(B, T, A, generator=g))


@pytest.mark.parametrize(("band", "alibi"), [(0, 0), (2, 0), (1, 4)])
def test_frame_i_ignores_later_latents_and_audio_beyond_its_band(band: int, alibi: int) -> None:
    model = tiny(band=band, alibi_period=alibi)
    x, t, audio = inputs()
    i = 5
    with torch.no_grad():
        base = model(x, t, audio)
        later_latents = x.clone()
        later_latents[:, i + 1:] += 3.0
        far_audio = audio.clone()
        far_audio[:, i + band + 1:] += 3.0
        near_audio = audio.clone()
        near_audio[:, i] += 3.0
        assert torch.allclose(model(later_latents, t, audio)[:, :i + 1], base[:, :i + 1],
                              atol=1e-5)
        assert torch.allclose(model(x, t, far_audio)[:, :i + 1], base[:, :i + 1], atol=1e-5)
        assert not torch.allclose(model(x, t, near_audio)[:, i], base[:, i], atol=1e-5)


def test_guidance_scale_0_ignores_the_audio() -> None:
    model = tiny(band=1)
    x, t, audio = inputs()
    with torch.no_grad():
        silent = model.guided(x, t, torch.zeros_like(audio), scale=0.0)
        assert torch.allclose(model.guided(x, t, audio, scale=0.0), silent, atol=1e-6)
        conditional = model(x, t, audio)
        assert torch.allclose(model.guided(x, t, audio, scale=1.0), conditional, atol=1e-5)


def test_padded_frames_do_not_reach_real_ones() -> None:
    model = tiny(band=3)
    x, t, audio = inputs()
    mask = torch.arange(T)[None].expand(B, T) < 8  # the last 4 frames are padding
    with torch.no_grad():
        base = model(x, t, audio, mask=mask)
        changed_audio = audio.clone()
        changed_audio[:, 8:] = 100.0
        out = model(x, t, changed_audio, mask=mask)
    assert torch.allclose(out[:, :8], base[:, :8], atol=1e-5)
    assert torch.isfinite(out).all()


def test_identity_conditioning_and_the_config_file(tmp_path: Path) -> None:
    model = tiny(cond_dim=3)
    x, t, audio = inputs()
    with torch.no_grad():
        a = model(x, t, audio, cond=torch.zeros(B, 3))
        b = model(x, t, audio, cond=torch.ones(B, 3))
    assert a.shape == (B, T, K) and not torch.allclose(a, b)
    model.cfg.save(tmp_path)
    assert DenoiserConfig.load(tmp_path) == model.cfg


def test_banded_cross_attention_equals_dense_attention_under_the_band_mask() -> None:
    from torch.nn import functional as F

    from model.denoiser import Attention, band_mask

    torch.manual_seed(5)
    cfg = DenoiserConfig(width=16, heads=2, dropout=0.0)
    attention = Attention(cfg).eval()
    x, memory = torch.randn(2, 9, 16), torch.randn(2, 9, 16)
    real = torch.ones(2, 9, dtype=torch.bool)
    real[1, 6:] = False
    kv = attention.keys_values(memory)
    for band in (0, 2):
        i = torch.arange(9)
        allowed = ((i[:, None] - i[None]).abs() <= band) & (real[:, None] | torch.eye(9).bool())
        q = attention.q(x).view(2, 9, 2, 8).transpose(1, 2)
        dense = F.scaled_dot_product_attention(q, *kv, attn_mask=allowed[:, None])
        want = attention.out(dense.transpose(1, 2).reshape(2, 9, 16))
        allowed_band = band_mask(band, 2, 9, real, torch.device("cpu"))
        assert torch.allclose(attention.banded(x, kv, allowed_band), want, atol=1e-6)


def test_the_timestep_can_be_added_to_the_input_instead_of_film() -> None:
    """FaceTalk's ablation: no FiLM layers; the timestep still matters and causality holds."""
    model = tiny(timestep="add", band=1)
    assert not any(isinstance(m, FiLM) for m in model.modules())
    x, t, audio = inputs()
    with torch.no_grad():
        base = model(x, t, audio)
        assert not torch.allclose(base, model(x, t + 50, audio))
        later = x.clone()
        later[:, 6:] += 1.0
        assert torch.allclose(base[:, :6], model(later, t, audio)[:, :6], atol=1e-6)
    with pytest.raises(ValueError, match="film or add"):
        DenoiserConfig(timestep="concat")

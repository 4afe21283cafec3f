"""The noise schedule and the DDIM sampler: golden values, DDPM equivalence, guidance, configs."""

from __future__ import annotations

import json

import pytest
import torch

from model.diffusion import Diffusion, DiffusionConfig, cosine_alpha_bar, guided


def test_the_cosine_schedule_keeps_its_golden_values() -> None:
    alpha_bar = cosine_alpha_bar(DiffusionConfig())
    golden = {0: 0.9999587158, 249: 0.8470121613, 499: 0.4938435904, 749: 0.1442721024,
              999: 2.428766907e-09}
    for t, value in golden.items():
        assert alpha_bar[t].item() == pytest.approx(value, rel=1e-8)
    assert bool((alpha_bar[1:] < alpha_bar[:-1]).all())  # noise only ever grows


def test_ddim_with_every_step_and_eta_1_is_ddpm_ancestral_sampling() -> None:
    """[DDIM] eq. 16: k = T, η = 1 gives DDPM's posterior mean and variance ([DDPM] eq. 7)."""
    diffusion = Diffusion()
    assert diffusion.timesteps(1000) == list(range(999, -1, -1))
    a = diffusion.alpha_bar
    x0, x_t = torch.randn(2, 8, 4, dtype=torch.float64), torch.randn(2, 8, 4, dtype=torch.float64)
    for t in (999, 500, 10, 1):
        beta = 1 - a[t] / a[t - 1]
        mean = (a[t - 1].sqrt() * beta / (1 - a[t]) * x0
                + (1 - beta).sqrt() * (1 - a[t - 1]) / (1 - a[t]) * x_t)
        variance = (1 - a[t - 1]) / (1 - a[t]) * beta
        out = diffusion.step(x0, x_t, t, t - 1, eta=1.0,
                             generator=torch.Generator().manual_seed(t))
        noise = torch.randn(x_t.shape, generator=torch.Generator().manual_seed(t),
                            dtype=torch.float64)
        assert torch.allclose(out.prev - variance.sqrt() * noise, mean, atol=1e-10)


def test_an_exact_denoiser_is_sampled_back_exactly_with_few_steps() -> None:
    diffusion = Diffusion()
    target = torch.randn(3, 12, 5)
    seen: list[int] = []

    def oracle(x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        seen.append(int(t[0]))
        return target

    out = diffusion.sample(oracle, (3, 12, 5), steps=25, generator=torch.Generator().manual_seed(0))
    assert len(seen) == 25 and seen[0] == 999 and seen[-1] == 0
    assert torch.allclose(out, target)


def test_noising_follows_the_schedule() -> None:
    diffusion = Diffusion()
    x0, noise = torch.ones(2, 3, 1), torch.zeros(2, 3, 1)
    t = torch.tensor([0, 999])
    noisy = diffusion.add_noise(x0, t, noise)
    assert noisy[:, 0, 0].tolist() == pytest.approx(diffusion.alpha_bar[t].sqrt().tolist())


def test_guidance_scale_0_ignores_the_audio_and_1_is_the_conditional() -> None:
    conditional, unconditional = torch.full((1, 2, 3), 4.0), torch.ones(1, 2, 3)
    assert torch.equal(guided(conditional, unconditional, 0.0), unconditional)
    assert torch.equal(guided(conditional, unconditional, 1.0), conditional)
    assert torch.equal(guided(conditional, unconditional, 2.0), torch.full((1, 2, 3), 7.0))


def test_the_config_round_trips_through_json() -> None:
    cfg = DiffusionConfig(sample_steps=10, eta=0.5)
    assert DiffusionConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    with pytest.raises(ValueError, match="sample steps"):
        Diffusion(cfg).timesteps(0)

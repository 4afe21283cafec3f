"""Training losses: padding never counts, each term is zero at the truth, soft-DTW is exact."""

from __future__ import annotations

import pytest
import torch

from model.face.base import LatentDims
from model.face.hdf5 import load_face_model
from model.face.testing import write_synthetic_pca
from model.losses import LossConfig, Losses, masked_mse, soft_dtw, soft_dtw_divergence, velocity
from tests.model.conftest import one_torch_thread  # noqa: F401  (autouse: small problems)

DIMS = LatentDims(identity=4, expression=6, age=1)
ALL_TERMS = LossConfig(latent=1, velocity=1, lip=1, lip_velocity=1, dtw=0.1, closed=0.1)


def naive_soft_dtw(x: torch.Tensor, y: torch.Tensor, gamma: float) -> torch.Tensor:
    """The paper's recursion, cell by cell, as the reference."""
    n = len(x)
    big = torch.tensor(float("inf"), dtype=x.dtype)
    r = [[big] * (n + 1) for _ in range(n + 1)]
    r[0][0] = torch.tensor(0.0, dtype=x.dtype)
    for i in range(1, n + 1):
        for j in range(1, n + 1):
            prev = torch.stack([r[i - 1][j - 1], r[i - 1][j], r[i][j - 1]])
            r[i][j] = (x[i - 1] - y[j - 1]) ** 2 - gamma * torch.logsumexp(-prev / gamma, 0)
    return r[n][n]


@pytest.fixture(scope="module")
def face_model(tmp_path_factory: pytest.TempPathFactory):
    return load_face_model(write_synthetic_pca(tmp_path_factory.mktemp("face") / "m.h5", DIMS))


def test_soft_dtw_matches_the_recursion_and_its_gradient_for_every_length() -> None:
    torch.manual_seed(0)
    x = torch.randn(3, 7, dtype=torch.float64, requires_grad=True)
    y = torch.randn(3, 7, dtype=torch.float64, requires_grad=True)
    lengths = torch.tensor([7, 5, 3])
    got = soft_dtw(x, y, lengths, 0.1)
    want = torch.stack([naive_soft_dtw(x[b, :n], y[b, :n], 0.1) for b, n in enumerate(lengths)])
    assert torch.allclose(got, want)
    assert torch.autograd.gradcheck(lambda a, b: soft_dtw(a, b, lengths, 0.1), (x, y))
    grad = torch.autograd.grad(got.sum(), x)[0]
    assert (grad[1, 5:] == 0).all() and (grad[2, 3:] == 0).all()  # padding gets no gradient


def test_soft_dtw_divergence_is_zero_at_the_truth_and_tolerates_a_small_shift() -> None:
    t = torch.linspace(0, 6, 60)
    truth = torch.sin(t)[None]
    mask = torch.ones(1, 60, dtype=torch.bool)
    shifted = torch.sin(t - 0.2)[None]
    assert float(soft_dtw_divergence(truth, truth, mask, 0.1)) == pytest.approx(0, abs=1e-6)
    dtw = float(soft_dtw_divergence(shifted, truth, mask, 0.01))
    assert dtw < float(masked_mse(shifted[..., None], truth[..., None], mask))


def test_padded_frames_never_change_a_loss() -> None:
    torch.manual_seed(1)
    pred, target = torch.randn(2, 10, 3), torch.randn(2, 10, 3)
    mask = torch.ones(2, 10, dtype=torch.bool)
    mask[1, 6:] = False
    garbage = pred.clone()
    garbage[1, 6:] = 1e6
    assert masked_mse(pred, target, mask) == masked_mse(garbage, target, mask)
    assert velocity(pred, target, mask) == velocity(garbage, target, mask)


def test_every_term_is_zero_at_the_truth_and_positive_elsewhere(face_model) -> None:
    torch.manual_seed(2)
    losses = Losses(ALL_TERMS, face_model)
    b, t = 2, 12
    target = torch.randn(b, t, DIMS.expression) * 20
    mask = torch.ones(b, t, dtype=torch.bool)
    ident, age = torch.zeros(b, DIMS.identity), torch.zeros(b, DIMS.age)
    _, at_truth = losses(target, target, mask, (target, target), ident, age)
    assert set(at_truth) == {"latent", "velocity", "lip", "lip_velocity", "dtw", "closed"}
    assert all(v == pytest.approx(0, abs=1e-5) for k, v in at_truth.items() if k != "closed")
    wrong = target + torch.randn_like(target) * 20
    total, terms = losses(wrong, target, mask, (wrong, target), ident, age)
    assert all(terms[k] > at_truth[k] for k in terms) and float(total) > 0


def test_the_decoder_terms_need_a_face_model() -> None:
    with pytest.raises(ValueError, match="face model"):
        Losses(ALL_TERMS, None)


def test_a_gradient_reaches_the_prediction_through_the_decoder(face_model) -> None:
    pred = torch.zeros(1, 8, DIMS.expression, requires_grad=True)
    target = torch.randn(1, 8, DIMS.expression) * 20
    mask = torch.ones(1, 8, dtype=torch.bool)
    cfg = LossConfig(latent=0, lip=1, dtw=1, closed=1)
    total, _ = Losses(cfg, face_model)(pred, target, mask, (pred, target),
                                       torch.zeros(1, DIMS.identity), torch.zeros(1, DIMS.age))
    total.backward()
    assert pred.grad is not None and pred.grad.abs().sum() > 0

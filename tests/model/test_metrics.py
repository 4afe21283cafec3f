"""The evaluation metrics on small known arrays, against scipy where scipy has the metric."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import pearsonr

from model.metrics import (
    ccc,
    ddtw,
    diversity,
    dtw,
    fdd,
    jitter,
    lve,
    mve,
    pcc,
    vertex_ccc,
    vertex_pcc,
)


def opening(frames: int = 90, shift: int = 0) -> np.ndarray:
    t = np.arange(frames) + shift
    return 5 + 4 * np.sin(2 * np.pi * t / 30) ** 2  # mouth apertures, mm


def lips_of(aperture: np.ndarray) -> np.ndarray:
    """(F, 4, 3) toy lips: two upper points fixed, two lower points moving with the aperture."""
    lips = np.zeros((len(aperture), 4, 3))
    lips[:, :2, 0], lips[:, 2:, 0] = [-1, 1], [-1, 1]
    lips[:, 2:, 1] = -aperture[:, None]
    return lips


def test_lve_is_the_mean_of_the_per_frame_worst_squared_lip_error() -> None:
    true = np.zeros((2, 3, 3))
    pred = true.copy()
    pred[0, 1] = [3, 4, 0]  # frame 0: worst vertex 5 mm off -> 25
    pred[1, 2] = [0, 1, 0]  # frame 1: worst 1 mm off -> 1
    pred[1, 0] = [0.5, 0, 0]
    assert lve(pred, true) == pytest.approx(13.0)
    assert lve(true, true) == 0


def test_identical_sequences_score_perfectly() -> None:
    a = opening()
    assert dtw(a, a) == 0 and ddtw(a, a) == 0
    assert pcc(a, a) == pytest.approx(1) and ccc(a, a) == pytest.approx(1)
    lips = lips_of(a)
    assert vertex_pcc(lips, lips) == pytest.approx(1)
    assert vertex_ccc(lips, lips) == pytest.approx(1)
    assert mve(lips, lips) == 0 and fdd(lips, lips) == 0


def test_pcc_and_ccc_match_scipy_and_the_definition() -> None:
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=50), rng.normal(size=50)
    y = 0.6 * x + y
    assert pcc(x, y) == pytest.approx(pearsonr(x, y).statistic)
    want = 2 * np.cov(x, y, bias=True)[0, 1] / (x.var() + y.var() + (x.mean() - y.mean()) ** 2)
    assert ccc(x, y) == pytest.approx(want)
    assert ccc(x, x + 1) < pcc(x, x + 1) == pytest.approx(1)  # CCC punishes an offset, PCC not


def test_a_time_shift_lowers_pcc_and_raises_dtw() -> None:
    truth, late = opening(), opening(shift=-8)
    assert pcc(late, truth) < 0.5 < pcc(truth, truth)
    assert dtw(late, truth) > dtw(truth, truth)
    assert vertex_pcc(lips_of(late), lips_of(truth)) < 0.5


def test_dtw_forgives_a_warp_that_a_frame_by_frame_error_does_not() -> None:
    truth = opening()
    warped = np.interp(np.arange(90) * 0.9, np.arange(90), truth)  # 10 % slower
    assert dtw(warped, truth) < np.abs(warped - truth).mean()


def test_diversity_jitter_and_fdd_measure_what_they_say() -> None:
    base = lips_of(opening())
    samples = np.stack([base, base + np.array([0.5, 0, 0]), base + np.array([0, 1.5, 0])])
    # pairs: 0.5, 1.5 and |(-0.5, 1.5)| = 1.58...
    assert diversity(samples) == pytest.approx((0.5 + 1.5 + np.hypot(0.5, 1.5)) / 3)
    still = np.repeat(base[:1], 90, axis=0)
    assert jitter(still) == 0 < jitter(base)
    assert fdd(still, base) > 0
    with pytest.raises(ValueError, match="two samples"):
        diversity(samples[:1])

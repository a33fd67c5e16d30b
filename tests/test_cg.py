"""Martens CG: exactness on SPD systems, the saved-iterate schedule, stopping rules."""

import math

import numpy as np
import pytest

from hfcore.cg import ConjugateGradient, save_schedule
from hfcore.config import CGConfig


def spd(n: int, seed: int, cond: float = 100.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    return (q * np.geomspace(1, cond, n)) @ q.T


def test_schedule_matches_martens():
    assert save_schedule(300)[:16] == [5, 7, 9, 11, 15, 19, 25, 32, 41, 54, 69, 90, 117, 152, 197, 256]
    assert save_schedule(4) == []


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_solves_spd_system(seed):
    A = spd(30, seed)
    b = np.random.default_rng(seed + 10).standard_normal(30)
    res = ConjugateGradient(CGConfig(max_iters=200, progress_tol=1e-14, residual_tol=1e-12)).solve(
        lambda v: A @ v, b, np.zeros(30))
    np.testing.assert_allclose(res.x, np.linalg.solve(A, b), rtol=1e-8, atol=1e-10)
    assert res.iterates[-1] is res.x
    assert list(res.iterate_indices) == sorted(set(res.iterate_indices))
    assert res.iterate_indices[-1] == res.iterations


def test_phi_tracked_from_residual_is_exact():
    A = spd(20, 3)
    b = np.random.default_rng(4).standard_normal(20)
    res = ConjugateGradient(CGConfig(max_iters=12, progress_tol=1e-14)).solve(lambda v: A @ v, b, np.ones(20))
    for x, phi in zip(res.iterates, res.iterate_phis, strict=True):
        assert phi == pytest.approx(0.5 * x @ A @ x - b @ x, rel=1e-10)
    assert all(a >= b - 1e-9 for a, b in zip(res.phis, res.phis[1:], strict=False))  # CG decreases phi monotonically


def test_saved_iterates_follow_schedule():
    A = spd(200, 5, cond=1e4)
    b = np.random.default_rng(6).standard_normal(200)
    res = ConjugateGradient(CGConfig(max_iters=60, progress_tol=1e-30)).solve(lambda v: A @ v, b, np.zeros(200))
    assert res.reason == "max_iters"
    assert res.iterate_indices == (5, 7, 9, 11, 15, 19, 25, 32, 41, 54, 60)


def test_progress_rule_stops_early_and_follows_formula():
    # A diagonal, badly conditioned system: phi keeps creeping down, so only the progress rule ends it.
    d = np.geomspace(1e-6, 1.0, 3000)
    b = np.random.default_rng(8).standard_normal(3000)
    eps = 5e-4
    res = ConjugateGradient(CGConfig(max_iters=3000, progress_tol=eps)).solve(lambda v: d * v, b, np.zeros(3000))
    assert res.reason == "progress"
    i = res.iterations
    phis = res.phis
    k = max(10, math.ceil(0.1 * i))
    assert phis[i - k] < 0 and (phis[i] - phis[i - k]) / phis[i] < k * eps
    for j in range(11, i):  # it would have stopped earlier if the rule held earlier
        kj = max(10, math.ceil(0.1 * j))
        assert not (phis[j - kj] < 0 and (phis[j] - phis[j - kj]) / phis[j] < kj * eps)


def test_negative_curvature_is_reported_not_used():
    A = np.diag([1.0, 2.0, -1.0])
    b = np.array([1.0, 1.0, 1.0])
    res = ConjugateGradient(CGConfig(max_iters=10)).solve(lambda v: A @ v, b, np.zeros(3))
    assert res.reason == "negative_curvature"
    assert np.all(np.isfinite(res.x))
    # the returned point is never a step along the bad direction: phi did not blow up
    assert res.iterate_phis[-1] <= 0


def test_nonfinite_product_is_reported():
    res = ConjugateGradient(CGConfig(max_iters=10)).solve(lambda v: v * np.nan, np.ones(3), np.zeros(3))
    assert res.reason == "nonfinite"
    assert np.all(np.isfinite(res.x))


def test_warm_start_is_used():
    A = spd(10, 9)
    b = np.random.default_rng(10).standard_normal(10)
    exact = np.linalg.solve(A, b)
    res = ConjugateGradient(CGConfig(max_iters=5)).solve(lambda v: A @ v, b, exact.copy())
    assert res.reason == "residual"
    np.testing.assert_allclose(res.x, exact, atol=1e-12)


def test_bad_settings_rejected():
    with pytest.raises(ValueError, match="max_iters"):
        ConjugateGradient(CGConfig(max_iters=0))

"""Levenberg-Marquardt rule and the structural coefficient."""

import math

import pytest

from hfcore.damping import LevenbergMarquardt


@pytest.mark.parametrize(
    "rho, factor",
    [(-math.inf, 1.5), (0.0, 1.5), (0.2499, 1.5), (0.25, 1.0), (0.5, 1.0), (0.75, 1.0), (0.7501, 2 / 3),
     (1.3, 2 / 3), (math.nan, 1.5)],
)
def test_lm_table(rho, factor):
    d = LevenbergMarquardt(lambda0=1.0)
    assert d.update(2.0, rho) == pytest.approx(2.0 * factor)


def test_structural_weight_is_lambda_mu_cd():
    d = LevenbergMarquardt(lambda0=1.0, mu=0.03, hessian_scale=0.25)
    assert d.structural_weight(2.0) == pytest.approx(2.0 * 0.03 * 0.25)
    assert LevenbergMarquardt(lambda0=1.0).structural_weight(5.0) == 0.0


def test_floor():
    d = LevenbergMarquardt(lambda0=1.0, min_lambda=1e-3)
    assert d.update(1e-3, 1.0) == 1e-3


@pytest.mark.parametrize("kwargs, field", [({"lambda0": 0.0}, "lambda0"), ({"lambda0": 1.0, "mu": -1}, "mu"),
                                           ({"lambda0": 1.0, "drop": 1.5}, "drop")])
def test_bad_values(kwargs, field):
    with pytest.raises(ValueError, match=field):
        LevenbergMarquardt(**kwargs)

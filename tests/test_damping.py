"""Levenberg-Marquardt rule and the structural coefficient."""

import math

import pytest

from hfcore.config import DampingConfig, TikhonovConfig
from hfcore.damping import LevenbergMarquardt


@pytest.mark.parametrize(
    "rho, factor",
    [(-math.inf, 1.5), (0.0, 1.5), (0.2499, 1.5), (0.25, 1.0), (0.5, 1.0), (0.75, 1.0), (0.7501, 2 / 3),
     (1.3, 2 / 3), (math.nan, 1.5)],
)
def test_lm_table(rho, factor):
    d = LevenbergMarquardt(TikhonovConfig(lambda0=1.0))
    assert d.update(2.0, rho) == pytest.approx(2.0 * factor)


def test_structural_weight_is_lambda_mu_cd():
    d = LevenbergMarquardt(DampingConfig(lambda0=1.0, mu=0.03, hessian_scale=0.25))
    assert d.structural_weight(2.0) == pytest.approx(2.0 * 0.03 * 0.25)
    assert LevenbergMarquardt(TikhonovConfig(lambda0=1.0)).structural_weight(5.0) == 0.0


def test_floor():
    d = LevenbergMarquardt(TikhonovConfig(lambda0=1.0, min_lambda=1e-3))
    assert d.update(1e-3, 1.0) == 1e-3


@pytest.mark.parametrize("kwargs, field", [({"lambda0": 0.0}, "lambda0"), ({"lambda0": 1.0, "mu": -1}, "mu"),
                                           ({"lambda0": 1.0, "drop": 1.5}, "drop")])
def test_bad_values(kwargs, field):
    with pytest.raises(ValueError, match=field):
        LevenbergMarquardt(DampingConfig(**kwargs))


def test_defaults_live_in_the_schema_and_the_schema_is_copied():
    """The runtime object reads its settings from the config dataclass, the one home of the defaults."""
    config = DampingConfig(lambda0=1.0)
    d = LevenbergMarquardt(config)
    config.mu = 5.0  # a schema instance is mutable; the damping keeps its own copy
    assert d.structural_weight(2.0) == 2.0 * DampingConfig.mu * DampingConfig.hessian_scale
    assert d.lambda0 == 1.0 and d.update(1.0, 1.0) == DampingConfig.drop


def test_unresolved_lambda0_is_refused():
    with pytest.raises(ValueError, match="damping.lambda0 must be > 0, got None"):
        LevenbergMarquardt(DampingConfig())

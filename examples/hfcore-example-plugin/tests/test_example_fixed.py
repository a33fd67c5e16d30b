"""The fixed damping: lambda never adapts, the structural weight is constant, bad values are rejected."""

import math

import pytest
from hfcore_example import plugin
from hfcore_example.fixed import FixedDamping, FixedDampingConfig, make_fixed

from hfcore.interfaces import Damping
from hfcore.registry import load_plugins


def test_registers_with_its_config():
    _, registry = load_plugins(extra_plugins=[("example", plugin)], autoload=False)
    component = registry.get("damping", "fixed")
    assert component.plugin == "example" and isinstance(component.config, FixedDampingConfig)
    assert registry.names("damping") == ["fixed", "structural", "tikhonov"]
    damping = component.factory(FixedDampingConfig(lambda0=0.5, weight=0.2))
    assert isinstance(damping, Damping) and damping.lambda0 == 0.5


@pytest.mark.parametrize("rho", [-3.0, 0.0, 0.1, 0.5, 0.9, 1.0, 7.0, math.inf, -math.inf, math.nan])
def test_lambda_never_changes(rho):
    damping = make_fixed(FixedDampingConfig(lambda0=0.3))
    assert damping.update(0.3, rho) == 0.3
    assert damping.update(2.5, rho) == 2.5  # whatever lambda the run holds (e.g. after a resume) is kept


def test_structural_weight_is_constant():
    assert make_fixed(FixedDampingConfig(lambda0=1.0)).structural_weight(1.0) == 0.0
    damping = make_fixed(FixedDampingConfig(lambda0=1.0, weight=0.05))
    assert [damping.structural_weight(lam) for lam in (1e-6, 1.0, 1e3)] == [0.05, 0.05, 0.05]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"lambda0": 0.0}, "damping.lambda0 must be > 0, got 0.0"),
        ({"lambda0": math.nan}, "damping.lambda0 must be > 0, got nan"),
        ({"lambda0": 1.0, "weight": -0.1}, "damping.weight must be >= 0, got -0.1"),
        ({"lambda0": 1.0, "mu": 0.03}, "damping.mu=0.03 is not used by the fixed damping; set damping.weight"),
    ],
)
def test_validation_is_one_line(kwargs, message):
    with pytest.raises(ValueError, match=message) as info:
        make_fixed(FixedDampingConfig(**kwargs))
    assert "\n" not in str(info.value)


def test_frozen():
    with pytest.raises(AttributeError):
        FixedDamping(lambda0=1.0).lambda0 = 2.0

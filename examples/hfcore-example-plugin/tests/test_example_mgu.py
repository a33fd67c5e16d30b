"""The minimal gated unit (MGU) against hfcore's conformance kit, on every installed backend that derives models.

The kit is ``hfcore.testing.conformance.check_all`` (the declared signals against the forward map,
gradient and Gauss-Newton products against dense finite-difference matrices with G_S from the declared
signals, symmetry, bind consistency) plus ``hfcore.testing.definitions.check_init_rules``. It must pass
on the MGU and fail on each of three injected bugs:

1. ``ReportsCandidateOutput``: the candidate's signal is ``tanh(a_c)``, not its pre-activation ``a_c``;
2. ``CandidateDeclaredLogistic``: the candidate's signal declared with unit ``logistic`` (it feeds a tanh);
3. ``InitIgnoresRng``: the recurrent gate weights drawn from NumPy's global generator, not the run's ``rng``.
"""

import dataclasses
from types import SimpleNamespace

import numpy as np
import pytest
from hfcore_example.mgu import MGU, MGUConfig

from hfcore.kit.layout import ParamLayout
from hfcore.registry import load_plugins
from hfcore.testing.conformance import check_all
from hfcore.testing.definitions import check_init_rules
from hfcore.types import Batch, ModelSpec

SPEC = ModelSpec(n_in=2, n_out=2, output="softmax")
CFG = MGUConfig(hidden=3, l2=1e-3, update_bias=-0.5)
_, REGISTRY = load_plugins()


def backend_model(name, definition):
    """Backend ``name``'s model of ``definition`` in float64; skipped when its optional dependency is missing."""
    component = REGISTRY.get("backend", name)
    backend_cfg = dataclasses.replace(component.config, dtype="float64") if dataclasses.is_dataclass(
        component.config) else SimpleNamespace(name=name, dtype="float64")
    try:
        return component.factory(definition, CFG, backend_cfg)
    except ImportError as exc:
        pytest.skip(f"backend {name!r} unavailable: {exc}")


def tiny_batch(seed=0):
    """T=4, B=3: variable lengths (padding), sparse masks, one-hot targets."""
    rng = np.random.default_rng(seed)
    lengths = np.array([4, 3, 2])
    valid = np.arange(4)[:, None] < lengths[None, :]
    mask = ((rng.random((4, 3)) < 0.5) & valid).astype(float)
    mask[lengths - 1, np.arange(3)] = 1.0
    targets = np.eye(2)[rng.integers(0, 2, (4, 3))]
    return Batch(rng.standard_normal((4, 3, 2)) * valid[..., None], targets, mask, lengths)


def kit(definition, backend="autograd"):
    """The whole kit on ``definition`` at perturbed parameters: the declaration, then ``backend``'s model."""
    rng = np.random.default_rng(1)
    theta = ParamLayout(definition.blocks()).init_params(rng)
    theta = theta + 0.3 * rng.standard_normal(theta.size)
    batch = tiny_batch()
    check_init_rules(definition)
    model = backend_model(backend, definition)
    return check_all(model, model.from_numpy(theta), batch, SPEC, CFG.l2, CFG.normaliser)


@pytest.mark.parametrize("backend", ["autograd", "torch"])
def test_kit_passes_on_the_mgu(backend):
    errors = kit(MGU(SPEC, CFG), backend)
    assert errors["gradient"] < 1e-6 and errors["gv"] < 1e-6


class ReportsCandidateOutput(MGU):
    """Bug 1: reports the candidate's output tanh(a_c) where it means the pre-activation a_c."""

    def forward(self, params, x, ops):
        s, signals = super().forward(params, x, ops)
        candidate = dataclasses.replace(signals[0], preactivation=ops.tanh(signals[0].preactivation))
        return s, [candidate, *signals[1:]]


class CandidateDeclaredLogistic(MGU):
    """Bug 2: declares the candidate logistic although it feeds a tanh."""

    def forward(self, params, x, ops):
        s, signals = super().forward(params, x, ops)
        return s, [dataclasses.replace(signals[0], unit="logistic"), *signals[1:]]


@dataclasses.dataclass(frozen=True)
class GlobalNormal:
    """An init rule that ignores the generator it is given."""

    def __call__(self, rng, shape):
        return np.random.standard_normal(shape) / np.sqrt(shape[-1])


class InitIgnoresRng(MGU):
    """Bug 3: the gate's recurrent weights drawn from NumPy's global generator."""

    def blocks(self):
        return [dataclasses.replace(b, init=GlobalNormal()) if b.name == "W_zh" else b for b in super().blocks()]


@pytest.mark.parametrize(("bug", "message"), [
    (ReportsCandidateOutput, "signal 'candidate' declares unit 'tanh', but .* never passed to ops.tanh"),
    (CandidateDeclaredLogistic, "signal 'candidate' declares unit 'logistic', but .* never passed to ops.sigmoid"),
    (InitIgnoresRng, "block 'W_zh': init rule gave different values from the same generator state"),
])
def test_kit_fails_on_injected_bugs(bug, message):
    with pytest.raises(AssertionError, match=message):
        kit(bug(SPEC, CFG))


@dataclasses.dataclass(frozen=True)
class FixedSeedNormal:
    """An init rule with its own fixed seed: reproducible, but the same for every run seed."""

    def __call__(self, rng, shape):
        return np.random.default_rng(0).standard_normal(shape)


def test_init_check_catches_a_rule_with_its_own_seed_and_passes_constants():
    class OwnSeed(MGU):
        def blocks(self):
            return [dataclasses.replace(b, init=FixedSeedNormal()) if b.name == "W_cx" else b for b in super().blocks()]

    with pytest.raises(AssertionError, match="block 'W_cx': init rule draws the same values from every generator"):
        check_init_rules(OwnSeed(SPEC, CFG))
    assert check_init_rules(MGU(SPEC, CFG)) == 8  # b_z (Constant) and the Zeros biases pass


def test_config_is_validated_in_one_line():
    for bad, message in [(dict(hidden=0), "hidden=0 must be >= 1"), (dict(init="orthogonal"), "init='orthogonal'"),
                         (dict(init_scale=0.0), "must be > 0")]:
        with pytest.raises(ValueError, match=message):
            MGU(SPEC, dataclasses.replace(CFG, **bad))


def test_update_bias_sets_the_initial_update_gate_bias():
    definition = MGU(SPEC, dataclasses.replace(CFG, update_bias=-2.5))
    b_z = next(b for b in definition.blocks() if b.name == "b_z")
    assert np.all(b_z.init(np.random.default_rng(0), b_z.shape) == -2.5)

"""The conformance kit over declared damped signals: it passes the built-in models on every installed backend
and fails on injected bugs (a unit's output reported as its pre-activation, a wrong unit, a structural term
ignored or doubled)."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from hfcore.config import GRUConfig, LinearConfig, LSTMConfig, RNNConfig
from hfcore.kit.definitions import LSTM, TanhRNN
from hfcore.models import DampedSignal
from hfcore.registry import load_plugins
from hfcore.testing.conformance import check_all, check_gv, check_signals
from hfcore.types import ModelSpec
from tests import toy_model
from tests.extras import PARTS
from tests.test_numpy_backend import make_batch

_, REGISTRY = load_plugins(extra_plugins=[("toy", toy_model)])
BACKENDS = [pytest.param(name, marks=pytest.mark.extra(name)) if name in PARTS else name
            for name in REGISTRY.names("backend")]
SPEC = ModelSpec(3, 2, "softmax")
CONFIGS = {
    "rnn_tanh": RNNConfig(hidden=4, init="dense", init_scale=1.5, l2=1e-3),
    "linear": LinearConfig(init_scale=1.5, l2=1e-3),
    "lstm": LSTMConfig(hidden=4, cells_per_block=2, init_scale=1.5, l2=1e-3),
    "gru": GRUConfig(hidden=4, init_scale=1.5, l2=1e-3),
    "gru_hidden": GRUConfig(hidden=4, init_scale=1.5, l2=1e-3, damped_signals=["hidden"]),
    "gru_all_signals": GRUConfig(hidden=4, init_scale=1.5, l2=1e-3,
                                 damped_signals=["update", "reset", "candidate", "hidden"]),
    "leaky_rnn": toy_model.LeakyConfig(hidden=4, leak=0.7, damp_weight=0.5, l2=1e-3),
}


def build(backend: str, name: str, definition: Any = None) -> tuple[Any, Any, Any]:
    """``backend``'s float64 model of config ``CONFIGS[name]`` (a registered model) away from init, and a padded batch.

    With ``definition`` (a mutant), a backend with its own derivatives gets the built-in definition and then
    reports the mutant as its ``definition``; a deriving backend (autograd) is built from the mutant itself.
    """
    cfg = CONFIGS[name]
    component = REGISTRY.get("backend", backend)
    backend_cfg = dataclasses.replace(component.config, dtype="float64")
    real = REGISTRY.get("model", cfg.name).factory(SPEC, cfg)
    try:
        model = component.factory(definition if backend == "autograd" and definition else real, cfg, backend_cfg)
    except ImportError as exc:
        pytest.skip(f"backend {backend!r} unavailable: {exc}")
    except ValueError as exc:
        pytest.skip(f"backend {backend!r} does not run model {name!r}: {exc}")
    if definition is not None:
        model.definition = definition
    rng = np.random.default_rng(3)
    theta = model.init_params(rng) + 0.3 * rng.standard_normal(model.n_params)
    return model, model.from_numpy(theta), make_batch(rng, SPEC)


def has_curvature(model: Any) -> bool:
    return getattr(model, "supports_curvature", True)


@pytest.mark.parametrize("name", sorted(CONFIGS))
@pytest.mark.parametrize("backend", BACKENDS)
def test_kit_passes_every_model_on_every_backend(backend, name):
    model, theta, batch = build(backend, name)
    if not has_curvature(model):  # a first-order-only model: its declaration is still checked
        assert check_signals(model, theta, batch) == 2
        return
    errors = check_all(model, theta, batch, SPEC, l2=CONFIGS[name].l2, grad_rtol=1e-7)
    assert errors["gv"] < 1e-6 and errors["bind_consistency"] == 0.0
    assert errors["signals"] == {"rnn_tanh": 1, "linear": 0, "lstm": 2, "gru": 3, "gru_hidden": 1, "gru_all_signals": 4,
                                 "leaky_rnn": 1}[name]


class OutputsReported(TanhRNN):
    """Mutant: reports ``h = tanh(t)`` as the damped signal where it means ``t``."""

    def forward(self, params, x, ops):
        s, (signal,) = super().forward(params, x, ops)
        return s, (DampedSignal("hidden", ops.tanh(signal.preactivation), "tanh", 1.0),)


class WrongUnit(TanhRNN):
    """Mutant: declares the tanh pre-activations as logistic."""

    def forward(self, params, x, ops):
        s, (signal,) = super().forward(params, x, ops)
        return s, (dataclasses.replace(signal, unit="logistic"),)


class GatesAsTanh(LSTM):
    """Mutant: declares the LSTM's sigmoid gates as tanh units."""

    def forward(self, params, x, ops):
        s, (cells, gates) = super().forward(params, x, ops)
        return s, (cells, dataclasses.replace(gates, unit="tanh"))


@pytest.mark.parametrize("mutant, name", [(OutputsReported, "rnn_tanh"), (WrongUnit, "rnn_tanh"),
                                          (GatesAsTanh, "lstm")])
@pytest.mark.parametrize("backend", BACKENDS)
def test_kit_fails_a_wrong_declaration_on_every_backend(backend, mutant, name):
    model, theta, batch = build(backend, name, mutant(SPEC, CONFIGS[name]))
    with pytest.raises(AssertionError, match="were never passed to ops"):
        check_all(model, theta, batch, SPEC, l2=CONFIGS[name].l2)


def test_a_hand_written_structural_term_is_checked_against_the_declaration():
    """The NumPy RNN keeps its own (right) structural term: against a mutant's declaration, check_gv disagrees."""
    model, theta, batch = build("numpy", "rnn_tanh", OutputsReported(SPEC, CONFIGS["rnn_tanh"]))
    with pytest.raises(AssertionError, match=r"disagrees with dense G_f \+ kappa I \+ w G_S"):
        check_gv(model, theta, batch, SPEC, l2=CONFIGS["rnn_tanh"].l2)


class _Broken:
    """A model whose bound products replace ``gv(v, w)`` by ``gv(v, factor * w)``."""

    def __init__(self, inner: Any, factor: float) -> None:
        self._inner, self._factor = inner, factor

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def curvature(self, theta: Any, batch: Any) -> Any:
        inner = self._inner.curvature(theta, batch)
        return SimpleNamespace(gv=lambda v, w=0.0: inner.gv(v, self._factor * w))


@pytest.mark.parametrize("factor", [0.0, 2.0])
@pytest.mark.parametrize("name", ["rnn_tanh", "leaky_rnn"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_kit_fails_a_structural_term_ignored_or_doubled(backend, name, factor):
    model, theta, batch = build(backend, name)
    with pytest.raises(AssertionError, match="structural"):
        check_gv(_Broken(model, factor), theta, batch, SPEC, l2=CONFIGS[name].l2)

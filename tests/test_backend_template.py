"""The backend template (:mod:`hfcore.kit.derived`) is enough to write a backend.

``ComplexStep`` below is a whole backend: a :class:`~hfcore.kit.derived.DerivedModel` on plain NumPy
arrays whose only pieces are ``value_and_grad`` and ``linearise``, both by complex-step derivatives
(``Im f(theta + i h e_j) / h``, exact to rounding for analytic maps). It is registered through a real
``hfcore_register_backends`` hookimpl and must pass the conformance kit (:mod:`hfcore.testing`) on the
built-in tanh RNN and on the gated LSTM and GRU, and agree with the autograd and torch backends, which are built
on the same template.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hfcore.config import BackendConfig, GRUConfig, LSTMConfig, RNNConfig
from hfcore.hookspecs import hookimpl
from hfcore.kit.derived import DerivedModel, Linearisation
from hfcore.registry import load_plugins
from hfcore.testing.conformance import check_all
from hfcore.types import ModelSpec
from tests.test_numpy_backend import make_batch

# --- the backend, shown in docs/writing-a-plugin.md ("Writing a backend") ---
STEP = 1e-30
"""The complex step: small enough that ``h^2`` terms vanish, with no cancellation."""


def _jacobian(fn: Callable[[Any], Any], theta: np.ndarray) -> np.ndarray:
    """Rows ``d fn / d theta_j`` of a map to one flat array, by complex step."""
    shift = 1j * STEP * np.eye(theta.size)
    return np.stack([np.ravel(fn(theta + d)).imag / STEP for d in shift])


class ComplexStep(DerivedModel):
    """A backend in two methods: the template supplies everything else (NumPy arrays and ops)."""

    def value_and_grad(self, objective: Callable[[Any], Any], theta: Any) -> tuple[Any, Any]:
        return objective(theta), _jacobian(objective, theta)[:, 0]

    def linearise(self, fn: Callable[[Any], tuple[Any, ...]], theta: Any) -> Linearisation:
        outputs = tuple(np.asarray(a) for a in fn(theta))
        ends = np.cumsum([a.size for a in outputs])[:-1]
        jac = _jacobian(lambda th: np.concatenate([np.ravel(a) for a in fn(th)]), theta).T

        def jvp(v: np.ndarray) -> list[np.ndarray]:
            return [p.reshape(a.shape) for p, a in zip(np.split(jac @ v, ends), outputs, strict=True)]

        def vjp(u: Any) -> np.ndarray:
            return jac.T @ np.concatenate([np.ravel(p) for p in u])

        return Linearisation(jvp, vjp, outputs, tuple(np.zeros_like(a) for a in outputs))


def make_model(definition: Any, model_cfg: Any, backend_cfg: Any) -> ComplexStep:
    return ComplexStep(definition, model_cfg, dtype=backend_cfg.dtype)


class TemplateBackendPlugin:
    """A third-party plugin registering the backend."""

    @hookimpl
    def hfcore_register_backends(self, registry: Any) -> None:
        registry.add_backend("complex_step", make_model, BackendConfig(name="complex_step"))
# --- end of the backend ---


_, REGISTRY = load_plugins(extra_plugins=[("template_backend", TemplateBackendPlugin())])
SPEC = ModelSpec(3, 2, "softmax")
CONFIGS = {
    "rnn_tanh": RNNConfig(hidden=4, init="dense", init_scale=1.5, l2=1e-3),
    "lstm": LSTMConfig(hidden=4, cells_per_block=2, init_scale=1.5, l2=1e-3),
    "gru": GRUConfig(hidden=4, init_scale=1.5, l2=1e-3),
}


def build(backend: str, name: str) -> tuple[Any, Any, Any]:
    """``backend``'s float64 model of ``name`` (through the registry) at a point away from init, and a padded batch."""
    component = REGISTRY.get("backend", backend)
    definition = REGISTRY.get("model", name).factory(SPEC, CONFIGS[name])
    model = component.factory(definition, CONFIGS[name], dataclasses.replace(component.config, dtype="float64"))
    rng = np.random.default_rng(3)
    theta = model.to_numpy(model.init_params(rng)) + 0.3 * rng.standard_normal(model.n_params)
    return model, model.from_numpy(theta), make_batch(rng, SPEC)


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_template_backend_passes_the_conformance_kit(name):
    model, theta, batch = build("complex_step", name)
    assert isinstance(model, ComplexStep)
    errors = check_all(model, theta, batch, SPEC, l2=CONFIGS[name].l2, grad_rtol=1e-7)
    assert errors["gv"] < 1e-6 and errors["bind_consistency"] == 0.0
    assert errors["signals"] == {"rnn_tanh": 1, "lstm": 2, "gru": 3}[name]


def test_template_chunks_sum_to_the_whole_batch():
    """Chunks carry the whole batch's N and the L2 term once: the chunked model equals the unchunked one."""
    whole, theta, batch = build("complex_step", "lstm")
    chunked = ComplexStep(whole.definition, CONFIGS["lstm"], chunk_size=2)
    v = np.random.default_rng(5).standard_normal(whole.n_params)
    np.testing.assert_allclose(chunked.loss(theta, batch), whole.loss(theta, batch), rtol=1e-13)
    np.testing.assert_allclose(chunked.loss_and_grad(theta, batch)[1], whole.loss_and_grad(theta, batch)[1],
                               rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(chunked.curvature(theta, batch).gv(v, 0.7), whole.curvature(theta, batch).gv(v, 0.7),
                               rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("backend", ["autograd", "torch"])
def test_template_backend_agrees_with_the_deriving_backends(backend):
    """The same template under another backend's pieces gives the same numbers (to rounding)."""
    reference, theta, batch = build("complex_step", "lstm")
    try:
        model = build(backend, "lstm")[0]
    except ImportError as exc:
        pytest.skip(f"backend {backend!r} unavailable: {exc}")
    v = np.random.default_rng(5).standard_normal(reference.n_params)
    th = model.from_numpy(theta)
    assert model.loss(th, batch) == pytest.approx(reference.loss(theta, batch), rel=1e-13)
    np.testing.assert_allclose(model.to_numpy(model.loss_and_grad(th, batch)[1]),
                               reference.loss_and_grad(theta, batch)[1], rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(model.to_numpy(model.curvature(th, batch).gv(model.from_numpy(v), 0.7)),
                               reference.curvature(theta, batch).gv(v, 0.7), rtol=1e-10, atol=1e-14)


def test_a_backend_without_its_pieces_says_which_is_missing():
    definition = REGISTRY.get("model", "rnn_tanh").factory(SPEC, CONFIGS["rnn_tanh"])
    model = DerivedModel(definition, CONFIGS["rnn_tanh"])
    rng = np.random.default_rng(0)
    batch = make_batch(rng, SPEC)
    theta = model.init_params(rng)
    assert np.isfinite(model.loss(theta, batch))  # the forward pass needs no backend piece
    with pytest.raises(NotImplementedError, match="value_and_grad"):
        model.loss_and_grad(theta, batch)
    with pytest.raises(NotImplementedError, match="linearise"):
        model.curvature(theta, batch)


def test_the_docs_show_this_backend():
    """docs/writing-a-plugin.md shows the backend above, line for line."""
    own = Path(__file__).read_text()
    start = own.index("# --- the backend, shown in docs")
    code = own[own.index("\n", start) + 1:own.index("# --- end of the backend ---")]
    docs = (Path(__file__).parents[1] / "docs" / "writing-a-plugin.md").read_text()
    assert code.strip() in docs

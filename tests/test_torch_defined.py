"""The torch backend's generic model (:mod:`hfcore_torch.defined`): any definition, derivatives by torch.func.

* On a small gated definition declaring a tanh and a logistic signal: the gradient against central
  differences, and the dense matrix of ``gv`` against ``J_s' H J_s`` + ``w G_S`` (the kit's dense matrices,
  G_S from the declared signals: units, weights, padding, normaliser), in float64.
* Bound products are pure, chunking changes nothing, float32 stays float32.
* No per-step ``SelectBackward0`` in the graph the Gv's double vjp differentiates (``TorchOps.stack``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

pytestmark = pytest.mark.extra("torch")
torch = pytest.importorskip("torch", reason="needs the torch extra: pip install -e '.[torch]'")

from hfcore.config import ModelConfig  # noqa: E402
from hfcore.kit.init import Constant, DenseNormal, Zeros  # noqa: E402
from hfcore.models import DampedSignal, Ops, ParamBlock  # noqa: E402
from hfcore.testing.conformance import (  # noqa: E402
    check_bind_consistency,
    check_gradient,
    check_loss_and_predict,
    gv_matrix,
    relative_error,
)
from hfcore.testing.dense import dense_gauss_newton, dense_jacobians, dense_structural  # noqa: E402
from hfcore.types import OUTPUT_LOSSES, ModelSpec  # noqa: E402
from hfcore_torch.defined import TorchDefinedModel, TorchOps  # noqa: E402
from tests.test_numpy_backend import make_batch  # noqa: E402

torch.set_num_threads(1)  # shared small machines: one thread (see conftest.py)

GATE_WEIGHT = 0.5


class GatedTanh:
    """``h_i = sigmoid(g_i) * tanh(a_i)``, ``a_i = W x_i + U h_{i-1} + b``, ``g_i = V x_i + c``; two signals."""

    name = "gated_test"

    def __init__(self, spec: ModelSpec, hidden: int = 3) -> None:
        self.spec, self.hidden = spec, hidden

    def blocks(self) -> list[ParamBlock]:
        n_i, n_h, n_o = self.spec.n_in, self.hidden, self.spec.n_out
        return [ParamBlock("W", (n_h, n_i), DenseNormal()), ParamBlock("U", (n_h, n_h), DenseNormal()),
                ParamBlock("b", (n_h,), Zeros()), ParamBlock("V", (n_h, n_i), DenseNormal()),
                ParamBlock("c", (n_h,), Constant(1.0)), ParamBlock("W_y", (n_o, n_h), DenseNormal()),
                ParamBlock("b_y", (n_o,), Zeros())]

    def forward(self, params: Mapping[str, Any], x: Any, ops: Ops) -> tuple[Any, list[DampedSignal]]:
        p, h = params, 0.0 * params["b"]
        a_s, g_s, hs = [], [], []
        for i in range(x.shape[0]):
            a = x[i] @ p["W"].T + h @ p["U"].T + p["b"]
            g = x[i] @ p["V"].T + p["c"]
            h = ops.sigmoid(g) * ops.tanh(a)
            a_s.append(a)
            g_s.append(g)
            hs.append(h)
        s = ops.stack(hs) @ p["W_y"].T + p["b_y"]
        return s, [DampedSignal("a", ops.stack(a_s), "tanh", 1.0),
                   DampedSignal("gate", ops.stack(g_s), "logistic", GATE_WEIGHT)]


def make_case(output: str, normaliser: str, seed: int, dtype: str = "float64", chunk_size: int | None = None):
    rng = np.random.default_rng(seed)
    spec = ModelSpec(3, 2, output)
    cfg = ModelConfig(l2=1e-3 if seed % 2 else 2e-5, normaliser=normaliser)
    model = TorchDefinedModel(GatedTanh(spec), cfg, dtype=dtype, device="cpu", chunk_size=chunk_size)
    theta = model.to_numpy(model.init_params(rng)) + 0.3 * rng.standard_normal(model.n_params)
    return spec, cfg, model, theta, make_batch(rng, spec, steps=5, size=3)


@pytest.mark.parametrize("normaliser", ["targets", "sequences"])
@pytest.mark.parametrize("output", OUTPUT_LOSSES)
def test_gradient_and_gv_equal_dense_matrices(output, normaliser):
    spec, cfg, model, theta, batch = make_case(output, normaliser, seed=1, chunk_size=2)
    th = model.from_numpy(theta)
    check_gradient(model, th, batch, rtol=1e-6)
    jac = dense_jacobians(model, th, batch)
    assert jac[1].shape[0] == 5 * 3 * 2 * 3  # both signals: T * B * (hidden + hidden)
    gf = dense_gauss_newton(model, th, batch, spec, cfg.l2, normaliser, jacobians=jac)
    gs = dense_structural(model, th, batch, normaliser)  # G_S from the declared signals (units, weights)
    curv = model.curvature(th, batch)
    base = gv_matrix(model, curv, model.n_params, 0.0)
    with_s = gv_matrix(model, curv, model.n_params, 0.7)
    assert relative_error(base, gf) < 1e-6
    assert relative_error(with_s - base, 0.7 * gs) < 1e-6
    assert relative_error(with_s, gf + 0.7 * gs) < 1e-6
    assert check_bind_consistency(model, th, batch) == 0.0
    check_loss_and_predict(model, th, batch)


def test_signal_weights_and_units_reach_the_structural_term():
    """Dropping the gate's weight to 0 removes exactly its part; the tanh part alone is not the whole term."""
    spec, cfg, model, theta, batch = make_case("softmax", "targets", seed=0)
    th = model.from_numpy(theta)
    v = model.from_numpy(np.random.default_rng(3).standard_normal(model.n_params))
    full = model.curvature(th, batch).gv(v, 1.0) - model.curvature(th, batch).gv(v, 0.0)
    global GATE_WEIGHT
    saved, GATE_WEIGHT = GATE_WEIGHT, 0.0
    try:
        no_gate = model.curvature(th, batch).gv(v, 1.0) - model.curvature(th, batch).gv(v, 0.0)
    finally:
        GATE_WEIGHT = saved
    assert relative_error(model.to_numpy(full), model.to_numpy(no_gate)) > 1e-3


def test_chunking_and_float32():
    _, _, whole, theta, batch = make_case("logistic", "targets", seed=2)
    _, _, chunked, _, _ = make_case("logistic", "targets", seed=2, chunk_size=1)
    _, _, single, _, _ = make_case("logistic", "targets", seed=2, dtype="float32", chunk_size=2)
    v = np.random.default_rng(4).standard_normal(whole.n_params)
    results = []
    for model in (whole, chunked, single):
        th = model.from_numpy(theta)
        f, g = model.loss_and_grad(th, batch)
        gv = model.curvature(th, batch).gv(model.from_numpy(v), 0.3)
        results.append((f, model.to_numpy(g), model.to_numpy(gv)))
        assert g.dtype == gv.dtype == model.dtype and model.init_params(np.random.default_rng(0)).dtype == model.dtype
    for (f, g, gv), tol in zip(results[1:], (1e-12, 1e-5), strict=True):
        assert f == pytest.approx(results[0][0], rel=tol)
        assert relative_error(g, results[0][1]) < tol and relative_error(gv, results[0][2]) < tol


@pytest.mark.filterwarnings("error::DeprecationWarning")
def test_init_is_the_layouts_draws_and_ops_are_the_protocol():
    _, _, model, _, _ = make_case("linear", "targets", seed=0)
    drawn = model.to_numpy(model.init_params(np.random.default_rng(5)))
    np.testing.assert_array_equal(drawn, model.layout.init_params(np.random.default_rng(5)))
    assert isinstance(TorchOps(), Ops)
    t = torch.arange(model.n_params, dtype=torch.float32)
    copy = model.from_numpy(t)  # a tensor is accepted (copied, model dtype) without NumPy's copy= warning
    assert copy.dtype == torch.float64 and copy.data_ptr() != t.data_ptr() and torch.equal(copy, t.double())


def test_bad_settings_are_one_line_errors():
    spec = ModelSpec(3, 2, "linear")
    with pytest.raises(ValueError, match="normaliser"):
        TorchDefinedModel(GatedTanh(spec), ModelConfig(normaliser="tokens"))
    with pytest.raises(ValueError, match="chunk_size"):
        TorchDefinedModel(GatedTanh(spec), ModelConfig(), chunk_size=0)
    with pytest.raises(ValueError, match="unknown device"):
        TorchDefinedModel(GatedTanh(spec), ModelConfig(), device="tpu")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA is not available")
def test_cuda_equals_cpu():
    spec, cfg, cpu, theta, batch = make_case("softmax", "targets", seed=1)
    gpu = TorchDefinedModel(GatedTanh(spec), cfg, device="cuda")
    v = np.random.default_rng(1).standard_normal(cpu.n_params)
    th_g, th_c = gpu.from_numpy(theta), cpu.from_numpy(theta)
    f_g, g_g = gpu.loss_and_grad(th_g, batch)
    f_c, g_c = cpu.loss_and_grad(th_c, batch)
    gv_g = gpu.curvature(th_g, batch).gv(gpu.from_numpy(v), 0.7)
    assert g_g.device.type == gv_g.device.type == "cuda"
    assert f_g == pytest.approx(f_c, rel=1e-12) and relative_error(gpu.to_numpy(g_g), cpu.to_numpy(g_c)) < 1e-10
    gv_c = cpu.curvature(th_c, batch).gv(cpu.from_numpy(v), 0.7)
    assert relative_error(gpu.to_numpy(gv_g), cpu.to_numpy(gv_c)) < 1e-10


# --------------------------------------------------------------------------- the built-in RNN's definition
@pytest.mark.parametrize("normaliser", ["targets", "sequences"])
@pytest.mark.parametrize("output", OUTPUT_LOSSES)
def test_generic_rnn_equals_autograd_generic_and_numpy(output, normaliser):
    """The generic torch model of the built-in tanh RNN's definition against the autograd backend's generic
    model and the NumPy backend's hand-written RNN: loss, gradient and Gv (w = 0 and 0.7) to 1e-10."""
    from hfcore.kit.definitions import TanhRNN
    from hfcore.registry import load_plugins
    from hfcore_numpy.rnn import NumpyRNN

    rng = np.random.default_rng(11)
    spec = ModelSpec(3, 2, output)
    cfg = SimpleNamespace(name="rnn_tanh", hidden=4, l2=1e-3, init="dense", num_connections=15, init_scale=1.5,
                          input_scale=0.25, normaliser=normaliser, output=None)
    definition = TanhRNN(spec, cfg)
    generic = TorchDefinedModel(definition, cfg, chunk_size=2)
    autograd_cfg = SimpleNamespace(name="autograd", dtype="float64", chunk_size=1000)
    try:
        autograd = load_plugins()[1].get("backend", "autograd").factory(definition, cfg, autograd_cfg)
    except ImportError as exc:
        pytest.skip(f"backend 'autograd' unavailable: {exc}")
    reference = NumpyRNN(spec, cfg)
    theta = reference.init_params(rng) + 0.3 * rng.standard_normal(reference.n_params)
    np.testing.assert_array_equal(generic.to_numpy(generic.init_params(np.random.default_rng(3))),
                                  reference.init_params(np.random.default_rng(3)))
    batch = make_batch(rng, spec)
    v = rng.standard_normal(reference.n_params)
    f_ref, g_ref = reference.loss_and_grad(theta, batch)
    curv_ref = reference.curvature(theta, batch)
    for model in (generic, autograd):
        th = model.from_numpy(theta)
        f, g = model.loss_and_grad(th, batch)
        assert f == pytest.approx(f_ref, rel=1e-10)
        assert relative_error(model.to_numpy(g), g_ref) < 1e-10
        curv = model.curvature(th, batch)
        for w in (0.0, 0.7):
            assert relative_error(model.to_numpy(curv.gv(model.from_numpy(v), w)), curv_ref.gv(v, w)) < 1e-10


def test_generic_lstm_equals_autograd_generic():
    """The built-in LSTM has no hand-written torch class: the factory gives the generic model, which equals
    the autograd backend's generic model (loss, gradient, Gv with G_S over its two signals) to 1e-10."""
    from hfcore.config import LSTMConfig
    from hfcore.kit.definitions import LSTM
    from hfcore.registry import load_plugins
    from hfcore_torch import plugin

    rng = np.random.default_rng(12)
    spec = ModelSpec(3, 2, "softmax")
    cfg = LSTMConfig(hidden=4, cells_per_block=2, l2=1e-3)
    definition = LSTM(spec, cfg)
    model = plugin.make_model(definition, cfg, plugin.TorchBackendConfig(device="cpu"))
    assert isinstance(model, TorchDefinedModel)
    try:
        ref = load_plugins()[1].get("backend", "autograd").factory(definition, cfg, SimpleNamespace(dtype="float64"))
    except ImportError as exc:
        pytest.skip(f"backend 'autograd' unavailable: {exc}")
    theta = ref.to_numpy(ref.init_params(rng)) + 0.3 * rng.standard_normal(ref.n_params)
    batch = make_batch(rng, spec)
    v = rng.standard_normal(ref.n_params)
    f_ref, g_ref = ref.loss_and_grad(theta, batch)
    f, g = model.loss_and_grad(model.from_numpy(theta), batch)
    assert f == pytest.approx(f_ref, rel=1e-10) and relative_error(model.to_numpy(g), g_ref) < 1e-10
    got = model.curvature(model.from_numpy(theta), batch).gv(model.from_numpy(v), 0.7)
    assert relative_error(model.to_numpy(got), ref.curvature(theta, batch).gv(v, 0.7)) < 1e-10


def _backward_nodes(roots: Any) -> list[str]:
    """Names of every autograd node reachable from ``roots`` (grad_fn objects), each node once."""
    seen, todo, names = set(), [r for r in roots if r is not None], []
    while todo:
        node = todo.pop()
        if node in seen:
            continue
        seen.add(node)
        names.append(type(node).__name__)
        todo.extend(nxt for nxt, _ in node.next_functions if nxt is not None)
    return names


def test_stack_backward_is_one_unbind_not_a_select_per_step():
    """``TorchOps.stack`` equals ``torch.stack`` and its recorded backward holds no ``SelectBackward0``.

    The double vjp behind the torch Gv differentiates the backward of every stack of T steps; a select per
    step there zero-fills a whole-sequence tensor each, so a Gv cost grew as T^2."""
    rng = np.random.default_rng(3)
    steps = [torch.tensor(rng.standard_normal((4, 3)), requires_grad=True) for _ in range(6)]
    for axis in (0, -1):
        out = TorchOps.stack(steps, axis=axis)
        assert torch.equal(out, torch.stack(steps, dim=axis))
        u = torch.tensor(rng.standard_normal(tuple(out.shape)), requires_grad=True)
        grads = torch.autograd.grad(out, steps, u, create_graph=True)
        assert all(torch.equal(g, r) for g, r in zip(grads, torch.unbind(u.detach(), axis), strict=True))
        names = _backward_nodes(g.grad_fn for g in grads)
        assert "SelectBackward0" not in names and len({g.grad_fn for g in grads}) == 1


@pytest.mark.parametrize("name", ["lstm", "gru", "rnn_tanh"])
def test_kit_models_double_backward_has_no_per_step_selects(name):
    """The backward graph of a kit model's forward map (what :meth:`TorchDefinedModel.linearise` differentiates
    again) has no ``SelectBackward0``: with ``torch.stack`` it has one per step and stack, and the Gv cost
    grew as T^2 (benchmarks/results/2026-12-07-gv-torch.md)."""
    from hfcore.registry import load_plugins

    entry = load_plugins()[1].get("model", name)
    cfg = dataclasses.replace(entry.config, hidden=4,
                              **({"cells_per_block": 2} if hasattr(entry.config, "cells_per_block") else {}))
    definition = entry.factory(ModelSpec(2, 1, "linear"), cfg)
    model = TorchDefinedModel(definition, cfg)
    for T in (1, 7):
        rng = np.random.default_rng(T)
        theta = model.init_params(rng).requires_grad_(True)
        x = torch.tensor(rng.standard_normal((T, 3, 2)))
        s, signals = model.net(theta, x)
        outs = (s, *(g.preactivation for g in signals))
        (g,) = torch.autograd.grad(outs, theta, tuple(torch.ones_like(o) for o in outs), create_graph=True)
        assert "SelectBackward0" not in _backward_nodes([g.grad_fn])

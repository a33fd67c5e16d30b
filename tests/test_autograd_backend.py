"""Autograd backend: the conformance kit on every case, NumPy-backend conventions, plugin and missing extra."""

from __future__ import annotations

import dataclasses
import importlib
import sys
import warnings
from types import SimpleNamespace

import numpy as np
import pytest

from hfcore.config import BackendConfig, LinearConfig, RNNConfig
from hfcore.kit.definitions import Linear, TanhRNN
from hfcore.registry import load_plugins
from hfcore.testing.conformance import check_all
from hfcore.testing.dense import dense_structural
from hfcore.types import OUTPUT_LOSSES, Batch, ModelSpec
from hfcore_numpy.linear import NumpyLinear
from hfcore_numpy.rnn import NumpyRNN
from tests.test_numpy_backend import N_IN, N_OUT, B, H, T, make_batch, make_cfg, naive_objective

pytest.importorskip("autograd", reason="the autograd extra is not installed")

from hfcore_autograd import plugin  # noqa: E402  (after the skip: the models need autograd)
from hfcore_autograd._base import AutogradModel  # noqa: E402

DEFINITIONS = {"rnn": TanhRNN, "linear": Linear}
NUMPY_MODELS = {"rnn": NumpyRNN, "linear": NumpyLinear}
MISSING_MESSAGE = "backend 'autograd' needs the autograd extra: pip install 'hfcore[autograd]'"


def autograd_model(kind: str, spec: ModelSpec, cfg, **kwargs) -> AutogradModel:
    """The generic autograd model of the built-in definition ``kind``."""
    return AutogradModel(DEFINITIONS[kind](spec, cfg), cfg, **kwargs)


def make_case(kind: str, output: str, normaliser: str, seed: int, dtype=np.float64, chunk_size: int = 1000):
    """Tiny model, perturbed parameters and a masked, padded batch (as the NumPy backend tests)."""
    rng = np.random.default_rng(seed)
    spec = ModelSpec(N_IN, N_OUT, output)
    l2 = 2e-5 if seed % 2 == 0 else 1e-2
    cfg = make_cfg(l2=l2, normaliser=normaliser)
    model = autograd_model(kind, spec, cfg, dtype=dtype, chunk_size=chunk_size)
    theta = model.init_params(rng) + 0.3 * rng.standard_normal(model.n_params)
    return spec, cfg, model, model.from_numpy(theta), make_batch(rng, spec)


# --------------------------------------------------------------------------- conformance kit, all cases
@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("normaliser", ["targets", "sequences"])
@pytest.mark.parametrize("output", OUTPUT_LOSSES)
@pytest.mark.parametrize("kind", ["rnn", "linear"])
def test_conformance(kind, output, normaliser, seed):
    spec, cfg, model, theta, batch = make_case(kind, output, normaliser, seed)
    assert (batch.lengths < T).any() and (batch.mask == 0).any()  # padding and sparse masks exercised
    errs = check_all(model, theta, batch, spec, l2=cfg.l2, normaliser=normaliser, grad_rtol=1e-7)
    assert errs["gradient"] < 1e-7
    assert errs["gv"] < 1e-7
    assert errs["bind_consistency"] == 0.0
    assert errs["loss_and_predict"] == 0.0


@pytest.mark.parametrize("output", OUTPUT_LOSSES)
@pytest.mark.parametrize("normaliser", ["targets", "sequences"])
def test_rnn_loss_matches_naive_reference(output, normaliser):
    spec, cfg, model, theta, batch = make_case("rnn", output, normaliser, seed=3)
    expected = naive_objective(theta, batch, output, cfg.l2, normaliser)
    assert model.loss(theta, batch) == pytest.approx(expected, rel=1e-12)
    assert model.loss_and_grad(theta, batch)[0] == pytest.approx(expected, rel=1e-12)
    s, t = model.preactivations(theta, batch)
    assert s.shape == (T, B, N_OUT) and t.shape == (T, B, H)
    assert model.predict(theta, batch).shape == (T, B, N_OUT)


def test_linear_preactivations_have_no_hidden_part():
    spec, cfg, model, theta, batch = make_case("linear", "softmax", "targets", seed=4)
    s, t = model.preactivations(theta, batch)
    assert s.shape == (T, B, N_OUT) and t.shape == (T, B, 0)
    np.testing.assert_allclose(model.predict(theta, batch).sum(-1), 1.0, rtol=1e-12)


def test_linear_model_objective_is_exactly_quadratic():
    spec, cfg, model, theta, batch = make_case("linear", "linear", "targets", seed=6)
    v = np.random.default_rng(1).standard_normal(model.n_params)
    f0, g0 = model.loss_and_grad(theta, batch)
    gv = model.curvature(theta, batch).gv(v, structural_weight=3.0)  # weight ignored: no hidden units
    assert model.loss(theta + v, batch) == pytest.approx(f0 + g0 @ v + 0.5 * v @ gv, rel=1e-12)


def test_structural_term_equals_dense_gs_at_real_steps_only():
    spec, cfg, model, theta, batch = make_case("rnn", "softmax", "targets", seed=5)
    gs = dense_structural(model, theta, batch)
    v = np.random.default_rng(0).standard_normal(model.n_params)
    curv = model.curvature(theta, batch)
    np.testing.assert_allclose(curv.gv(v, 0.8) - curv.gv(v, 0.0), 0.8 * gs @ v, rtol=1e-6, atol=1e-12)


def test_chunked_matches_unchunked():
    spec, cfg, whole, theta, _ = make_case("rnn", "softmax", "targets", seed=11)
    chunked = autograd_model("rnn", spec, cfg, chunk_size=2)
    batch = make_batch(np.random.default_rng(12), spec, size=5)
    assert chunked.loss(theta, batch) == pytest.approx(whole.loss(theta, batch), rel=1e-13)
    f1, g1 = whole.loss_and_grad(theta, batch)
    f2, g2 = chunked.loss_and_grad(theta, batch)
    assert f2 == pytest.approx(f1, rel=1e-13)
    np.testing.assert_allclose(g2, g1, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(chunked.predict(theta, batch), whole.predict(theta, batch), rtol=1e-13)
    c1, c2 = whole.curvature(theta, batch), chunked.curvature(theta, batch)
    assert len(c2.chunks) == 3
    v = np.random.default_rng(0).standard_normal(whole.n_params)
    np.testing.assert_allclose(c2.gv(v, 0.4), c1.gv(v, 0.4), rtol=1e-12, atol=1e-15)


def test_all_masked_out_batch_uses_normaliser_one():
    spec, cfg, model, theta, batch = make_case("rnn", "linear", "targets", seed=7)
    empty = Batch(batch.inputs, batch.targets, np.zeros_like(batch.mask), batch.lengths)
    f, g = model.loss_and_grad(theta, empty)
    assert f == pytest.approx(0.5 * cfg.l2 * theta @ theta)
    np.testing.assert_allclose(g, cfg.l2 * theta)


@pytest.mark.parametrize("output", ["logistic", "softmax"])
def test_losses_stable_for_huge_preactivations(output):
    spec, cfg, model, theta, batch = make_case("rnn", output, "targets", seed=8)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow in tanh' or the losses
        f, g = model.loss_and_grad(theta * 1e3, batch)
        gv = model.curvature(theta * 1e3, batch).gv(np.ones(model.n_params), 0.5)
    assert np.isfinite(f) and np.all(np.isfinite(g)) and np.all(np.isfinite(gv))


# --------------------------------------------------------------------------- NumPy-backend conventions
@pytest.mark.parametrize("kind", ["rnn", "linear"])
@pytest.mark.parametrize("init", ["sparse", "dense"])
def test_init_and_layout_equal_numpy_backend(kind, init):
    spec = ModelSpec(20, 3, "softmax")
    cfg = RNNConfig(hidden=18, init=init)
    ours, ref = autograd_model(kind, spec, cfg), NUMPY_MODELS[kind](spec, cfg)
    assert ours.n_params == ref.n_params
    np.testing.assert_array_equal(ours.init_params(np.random.default_rng(4)), ref.init_params(np.random.default_rng(4)))


@pytest.mark.parametrize("kind", ["rnn", "linear"])
@pytest.mark.parametrize("output", OUTPUT_LOSSES)
def test_float32_stays_float32(kind, output):
    spec, cfg, m64, theta64, batch = make_case(kind, output, "targets", seed=9)
    m32 = autograd_model(kind, spec, cfg, dtype=np.float32)
    theta32 = m32.from_numpy(theta64)
    assert theta32.dtype == np.float32
    assert m32.init_params(np.random.default_rng(0)).dtype == np.float32
    f32, g32 = m32.loss_and_grad(theta32, batch)
    f64, g64 = m64.loss_and_grad(theta64, batch)
    assert isinstance(f32, float) and g32.dtype == np.float32
    assert f32 == pytest.approx(f64, rel=1e-5)
    np.testing.assert_allclose(g32, g64, rtol=1e-3, atol=1e-5)
    v = np.random.default_rng(2).standard_normal(m32.n_params)
    gv32 = m32.curvature(theta32, batch).gv(m32.from_numpy(v), 0.3)
    assert gv32.dtype == np.float32
    np.testing.assert_allclose(gv32, m64.curvature(theta64, batch).gv(v, 0.3), rtol=1e-3, atol=1e-4)
    s, t = m32.preactivations(theta32, batch)
    assert s.dtype == np.float32 and t.dtype == np.float32
    assert m32.predict(theta32, batch).dtype == np.float32


def test_bad_inputs_rejected():
    with pytest.raises(ValueError, match="output"):
        autograd_model("linear", ModelSpec(N_IN, N_OUT, "relu"), make_cfg())
    with pytest.raises(ValueError, match="dtype"):
        autograd_model("rnn", ModelSpec(N_IN, N_OUT, "linear"), make_cfg(), dtype=np.float16)
    with pytest.raises(ValueError, match="chunk_size"):
        autograd_model("rnn", ModelSpec(N_IN, N_OUT, "linear"), make_cfg(), chunk_size=0)
    with pytest.raises(ValueError, match="normaliser"):
        autograd_model("rnn", ModelSpec(N_IN, N_OUT, "linear"), dataclasses.replace(make_cfg(), normaliser="x"))
    model = autograd_model("rnn", ModelSpec(N_IN, N_OUT, "linear"), make_cfg())
    good = make_batch(np.random.default_rng(0), ModelSpec(N_IN, N_OUT, "linear"))
    wrong = make_batch(np.random.default_rng(0), ModelSpec(N_IN + 1, N_OUT, "linear"))
    with pytest.raises(ValueError, match="theta"):
        model.loss(np.zeros(model.n_params + 1), good)
    with pytest.raises(ValueError, match="inputs"):
        model.loss(np.zeros(model.n_params), wrong)
    with pytest.raises(ValueError, match="v must"):
        model.curvature(np.zeros(model.n_params), good).gv(np.zeros(3))


# --------------------------------------------------------------------------- plugin
def test_plugin_make_model_dispatch():
    spec = ModelSpec(N_IN, N_OUT, "softmax")
    cfg = plugin.AutogradBackendConfig()
    assert isinstance(cfg, BackendConfig) and (cfg.name, cfg.dtype, cfg.chunk_size) == ("autograd", "float64", 1000)
    rnn = TanhRNN(spec, make_cfg())
    model = plugin.make_model(rnn, make_cfg(), cfg)
    assert isinstance(model, AutogradModel) and model.definition is rnn
    lin = plugin.make_model(Linear(spec, LinearConfig()), LinearConfig(), SimpleNamespace(dtype="float32"))
    assert isinstance(lin, AutogradModel) and lin.dtype == np.float32
    assert plugin.make_model(rnn, make_cfg(), dataclasses.replace(cfg, chunk_size=7)).chunk_size == 7
    with pytest.raises(ValueError, match="float32, float64"):
        plugin.make_model(rnn, make_cfg(), SimpleNamespace(dtype="bfloat16"))


def test_plugin_registers_backend():
    _, registry = load_plugins(extra_plugins=[("autograd_test", plugin)], autoload=False)
    component = registry.get("backend", "autograd")
    assert component.factory is plugin.make_model
    assert isinstance(component.config, plugin.AutogradBackendConfig)


def test_missing_autograd_gives_install_hint(monkeypatch):
    """With autograd unimportable the plugin still loads; only building a model fails, with the hint."""
    for name in list(sys.modules):
        if name.split(".")[0] in ("autograd", "hfcore_autograd"):
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "autograd", None)  # "import autograd" now raises ImportError
    fresh_plugin = importlib.import_module("hfcore_autograd.plugin")
    assert fresh_plugin is not plugin
    _, registry = load_plugins(extra_plugins=[("autograd_test", fresh_plugin)], autoload=False)
    component = registry.get("backend", "autograd")
    with pytest.raises(ImportError) as info:
        component.factory(TanhRNN(ModelSpec(N_IN, N_OUT, "linear"), make_cfg()), make_cfg(), component.config)
    assert str(info.value) == MISSING_MESSAGE

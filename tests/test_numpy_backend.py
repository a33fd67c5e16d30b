"""NumPy backend: forward pass, BPTT, Gauss-Newton products, init, config errors, and the conformance kit."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import numpy as np
import pytest

from hfcore.config import BackendConfig, LinearConfig, RNNConfig
from hfcore.kit.definitions import Linear, TanhRNN
from hfcore.testing.batches import masked_batch
from hfcore.testing.conformance import (
    check_all,
    check_bind_consistency,
    check_gradient,
    check_gv,
    check_loss_and_predict,
    check_symmetric_psd,
)
from hfcore.testing.dense import dense_structural, signal_jacobians
from hfcore.types import OUTPUT_LOSSES, Batch, ModelSpec
from hfcore_numpy import plugin
from hfcore_numpy.linear import NumpyLinear
from hfcore_numpy.rnn import NumpyRNN

N_IN, H, N_OUT, T, B = 3, 4, 2, 5, 3
MODELS = {"rnn": NumpyRNN, "linear": NumpyLinear}


def make_cfg(**overrides) -> RNNConfig:
    base = dict(hidden=H, init="dense", init_scale=1.5)
    base.update(overrides)
    return RNNConfig(**base)


def make_batch(rng: np.random.Generator, spec: ModelSpec, steps: int = T, size: int = B) -> Batch:
    """Variable lengths (padding), sparse masks inside the real steps, NaN targets where unmasked."""
    return masked_batch(rng, spec, steps, size)


def make_case(kind: str, output: str, normaliser: str, seed: int, dtype=np.float64):
    rng = np.random.default_rng(seed)
    spec = ModelSpec(N_IN, N_OUT, output)
    l2 = 2e-5 if seed % 2 == 0 else 1e-2
    cfg = make_cfg(l2=l2, normaliser=normaliser)
    model = MODELS[kind](spec, cfg, dtype=dtype)
    # Perturb away from init so biases and b_init are non-zero.
    theta = model.init_params(rng) + 0.3 * rng.standard_normal(model.n_params)
    return spec, cfg, model, model.from_numpy(theta), make_batch(rng, spec)


# --------------------------------------------------------------------------- reference forward pass
def naive_objective(theta, batch, output, l2, normaliser, n_in=N_IN, n_hidden=H, n_out=N_OUT):
    """Loop-per-step reference of M&S 2011 eqs. 1-4, reading the documented flat layout directly."""
    sizes = [n_hidden * n_in, n_hidden * n_hidden, n_out * n_hidden, n_hidden, n_out, n_hidden]
    parts = np.split(theta, np.cumsum(sizes)[:-1])
    W_hx = parts[0].reshape(n_hidden, n_in)
    W_hh = parts[1].reshape(n_hidden, n_hidden)
    W_yh = parts[2].reshape(n_out, n_hidden)
    b_h, b_y, b_init = parts[3], parts[4], parts[5]
    total = 0.0
    for b in range(batch.size):
        h = None
        for i in range(batch.steps):
            rec = b_init if i == 0 else W_hh @ h
            h = np.tanh(W_hx @ batch.inputs[i, b] + rec + b_h)
            s = W_yh @ h + b_y
            if batch.mask[i, b]:
                y = batch.targets[i, b]
                if output == "linear":
                    total += 0.5 * np.sum((s - y) ** 2)
                elif output == "logistic":
                    p = 1 / (1 + np.exp(-s))
                    total += -np.sum(y * np.log(p) + (1 - y) * np.log(1 - p))
                else:
                    p = np.exp(s) / np.exp(s).sum()
                    total += -np.sum(y * np.log(p))
    n = batch.mask.sum() if normaliser == "targets" else batch.size
    return total / max(n, 1) + 0.5 * l2 * theta @ theta


@pytest.mark.parametrize("output", OUTPUT_LOSSES)
@pytest.mark.parametrize("normaliser", ["targets", "sequences"])
def test_rnn_loss_matches_naive_reference(output, normaliser):
    spec, cfg, model, theta, batch = make_case("rnn", output, normaliser, seed=3)
    expected = naive_objective(theta, batch, output, cfg.l2, normaliser)
    assert model.loss(theta, batch) == pytest.approx(expected, rel=1e-12)
    assert model.loss_and_grad(theta, batch)[0] == pytest.approx(expected, rel=1e-12)
    s, t = model.preactivations(theta, batch)
    assert s.shape == (T, B, N_OUT) and t.shape == (T, B, H)
    yhat = model.predict(theta, batch)
    assert yhat.shape == (T, B, N_OUT)
    if output == "softmax":
        np.testing.assert_allclose(yhat.sum(-1), 1.0, rtol=1e-12)


def test_linear_loss_matches_reference():
    spec, cfg, model, theta, batch = make_case("linear", "linear", "targets", seed=4)
    W, b = theta[: N_OUT * N_IN].reshape(N_OUT, N_IN), theta[N_OUT * N_IN :]
    s = np.einsum("oi,tbi->tbo", W, batch.inputs) + b
    r = np.where(batch.mask[..., None] > 0, s - batch.targets, 0.0)
    expected = 0.5 * np.sum(r**2) / batch.mask.sum() + 0.5 * cfg.l2 * theta @ theta
    assert model.loss(theta, batch) == pytest.approx(expected, rel=1e-12)
    assert model.preactivations(theta, batch)[1].shape == (T, B, 0)


# --------------------------------------------------------------------------- conformance kit, all cases
@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("normaliser", ["targets", "sequences"])
@pytest.mark.parametrize("output", OUTPUT_LOSSES)
@pytest.mark.parametrize("kind", ["rnn", "linear"])
def test_conformance(kind, output, normaliser, seed):
    spec, cfg, model, theta, batch = make_case(kind, output, normaliser, seed)
    errs = check_all(model, theta, batch, spec, l2=cfg.l2, normaliser=normaliser, grad_rtol=1e-7)
    assert errs["gradient"] < 1e-7
    assert errs["gv"] < 1e-7
    assert errs["bind_consistency"] == 0.0
    assert errs["loss_and_predict"] == 0.0  # one forward pass gives loss() and predict() exactly


def test_chunked_rnn_matches_unchunked():
    rng = np.random.default_rng(11)
    spec = ModelSpec(N_IN, N_OUT, "softmax")
    cfg = make_cfg(l2=1e-3)
    whole = NumpyRNN(spec, cfg)
    chunked = NumpyRNN(spec, cfg, chunk_size=2)
    theta = whole.init_params(rng) + 0.3 * rng.standard_normal(whole.n_params)
    batch = make_batch(rng, spec, size=5)
    assert chunked.loss(theta, batch) == pytest.approx(whole.loss(theta, batch), rel=1e-13)
    f1, g1 = whole.loss_and_grad(theta, batch)
    f2, g2 = chunked.loss_and_grad(theta, batch)
    assert f2 == pytest.approx(f1, rel=1e-13)
    np.testing.assert_allclose(g2, g1, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(chunked.predict(theta, batch), whole.predict(theta, batch), rtol=1e-13)
    v = rng.standard_normal(whole.n_params)
    c1, c2 = whole.curvature(theta, batch), chunked.curvature(theta, batch)
    assert len(c2.chunks) == 3
    np.testing.assert_allclose(c2.gv(v, 0.4), c1.gv(v, 0.4), rtol=1e-12, atol=1e-15)
    check_all(chunked, theta, batch, spec, l2=cfg.l2, normaliser=cfg.normaliser)


def test_structural_term_is_nontrivial_and_skips_padding():
    spec, cfg, model, theta, batch = make_case("rnn", "softmax", "targets", seed=5)
    assert (batch.lengths < T).any()
    jac = signal_jacobians(model, theta, batch)
    gs = dense_structural(model, theta, batch, jacobians=jac)
    assert np.linalg.norm(gs) > 1e-2
    # The same matrix counted over padding steps too is measurably different, so check_gv would notice.
    padded_all = Batch(batch.inputs, batch.targets, batch.mask, np.full(B, T))
    gs_all = dense_structural(model, theta, padded_all, jacobians=jac)
    assert np.linalg.norm(gs_all - gs) > 1e-3 * np.linalg.norm(gs)
    curv = model.curvature(theta, batch)
    v = np.random.default_rng(0).standard_normal(model.n_params)
    np.testing.assert_allclose(curv.gv(v, 0.8) - curv.gv(v, 0.0), 0.8 * gs @ v, rtol=1e-6, atol=1e-12)


def test_linear_model_objective_is_exactly_quadratic():
    spec, cfg, model, theta, batch = make_case("linear", "linear", "targets", seed=6)
    v = np.random.default_rng(1).standard_normal(model.n_params)
    f0, g0 = model.loss_and_grad(theta, batch)
    gv = model.curvature(theta, batch).gv(v, structural_weight=3.0)  # weight ignored: no hidden units
    assert model.loss(theta + v, batch) == pytest.approx(f0 + g0 @ v + 0.5 * v @ gv, rel=1e-12)


def test_all_masked_out_batch_uses_normaliser_one():
    spec, cfg, model, theta, batch = make_case("rnn", "linear", "targets", seed=7)
    empty = Batch(batch.inputs, batch.targets, np.zeros_like(batch.mask), batch.lengths)
    f, g = model.loss_and_grad(theta, empty)
    assert f == pytest.approx(0.5 * cfg.l2 * theta @ theta)
    np.testing.assert_allclose(g, cfg.l2 * theta)


@pytest.mark.parametrize("output", ["logistic", "softmax"])
def test_losses_stable_for_huge_preactivations(output):
    spec, cfg, model, theta, batch = make_case("rnn", output, "targets", seed=8)
    f, g = model.loss_and_grad(theta * 1e3, batch)
    assert np.isfinite(f) and np.all(np.isfinite(g))
    assert np.all(np.isfinite(model.curvature(theta * 1e3, batch).gv(np.ones(model.n_params), 0.5)))


# --------------------------------------------------------------------------- float32
@pytest.mark.parametrize("kind", ["rnn", "linear"])
@pytest.mark.parametrize("output", OUTPUT_LOSSES)
def test_float32_stays_float32(kind, output):
    spec, cfg, m64, theta64, batch = make_case(kind, output, "targets", seed=9)
    m32 = MODELS[kind](spec, cfg, dtype=np.float32)
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
    gv64 = m64.curvature(theta64, batch).gv(v, 0.3)
    assert gv32.dtype == np.float32
    np.testing.assert_allclose(gv32, gv64, rtol=1e-3, atol=1e-4)
    s, t = m32.preactivations(theta32, batch)
    assert s.dtype == np.float32 and t.dtype == np.float32
    assert m32.predict(theta32, batch).dtype == np.float32
    assert m32.to_numpy(theta32).dtype == np.float32


# --------------------------------------------------------------------------- initialisation
def test_sparse_init_exact_fan_in_and_input_scale():
    spec = ModelSpec(20, 18, "softmax")
    cfg = RNNConfig(hidden=40, init="sparse", num_connections=15, input_scale=0.25)
    model = NumpyRNN(spec, cfg)
    p = model.unpack(model.init_params(np.random.default_rng(0)))
    for name in ("W_hx", "W_hh", "W_yh"):
        counts = np.count_nonzero(getattr(p, name), axis=1)
        assert np.all(counts == 15), f"{name} rows have {set(counts.tolist())} nonzeros"
    assert len({tuple(np.flatnonzero(row)) for row in p.W_hh}) > 1  # supports differ between units
    for name in ("b_h", "b_y", "b_init"):
        assert not np.any(getattr(p, name))
    # values N(0, 1/15) (1500 + 270 draws)
    vals = np.concatenate([p.W_hh[p.W_hh != 0], p.W_yh[p.W_yh != 0]])
    assert np.std(vals) == pytest.approx(1 / np.sqrt(15), rel=0.1)
    # input_scale multiplies exactly W_hx and nothing else
    unscaled = NumpyRNN(spec, dataclasses.replace(cfg, input_scale=1.0))
    q = unscaled.unpack(unscaled.init_params(np.random.default_rng(0)))
    np.testing.assert_array_equal(p.W_hx, 0.25 * q.W_hx)
    np.testing.assert_array_equal(p.W_hh, q.W_hh)
    np.testing.assert_array_equal(p.W_yh, q.W_yh)


def test_sparse_init_small_fan_in_is_dense():
    model = NumpyRNN(ModelSpec(2, 1, "linear"), RNNConfig(hidden=30, init="sparse"))
    p = model.unpack(model.init_params(np.random.default_rng(1)))
    assert np.all(np.count_nonzero(p.W_hx, axis=1) == 2)
    assert np.all(np.count_nonzero(p.W_hh, axis=1) == 15)
    assert np.all(np.count_nonzero(p.W_yh, axis=1) == 15)


def test_dense_init_scales():
    spec = ModelSpec(50, 60, "linear")
    model = NumpyRNN(spec, RNNConfig(hidden=80, init="dense", init_scale=2.0, input_scale=0.5))
    p = model.unpack(model.init_params(np.random.default_rng(2)))
    assert np.std(p.W_hx) == pytest.approx(0.5 * 2.0 / np.sqrt(50), rel=0.05)
    assert np.std(p.W_hh) == pytest.approx(2.0 / np.sqrt(80), rel=0.05)
    assert np.std(p.W_yh) == pytest.approx(2.0 / np.sqrt(80), rel=0.05)
    assert model.n_params == 80 * 50 + 80 * 80 + 60 * 80 + 80 + 60 + 80
    lin = NumpyLinear(spec, LinearConfig(init_scale=2.0))
    theta = lin.init_params(np.random.default_rng(3))
    assert np.std(theta[: 60 * 50]) == pytest.approx(2.0 / np.sqrt(50), rel=0.05)
    assert not np.any(theta[60 * 50 :])


def test_init_is_reproducible():
    model = NumpyRNN(ModelSpec(3, 2, "softmax"), RNNConfig(hidden=20))
    a = model.init_params(np.random.default_rng(5))
    b = model.init_params(np.random.default_rng(5))
    np.testing.assert_array_equal(a, b)


# --------------------------------------------------------------------------- config errors and plugin
def test_bad_output_and_dtype_rejected():
    with pytest.raises(ValueError, match="output"):
        NumpyRNN(ModelSpec(N_IN, N_OUT, "tanh"), make_cfg())
    with pytest.raises(ValueError, match="output"):
        NumpyLinear(ModelSpec(N_IN, N_OUT, "relu"), make_cfg())
    with pytest.raises(ValueError, match="dtype"):
        NumpyRNN(ModelSpec(N_IN, N_OUT, "linear"), make_cfg(), dtype=np.float16)
    model = NumpyRNN(ModelSpec(N_IN, N_OUT, "linear"), make_cfg())
    good = make_batch(np.random.default_rng(0), ModelSpec(N_IN, N_OUT, "linear"))
    wrong = make_batch(np.random.default_rng(0), ModelSpec(N_IN + 1, N_OUT, "linear"))
    with pytest.raises(ValueError, match="theta"):
        model.loss(np.zeros(model.n_params + 1), good)
    with pytest.raises(ValueError, match="inputs"):
        model.loss(np.zeros(model.n_params), wrong)


def test_plugin_make_model_dispatch():
    spec = ModelSpec(N_IN, N_OUT, "softmax")
    cfg = plugin.NumpyBackendConfig()
    assert isinstance(cfg, BackendConfig) and (cfg.name, cfg.dtype) == ("numpy", "float64")
    rnn_cfg, lin_cfg = make_cfg(), LinearConfig()
    rnn, lin_def = TanhRNN(spec, rnn_cfg), Linear(spec, lin_cfg)
    model = plugin.make_model(rnn, rnn_cfg, cfg)
    assert isinstance(model, NumpyRNN) and model.definition is rnn
    lin = plugin.make_model(lin_def, lin_cfg, SimpleNamespace(dtype="float32"))
    assert isinstance(lin, NumpyLinear) and lin.dtype == np.float32 and lin.definition is lin_def

    class Mgu(TanhRNN):  # a subclass may change the forward map: hand-written derivatives would not follow
        name = "mgu"

    message = ("backend 'numpy' has hand-written derivatives for rnn_tanh, linear, lstm, gru only; "
               "model 'mgu' needs backend=autograd or backend=torch")
    with pytest.raises(ValueError, match=f"^{message}$"):
        plugin.make_model(Mgu(spec, rnn_cfg), rnn_cfg, cfg)
    with pytest.raises(ValueError, match="float32, float64"):
        plugin.make_model(rnn, rnn_cfg, SimpleNamespace(dtype="bfloat16"))
    assert plugin.make_model(rnn, rnn_cfg, plugin.NumpyBackendConfig(chunk_size=7)).chunk_size == 7
    with pytest.raises(ValueError, match="chunk_size"):
        NumpyRNN(spec, make_cfg(), chunk_size=0)


def test_plugin_registers_backend():
    from hfcore.registry import load_plugins

    _, registry = load_plugins(extra_plugins=[("numpy_test", plugin)], autoload=False)
    component = registry.get("backend", "numpy")
    assert component.factory is plugin.make_model
    assert isinstance(component.config, plugin.NumpyBackendConfig)


# --------------------------------------------------------------------------- the kit must be able to fail
class _Wrapped:
    """Delegates to a real model; ``curvature``/``loss_and_grad`` may be replaced by a broken version."""

    def __init__(self, inner, gv=None, grad_scale=1.0):
        self._inner, self._gv, self._grad_scale = inner, gv, grad_scale

    def __getattr__(self, name):
        return getattr(self._inner, name)

    def loss_and_grad(self, theta, batch):
        f, g = self._inner.loss_and_grad(theta, batch)
        return f, g * self._grad_scale

    def curvature(self, theta, batch):
        inner = self._inner.curvature(theta, batch)
        if self._gv is None:
            return inner
        return SimpleNamespace(gv=lambda v, w=0.0: self._gv(inner, v, w))


def _rnn_case():
    return make_case("rnn", "softmax", "targets", seed=0)


def test_kit_rejects_scaled_gv():
    spec, cfg, model, theta, batch = _rnn_case()
    broken = _Wrapped(model, gv=lambda c, v, w: 1.01 * c.gv(v, w))
    with pytest.raises(AssertionError, match="disagrees with dense"):
        check_gv(broken, theta, batch, spec, l2=cfg.l2)


def test_kit_rejects_structural_term_at_padding():
    spec, cfg, model, theta, batch = _rnn_case()
    assert (batch.lengths < T).any()

    def everywhere(c, v, w):  # the IS11 variant: structural damping also at padding steps
        c.chunks = [ch._replace(valid=np.ones_like(ch.valid)) for ch in c.chunks]
        return c.gv(v, w)

    with pytest.raises(AssertionError, match="structural"):
        check_gv(_Wrapped(model, gv=everywhere), theta, batch, spec, l2=cfg.l2)


def test_kit_rejects_wrong_structural_scale():
    spec, cfg, model, theta, batch = _rnn_case()
    broken = _Wrapped(model, gv=lambda c, v, w: c.gv(v, 0.25 * w))
    with pytest.raises(AssertionError, match="structural"):
        check_gv(broken, theta, batch, spec, l2=cfg.l2)


def test_kit_rejects_bad_gradient():
    spec, cfg, model, theta, batch = _rnn_case()
    with pytest.raises(AssertionError, match="central differences"):
        check_gradient(_Wrapped(model, grad_scale=1.001), theta, batch)


def test_kit_rejects_asymmetric_and_indefinite():
    spec, cfg, model, theta, batch = _rnn_case()
    a = np.random.default_rng(0).standard_normal((model.n_params, model.n_params))
    skew = _Wrapped(model, gv=lambda c, v, w: c.gv(v, w) + 1e-3 * (a @ v))
    with pytest.raises(AssertionError, match="not symmetric"):
        check_symmetric_psd(skew, theta, batch)
    negated = _Wrapped(model, gv=lambda c, v, w: -c.gv(v, w))
    with pytest.raises(AssertionError, match="not PSD"):
        check_symmetric_psd(negated, theta, batch)


def test_kit_rejects_loss_and_predict_that_differs():
    spec, cfg, model, theta, batch = _rnn_case()
    assert check_loss_and_predict(model, theta, batch) == 0.0
    off = _Wrapped(model)
    off.loss_and_predict = lambda th, b: (model.loss(th, b) * (1 + 1e-9), model.predict(th, b))
    with pytest.raises(AssertionError, match="loss differs"):
        check_loss_and_predict(off, theta, batch)
    off.loss_and_predict = lambda th, b: (model.loss(th, b), model.predict(th, b)[:, :-1])
    with pytest.raises(AssertionError, match="outputs"):
        check_loss_and_predict(off, theta, batch)


def test_evaluate_makes_one_forward_pass_when_the_model_can():
    from hfcore.hf import evaluate
    from hfcore.interfaces import loss_and_predict

    spec, cfg, model, theta, batch = _rnn_case()
    task = SimpleNamespace(error=lambda out, b: float(np.mean(out)))
    calls = []
    spy = _Wrapped(model)
    spy.loss = lambda *a: calls.append("loss") or model.loss(*a)
    spy.predict = lambda *a: calls.append("predict") or model.predict(*a)
    both = evaluate(spy, task, theta, batch)
    assert calls == []  # the numpy RNN's loss_and_predict served both
    plain = SimpleNamespace(loss=spy.loss, predict=spy.predict)  # a model without loss_and_predict
    assert loss_and_predict(plain, theta, batch)[0] == both["loss"]
    assert calls == ["loss", "predict"]
    assert evaluate(plain, task, theta, batch) == both


def test_kit_rejects_stateful_aliased_or_mutating_gv():
    spec, cfg, model, theta, batch = _rnn_case()
    calls = []

    def drifting(c, v, w):
        calls.append(1)
        return c.gv(v, w) * (1 + 1e-12 * len(calls))

    with pytest.raises(AssertionError, match="same bound object"):
        check_bind_consistency(_Wrapped(model, gv=drifting), theta, batch)
    shared = np.empty(model.n_params)

    def aliased(c, v, w):
        shared[...] = c.gv(v, w)
        return shared

    with pytest.raises(AssertionError, match="aliased"):
        check_bind_consistency(_Wrapped(model, gv=aliased), theta, batch)

    def mutating(c, v, w):
        out = c.gv(v, w)
        v *= 2.0
        return out

    with pytest.raises(AssertionError, match="mutated"):
        check_bind_consistency(_Wrapped(model, gv=mutating), theta, batch)

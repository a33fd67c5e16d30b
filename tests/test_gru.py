"""The NumPy GRU (plugins/hfcore_numpy/gru.py): BPTT gradient, Gauss-Newton products with structural damping,
dtypes, chunks, and equality with the model derived on autograd."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from hfcore.interfaces import Model
from hfcore.kit.definitions import GRU
from hfcore.models import NumpyOps
from hfcore.testing.conformance import (
    check_all,
    check_gradient,
    check_gv,
    check_loss_and_predict,
    relative_error,
)
from hfcore.types import Batch, ModelSpec
from hfcore_numpy.gru import NumpyGRU
from hfcore_numpy.losses import output_activation
from tests.gated import (
    N_IN,
    N_OUT,
    B,
    T,
    assert_chunked_gv_equals_whole,
    assert_float32_agrees,
    assert_float32_gv_agrees,
    assert_gv_conforms,
    autograd_model,
    gated_cfg,
    gv_errors,
    padded_batch,
    perturbed_theta,
)
from tests.helpers import REGISTRY, backend_cfg, definition, model_cfg
from tests.test_numpy_backend import make_batch

H = 4
SIGNAL_SETS = [("update", "reset", "candidate"), ("hidden",), ("candidate",), ("candidate", "hidden"),
               ("update", "reset", "candidate", "hidden"), ("reset",), ()]
"""``model.damped_signals`` sets the tests cover: the default first, ``hidden`` alone, all four, none."""
DECLARED = {"update": ("logistic", 1.0), "reset": ("logistic", 0.5), "candidate": ("tanh", 1.0),
            "hidden": ("identity", 1.0)}
"""Each signal's unit and weight, as the GRU declares them."""


def _cfg(**kw) -> SimpleNamespace:
    return gated_cfg("gru", **(dict(hidden=H, update_bias=-1.0) | kw))


def _model(output: str = "linear", dtype: str = "float64", **kw) -> NumpyGRU:
    return NumpyGRU(ModelSpec(N_IN, N_OUT, output), _cfg(**kw), dtype=dtype)


def _naive_loss(theta: np.ndarray, batch: Batch, output: str, l2: float) -> float:
    """Loop-per-sequence reference of the documented equations, reading the documented flat layout directly."""
    sizes = [3 * H * N_IN, 2 * H * H, H * H, 3 * H, N_OUT * H, N_OUT]
    W_x, W_h, W_c, b, W_y, b_y = np.split(theta, np.cumsum(sizes)[:-1])
    W_x, W_h, W_c, W_y = W_x.reshape(3 * H, N_IN), W_h.reshape(2 * H, H), W_c.reshape(H, H), W_y.reshape(N_OUT, H)
    total = 0.0
    for j in range(batch.size):
        h = np.zeros(H)
        for i in range(batch.steps):
            x = batch.inputs[i, j]
            z = 1 / (1 + np.exp(-(W_x[:H] @ x + W_h[:H] @ h + b[:H])))
            r = 1 / (1 + np.exp(-(W_x[H:2 * H] @ x + W_h[H:] @ h + b[H:2 * H])))
            c = np.tanh(W_x[2 * H:] @ x + W_c @ (r * h) + b[2 * H:])
            h = (1 - z) * h + z * c
            s = W_y @ h + b_y
            y = batch.targets[i, j]
            if output == "linear":
                loss = 0.5 * np.sum((s - y) ** 2)
            elif output == "logistic":
                loss = np.sum(np.logaddexp(0, s) - y * s)
            else:
                loss = np.logaddexp.reduce(s) - y @ s
            total += batch.mask[i, j] * loss
    return total / np.sum(batch.mask) + 0.5 * l2 * theta @ theta


@pytest.mark.parametrize("output", ["linear", "logistic", "softmax"])
def test_loss_is_the_documented_equations(output: str) -> None:
    model = _model(output)
    assert isinstance(model, Model)
    assert model.n_params == 3 * H * (N_IN + H + 1) + N_OUT * (H + 1)  # the documented layout
    th, batch = perturbed_theta(model), padded_batch(output)
    assert model.loss(th, batch) == pytest.approx(_naive_loss(th, batch, output, 1e-3), rel=1e-12)


@pytest.mark.parametrize("normaliser", ["targets", "sequences"])
@pytest.mark.parametrize("output", ["linear", "logistic", "softmax"])
def test_gradient_matches_finite_differences(output: str, normaliser: str) -> None:
    model = _model(output, normaliser=normaliser)
    err = check_gradient(model, perturbed_theta(model), padded_batch(output), eps=1e-6, rtol=1e-6)
    assert err < 1e-6


def test_gradient_with_chunks_and_sparse_init() -> None:
    spec = ModelSpec(N_IN, N_OUT, "logistic")
    model = NumpyGRU(spec, _cfg(init="sparse", num_connections=2), chunk_size=3)
    th, batch = perturbed_theta(model), padded_batch("logistic", seed=3)
    check_gradient(model, th, batch)
    whole = NumpyGRU(spec, _cfg(init="sparse", num_connections=2))
    np.testing.assert_allclose(model.loss_and_grad(th, batch)[1], whole.loss_and_grad(th, batch)[1], rtol=1e-12)


def test_init_layout() -> None:
    model = _model(update_bias=-2.0)
    p = model.unpack(model.init_params(np.random.default_rng(0)))
    assert p.W_x.shape == (3 * H, N_IN) and p.W_h.shape == (2 * H, H) and p.W_c.shape == (H, H)
    np.testing.assert_array_equal(p.b[:H], -2.0)  # the update gate starts mostly closed: h is kept
    np.testing.assert_array_equal(p.b[H:], 0.0)
    np.testing.assert_array_equal(p.b_y, 0.0)
    assert np.all(p.W_h != 0.0)  # dense by default


def test_float32_agrees_with_float64() -> None:
    m64, m32 = _model("softmax"), _model("softmax", dtype="float32")
    assert_float32_agrees(m64, m32)
    assert_float32_gv_agrees(m64, m32)


@pytest.mark.parametrize("signals", SIGNAL_SETS, ids="-".join)
def test_predict_and_preactivations(signals: tuple[str, ...]) -> None:
    model = _model("logistic", damped_signals=list(signals))
    th, batch = perturbed_theta(model), padded_batch("logistic")
    s, a = model.preactivations(th, batch)
    assert s.shape == (T, B, N_OUT) and a.shape == (T, B, len(signals) * H)
    # the damped signals side by side in declaration order (as the deriving backends report them)
    _, declared = model.definition.forward(model.layout.unpack(th), batch.inputs, NumpyOps)
    assert [(g.name, g.unit, g.weight) for g in declared] == [(n, *DECLARED[n]) for n in DECLARED if n in signals]
    np.testing.assert_allclose(a, np.concatenate([g.preactivation for g in declared], axis=-1) if declared
                               else np.zeros((T, B, 0)), rtol=1e-13)
    np.testing.assert_allclose(model.predict(th, batch), output_activation("logistic", s), rtol=1e-12)


@pytest.mark.parametrize("output", ["linear", "logistic", "softmax"])
def test_loss_and_predict_is_one_pass_of_both(output: str) -> None:
    model = _model(output)
    chunked = NumpyGRU(ModelSpec(N_IN, N_OUT, output), _cfg(), chunk_size=3)
    th, batch = perturbed_theta(model), padded_batch(output)
    for m in (model, chunked):
        assert check_loss_and_predict(m, th, batch) == 0.0
    assert chunked.loss(th, batch) == pytest.approx(model.loss(th, batch), rel=1e-13)


@pytest.mark.parametrize("signals", SIGNAL_SETS, ids="-".join)
@pytest.mark.parametrize("normaliser", ["targets", "sequences"])
@pytest.mark.parametrize("output", ["linear", "logistic", "softmax"])
def test_gv_matches_dense_gauss_newton_and_structural_term(output: str, normaliser: str,
                                                           signals: tuple[str, ...]) -> None:
    """The conformance kit: gv(., w) against dense G_f + kappa I + w G_S over the declared signals (padded, masked),
    for each ``damped_signals`` set (update, reset: logistic; candidate: tanh; hidden: squared error)."""
    model = _model(output, normaliser=normaliser, damped_signals=list(signals))
    assert_gv_conforms(model, output, normaliser, n_signals=len(signals))


class _ResetWeightedOne(GRU):
    """Mutant declaration: the reset gate damped with weight 1 instead of the GRU's 0.5."""

    def forward(self, params, x, ops):
        s, (update, reset, candidate) = super().forward(params, x, ops)
        return s, (update, reset.__class__(reset.name, reset.preactivation, reset.unit, 1.0), candidate)


def test_structural_term_follows_the_declared_weights() -> None:
    """The hand-written term weights each signal as declared: against a mutant's weight, check_gv disagrees."""
    model = _model("softmax")
    th, batch = perturbed_theta(model), padded_batch("softmax")
    model.definition = _ResetWeightedOne(model.spec, _cfg())
    with pytest.raises(AssertionError, match="structural"):
        check_gv(model, th, batch, model.spec, l2=1e-3)


def test_gv_variable_lengths_through_the_kit_batch() -> None:
    """The kit's padded batch (NaN targets where unmasked, lengths down to 2): the whole conformance kit passes."""
    rng = np.random.default_rng(4)
    spec = ModelSpec(N_IN, N_OUT, "softmax")
    model = NumpyGRU(spec, _cfg())
    errors = check_all(model, perturbed_theta(model), make_batch(rng, spec), spec, l2=1e-3, grad_rtol=1e-7)
    assert errors["gv"] < 1e-7 and errors["bind_consistency"] == 0.0 and errors["signals"] == 3


@pytest.mark.parametrize("signals", [("update", "reset", "candidate"), ("update", "reset", "candidate", "hidden")],
                         ids="-".join)
def test_gv_with_chunks_equals_the_whole_batch(signals: tuple[str, ...]) -> None:
    cfg = _cfg(damped_signals=list(signals))
    assert_chunked_gv_equals_whole(_model("logistic", damped_signals=list(signals)),
                                   NumpyGRU(ModelSpec(N_IN, N_OUT, "logistic"), cfg, chunk_size=3))


def test_damped_signals_change_only_the_structural_term() -> None:
    """Without structural weight every set gives the same product bit for bit; with it the sets differ."""
    th, batch = perturbed_theta(_model("logistic")), padded_batch("logistic", seed=2)
    v = np.random.default_rng(11).standard_normal(_model().n_params)
    plain = _model("logistic").curvature(th, batch).gv(v, 0.0)
    products = []
    for signals in SIGNAL_SETS:
        bound = _model("logistic", damped_signals=list(signals)).curvature(th, batch)
        np.testing.assert_array_equal(bound.gv(v, 0.0), plain)
        products.append(bound.gv(v, 0.7))
    assert all(relative_error(a, b) > 1e-6 for i, a in enumerate(products) for b in products[i + 1:])


def test_default_damped_signals_are_the_previous_set_bit_for_bit() -> None:
    """No damped_signals in the config (as before the option) and today's default, in any order, give identical
    products and pre-activations."""
    th, batch = perturbed_theta(_model("softmax")), padded_batch("softmax", seed=4)
    v = np.random.default_rng(12).standard_normal(_model().n_params)
    before = _model("softmax")  # the config has no damped_signals key
    assert not hasattr(_cfg(), "damped_signals") and before.definition.damped_signals == ("update", "reset",
                                                                                          "candidate")
    for value in (["update", "reset", "candidate"], ["candidate", "update", "reset"]):
        model = _model("softmax", damped_signals=value)
        for w in (0.0, 0.7):
            np.testing.assert_array_equal(model.curvature(th, batch).gv(v, w), before.curvature(th, batch).gv(v, w))
        np.testing.assert_array_equal(model.preactivations(th, batch)[1], before.preactivations(th, batch)[1])


def test_single_step_sequences() -> None:
    """T = 1: no recurrent term at all (W_h and W_c get zero gradient and curvature)."""
    model = _model("linear")
    rng = np.random.default_rng(9)
    batch = Batch(rng.standard_normal((1, 3, N_IN)), rng.standard_normal((1, 3, N_OUT)), np.ones((1, 3)),
                  np.ones(3, dtype=int))
    th = perturbed_theta(model)
    check_all(model, th, batch, model.spec, l2=1e-3, grad_rtol=1e-7)


@pytest.mark.parametrize("signals", [("update", "reset", "candidate"), ("hidden",),
                                     ("update", "reset", "candidate", "hidden")], ids="-".join)
@pytest.mark.parametrize("normaliser", ["targets", "sequences"])
@pytest.mark.parametrize("output", ["linear", "logistic", "softmax"])
def test_numpy_equals_the_autograd_derived_model(output: str, normaliser: str, signals: tuple[str, ...]) -> None:
    """Same theta, batch and v: loss, gradient and Gv equal the kit's derived model on autograd (max rel err)."""
    pytest.importorskip("autograd")
    cfg = _cfg(normaliser=normaliser, damped_signals=list(signals))
    model = NumpyGRU(ModelSpec(N_IN, N_OUT, output), cfg)
    derived = autograd_model(model, cfg)
    th, batch = perturbed_theta(model), padded_batch(output, seed=7)
    (f, g), (f_ref, g_ref) = model.loss_and_grad(th, batch), derived.loss_and_grad(th, batch)
    assert f == pytest.approx(float(f_ref), rel=1e-13)
    assert relative_error(g, np.asarray(g_ref)) < 1e-12
    errors = gv_errors(model.curvature(th, batch), derived.curvature(th, batch), model.n_params, seed=8, count=3)
    assert max(errors.values()) < 1e-12, f"max rel err vs autograd: {errors}"


def test_backend_dispatch_builds_the_numpy_gru() -> None:
    spec = ModelSpec(N_IN, N_OUT, "softmax")
    cfg = model_cfg(name="gru", hidden=5, update_bias=-1.0, init="dense", input_scale=1.0)
    model = REGISTRY.get("backend", "numpy").factory(definition(spec, cfg), cfg, backend_cfg())
    assert isinstance(model, NumpyGRU) and model.n_hidden == 5


@pytest.mark.parametrize("bad, message", [(dict(hidden=0), "gru needs hidden >= 1"),
                                          (dict(update_bias=float("nan")), "finite update_bias"),
                                          (dict(init="orthogonal"), "unknown init"),
                                          (dict(damped_signals=["cell"]), "unknown damped signal 'cell' in "
                                           "damped_signals; expected any of update, reset, candidate, hidden"),
                                          (dict(damped_signals=["reset", "reset"]),
                                           "damped_signals names a signal twice")])
def test_bad_config(bad, message) -> None:
    with pytest.raises(ValueError, match=message) as err:
        _model(**bad)
    assert "\n" not in str(err.value)


def test_hf_trains_the_gru_on_numpy_and_autograd_alike(tmp_path) -> None:
    """``hf-train model=gru`` on a plain install: HF lowers the loss, and both backends log the same losses."""
    pytest.importorskip("autograd")
    from tests.test_cli import hf_train

    args = ("model=gru", "task=addition", "task.T=10", "model.hidden=8", "hf=small", "hf.max_iterations=4",
            "task.test_size=100", "progress=false", "tracking=none")
    losses = {}
    for backend in ("numpy", "autograd"):
        (tmp_path / backend).mkdir()
        out = hf_train(tmp_path / backend, *args, f"backend={backend}")
        assert out.returncode == 0, out.stderr[-3000:]
        text = out.stdout + out.stderr  # the log goes to either stream
        losses[backend] = [float(line.split(" loss ")[1].split()[0]) for line in text.splitlines() if " loss " in line]
        assert "task=addition T=10 seed=0 iterations=4" in text
    assert len(losses["numpy"]) == 4 and losses["numpy"][-1] < 0.5 * losses["numpy"][0], losses
    assert losses["numpy"] == pytest.approx(losses["autograd"], rel=1e-4)

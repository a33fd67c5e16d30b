"""The NumPy LSTM (plugins/hfcore_numpy/lstm.py): BPTT gradient, Gauss-Newton products, dtypes, errors, SGD."""

from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pytest

from hfcore.config import SGDConfig
from hfcore.interfaces import Model
from hfcore.models import NumpyOps
from hfcore.sgd import MomentumSGD
from hfcore.testing.conformance import (
    check_all,
    check_gradient,
    check_gv,
    check_loss_and_predict,
    check_signals,
    relative_error,
)
from hfcore.training import advance, initial_state
from hfcore.types import ModelSpec
from hfcore_numpy.losses import output_activation
from hfcore_numpy.lstm import NumpyLSTM
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


def _cfg(**kw) -> SimpleNamespace:
    return gated_cfg("lstm", **(dict(hidden=4, cells_per_block=2) | kw))


def _model(output: str = "linear", dtype: str = "float64", **kw) -> NumpyLSTM:
    return NumpyLSTM(ModelSpec(N_IN, N_OUT, output), _cfg(**kw), dtype=dtype)


@pytest.mark.parametrize("normaliser", ["targets", "sequences"])
@pytest.mark.parametrize("output", ["linear", "logistic", "softmax"])
def test_gradient_matches_finite_differences(output: str, normaliser: str) -> None:
    model = _model(output, normaliser=normaliser)
    assert isinstance(model, Model)
    assert model.n_params == (4 + 3 * 2) * (N_IN + 4 + 1) + N_OUT * (4 + 1)  # the documented layout
    err = check_gradient(model, perturbed_theta(model), padded_batch(output), eps=1e-6, rtol=1e-6)
    assert err < 1e-6


def test_gradient_with_chunks_and_sparse_init() -> None:
    model = NumpyLSTM(ModelSpec(N_IN, N_OUT, "logistic"), _cfg(init="sparse", num_connections=2), chunk_size=3)
    check_gradient(model, perturbed_theta(model), padded_batch("logistic", seed=3))
    whole = NumpyLSTM(ModelSpec(N_IN, N_OUT, "logistic"), _cfg(init="sparse", num_connections=2))
    th, batch = perturbed_theta(model), padded_batch("logistic", seed=3)
    np.testing.assert_allclose(model.loss_and_grad(th, batch)[1], whole.loss_and_grad(th, batch)[1], rtol=1e-12)


def test_init_layout() -> None:
    model = _model(hidden=6, cells_per_block=3)
    p = model.unpack(model.init_params(np.random.default_rng(0)))
    H, nb = 6, 2
    assert p.W_x.shape == (H + 3 * nb, N_IN) and p.W_h.shape == (H + 3 * nb, H) and p.W_y.shape == (N_OUT, H)
    np.testing.assert_array_equal(p.b[: H + nb], 0.0)
    np.testing.assert_array_equal(p.b[H + nb : H + 2 * nb], 1.0)  # forget gates start open
    np.testing.assert_array_equal(p.b[H + 2 * nb :], 0.0)


def test_float32_agrees_with_float64() -> None:
    m64, m32 = _model("softmax"), _model("softmax", dtype="float32")
    assert_float32_agrees(m64, m32)


def test_predict_and_preactivations() -> None:
    model = _model("logistic")
    th, batch = perturbed_theta(model), padded_batch("logistic")
    s, a = model.preactivations(th, batch)
    assert s.shape == (T, B, N_OUT) and a.shape == (T, B, model.n_rows)
    # the damped signals side by side: cell inputs, then gates (as the deriving backends report them)
    _, signals = model.definition.forward(model.layout.unpack(th), batch.inputs, NumpyOps)
    np.testing.assert_allclose(a, np.concatenate([g.preactivation for g in signals], axis=-1), rtol=1e-13)
    np.testing.assert_allclose(model.predict(th, batch), output_activation("logistic", s), rtol=1e-12)


@pytest.mark.parametrize("output", ["linear", "logistic", "softmax"])
def test_loss_and_predict_is_one_pass_of_both(output: str) -> None:
    model = _model(output)
    chunked = NumpyLSTM(ModelSpec(N_IN, N_OUT, output), _cfg(), chunk_size=3)
    th, batch = perturbed_theta(model), padded_batch(output)
    for m in (model, chunked):
        assert check_loss_and_predict(m, th, batch) == 0.0
    value, outputs = chunked.loss_and_predict(th, batch)
    assert value == pytest.approx(model.loss(th, batch), rel=1e-13) and outputs.shape == (T, B, N_OUT)


@pytest.mark.parametrize("normaliser", ["targets", "sequences"])
@pytest.mark.parametrize("output", ["linear", "logistic", "softmax"])
def test_gv_matches_dense_gauss_newton_and_structural_term(output: str, normaliser: str) -> None:
    """The conformance kit: gv(., w) against dense G_f + kappa I + w G_S over the declared signals (padded, masked)."""
    # cell inputs (tanh) and gates (logistic)
    assert_gv_conforms(_model(output, normaliser=normaliser), output, normaliser, n_signals=2)


def test_gv_variable_lengths_through_the_kit_batch() -> None:
    """The kit's padded batch (NaN targets where unmasked, lengths down to 2): the whole conformance kit passes."""
    rng = np.random.default_rng(4)
    spec = ModelSpec(N_IN, N_OUT, "softmax")
    model = NumpyLSTM(spec, _cfg())
    errors = check_all(model, perturbed_theta(model), make_batch(rng, spec), spec, l2=1e-3, grad_rtol=1e-7)
    assert errors["gv"] < 1e-7 and errors["bind_consistency"] == 0.0 and errors["signals"] == 2


def test_gv_with_chunks_equals_the_whole_batch() -> None:
    assert_chunked_gv_equals_whole(_model("logistic"), NumpyLSTM(ModelSpec(N_IN, N_OUT, "logistic"), _cfg(),
                                                                  chunk_size=3))


def test_gv_float32_agrees_with_float64() -> None:
    assert_float32_gv_agrees(_model("softmax"), _model("softmax", dtype="float32"))


@pytest.mark.parametrize("normaliser", ["targets", "sequences"])
@pytest.mark.parametrize("output", ["linear", "logistic", "softmax"])
def test_gv_equals_the_autograd_derived_gv(output: str, normaliser: str) -> None:
    """Same theta, batch and v: the hand-written Gv equals the kit's DerivedCurvature on autograd (max rel err)."""
    pytest.importorskip("autograd")
    cfg = _cfg(normaliser=normaliser)
    model = NumpyLSTM(ModelSpec(N_IN, N_OUT, output), cfg)
    derived = autograd_model(model, cfg)
    th, batch = perturbed_theta(model), padded_batch(output, seed=7)
    errors = gv_errors(model.curvature(th, batch), derived.curvature(th, batch), model.n_params, seed=8, count=3)
    assert max(errors.values()) < 1e-12, f"max rel err vs autograd: {errors}"


def test_bad_block_size() -> None:
    with pytest.raises(ValueError, match="multiple of cells_per_block"):
        _model(hidden=5, cells_per_block=2)


def test_backend_dispatch_and_sgd_reduces_loss_on_bouncing_balls(tmp_path) -> None:
    comp = REGISTRY.get("task", "bouncing_balls")
    task = comp.factory(replace(comp.config, size="tiny", data_dir=str(tmp_path), T=10, test_size=8))
    # model=lstm through the numpy backend; without cells_per_block in the config, blocks of 10 cells
    cfg = model_cfg(name="lstm", hidden=20, init="dense", input_scale=1.0)
    model = REGISTRY.get("backend", "numpy").factory(definition(task.spec, cfg), cfg, backend_cfg())
    assert isinstance(model, NumpyLSTM) and model.n_blocks == 2
    sgd = MomentumSGD(SGDConfig(learning_rate=0.05, momentum=0.9, clip_norm=10.0, batch_size=8))
    state = initial_state(model, 0, sgd)
    test = task.test_batch()
    before = model.loss(state.theta, test)
    for _ in range(30):
        state, info = advance(state, model, task, sgd)
        assert info.accepted
    after = model.loss(state.theta, test)
    assert after < 0.8 * before  # mostly the output bias and the copy-the-input path


# ---------------------------------------------------------------- model.damped_signals (issue 19)
SIGNAL_SETS = [("cell_inputs", "gates"), ("hidden",), ("cell",), ("hidden", "cell"), ("cell_inputs", "gates", "cell"),
               ("cell_inputs", "gates", "cell", "hidden"), ("gates",), ()]
UNITS_OF = {"cell_inputs": "tanh", "gates": "logistic", "cell": "tanh", "hidden": "identity"}


@pytest.mark.parametrize("signals", SIGNAL_SETS, ids="-".join)
@pytest.mark.parametrize("output", ["linear", "logistic", "softmax"])
def test_damped_signal_sets_match_dense_gauss_newton_and_autograd(output: str, signals: tuple[str, ...]) -> None:
    """Each signal set: the hand-written gv(., w) equals dense G_f + kappa I + w G_S over the signals the forward
    map declares (finite-difference Jacobians; padded, masked) and the autograd-derived product."""
    pytest.importorskip("autograd")
    cfg = _cfg(damped_signals=list(signals), normaliser="sequences" if output == "softmax" else "targets")
    model = NumpyLSTM(ModelSpec(N_IN, N_OUT, output), cfg)
    th, batch = perturbed_theta(model), padded_batch(output, seed=9)
    _, declared = model.definition.forward(model.layout.unpack(th), batch.inputs, NumpyOps)
    assert [(g.name, g.unit, g.weight) for g in declared] == [(n, UNITS_OF[n], 1.0) for n in
                                                                ("cell_inputs", "gates", "cell", "hidden")
                                                                if n in signals]
    assert check_signals(model, th, batch) == len(signals)  # c is what tanh reads: a true tanh pre-activation
    err = check_gv(model, th, batch, model.spec, l2=1e-3, normaliser=cfg.normaliser, structural_weights=(0.0, 0.7, 3.0))
    assert err < 1e-7, f"max rel err vs dense {err:.2e}"
    s, a = model.preactivations(th, batch)
    np.testing.assert_allclose(a, np.concatenate([g.preactivation for g in declared], axis=-1) if declared
                               else np.zeros((T, B, 0)), rtol=1e-13)
    derived = autograd_model(model, cfg)
    errors = gv_errors(model.curvature(th, batch), derived.curvature(th, batch), model.n_params, seed=10, count=2)
    assert max(errors.values()) < 1e-12, f"max rel err vs autograd: {errors}"


def test_damped_signals_change_only_the_structural_term_and_chunk() -> None:
    """Without structural weight every set gives the same product; with it the sets differ, and chunks sum."""
    th, batch = perturbed_theta(_model("logistic")), padded_batch("logistic", seed=2)
    v = np.random.default_rng(11).standard_normal(_model().n_params)
    products = {}
    for signals in (("cell_inputs", "gates"), ("hidden",), ("cell",), ("cell_inputs", "gates", "cell", "hidden")):
        model = _model("logistic", damped_signals=list(signals))
        chunked = NumpyLSTM(ModelSpec(N_IN, N_OUT, "logistic"), _cfg(damped_signals=list(signals)), chunk_size=3)
        np.testing.assert_array_equal(model.curvature(th, batch).gv(v, 0.0), _model("logistic").curvature(th, batch)
                                      .gv(v, 0.0))
        products[signals] = model.curvature(th, batch).gv(v, 0.7)
        np.testing.assert_allclose(chunked.curvature(th, batch).gv(v, 0.7), products[signals], rtol=1e-12, atol=1e-15)
    values = list(products.values())
    assert all(relative_error(a, b) > 1e-6 for i, a in enumerate(values) for b in values[i + 1:])


def test_default_damped_signals_are_the_previous_set_bit_for_bit() -> None:
    """No damped_signals in the config (as before the option) and today's default give identical products."""
    th, batch = perturbed_theta(_model("softmax")), padded_batch("softmax", seed=4)
    v = np.random.default_rng(12).standard_normal(_model().n_params)
    before = _model("softmax")  # the config has no damped_signals key
    assert not hasattr(_cfg(), "damped_signals") and before.definition.damped_signals == ("cell_inputs", "gates")
    for cfg_value in (["cell_inputs", "gates"], ["gates", "cell_inputs"]):
        model = _model("softmax", damped_signals=cfg_value)
        for w in (0.0, 0.7):
            np.testing.assert_array_equal(model.curvature(th, batch).gv(v, w), before.curvature(th, batch).gv(v, w))
        np.testing.assert_array_equal(model.preactivations(th, batch)[1], before.preactivations(th, batch)[1])


@pytest.mark.parametrize("value, message", [(["hiden"], "unknown damped signal 'hiden' in damped_signals"),
                                            (["cell", "cell"], "damped_signals names a signal twice")])
def test_bad_damped_signals_are_refused_in_one_line(value, message) -> None:
    with pytest.raises(ValueError, match=message) as err:
        _model(damped_signals=value)
    assert "\n" not in str(err.value)

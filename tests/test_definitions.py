"""The built-in models as definitions (hfcore.kit.definitions): initial draws, layout, forward map, signals."""

from __future__ import annotations

import hashlib
from types import SimpleNamespace

import numpy as np
import pytest

from hfcore.kit.definitions import LSTM, Linear, TanhRNN
from hfcore.kit.layout import ParamLayout
from hfcore.models import ModelDefinition, NumpyOps
from hfcore.types import Batch, ModelSpec
from hfcore_numpy.gru import NumpyGRU
from hfcore_numpy.linear import NumpyLinear
from hfcore_numpy.lstm import NumpyLSTM
from hfcore_numpy.rnn import NumpyRNN

SPEC = ModelSpec(n_in=5, n_out=3, output="linear")


def rnn_cfg(init: str) -> SimpleNamespace:
    return SimpleNamespace(hidden=17, l2=1e-3, init=init, num_connections=4, init_scale=1.3, input_scale=0.25,
                           normaliser="targets")


def lstm_cfg(init: str) -> SimpleNamespace:
    return SimpleNamespace(hidden=12, l2=1e-3, init=init, num_connections=4, init_scale=1.3, input_scale=0.7,
                           normaliser="targets", cells_per_block=3)


def linear_cfg(init: str) -> SimpleNamespace:
    return SimpleNamespace(l2=0.0, init_scale=1.7, normaliser="targets")


# sha256 (first 16 hex digits) of the initial parameters drawn by the hand-written models before they
# became definitions (main at 6ac9f66, RNNLayout / NumpyLSTM / LinearLayout), seeds 3, 4 and 5.
BEFORE = {
    ("rnn", "sparse", "float64"): "556c1c8c4aa7fe11", ("rnn", "dense", "float64"): "a4cfc634c8fe0145",
    ("rnn", "sparse", "float32"): "5f2fcd10ed621a7b", ("rnn", "dense", "float32"): "3040f75a63af1cfb",
    ("lstm", "sparse", "float64"): "a42ab529f5e980fb", ("lstm", "dense", "float64"): "4d4e9778a846c047",
    ("lstm", "sparse", "float32"): "ee5f222f27e71343", ("lstm", "dense", "float32"): "d5c5aa32b9c63a5e",
    ("linear", "sparse", "float64"): "2e67c146ebb2e254", ("linear", "dense", "float64"): "2e67c146ebb2e254",
    ("linear", "sparse", "float32"): "872d606eeb4c99ae", ("linear", "dense", "float32"): "872d606eeb4c99ae",
}
CASES = {"rnn": (TanhRNN, rnn_cfg, 3), "lstm": (LSTM, lstm_cfg, 4), "linear": (Linear, linear_cfg, 5)}


@pytest.mark.parametrize("key", sorted(BEFORE))
def test_blocks_reproduce_the_initial_draws_of_before(key) -> None:
    name, init, dtype = key
    cls, cfg, seed = CASES[name]
    definition = cls(SPEC, cfg(init))
    assert isinstance(definition, ModelDefinition)
    theta = ParamLayout(definition.blocks()).init_params(np.random.default_rng(seed), dtype)
    assert theta.dtype == np.dtype(dtype)
    assert hashlib.sha256(theta.tobytes()).hexdigest()[:16] == BEFORE[key]


def test_lstm_bias_blocks_lie_together_and_start_the_forget_gates_open() -> None:
    definition = LSTM(SPEC, lstm_cfg("dense"))
    layout = ParamLayout(definition.blocks())
    names = [b.name for b in definition.blocks()]
    assert names == ["W_x", "W_h", "b_cell", "b_in", "b_forget", "b_out", "W_y", "b_y"]
    p = layout.unpack(layout.init_params(np.random.default_rng(0)))
    assert np.all(p["b_forget"] == 1.0) and not np.any(p["b_cell"]) and not np.any(p["b_in"])
    assert layout.slices["b_out"][1] - layout.slices["b_cell"][0] == definition.n_rows


def test_lstm_forget_bias_is_an_option_and_must_be_finite() -> None:
    cfg = lstm_cfg("dense")
    cfg.forget_bias = 3.0
    layout = ParamLayout(LSTM(SPEC, cfg).blocks())
    p = layout.unpack(layout.init_params(np.random.default_rng(0)))
    assert np.all(p["b_forget"] == 3.0) and not np.any(p["b_out"])
    for bad in (float("nan"), float("inf")):
        cfg.forget_bias = bad
        with pytest.raises(ValueError, match="lstm needs a finite forget_bias"):
            LSTM(SPEC, cfg)


def _batch(T: int = 6, B: int = 4) -> Batch:
    rng = np.random.default_rng(1)
    return Batch(inputs=rng.standard_normal((T, B, SPEC.n_in)), targets=np.zeros((T, B, SPEC.n_out)),
                 mask=np.ones((T, B)), lengths=np.full(B, T))


def gru_cfg(init: str) -> SimpleNamespace:
    return SimpleNamespace(hidden=12, l2=1e-3, init=init, num_connections=4, init_scale=1.3, input_scale=0.7,
                           normaliser="targets", update_bias=-1.5)


@pytest.mark.parametrize("model_cls, cfg", [(NumpyRNN, rnn_cfg), (NumpyLSTM, lstm_cfg), (NumpyLinear, linear_cfg),
                                            (NumpyGRU, gru_cfg)])
def test_forward_map_equals_the_hand_written_numpy_model(model_cls, cfg) -> None:
    model = model_cls(SPEC, cfg("dense"))
    rng = np.random.default_rng(2)
    theta = model.init_params(rng) + 0.3 * rng.standard_normal(model.n_params)
    batch = _batch()
    s_ref, t_ref = model.preactivations(theta, batch)
    d = model.definition
    s, signals = d.forward(ParamLayout(d.blocks()).unpack(theta), batch.inputs, NumpyOps())
    np.testing.assert_allclose(s, s_ref, rtol=1e-13, atol=1e-13)
    if model_cls is NumpyRNN:  # the paper's one signal: hidden pre-activations, tanh, weight 1
        (signal,) = signals
        assert (signal.unit, signal.weight) == ("tanh", 1.0)
        np.testing.assert_array_equal(signal.preactivation, t_ref)
    elif model_cls is NumpyLinear:
        assert tuple(signals) == ()
    elif model_cls is NumpyGRU:  # the two gates (logistic), then the candidate (tanh): t_ref side by side
        assert [(g.name, g.unit, g.weight) for g in signals] == [
            ("update", "logistic", 1.0), ("reset", "logistic", 0.5), ("candidate", "tanh", 1.0)]
        np.testing.assert_allclose(np.concatenate([g.preactivation for g in signals], -1), t_ref, rtol=1e-13)
    else:
        assert [(g.name, g.unit, g.preactivation.shape) for g in signals] == [
            ("cell_inputs", "tanh", (6, 4, 12)), ("gates", "logistic", (6, 4, 12))]


@pytest.mark.parametrize("cls, cfg, change, message", [
    (TanhRNN, rnn_cfg, {"hidden": 0}, "rnn_tanh needs hidden >= 1"),
    (TanhRNN, rnn_cfg, {"init": "xavier"}, "unknown init 'xavier'"),
    (TanhRNN, rnn_cfg, {"num_connections": 0}, "num_connections must be >= 1"),
    (Linear, linear_cfg, {"init_scale": -1.0}, "init_scale must be >= 0"),
    (LSTM, lstm_cfg, {"cells_per_block": 5}, "hidden=12 cells must be a multiple of cells_per_block=5"),
    (TanhRNN, rnn_cfg, {"normaliser": "tokens"}, "unknown normaliser 'tokens'"),
])
def test_definitions_refuse_bad_configs_in_one_line(cls, cfg, change, message) -> None:
    values = vars(cfg("sparse")) | change
    with pytest.raises(ValueError, match=message):
        cls(SPEC, SimpleNamespace(**values))

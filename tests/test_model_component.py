"""Models as a component kind: model=<name>, typed model.<key> options, backend pairing, and checkpoints
written before models were components (named by ``model.kind``) resuming bit for bit."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import numpy as np
import pytest

from hfcore.checkpoint import load_checkpoint
from hfcore.kit.definitions import upgrade_saved_config
from tests.helpers import recorded_kernel_env
from tests.test_cli import hf_train

ROOT = Path(__file__).resolve().parents[1]
MAIN_CHECKPOINTS = ROOT / "tests" / "data" / "checkpoints-6ac9f66"
"""Checkpoints written by main at 6ac9f66 (before this change) after 2 iterations; see ``RUNS``."""
GRU_CHECKPOINT = ROOT / "tests" / "data" / "checkpoints-b1aabf2" / "gru.npz"
"""A GRU checkpoint written at b1aabf2, before the GRU had ``model.damped_signals``, after 2 iterations."""

RUNS = {
    # name: (the command's settings, sha256[:16] of theta after 4 uninterrupted iterations with main's code)
    "rnn": (["hf=small", "task.T=10", "model.hidden=6", "task.test_size=50", "hf.gradient_batch=40",
             "hf.curvature_batch=20"], "fb669343c89317e8"),
    "lstm": (["model=lstm", "optimizer=sgd", "optimizer.batch_size=10", "task.T=10", "model.hidden=4",
              "model.cells_per_block=2", "task.test_size=50"], "74fa29b2fb70a14e"),
    "gru": (["model=gru", "hf=small", "task.T=10", "model.hidden=4", "task.test_size=50", "hf.gradient_batch=40",
             "hf.curvature_batch=20"], "d9edc94a69bdfbf9"),  # GRU_CHECKPOINT, with b1aabf2's code
}
TOY_PLUGIN = (f"sys.path.insert(0, {str(ROOT)!r})\nimport hfcore.cli, hfcore.registry, tests.toy_model\n"
              "_load = hfcore.registry.load_plugins\n"
              "hfcore.cli.load_plugins = lambda **kw: _load(extra_plugins=[('toy', tests.toy_model)], **kw)\n")
TOY_RUN = ["model=leaky_rnn", "task.T=10", "hf.gradient_batch=60", "hf.curvature_batch=20", "task.test_size=50",
           "solver.max_iters=10", "progress=false", "tracking=none"]


def test_legacy_model_sections_are_upgraded() -> None:
    old = {"kind": "rnn", "hidden": 6, "l2": 2e-05, "init": "sparse", "num_connections": 15, "init_scale": 1.0,
           "input_scale": 0.25, "normaliser": "targets", "output": None, "cells_per_block": None}
    extra = {"config": {"seed": 0, "model": old}, "mlflow_run_id": "x"}
    new = upgrade_saved_config(extra)
    assert new["config"]["model"] == {"name": "rnn_tanh", **{k: v for k, v in old.items()
                                                             if k not in ("kind", "cells_per_block")}}
    assert new["mlflow_run_id"] == "x" and extra["config"]["model"] is old  # the input is left alone
    assert upgrade_saved_config(new) == new  # today's form is unchanged
    _, linear = load_checkpoint(MAIN_CHECKPOINTS / "linear.npz")
    assert linear["config"]["model"] == {"name": "linear", "l2": 0.0, "init_scale": 1.0, "normaliser": "targets",
                                         "output": None}


@pytest.mark.parametrize("name", sorted(RUNS))
def test_checkpoint_written_before_models_were_components_resumes_bit_for_bit(tmp_path, name) -> None:
    """Also a GRU's written before model.damped_signals: it resumes with the signals it damped."""
    settings, want = RUNS[name]
    shutil.copy(GRU_CHECKPOINT if name == "gru" else MAIN_CHECKPOINTS / f"{name}.npz", tmp_path / "old.npz")
    out = hf_train(tmp_path, *settings, "hf.max_iterations=4", "progress=false", "tracking=none",
                   "checkpoint.dir=resumed", f"checkpoint.resume={tmp_path / 'old.npz'}", env=recorded_kernel_env())
    assert out.returncode == 0, out.stderr[-2000:]
    theta = np.load(tmp_path / "resumed" / "state.npz")["theta"]
    assert hashlib.sha256(theta.tobytes()).hexdigest()[:16] == want


def test_resume_of_a_legacy_checkpoint_with_other_model_settings_is_refused(tmp_path) -> None:
    settings, _ = RUNS["lstm"]
    out = hf_train(tmp_path, *[s for s in settings if not s.startswith("model.cells")], "model.cells_per_block=4",
                   "tracking=none", f"checkpoint.resume={MAIN_CHECKPOINTS / 'lstm.npz'}")
    assert out.returncode == 2 and "different model settings (model.cells_per_block)" in out.stderr


def test_plugin_model_trains_on_autograd_and_its_options_are_checked_on_resume(tmp_path) -> None:
    first = hf_train(tmp_path, *TOY_RUN, "backend=autograd", "hf.max_iterations=3", "checkpoint.dir=ck",
                     prelude=TOY_PLUGIN)
    assert first.returncode == 0, first.stderr[-2000:]
    resume = f"checkpoint.resume={tmp_path / 'ck' / 'state.npz'}"
    other = hf_train(tmp_path, *TOY_RUN, "backend=autograd", "model.leak=0.25", resume, prelude=TOY_PLUGIN)
    assert other.returncode == 2 and "different model settings (model.leak)" in other.stderr
    typed = hf_train(tmp_path, *TOY_RUN, "backend=autograd", "model.leak=abc", prelude=TOY_PLUGIN)
    assert typed.returncode == 2 and "bad value for model.leak" in typed.stderr


def test_numpy_backend_names_model_and_backends_for_a_plugin_model(tmp_path) -> None:
    out = hf_train(tmp_path, *TOY_RUN, prelude=TOY_PLUGIN)
    assert out.returncode == 2
    (line,) = [x for x in out.stderr.splitlines() if x.strip()]
    assert line == ("hf-train: error: backend 'numpy' has hand-written derivatives for rnn_tanh, linear, lstm, gru "
                    "only; model 'leaky_rnn' needs backend=autograd or backend=torch")


def test_help_lists_a_plugin_models_options(tmp_path) -> None:
    out = hf_train(tmp_path, "model=leaky_rnn", "--help", prelude=TOY_PLUGIN)
    assert out.returncode == 0, out.stderr[-2000:]
    groups = dict(line.split(": ", 1) for line in out.stdout.splitlines() if ": " in line and not line.startswith(" "))
    # A subset: other installed plugins (e.g. the example plugin's mgu) may add models of their own.
    assert {"leaky_rnn", "linear", "lstm", "gru", "rnn_tanh"} <= set(groups["model"].split(", "))
    model = out.stdout.split("\nmodel:\n", 1)[1].split("\ntask:", 1)[0]
    assert "  name: leaky_rnn" in model and "  leak: 0.5" in model and "  damp_weight: 1.0" in model


@pytest.mark.parametrize("name, extra, damped, added", [
    ("lstm", {"cells_per_block": 2}, ["cell_inputs", "gates"], {"forget_bias": 1.0}),
    ("lstm", {"cells_per_block": 2, "forget_bias": 3.0}, ["cell_inputs", "gates"], {}),
    ("gru", {"update_bias": -1.0}, ["update", "reset", "candidate"], {})])
def test_gated_sections_saved_before_damped_signals_get_the_set_they_damped(name, extra, damped, added) -> None:
    """An LSTM or GRU checkpoint written before model.damped_signals existed resumes with the set it was trained
    with; an LSTM's written before model.forget_bias existed with the +1 its forget gates started at."""
    saved = {"name": name, "hidden": 4, "l2": 2e-05, "init": "dense", "num_connections": 15, "init_scale": 1.0,
             "input_scale": 1.0, "normaliser": "targets", "output": None} | extra
    new = upgrade_saved_config({"config": {"model": saved}})
    assert new["config"]["model"] == saved | {"damped_signals": damped} | added
    assert upgrade_saved_config(new) == new
    if name == "lstm":  # configs from before models were components had no GRU
        legacy = upgrade_saved_config({"config": {"model": {"kind": "lstm"} | {k: v for k, v in saved.items()
                                                                              if k != "name"}}})
        assert legacy == new
    today = {"config": {"model": saved | {"damped_signals": ["hidden"]} | added}}
    assert upgrade_saved_config(today) is today

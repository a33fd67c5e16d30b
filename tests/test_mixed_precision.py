"""Gv products in float32 while lambda is large (``hf.float32_gv_above_lambda``, :mod:`hfcore.mixed_precision`).

* The float32 twin's product, in the float64 model's vectors, equals the float64 product to float32
  accuracy on every backend (and is not the float64 product itself).
* The rule switches exactly at the threshold, and HF takes its products from the twin only then.
* hf-train with the key runs, lowers the loss, counts the float32 products, resumes bit-identically
  across the switch, works with batch shards, and refuses the settings where the key means nothing.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from hfcore.cg import ConjugateGradient
from hfcore.config import CGConfig, DampingConfig, HFConfig, RNNConfig
from hfcore.damping import LevenbergMarquardt
from hfcore.hf import HessianFree
from hfcore.interfaces import HasLowPrecisionCurvature
from hfcore.mixed_precision import MixedPrecisionModel, use_float32_gv
from hfcore.parallel import SerialComm, ShardedModel, ordered_sum
from hfcore.registry import load_plugins
from hfcore.training import advance, initial_state, step_metrics
from tests.extras import PARTS
from tests.helpers import make_task
from tests.test_cli import TINY, hf_train
from tests.test_parallel import TINY as PARALLEL_TINY
from tests.test_parallel import assert_same_trajectory, launch, needs_mpi, state

_, REGISTRY = load_plugins()
BACKENDS = [pytest.param(name, marks=pytest.mark.extra(name)) if name in PARTS else name
            for name in REGISTRY.names("backend")]


def build(name: str, spec: Any, cfg: Any, dtype: str) -> Any:
    """Backend ``name``'s model in ``dtype``; skip when its extra is missing."""
    component = REGISTRY.get("backend", name)
    config = component.config
    backend_cfg = (dataclasses.replace(config, dtype=dtype) if dataclasses.is_dataclass(config)
                   else SimpleNamespace(name=name, dtype=dtype))
    try:
        return component.factory(REGISTRY.get("model", cfg.name).factory(spec, cfg), cfg, backend_cfg)
    except ImportError as exc:
        pytest.skip(f"backend {name!r} unavailable: {exc}")


def mixed(name: str = "numpy", hidden: int = 6) -> tuple[MixedPrecisionModel, Any]:
    task = make_task("addition", T=12)
    cfg = RNNConfig(hidden=hidden, init="dense", init_scale=1.2)
    return MixedPrecisionModel(build(name, task.spec, cfg, "float64"), build(name, task.spec, cfg, "float32")), task


def rel(got: Any, want: Any) -> float:
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    return float(np.linalg.norm(got - want) / np.linalg.norm(want))


# --------------------------------------------------------------------------- the product
@pytest.mark.parametrize("backend", BACKENDS)
def test_float32_twin_product_equals_float64_product_to_float32_accuracy(backend):
    model, task = mixed(backend)
    rng = np.random.default_rng(5)
    theta = model.from_numpy(np.asarray(model.to_numpy(model.init_params(rng))) + 0.1 * rng.standard_normal(
        model.n_params))
    batch = task.sample(rng, 30)
    assert isinstance(model, HasLowPrecisionCurvature)
    exact, low = model.curvature(theta, batch), model.low_precision_curvature(theta, batch)
    for weight in (0.0, 0.5):
        v = model.from_numpy(rng.standard_normal(model.n_params))
        want = np.asarray(model.to_numpy(exact.gv(v, weight)))
        got = low.gv(v, weight)
        assert np.asarray(model.to_numpy(got)).dtype == np.float64  # the float64 model's vector, as CG needs
        assert type(got) is type(exact.gv(v, weight))
        error = rel(model.to_numpy(got), want)
        assert 1e-9 < error < 1e-5, f"structural weight {weight}: relative error {error:.2e}"  # float32, not 64


def test_the_twin_is_a_model_that_delegates_everything_else():
    model, task = mixed()
    rng = np.random.default_rng(1)
    theta = model.init_params(rng)
    batch = task.sample(rng, 8)
    assert theta.dtype == np.float64 and model.dtype == np.float64  # dtype: the float64 model's, by delegation
    f, g = model.loss_and_grad(theta, batch)
    f64, g64 = model.model.loss_and_grad(theta, batch)
    assert f == f64 and np.array_equal(g, g64)
    v = rng.standard_normal(model.n_params)
    assert np.array_equal(model.curvature(theta, batch).gv(v, 0.3), model.model.curvature(theta, batch).gv(v, 0.3))
    assert model.loss_and_predict(theta, batch)[0] == model.model.loss_and_predict(theta, batch)[0]


def test_a_twin_of_another_size_is_refused():
    model, _ = mixed(hidden=6)
    other, _ = mixed(hidden=7)
    with pytest.raises(ValueError, match="parameters"):
        MixedPrecisionModel(model.model, other.low)


# --------------------------------------------------------------------------- the rule
def test_rule_switches_exactly_at_the_threshold():
    assert use_float32_gv(0.01, 0.01)
    assert use_float32_gv(0.01, 0.5)
    assert not use_float32_gv(0.01, math.nextafter(0.01, 0.0))
    assert not use_float32_gv(None, 1e30)


def hf(threshold: float | None, max_iters: int = 10) -> HessianFree:
    return HessianFree(LevenbergMarquardt(DampingConfig(lambda0=0.01)),
                       ConjugateGradient(CGConfig(max_iters=max_iters)),
                       HFConfig(gradient_batch=60, curvature_batch=20, float32_gv_above_lambda=threshold))


@pytest.mark.parametrize("lam, float32", [(0.01, True), (math.nextafter(0.01, 0.0), False), (0.3, True)])
def test_hf_step_takes_float32_products_while_lambda_is_at_least_the_threshold(lam, float32):
    model, task = mixed()
    opt = hf(0.01)
    state = initial_state(model, 0, opt)
    state = state.evolve(optimizer=dataclasses.replace(state.optimizer, lam=lam))
    after, info = advance(state, model, task, opt)
    c = info.counters
    assert c.gv_products > 0 and c.gv_float32 == (c.gv_products if float32 else 0)
    # The same step with every product in float64: the same draws, another theta only when float32 ran.
    plain, _ = advance(state, model, task, hf(None))
    assert np.array_equal(after.theta, plain.theta) != float32
    assert ("cost.gv_float32" in step_metrics(info)) == float32


def test_threshold_without_a_float32_twin_says_what_is_missing():
    model, task = mixed()
    opt = hf(0.001)
    with pytest.raises(TypeError, match="low_precision_curvature"):
        advance(initial_state(model.model, 0, opt), model.model, task, opt)


def test_non_positive_threshold_is_refused_by_hf():
    for bad in (0.0, -1.0, math.inf, math.nan):
        with pytest.raises(ValueError, match="hf.float32_gv_above_lambda must be a positive number"):
            hf(bad)


def test_checkpoint_stores_the_float32_count_only_when_there_is_one(tmp_path):
    """A run without float32 products writes the counters it wrote before the count existed (older hfcore reads
    them); a run with some keeps the count across a resume."""
    from hfcore.checkpoint import load_checkpoint, save_checkpoint
    from hfcore.types import Counters

    model, _ = mixed()
    state = initial_state(model, 0, hf(0.01))
    for count in (0, 7):
        state = state.evolve(counters=Counters(gv_products=9, gv_float32=count))
        path = save_checkpoint(tmp_path / f"{count}.npz", state)
        stored = json.loads(str(np.load(path)["meta"]))["counters"]
        assert ("gv_float32" in stored) == bool(count)
        assert load_checkpoint(path)[0].counters == state.counters


# --------------------------------------------------------------------------- data parallel
def test_shards_cut_the_twin_products_alike():
    model, task = mixed()
    rng = np.random.default_rng(2)
    theta = model.init_params(rng)
    batch = task.sample(rng, 23)
    sharded = ShardedModel(model, SerialComm(), 4)
    v = rng.standard_normal(model.n_params)
    got = sharded.low_precision_curvature(theta, batch).gv(v, 0.2)
    plan = sharded.plan(batch)
    parts = [plan.weights[s] * model.low_precision_curvature(theta, batch.subset(*plan.bounds[s])).gv(v, 0.2)
             for s in plan.mine]
    assert np.array_equal(got, ordered_sum(np.array(parts)))  # the same shard sum as the float64 products'
    assert rel(got, model.curvature(theta, batch).gv(v, 0.2)) < 1e-5
    with pytest.raises(TypeError, match="low_precision_curvature"):  # a sharded model without a twin
        ShardedModel(model.model, SerialComm(), 4).low_precision_curvature(theta, batch)


# --------------------------------------------------------------------------- hf-train
LONGER = [a for a in TINY if not a.startswith("hf.max_iterations")] + ["tracking=none", "hf.stop_on_success=false"]


def summary(tmp_path: Path, run: str) -> dict:
    return json.loads((tmp_path / run / "summary.json").read_text())


def test_training_with_float32_products_lowers_the_loss():
    model, task = mixed(hidden=8)
    opt = hf(1e-4, max_iters=30)
    state = initial_state(model, 0, opt)
    fixed = task.sample(np.random.default_rng(99), 300)
    before = model.loss(state.theta, fixed)
    for _ in range(5):
        state, info = advance(state, model, task, opt)
    assert model.loss(state.theta, fixed) < 0.9 * before
    assert info.counters.gv_float32 == info.counters.gv_products > 0  # lambda stayed above 1e-4


def test_hf_train_with_float32_products_counts_them(tmp_path):
    out = hf_train(tmp_path, *LONGER, "hf.max_iterations=3", "hf.float32_gv_above_lambda=1e-4", "hydra.run.dir=run")
    assert out.returncode == 0, out.stderr[-3000:]
    s = summary(tmp_path, "run")
    assert s["gv_float32"] == s["gv_products"] > 0  # lambda stayed above 1e-4 throughout
    assert f"gv={s['gv_products']} gv_float32={s['gv_float32']} " in out.stdout


def test_hf_train_without_the_key_reports_no_float32_products(tmp_path):
    out = hf_train(tmp_path, *LONGER, "hf.max_iterations=1", "hydra.run.dir=run")
    assert out.returncode == 0, out.stderr[-3000:]
    assert summary(tmp_path, "run")["gv_float32"] == 0 and "gv_float32" not in out.stdout


def checkpoint(tmp_path: Path, name: str) -> tuple[dict, Any]:
    data = np.load(tmp_path / name / "state.npz")
    return json.loads(str(data["meta"])), data


def test_resume_across_the_switch_continues_bit_identically(tmp_path):
    """lambda starts at 0.01 (addition's IS11 value); with threshold 0.01 iteration 1 is float32 and, once a
    good step lowers lambda, later ones are float64. The resumed half reaches the straight run's bits."""
    common = [*LONGER, "hf.float32_gv_above_lambda=0.01"]
    straight = hf_train(tmp_path, *common, "hf.max_iterations=4", "checkpoint.dir=straight")
    first = hf_train(tmp_path, *common, "hf.max_iterations=1", "checkpoint.dir=part")
    assert straight.returncode == 0 and first.returncode == 0, straight.stderr[-2000:] + first.stderr[-2000:]
    second = hf_train(tmp_path, *common, "hf.max_iterations=4", "checkpoint.dir=resumed",
                      f"checkpoint.resume={tmp_path / 'part' / 'state.npz'}")
    assert second.returncode == 0, second.stderr[-3000:]
    (meta_a, a), (meta_b, b), (meta_p, _) = (checkpoint(tmp_path, n) for n in ("straight", "resumed", "part"))
    assert np.array_equal(a["theta"], b["theta"]) and np.array_equal(a["optimizer.warm_start"],
                                                                     b["optimizer.warm_start"])
    for key in ("iteration", "optimizer", "data_rng", "counters", "test_error"):
        assert meta_a[key] == meta_b[key], key
    # The switch happened: every product of iteration 1 in float32, some later ones in float64.
    part, total = meta_p["counters"], meta_a["counters"]
    assert part["gv_float32"] == part["gv_products"] > 0
    assert total["gv_float32"] < total["gv_products"]


def test_hf_train_with_shards_and_float32_products(tmp_path):
    out = hf_train(tmp_path, *LONGER, "hf.max_iterations=2", "parallel.shards=3", "hf.float32_gv_above_lambda=1e-4",
                   "hydra.run.dir=run")
    assert out.returncode == 0, out.stderr[-3000:]
    s = summary(tmp_path, "run")
    assert s["gv_float32"] == s["gv_products"] > 0


@needs_mpi
def test_two_mpi_ranks_with_float32_products_match_one_process_bit_for_bit(tmp_path):
    """The twin's products are cut into the same shards as the float64 ones, so the rank count still does
    not change the trajectory."""
    args = [*PARALLEL_TINY, "hf.max_iterations=3", "parallel.shards=4", "tracking=none", "hydra.run.dir=run",
            "hf.float32_gv_above_lambda=0.01"]
    serial, mpi = tmp_path / "serial", tmp_path / "mpi"
    serial.mkdir(), mpi.mkdir()
    one, two = launch(serial, "serial", *args), launch(mpi, "mpi", *args)
    assert one.returncode == 0 and two.returncode == 0, one.stderr[-2000:] + two.stderr[-2000:]
    reference, got = state(serial, "run"), state(mpi, "run")
    assert got["ranks"] == 2 and reference["counters"]["gv_float32"] > 0
    assert_same_trajectory(got, reference)


@pytest.mark.parametrize("args, message", [
    (["hf.float32_gv_above_lambda=0"], "hf.float32_gv_above_lambda must be a positive number or null, got 0.0"),
    (["hf.float32_gv_above_lambda=-0.5"], "must be a positive number or null, got -0.5"),
    (["hf.float32_gv_above_lambda=0.01", "backend.dtype=float32"], "but backend.dtype=float32"),
    (["hf.float32_gv_above_lambda=0.01", "optimizer=sgd"], "applies to optimizer=hf only"),
])
def test_settings_where_the_key_means_nothing_are_refused_in_one_line(tmp_path, args, message):
    out = hf_train(tmp_path, *TINY, "tracking=none", *args)
    assert out.returncode == 2, out.stderr[-3000:]
    (line,) = out.stderr.splitlines()
    assert line.startswith("hf-train: error: ") and message in line, line
    assert not (tmp_path / "outputs").exists()

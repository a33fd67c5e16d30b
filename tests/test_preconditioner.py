"""HF's diagonal CG preconditioner (Martens 2010 sec. 4.7): the empirical Fisher diagonal, PCG, the hf keys."""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pytest

from hfcore import ConjugateGradient, HessianFree, LevenbergMarquardt
from hfcore.config import CGConfig, DampingConfig, HFConfig
from hfcore.hf import hf_step
from hfcore.interfaces import HasGradientSquares
from hfcore.kit.batches import batch_norm
from hfcore.parallel import SerialComm, ShardedModel
from hfcore.types import Batch, ModelSpec
from tests.helpers import make_model, make_task
from tests.test_cg import spd
from tests.test_cli import TINY, assert_resume_continues_exactly, hf_train, runs

PRECOND = "hf.preconditioner=empirical_fisher"


def random_batch(rng: np.random.Generator, output: str, T: int = 6, B: int = 9, n_in: int = 3,
                 n_out: int = 2) -> Batch:
    """Variable lengths, a sparse mask inside them, targets valid for ``output``."""
    lengths = rng.integers(1, T + 1, B)
    valid = (np.arange(T)[:, None] < lengths[None, :]).astype(float)
    mask = valid * (rng.random((T, B)) < 0.6)
    inputs = rng.standard_normal((T, B, n_in)) * valid[..., None]
    if output == "linear":
        targets = rng.standard_normal((T, B, n_out))
    elif output == "logistic":
        targets = rng.random((T, B, n_out))
    else:
        targets = np.eye(n_out)[rng.integers(0, n_out, (T, B))]
    return Batch(inputs, targets, mask, lengths)


def looped_squares(model, theta, batch: Batch, normaliser: str) -> np.ndarray:
    """``N sum_i (grad c_i)**2`` from one ``loss_and_grad`` per single-sequence batch (model with l2 = 0)."""
    N = batch_norm(batch, normaliser)
    total = np.zeros(model.n_params)
    for i in range(batch.size):
        one = batch.subset(i, i + 1)
        _, g = model.loss_and_grad(theta, one)  # sequence i's loss over its own normaliser
        total += (g * batch_norm(one, normaliser) / N) ** 2
    return batch.size * total


@pytest.mark.parametrize("name", ["rnn_tanh", "linear"])
@pytest.mark.parametrize("normaliser", ["targets", "sequences"])
@pytest.mark.parametrize("output", ["linear", "logistic", "softmax"])
def test_squares_are_the_mean_squared_per_sequence_gradient(name, normaliser, output):
    rng = np.random.default_rng(7)
    spec = ModelSpec(n_in=3, n_out=2, output=output)
    model = make_model(spec, name=name, hidden=5, l2=0.0, normaliser=normaliser, init="dense")
    model.chunk_size = 4  # several chunks, so the per-chunk accumulation is covered
    theta = model.init_params(rng) + 0.3 * rng.standard_normal(model.n_params)
    batch = random_batch(rng, output)
    assert isinstance(model, HasGradientSquares)
    f, g, sq = model.loss_grad_and_squares(theta, batch)
    f_ref, g_ref = model.loss_and_grad(theta, batch)
    assert f == f_ref and np.array_equal(g, g_ref)
    np.testing.assert_allclose(sq, looped_squares(model, theta, batch, normaliser), rtol=1e-12, atol=1e-300)
    assert (sq > 0).any()


def test_squares_leave_out_the_l2_term_and_group_sequences():
    rng = np.random.default_rng(8)
    spec = ModelSpec(n_in=3, n_out=2, output="linear")
    plain = make_model(spec, hidden=4, l2=0.0, init="dense")
    with_l2 = make_model(spec, hidden=4, l2=0.5, init="dense")
    theta = plain.init_params(rng)
    batch = random_batch(rng, "linear", B=11)
    _, _, sq = with_l2.loss_grad_and_squares(theta, batch)
    np.testing.assert_allclose(sq, plain.loss_grad_and_squares(theta, batch)[2], rtol=1e-13)
    import plugins.hfcore_numpy.squares as squares  # groups of one sequence: the same sums

    old, squares.GROUP_NUMBERS = squares.GROUP_NUMBERS, 1
    try:
        np.testing.assert_allclose(plain.loss_grad_and_squares(theta, batch)[2], sq, rtol=1e-13)
    finally:
        squares.GROUP_NUMBERS = old


@pytest.mark.parametrize("normaliser", ["targets", "sequences"])
@pytest.mark.parametrize("shards", [1, 2, 5, 23])
def test_sharded_squares_equal_the_whole_batch(normaliser, shards):
    task = make_task("addition", T=12)  # variable lengths: unequal shard weights
    model = make_model(task.spec, hidden=7, normaliser=normaliser)
    rng = np.random.default_rng(3)
    theta = model.init_params(rng)
    batch = task.sample(rng, 23)
    f, g, sq = model.loss_grad_and_squares(theta, batch)
    fs, gs, sqs = ShardedModel(model, SerialComm(), shards, normaliser).loss_grad_and_squares(theta, batch)
    assert fs == pytest.approx(f, rel=1e-13)
    np.testing.assert_allclose(gs, g, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(sqs, sq, rtol=1e-12, atol=1e-300)


# ---------------------------------------------------------------- PCG

def test_pcg_with_unit_diagonal_is_plain_cg():
    A = spd(30, 0, cond=1e4)
    b = np.random.default_rng(1).standard_normal(30)
    x0 = np.random.default_rng(2).standard_normal(30)
    cg = ConjugateGradient(CGConfig(max_iters=40))
    plain, pre = cg.solve(lambda v: A @ v, b, x0), cg.solve(lambda v: A @ v, b, x0, preconditioner=np.ones(30))
    assert np.array_equal(plain.x, pre.x) and plain.phis == pre.phis and plain.reason == pre.reason
    assert plain.iterate_indices == pre.iterate_indices


def test_pcg_needs_fewer_iterations_on_a_badly_scaled_system():
    n = 60
    scale = np.geomspace(1e-3, 1e3, n)
    A = np.sqrt(scale)[:, None] * spd(n, 3, cond=10.0) * np.sqrt(scale)[None, :]  # cond ~ 2e6, from the diagonal
    b = np.random.default_rng(4).standard_normal(n)
    cg = ConjugateGradient(CGConfig(max_iters=2000, progress_tol=1e-15, residual_tol=1e-7))
    plain = cg.solve(lambda v: A @ v, b, None)
    pre = cg.solve(lambda v: A @ v, b, None, preconditioner=np.diag(A).copy())
    exact = np.linalg.solve(A, b)
    for res in (plain, pre):
        assert res.reason == "residual"
        np.testing.assert_allclose(res.x, exact, rtol=1e-5, atol=1e-6)
        # phi stays A's model value: 0.5 x'Ax - b'x
        assert res.phis[-1] == pytest.approx(0.5 * res.x @ A @ res.x - b @ res.x, rel=1e-9)
    assert pre.iterations < plain.iterations / 3, (pre.iterations, plain.iterations)


# ---------------------------------------------------------------- HF with the preconditioner

class RecordingSolver(ConjugateGradient):
    def solve(self, matvec, b, x0, preconditioner=None):
        self.seen.append(preconditioner)
        return super().solve(matvec, b, x0, preconditioner=preconditioner)


def test_hf_step_passes_the_damped_fisher_diagonal_and_lowers_the_loss():
    task = make_task("addition", T=10, test_size=50)
    model = make_model(task.spec, hidden=8)
    solver = RecordingSolver(CGConfig(max_iters=10))
    object.__setattr__(solver, "seen", [])
    config = HFConfig(gradient_batch=100, curvature_batch=20, preconditioner="empirical_fisher",
                      preconditioner_power=0.75)
    hf = HessianFree(LevenbergMarquardt(DampingConfig(lambda0=0.01, mu=0.03)), solver, config)
    assert hf.needs_gradient_squares and not dataclasses.replace(hf, config=HFConfig()).needs_gradient_squares
    theta = model.init_params(np.random.default_rng(0))
    state, rng = hf.init(theta), np.random.default_rng(1)
    probe = task.sample(np.random.default_rng(2), 500)
    start = model.loss(theta, probe)
    for it in range(1, 6):
        lam = state.lam
        theta, state, info = hf_step(hf, state, theta, model, task, rng, it)
        assert info.cg_iterations > 0
        assert solver.seen[-1] is not None and solver.seen[-1].shape == (model.n_params,)
        assert np.all(solver.seen[-1] >= lam ** 0.75 * (1 - 1e-12))
    assert model.loss(theta, probe) < start


def test_hf_step_preconditioner_is_exactly_squares_plus_lambda_to_the_power():
    task = make_task("addition", T=10, test_size=50)
    model = make_model(task.spec, hidden=8)
    solver = RecordingSolver(CGConfig(max_iters=5))
    object.__setattr__(solver, "seen", [])
    config = HFConfig(gradient_batch=60, curvature_batch=20, preconditioner="empirical_fisher",
                      preconditioner_power=0.5)
    hf = HessianFree(LevenbergMarquardt(DampingConfig(lambda0=0.3, mu=0.0)), solver, config)
    theta = model.init_params(np.random.default_rng(0))
    grad_batch = task.sample(np.random.default_rng(1), 60)
    hf_step(hf, hf.init(theta), theta, model, task, np.random.default_rng(1), 1)
    _, _, squares = model.loss_grad_and_squares(theta, grad_batch)
    np.testing.assert_array_equal(solver.seen[0], (squares + 0.3) ** 0.5)


def test_default_hf_step_passes_no_preconditioner():
    task = make_task("addition", T=10, test_size=50)
    model = make_model(task.spec, hidden=8)
    solver = RecordingSolver(CGConfig(max_iters=5))
    object.__setattr__(solver, "seen", [])
    hf = HessianFree(LevenbergMarquardt(DampingConfig(lambda0=0.3, mu=0.0)), solver,
                     HFConfig(gradient_batch=60, curvature_batch=20))
    theta = model.init_params(np.random.default_rng(0))
    hf_step(hf, hf.init(theta), theta, model, task, np.random.default_rng(1), 1)
    assert solver.seen == [None]


@pytest.mark.parametrize("key, value, message", [
    ("preconditioner", "jacobi", "hf.preconditioner must be one of ('none', 'empirical_fisher'), got 'jacobi'"),
    ("preconditioner_power", 1.5, "hf.preconditioner_power must be in [0, 1], got 1.5"),
])
def test_bad_preconditioner_settings_are_refused(key, value, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        HessianFree(LevenbergMarquardt(DampingConfig(lambda0=1.0)), ConjugateGradient(), HFConfig(**{key: value}))


# ---------------------------------------------------------------- hf-train

def test_cli_run_with_the_preconditioner_lowers_the_loss(tmp_path):
    out = hf_train(tmp_path, *TINY, PRECOND, "hf.max_iterations=4", "hf.stop_on_success=false")
    assert out.returncode == 0, out.stderr[-2000:]
    client, (run,) = runs(tmp_path)
    assert run.data.params["hf.preconditioner"] == "empirical_fisher"
    losses = [m.value for m in sorted(client.get_metric_history(run.info.run_id, "train.loss_after"),
                                      key=lambda m: m.step)]
    cg = client.get_metric_history(run.info.run_id, "cg.iters")
    assert len(losses) == 4 and losses[-1] < losses[0] and all(m.value > 0 for m in cg)


def test_cli_refuses_the_preconditioner_without_the_capability(tmp_path):
    pytest.importorskip("autograd")
    out = hf_train(tmp_path, *TINY, PRECOND, "backend=autograd")
    assert out.returncode == 2, out.stderr[-2000:]
    (line,) = [x for x in out.stderr.splitlines() if x.strip()]
    assert line.startswith("hf-train: error: hf.preconditioner=empirical_fisher needs per-sequence gradient squares")
    assert "model 'rnn_tanh' on backend 'autograd'" in line
    assert "model=rnn_tanh and model=linear on backend=numpy" in line
    assert not (tmp_path / "mlflow.db").exists() and not (tmp_path / "outputs").exists()


def test_cli_resume_with_the_preconditioner_continues_exactly(tmp_path):
    theta = assert_resume_continues_exactly(tmp_path, PRECOND)
    plain = hf_train(tmp_path, *TINY, "tracking=none", "hf.stop_on_success=false", "hf.max_iterations=4",
                     "checkpoint.dir=plain")
    assert plain.returncode == 0
    assert not np.array_equal(np.load(tmp_path / "plain" / "state.npz")["theta"], theta)  # it did act


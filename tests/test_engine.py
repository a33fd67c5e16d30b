"""The HF iteration: exactness on a quadratic, bit-identical resume, NaN handling, accounting."""

import math
import time
from dataclasses import dataclass, field, replace

import numpy as np
import pytest

from hfcore.cg import ConjugateGradient
from hfcore.checkpoint import load_checkpoint, save_checkpoint
from hfcore.config import CGConfig, DampingConfig, HFConfig, SGDConfig, StopConfig, TikhonovConfig
from hfcore.damping import LevenbergMarquardt
from hfcore.hf import HessianFree
from hfcore.sgd import MomentumSGD
from hfcore.training import StopRule, advance, initial_state, train
from tests.helpers import make_model, make_task


def hf_step(state, model, task, damping, solver, settings):
    """One HF iteration of the run ``state`` (the loop's :func:`advance` with :class:`HessianFree`)."""
    return advance(state, model, task, HessianFree(damping, solver, settings))


def hf_start(model, seed, damping):
    """A fresh run whose HF state starts at ``damping``'s lambda0."""
    return initial_state(model, seed, HessianFree(damping, ConjugateGradient()))


def quadratic_setup(l2=2e-5):
    task = make_task("quadratic")
    model = make_model(task.spec, name="linear", hidden=0, l2=l2, init="dense")
    n = 64
    settings = HFConfig(gradient_batch=n, curvature_batch=n, fresh_batch=n)
    return task, model, settings


def test_one_step_lands_on_quadratic_minimiser():
    task, model, settings = quadratic_setup()
    state = hf_start(model, 0, LevenbergMarquardt(TikhonovConfig(lambda0=1e-12)))
    solver = ConjugateGradient(CGConfig(max_iters=500, progress_tol=1e-15, residual_tol=1e-13))
    state, info = hf_step(state, model, task, LevenbergMarquardt(TikhonovConfig(lambda0=1e-12)), solver, settings)
    assert info.accepted and info.step_size == 1.0
    np.testing.assert_allclose(state.theta, task.minimiser(2e-5), rtol=1e-7, atol=1e-9)
    # On an exact quadratic with lambda -> 0 the model predicts the decrease exactly: rho = 1.
    assert info.rho == pytest.approx(1.0, abs=1e-6)


def test_large_lambda_gives_short_step_and_lm_lowers_it_on_good_rho():
    task, model, settings = quadratic_setup()
    damping = LevenbergMarquardt(TikhonovConfig(lambda0=100.0))
    state = hf_start(model, 0, damping)
    new, info = hf_step(state, model, task, damping, ConjugateGradient(CGConfig(max_iters=50)), settings)
    assert info.accepted
    assert info.rho > 0.75 and new.optimizer.lam == pytest.approx(100.0 * 2 / 3)
    gap_before = np.linalg.norm(state.theta - task.minimiser(2e-5))
    gap_after = np.linalg.norm(new.theta - task.minimiser(2e-5))
    assert 0 < gap_after < gap_before


def addition_setup(T=10, hidden=8):
    task = make_task("addition", T=T, test_size=200)
    model = make_model(task.spec, hidden=hidden)
    settings = HFConfig(gradient_batch=60, curvature_batch=20)
    damping = LevenbergMarquardt(DampingConfig(lambda0=0.01, mu=0.03))
    solver = ConjugateGradient(CGConfig(max_iters=20))
    return task, model, settings, damping, solver


def run_steps(state, n, task, model, settings, damping, solver):
    infos = []
    for _ in range(n):
        state, info = hf_step(state, model, task, damping, solver, settings)
        infos.append(info)
    return state, infos


def test_resume_from_checkpoint_is_bit_identical(tmp_path):
    task, model, settings, damping, solver = addition_setup()
    start = hf_start(model, 3, damping)
    straight, _ = run_steps(start, 6, task, model, settings, damping, solver)

    half, _ = run_steps(start, 3, task, model, settings, damping, solver)
    path = save_checkpoint(tmp_path / "s.npz", half)
    loaded, _ = load_checkpoint(path)
    resumed, _ = run_steps(loaded, 3, task, model, settings, damping, solver)

    assert np.array_equal(resumed.theta, straight.theta)
    assert np.array_equal(resumed.optimizer.warm_start, straight.optimizer.warm_start)
    assert resumed.optimizer.lam == straight.optimizer.lam
    assert resumed.counters == straight.counters
    assert resumed.data_rng == straight.data_rng
    assert resumed.iteration == straight.iteration == 6


def test_each_iteration_draws_fresh_data():
    task, model, settings, damping, solver = addition_setup()
    s0 = hf_start(model, 0, damping)
    s1, _ = run_steps(s0, 1, task, model, settings, damping, solver)
    s2, _ = run_steps(s1, 1, task, model, settings, damping, solver)
    assert s0.data_rng != s1.data_rng != s2.data_rng


def test_seed_determines_trajectory():
    task, model, settings, damping, solver = addition_setup()
    a, _ = run_steps(hf_start(model, 1, damping), 2, task, model, settings, damping, solver)
    b, _ = run_steps(hf_start(model, 1, damping), 2, task, model, settings, damping, solver)
    c, _ = run_steps(hf_start(model, 2, damping), 2, task, model, settings, damping, solver)
    assert np.array_equal(a.theta, b.theta) and not np.array_equal(a.theta, c.theta)


def test_counters_in_paper_units():
    task, model, settings, damping, solver = addition_setup()
    state, (info,) = run_steps(hf_start(model, 0, damping), 1, task, model, settings, damping, solver)
    c = state.counters
    assert c.gradient_evals == 1 and c.sequences_gradient == 60
    assert c.gv_products >= info.cg_iterations  # one Gv per CG iteration (+1 for a warm start's residual)
    assert c.sequences_curvature == 20 * c.gv_products
    assert c.minibatches == pytest.approx((60 + 20 * c.gv_products) / 1000)
    assert c.forward_evals >= 2


class NaNAfter:
    """Wraps a model so that its gradient turns NaN on chosen calls."""

    def __init__(self, model, bad_calls):
        self.model, self.bad_calls, self.calls = model, set(bad_calls), 0

    def __getattr__(self, name):
        return getattr(self.model, name)

    def loss_and_grad(self, theta, batch):
        self.calls += 1
        f, g = self.model.loss_and_grad(theta, batch)
        return (f, g * np.nan) if self.calls in self.bad_calls else (f, g)


def test_nonfinite_gradient_rejects_step_and_raises_lambda():
    task, model, settings, damping, solver = addition_setup()
    wrapped = NaNAfter(model, bad_calls={2})
    state = hf_start(wrapped, 0, damping)
    s1, i1 = hf_step(state, wrapped, task, damping, solver, settings)
    s2, i2 = hf_step(s1, wrapped, task, damping, solver, settings)
    s3, i3 = hf_step(s2, wrapped, task, damping, solver, settings)
    assert i2.nonfinite and not i2.accepted
    assert np.array_equal(s2.theta, s1.theta)
    assert s2.optimizer.lam == pytest.approx(s1.optimizer.lam * 1.5)
    assert not i3.nonfinite  # the run goes on


class NaNGv:
    def __init__(self, model):
        self.model = model

    def __getattr__(self, name):
        return getattr(self.model, name)

    def curvature(self, theta, batch):
        inner = self.model.curvature(theta, batch)

        class Bad:
            def gv(self, v, structural_weight=0.0):
                return inner.gv(v, structural_weight) * np.inf

        return Bad()


def test_nonfinite_gv_rejects_step():
    task, model, settings, damping, solver = addition_setup()
    bad = NaNGv(model)
    state = hf_start(bad, 0, damping)
    new, info = hf_step(state, bad, task, damping, solver, settings)
    assert info.nonfinite and not info.accepted and info.cg_reason == "nonfinite"
    assert np.array_equal(new.theta, state.theta) and new.optimizer.lam == pytest.approx(0.015)


def test_undamped_rho_option_spends_one_more_gv():
    task, model, settings, damping, solver = addition_setup()
    state = hf_start(model, 0, damping)
    damped, i_d = hf_step(state, model, task, damping, solver, settings)
    undamped, i_u = hf_step(state, model, task, damping, solver, replace(settings, rho_damped=False))
    assert undamped.counters.gv_products == damped.counters.gv_products + 1
    assert np.array_equal(undamped.theta, damped.theta)  # rho only changes lambda, not this step
    assert i_u.rho != i_d.rho


def test_train_stops_on_success_and_budget():
    task, model, settings, damping, solver = addition_setup()
    state = hf_start(model, 0, damping)
    out = train(state, model, task, HessianFree(damping, solver, settings),
                StopRule(StopConfig(max_iterations=50, budget_minibatches=0.5)))
    assert out.counters.minibatches >= 0.5 and out.iteration < 50
    assert math.isfinite(out.test_error)


@dataclass(frozen=True)
class OneSecondSteps(MomentumSGD):
    """SGD whose every step counts as exactly one second, so the time budget is tested without a clock."""

    config: SGDConfig = field(default_factory=lambda: SGDConfig(batch_size=10))

    def step(self, *args):
        theta, state, info = super().step(*args)
        return theta, state, replace(info, wall_time=1.0)


class FakeRanks:
    """Rank 1 of 2, where rank 0's clock reads ``factor`` times this rank's."""

    name, rank, size = "fake", 1, 2

    def __init__(self, factor: float) -> None:
        self.factor = factor

    def allgather_rows(self, rows, counts):
        return np.concatenate([rows * self.factor, rows])


def test_wall_clock_budget_stops_the_run_and_evaluates_the_last_state():
    task, model, *_ = addition_setup()
    state = initial_state(model, 0, OneSecondSteps())
    stop = StopRule(StopConfig(max_iterations=100, budget_seconds=2.5, eval_every=1000))
    out = train(state, model, task, OneSecondSteps(), stop)
    assert out.iteration == 3 and out.elapsed >= 3.0  # 1 s, 2 s: go on; 3 s >= 2.5 s: stop
    assert math.isfinite(out.test_error)  # evaluated although eval_every was never reached
    assert train(out, model, task, OneSecondSteps(), stop).iteration == 3  # a resumed run out of time does nothing
    unlimited = train(state, model, task, OneSecondSteps(), StopRule(StopConfig(max_iterations=5, eval_every=1000)))
    assert unlimited.iteration == 5


def test_every_rank_follows_rank_zero_clock():
    task, model, *_ = addition_setup()
    state = initial_state(model, 0, OneSecondSteps())
    stop = StopRule(StopConfig(max_iterations=100, budget_seconds=50.0, eval_every=1000))
    out = train(state, model, task, OneSecondSteps(), stop, comm=FakeRanks(factor=100.0))
    assert out.iteration == 1 and out.elapsed < 50.0  # this rank's clock says 1 s, rank 0's says 100 s


class SleepingSteps(OneSecondSteps):
    """Steps that wait a little without computing, as a run does when other jobs hold the cores."""

    def step(self, *args):
        time.sleep(0.02)
        return super().step(*args)


def test_cpu_clock_budget_ignores_waiting_and_counts_work():
    task, model, *_ = addition_setup()
    state = initial_state(model, 0, OneSecondSteps())
    waiting = train(state, model, task, SleepingSteps(), StopRule(StopConfig(max_iterations=5, budget_seconds=2.5,
                                                                  budget_clock="cpu", eval_every=1000)))
    assert waiting.iteration == 5 and waiting.elapsed >= 5.0  # 5 "wall seconds", far less CPU: the budget holds
    assert 0.0 < waiting.cpu_seconds < 2.5
    busy = train(state, model, task, SleepingSteps(), StopRule(StopConfig(max_iterations=10**6, budget_seconds=0.3,
                                                               budget_clock="cpu", eval_every=1000)))
    assert busy.cpu_seconds >= 0.3 and busy.iteration < 10**6  # the steps' real work used up the CPU budget


def test_bad_budget_clock_is_refused():
    with pytest.raises(ValueError, match=r"hf.budget_clock must be one of wall, cpu, got 'gpu'"):
        StopRule(StopConfig(budget_clock="gpu"))


@pytest.mark.parametrize("value", [0.0, -5.0, float("nan")])
def test_bad_time_budget_is_refused(value):
    with pytest.raises(ValueError, match=r"hf.budget_seconds must be > 0 or null"):
        StopRule(StopConfig(budget_seconds=value))


@pytest.mark.parametrize("changes, message", [
    ({"gradient_batch": 10, "curvature_batch": 20}, "curvature_batch"),
    ({"backtrack_data": "elsewhere"}, "backtrack_data"),
    ({"gradient_batch": 2500, "line_search_data": "part2"},
     r"hf.line_search_data=part2 needs a gradient batch of at least 3 blocks of hf.fresh_batch=1000 sequences, "
     r"got hf.gradient_batch=2500"),
    ({"warm_start_decay": 1.5}, r"hf.warm_start_decay must be in \[0, 1\], got 1.5"),
])
def test_settings_validation(changes, message):
    with pytest.raises(ValueError, match=message):
        HessianFree(LevenbergMarquardt(TikhonovConfig(lambda0=1.0)), ConjugateGradient(), HFConfig(**changes))


def test_optimizers_own_their_state():
    """RunState holds no optimiser's fields: HF keeps lambda and CG's warm start, SGD its velocity."""
    from dataclasses import fields

    from hfcore.hf import HFState
    from hfcore.sgd import SGDState
    from hfcore.state import RunState

    assert [f.name for f in fields(RunState)] == ["iteration", "theta", "optimizer", "data_rng", "counters",
                                                  "elapsed", "cpu_seconds", "test_error", "solved"]
    task, model, settings, damping, solver = addition_setup()
    hf = HessianFree(damping, solver, settings)
    state = initial_state(model, 0, hf)
    assert isinstance(state.optimizer, HFState) and state.optimizer.lam == 0.01
    assert not state.optimizer.warm_start.any()
    after, info = advance(state, model, task, hf)
    assert info.accepted and after.optimizer.lam == info.lam and after.optimizer.warm_start.any()
    sgd = MomentumSGD(SGDConfig(batch_size=10))
    first = initial_state(model, 0, sgd)
    assert isinstance(first.optimizer, SGDState) and np.array_equal(first.theta, state.theta)
    assert advance(first, model, task, sgd)[0].optimizer.velocity.any()


def test_warm_start_decay_is_read_from_the_hf_config():
    task, model, settings, damping, solver = addition_setup()
    runs = []
    for decay in (0.95, 0.0):
        hf = HessianFree(damping, solver, replace(settings, warm_start_decay=decay))
        state = initial_state(model, 1, hf)
        for _ in range(2):
            state, _ = advance(state, model, task, hf)
        runs.append(state.theta)
    assert not np.array_equal(*runs)


def test_release_data_blocks_are_parts_of_the_gradient_batch():
    """hf=is11_release: backtracking on block 1 and the line search on block 2 of the gradient batch (blocks of
    hf.fresh_batch, IS11's batch ids), drawing nothing more from the data stream; fresh batches are new data."""
    from hfcore.hf import _draw_batches

    task = addition_setup()[0]
    release = HFConfig(gradient_batch=40, curvature_batch=10, fresh_batch=10, backtrack_data="part1",
                       line_search_data="part2")
    rng = np.random.default_rng(3)
    b = _draw_batches(task, rng, release)
    after = rng.bit_generator.state
    assert np.array_equal(b.backtrack.inputs, b.grad.inputs[:, 10:20])
    assert np.array_equal(b.line_search.inputs, b.grad.inputs[:, 20:30])
    assert np.array_equal(b.curv.inputs, b.grad.inputs[:, :10])
    again = np.random.default_rng(3)
    task.sample(again, 40)
    assert again.bit_generator.state == after  # the gradient batch was the only draw
    fresh = _draw_batches(task, np.random.default_rng(3), replace(release, backtrack_data="fresh",
                                                                  line_search_data="fresh"))
    assert fresh.backtrack.size == 10 and not np.array_equal(fresh.backtrack.inputs, fresh.grad.inputs[:, 10:20])

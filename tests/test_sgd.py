"""The first-order baseline: the update rule (classical and Nesterov momentum), clipping, determinism and resume."""

import math

import numpy as np
import pytest

from hfcore.config import SGDConfig
from hfcore.sgd import MomentumSGD
from hfcore.training import advance, initial_state
from tests.helpers import make_model, make_task


def setup(**kw):
    task = make_task("addition", T=10, test_size=50)
    model = make_model(task.spec, hidden=8)
    return task, model, MomentumSGD(SGDConfig(**kw))


def test_update_rule_with_clipping():
    task, model, sgd = setup(learning_rate=0.1, momentum=0.5, clip_norm=1e-3, batch_size=30)
    s0 = initial_state(model, 0, sgd)
    batch = task.sample(s0.data_generator(), 30)
    _, g = model.loss_and_grad(s0.theta, batch)
    assert np.linalg.norm(g) > 1e-3  # so clipping is active
    s1, info = advance(s0, model, task, sgd)
    expected_v = -0.1 * g * (1e-3 / np.linalg.norm(g))
    np.testing.assert_allclose(s1.optimizer.velocity, expected_v, rtol=1e-12)
    np.testing.assert_allclose(s1.theta, s0.theta + expected_v, rtol=1e-12)
    # second step: momentum carries half of the previous velocity
    batch2 = task.sample(s1.data_generator(), 30)
    _, g2 = model.loss_and_grad(s1.theta, batch2)
    s2, _ = advance(s1, model, task, sgd)
    v2 = 0.5 * expected_v - 0.1 * g2 * min(1.0, 1e-3 / np.linalg.norm(g2))
    np.testing.assert_allclose(s2.optimizer.velocity, v2, rtol=1e-12)
    assert info.accepted and s2.counters.sequences_gradient == 60 and s2.counters.gv_products == 0


def test_no_clipping_when_disabled():
    task, model, sgd = setup(learning_rate=0.1, momentum=0.0, clip_norm=0.0, batch_size=20)
    s0 = initial_state(model, 1, sgd)
    _, g = model.loss_and_grad(s0.theta, task.sample(s0.data_generator(), 20))
    s1, _ = advance(s0, model, task, sgd)
    np.testing.assert_allclose(s1.theta, s0.theta - 0.1 * g, rtol=1e-12)


def test_deterministic_and_resumable():
    task, model, sgd = setup()
    a = initial_state(model, 2, sgd)
    for _ in range(4):
        a, _ = advance(a, model, task, sgd)
    b = initial_state(model, 2, sgd)
    for _ in range(2):
        b, _ = advance(b, model, task, sgd)
    b = b.map_vectors(np.copy).evolve(data_rng=dict(b.data_rng))
    for _ in range(2):
        b, _ = advance(b, model, task, sgd)
    assert np.array_equal(a.theta, b.theta)


@pytest.mark.parametrize("kw, field", [({"learning_rate": 0}, "learning_rate"), ({"momentum": 1.0}, "momentum"),
                                       ({"clip_norm": -1}, "clip_norm"), ({"batch_size": 0}, "batch_size")])
def test_bad_values(kw, field):
    with pytest.raises(ValueError, match=field):
        MomentumSGD(SGDConfig(**kw))


def test_progress_line_reports_what_a_first_order_step_has(caplog):
    from hfcore.reporting import ProgressReporter

    task, model, sgd = setup(learning_rate=0.05)
    state, info = advance(initial_state(model, 0, sgd), model, task, sgd)
    with caplog.at_level("INFO", logger="hfcore"):
        ProgressReporter(enabled=False).on_step(state, info, {"test.error": 0.5})
    (line,) = caplog.messages
    assert line.startswith("iter 1  loss ") and "lr 0.05  step_norm " in line
    assert "lambda" not in line and "cg" not in line  # HF's columns would be meaningless here


def test_nesterov_matches_sutskever_et_al_in_the_look_ahead_parametrisation():
    """Sutskever et al. (2013): v <- mu v - eta g(theta + mu v), theta <- theta + v, written out with the gradient
    at the look-ahead point (two gradients' worth of bookkeeping, one evaluated); the optimiser keeps
    phi = theta + mu v as its parameters and must land on exactly that point, with the same velocity."""
    mu, eta, clip = 0.9, 0.05, 0.5
    task, model, sgd = setup(learning_rate=eta, momentum=mu, clip_norm=clip, batch_size=20, nesterov=True)
    state = initial_state(model, 4, sgd)
    rng = state.data_generator()
    theta, v = np.copy(state.theta), np.zeros_like(state.theta)
    clipped = 0
    for _ in range(5):
        _, g = model.loss_and_grad(theta + mu * v, task.sample(rng, 20))
        clipped += np.linalg.norm(g) > clip
        v = mu * v - eta * g * min(1.0, clip / np.linalg.norm(g))
        theta = theta + v
        before = state.theta
        state, info = advance(state, model, task, sgd)
        assert math.isclose(info.delta_norm, np.linalg.norm(state.theta - before), rel_tol=1e-9)
    assert clipped  # the clipping path is exercised
    np.testing.assert_allclose(state.optimizer.velocity, v, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(state.theta, theta + mu * v, rtol=1e-10, atol=1e-14)


def test_nesterov_first_step_and_step_norm():
    """From v = 0: phi' = phi - (1 + mu) eta g, the step reported being that move."""
    task, model, sgd = setup(learning_rate=0.1, momentum=0.5, clip_norm=0.0, batch_size=20, nesterov=True)
    s0 = initial_state(model, 1, sgd)
    _, g = model.loss_and_grad(s0.theta, task.sample(s0.data_generator(), 20))
    s1, info = advance(s0, model, task, sgd)
    np.testing.assert_allclose(s1.theta, s0.theta - 1.5 * 0.1 * g, rtol=1e-12)
    np.testing.assert_allclose(s1.optimizer.velocity, -0.1 * g, rtol=1e-12)
    assert math.isclose(info.delta_norm, 0.15 * np.linalg.norm(g), rel_tol=1e-12)


def test_nesterov_off_by_default_is_classical_momentum():
    assert SGDConfig().nesterov is False
    task, model, classical = setup(learning_rate=0.1, momentum=0.5, batch_size=20)
    _, _, nesterov = setup(learning_rate=0.1, momentum=0.5, batch_size=20, nesterov=True)
    a = b = initial_state(model, 1, classical)
    for _ in range(2):
        a, _ = advance(a, model, task, classical)
        b, _ = advance(b, model, task, nesterov)
    assert not np.allclose(a.theta, b.theta)


def test_nesterov_through_the_cli(tmp_path):
    from tests.test_cli import hf_train

    out = hf_train(tmp_path, "optimizer=sgd", "optimizer.nesterov=true", "task.T=10", "model.hidden=8",
                   "task.test_size=50", "optimizer.batch_size=20", "hf.max_iterations=3", "tracking=none",
                   "progress=false")
    assert out.returncode == 0, out.stderr
    assert "iterations=3" in out.stdout

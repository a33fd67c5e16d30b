"""The first-order baseline: the update rule, clipping, determinism and resume."""

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

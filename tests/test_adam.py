"""The Adam baseline (optimizer=adam): the update rule against hand-computed steps and torch.optim.Adam,
clipping, bias correction, non-finite steps, resume, refusals and the CLI."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

import numpy as np
import pytest

from hfcore.adam import Adam, AdamState
from hfcore.checkpoint import load_checkpoint, save_checkpoint
from hfcore.config import AdamConfig
from hfcore.training import advance, initial_state
from tests.helpers import make_model, make_task
from tests.test_cli import hf_train


@dataclass
class Draw:
    """A batch as the first-order step sees it: only its size."""

    size: int


class CountingTask:
    """Draws nothing but a size from the stream, so the steps below see exactly the gradients given."""

    def sample(self, rng: np.random.Generator, n: int) -> Draw:
        rng.random()
        return Draw(n)


class Quadratic:
    """``f(theta) = 0.5 ||theta - target||^2``: gradient ``theta - target``, computed by hand below."""

    def __init__(self, target: np.ndarray) -> None:
        self.target = target

    def loss_and_grad(self, theta, batch):
        r = theta - self.target
        return 0.5 * float(r @ r), r


class Scripted:
    """Returns the given gradients in turn, whatever ``theta`` (to feed two optimisers the same gradients)."""

    def __init__(self, grads) -> None:
        self.grads = iter(grads)

    def loss_and_grad(self, theta, batch):
        return 1.0, next(self.grads)


def run_steps(adam: Adam, model, theta, steps: int):
    state, rng, task = adam.init(theta), np.random.default_rng(0), CountingTask()
    for i in range(steps):
        theta, state, info = adam.step(state, theta, model, task, rng, i + 1)
    return theta, state, info


def test_first_step_is_bias_corrected():
    """After one step m_hat = g and v_hat = g*g, so each coordinate moves by lr * g / (|g| + eps): about lr
    against the sign of g, whatever its size (without the correction it would be ~3.2 lr for beta2 = 0.999)."""
    theta0 = np.array([1.0, -2.0, 0.5, 3e-3])
    adam = Adam(AdamConfig(learning_rate=0.1, clip_norm=0.0))
    theta1, state, info = run_steps(adam, Quadratic(np.zeros(4)), theta0, 1)
    g = theta0
    np.testing.assert_allclose(theta1 - theta0, -0.1 * g / (np.abs(g) + 1e-8), rtol=1e-12)
    np.testing.assert_allclose(state.m, 0.1 * g, rtol=1e-15)
    np.testing.assert_allclose(state.v, 0.001 * g * g, rtol=1e-12)
    assert state.t == 1 and info.accepted and info.step_size == 0.1
    assert math.isclose(info.delta_norm, np.linalg.norm(theta1 - theta0), rel_tol=1e-12)


def test_two_steps_against_the_papers_formulas():
    """Algorithm 1 of Kingma & Ba written out for two steps on the quadratic, with non-default betas."""
    b1, b2, lr, eps = 0.8, 0.9, 0.05, 1e-3
    target, theta0 = np.array([0.3, -1.0, 2.0]), np.array([1.0, 1.0, -1.0])
    adam = Adam(AdamConfig(learning_rate=lr, beta1=b1, beta2=b2, eps=eps, clip_norm=0.0))
    theta2, state, _ = run_steps(adam, Quadratic(target), theta0, 2)
    g1 = theta0 - target
    m1, v1 = (1 - b1) * g1, (1 - b2) * g1**2
    theta1 = theta0 - lr * (m1 / (1 - b1)) / (np.sqrt(v1 / (1 - b2)) + eps)
    g2 = theta1 - target
    m2, v2 = b1 * m1 + (1 - b1) * g2, b2 * v1 + (1 - b2) * g2**2
    expected = theta1 - lr * (m2 / (1 - b1**2)) / (np.sqrt(v2 / (1 - b2**2)) + eps)
    np.testing.assert_allclose(theta2, expected, rtol=1e-13)
    np.testing.assert_allclose(state.m, m2, rtol=1e-13)
    np.testing.assert_allclose(state.v, v2, rtol=1e-13)
    assert state.t == 2


def test_clipping_happens_before_the_moments():
    g = np.array([3.0, -4.0])  # norm 5, clipped to 0.5
    adam = Adam(AdamConfig(learning_rate=0.1, clip_norm=0.5, eps=0.1))
    theta1, state, _ = run_steps(adam, Quadratic(-g), np.zeros(2), 1)
    clipped = g * 0.1
    np.testing.assert_allclose(state.m, 0.1 * clipped, rtol=1e-14)
    np.testing.assert_allclose(state.v, 0.001 * clipped**2, rtol=1e-12)
    # eps = 0.1 is comparable to |clipped g|, so the step shows whether the moments saw the clipped gradient
    np.testing.assert_allclose(theta1, -0.1 * clipped / (np.abs(clipped) + 0.1), rtol=1e-12)
    unclipped, _, _ = run_steps(Adam(AdamConfig(learning_rate=0.1, clip_norm=0.0, eps=0.1)), Quadratic(-g),
                                np.zeros(2), 1)
    assert not np.allclose(theta1, unclipped)


def test_matches_torch_adam_on_the_same_gradients():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    grads = [rng.standard_normal(6) * 10.0**k for k in (0, -1, 1, -2, 0, 2, -3, 1)]
    theta0 = rng.standard_normal(6)
    cfg = AdamConfig(learning_rate=0.01, beta1=0.85, beta2=0.99, eps=1e-6, clip_norm=0.0)
    ours, state, _ = run_steps(Adam(cfg), Scripted(grads), theta0, len(grads))
    p = torch.tensor(theta0, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.Adam([p], lr=cfg.learning_rate, betas=(cfg.beta1, cfg.beta2), eps=cfg.eps)
    for g in grads:
        p.grad = torch.tensor(g)
        opt.step()
    np.testing.assert_allclose(ours, p.detach().numpy(), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(state.v, opt.state[p]["exp_avg_sq"].numpy(), rtol=1e-12)
    assert state.t == int(opt.state[p]["step"])


def test_torch_tensors_are_updated_as_numpy_arrays():
    """The vectors may be a backend's (torch tensors): the update uses only operators both support."""
    torch = pytest.importorskip("torch")
    target, theta0 = np.array([0.3, -1.0, 2.0]), np.array([1.0, 1.0, -1.0])
    adam = Adam(AdamConfig(learning_rate=0.05, clip_norm=1.0))
    want, want_state, _ = run_steps(adam, Quadratic(target), theta0, 3)
    got, got_state, _ = run_steps(adam, Quadratic(torch.tensor(target)), torch.tensor(theta0), 3)
    assert isinstance(got, torch.Tensor) and isinstance(got_state.v, torch.Tensor)
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-14)


def test_nonfinite_gradient_skips_the_step_and_keeps_the_moments():
    adam = Adam(AdamConfig(clip_norm=0.0))
    grads = [np.array([1.0, 2.0]), np.array([np.nan, 0.0]), np.array([1.0, 2.0])]
    model, rng, task = Scripted(grads), np.random.default_rng(0), CountingTask()
    theta1, s1, _ = adam.step(adam.init(np.zeros(2)), np.zeros(2), model, task, rng, 1)
    theta2, s2, info = adam.step(s1, theta1, model, task, rng, 2)
    assert info.nonfinite and not info.accepted and info.delta_norm == 0.0
    assert s2 is s1 and np.array_equal(theta2, theta1)
    _, s3, _ = adam.step(s2, theta2, model, task, rng, 3)
    assert s3.t == 2


@pytest.mark.parametrize("kw, message", [
    ({"learning_rate": 0.0}, "optimizer.learning_rate must be > 0, got 0.0"),
    ({"learning_rate": -1e-3}, "optimizer.learning_rate must be > 0, got -0.001"),
    ({"beta1": 1.0}, "optimizer.beta1 must be in [0, 1), got 1.0"),
    ({"beta1": -0.1}, "optimizer.beta1 must be in [0, 1), got -0.1"),
    ({"beta2": 1.0}, "optimizer.beta2 must be in [0, 1), got 1.0"),
    ({"eps": 0.0}, "optimizer.eps must be > 0, got 0.0"),
    ({"clip_norm": -1.0}, "optimizer.clip_norm must be >= 0, got -1.0"),
    ({"batch_size": 0}, "optimizer.batch_size must be >= 1, got 0"),
])
def test_bad_values(kw, message):
    with pytest.raises(ValueError) as err:
        Adam(AdamConfig(**kw))
    assert str(err.value) == message


def test_on_the_rnn_deterministic_and_resumable_through_a_checkpoint(tmp_path):
    """Four steps straight equal two steps, a checkpoint round trip (m, v, t included) and two more, bit for bit."""
    task = make_task("addition", T=10, test_size=50)
    model = make_model(task.spec, hidden=8)
    adam = Adam(AdamConfig(learning_rate=0.01, batch_size=20))
    a = initial_state(model, 2, adam)
    for _ in range(4):
        a, _ = advance(a, model, task, adam)
    b = initial_state(model, 2, adam)
    for _ in range(2):
        b, _ = advance(b, model, task, adam)
    save_checkpoint(tmp_path / "s.npz", b)
    b, _ = load_checkpoint(tmp_path / "s.npz")
    assert isinstance(b.optimizer, AdamState) and b.optimizer.t == 2
    for _ in range(2):
        b, _ = advance(b, model, task, adam)
    assert a.theta.tobytes() == b.theta.tobytes()
    assert a.optimizer.m.tobytes() == b.optimizer.m.tobytes() and a.optimizer.v.tobytes() == b.optimizer.v.tobytes()
    assert a.optimizer.t == b.optimizer.t == 4 and a.data_rng == b.data_rng


LSTM_TINY = ["optimizer=adam", "model=lstm", "backend=numpy", "model.hidden=8", "model.cells_per_block=4",
             "task.T=10", "task.test_size=50", "optimizer.batch_size=20", "optimizer.learning_rate=0.01",
             "hf.stop_on_success=false", "tracking=none"]


def test_cli_adam_trains_the_numpy_lstm_and_resumes_bit_identically(tmp_path):
    straight = hf_train(tmp_path, *LSTM_TINY, "hf.max_iterations=40", "hf.eval_every=40", "checkpoint.dir=straight")
    assert straight.returncode == 0, straight.stderr
    part = hf_train(tmp_path, *LSTM_TINY, "hf.max_iterations=25", "hf.eval_every=40", "checkpoint.dir=part")
    assert part.returncode == 0, part.stderr
    resumed = hf_train(tmp_path, *LSTM_TINY, "hf.max_iterations=40", "hf.eval_every=40", "checkpoint.dir=resumed",
                       f"checkpoint.resume={tmp_path / 'part' / 'state.npz'}")
    assert resumed.returncode == 0, resumed.stderr
    a, b = np.load(tmp_path / "straight" / "state.npz"), np.load(tmp_path / "resumed" / "state.npz")
    for key in ("theta", "optimizer.m", "optimizer.v"):
        assert a[key].tobytes() == b[key].tobytes(), key
    meta_a, meta_b = json.loads(str(a["meta"])), json.loads(str(b["meta"]))
    assert meta_a["optimizer"] == {"name": "adam", "scalars": {"t": 40}}
    for key in ("iteration", "optimizer", "data_rng", "counters", "test_error"):
        assert meta_a[key] == meta_b[key], key


def test_cli_adam_lowers_the_lstm_loss(tmp_path):
    """40 Adam steps on the NumPy LSTM (its hand-written gradient): the training loss falls."""
    out = hf_train(tmp_path, *LSTM_TINY, "hf.max_iterations=40", "hf.eval_every=40", "checkpoint.dir=ck")
    assert out.returncode == 0, out.stderr
    losses = [float(line.split("loss ")[1].split()[0]) for line in out.stdout.splitlines() if "  loss " in line]
    assert len(losses) == 40
    assert np.mean(losses[-5:]) < 0.8 * np.mean(losses[:5]), losses


def test_cli_refuses_bad_adam_values_in_one_line_before_work(tmp_path):
    out = hf_train(tmp_path, "optimizer=adam", "optimizer.beta2=1.5", "task.T=10", "tracking=none")
    assert out.returncode == 2
    (line,) = out.stderr.strip().splitlines()
    assert line == "hf-train: error: optimizer 'adam': optimizer.beta2 must be in [0, 1), got 1.5"
    assert not (tmp_path / "outputs").exists()


def test_help_lists_adam(tmp_path):
    out = hf_train(tmp_path, "--help")
    assert out.returncode == 0
    (optimizers,) = [line for line in out.stdout.splitlines() if line.startswith("optimizer: ")]
    assert "adam" in optimizers.removeprefix("optimizer: ").split(", ")

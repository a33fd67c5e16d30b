"""Tests of the built-in tasks (plugins/hfcore_tasks): addition and quadratic.

Definitions checked against algorithm notes sec. 9a (HS97 "Adding") and sec. 9b
(MS11 release "Add").
"""

from __future__ import annotations

import numpy as np
import pytest

from hfcore.interfaces import Task
from hfcore.types import Batch
from hfcore_tasks import plugin
from hfcore_tasks.addition import AdditionConfig, AdditionTask, make_addition
from hfcore_tasks.quadratic import QuadraticConfig, QuadraticTask, make_quadratic

TS = (10, 30, 100, 200)
ALL_TASKS = ("addition", "quadratic", "multiplication", "xor", "temporal_order", "temporal_order_3bit",
             "random_permutation", "memorization")
"""Registration order of plugin.py (the pathological tasks are tested in test_pathological_tasks.py)."""
SPECS = ("ms2011", "hs1997")
N = 400


def _task(T: int, spec: str, **kw) -> AdditionTask:
    return make_addition(AdditionConfig(T=T, spec=spec, test_size=kw.pop("test_size", 50), **kw))


def _batches_equal(a: Batch, b: Batch) -> bool:
    return all(
        np.array_equal(x, y)
        for x, y in ((a.inputs, b.inputs), (a.targets, b.targets), (a.mask, b.mask), (a.lengths, b.lengths))
    )


# ---------------------------------------------------------------- addition


@pytest.mark.parametrize("spec", SPECS)
@pytest.mark.parametrize("T", TS)
def test_shapes_dtypes_and_protocol(T: int, spec: str) -> None:
    task = _task(T, spec)
    assert isinstance(task, Task)
    assert task.spec.n_in == 2 and task.spec.n_out == 1 and task.spec.output == "linear"
    b = task.sample(np.random.default_rng(0), N)
    Tm = task.max_length
    assert b.inputs.shape == (Tm, N, 2) and b.targets.shape == (Tm, N, 1)
    assert b.mask.shape == (Tm, N) and b.lengths.shape == (N,)
    assert b.inputs.dtype == b.targets.dtype == b.mask.dtype == np.float64
    assert np.issubdtype(b.lengths.dtype, np.integer)


@pytest.mark.parametrize("spec", SPECS)
@pytest.mark.parametrize("T", TS)
def test_deterministic_given_seed(T: int, spec: str) -> None:
    task = _task(T, spec)
    a = task.sample(np.random.default_rng(7), 64)
    b = task.sample(np.random.default_rng(7), 64)
    c = task.sample(np.random.default_rng(8), 64)
    assert _batches_equal(a, b)
    assert not _batches_equal(a, c)
    # Uses only the given rng: a second task instance gives the same data.
    assert _batches_equal(a, _task(T, spec).sample(np.random.default_rng(7), 64))


@pytest.mark.parametrize("spec", SPECS)
@pytest.mark.parametrize("T", TS)
def test_lengths_mask_and_padding(T: int, spec: str) -> None:
    task = _task(T, spec)
    b = task.sample(np.random.default_rng(1), N)
    # ms2011: target step T' in [T, 1.1T - 1], T' + 1 steps (IS11 M[T'] = 1); hs1997: [T, T + T//10]
    lo, hi = (T + 1, max((11 * T) // 10, T + 1)) if spec == "ms2011" else (T, T + T // 10)
    assert task.length_range == (lo, hi) and task.max_length == hi
    assert b.lengths.min() >= lo and b.lengths.max() <= hi
    # exactly one active step per sequence, at lengths - 1
    assert np.array_equal(b.mask.sum(axis=0), np.ones(N))
    assert np.array_equal(np.argmax(b.mask, axis=0), b.lengths - 1)
    assert set(np.unique(b.mask)) <= {0.0, 1.0}
    # padding (and every non-final step of targets) is zero
    pad = np.arange(task.max_length)[:, None] >= b.lengths[None, :]
    assert np.all(b.inputs[pad] == 0) and np.all(b.targets[pad] == 0) and np.all(b.mask[pad] == 0)
    assert np.all(b.targets[..., 0][b.mask == 0] == 0)
    np.testing.assert_array_equal(b.valid_steps(), (~pad).astype(float))


@pytest.mark.parametrize("T", TS)
def test_ms2011_markers_values_and_targets(T: int) -> None:
    task = _task(T, "ms2011")
    b = task.sample(np.random.default_rng(2), N)
    cols = np.arange(N)
    val, mk = b.inputs[..., 0], b.inputs[..., 1]
    valid = b.valid_steps() > 0
    assert np.all((val[valid] >= 0) & (val[valid] <= 1))

    plus = mk == 1.0
    assert np.array_equal(plus.sum(axis=0), np.full(N, 2))
    first = np.argmax(plus, axis=0)
    second = task.max_length - 1 - np.argmax(plus[::-1], axis=0)
    f = lambda x: int(x * T / 100)  # noqa: E731  (float form of notes sec. 9b, independent of the code's)
    assert first.min() >= f(1) and first.max() <= f(10) - 1
    assert second.min() >= f(10) and second.max() <= f(50) - 1
    assert task.marker_ranges() == ((f(1), f(10) - 1), (f(10), f(50) - 1))

    # -1 at step 0 (unless the first mark is at 0: +1 wins) and at T'-3, T' = lengths - 1; zero elsewhere.
    expected = np.zeros_like(mk)
    expected[0] = -1.0
    expected[b.lengths - 4, cols] = -1.0
    expected[first, cols] = 1.0
    expected[second, cols] = 1.0
    expected[~valid] = 0.0
    np.testing.assert_array_equal(mk, expected)

    # target = A + B, read back from the inputs at the marked steps, at the last step
    y = b.targets[b.lengths - 1, cols, 0]
    np.testing.assert_allclose(y, val[first, cols] + val[second, cols], rtol=0, atol=1e-15)


@pytest.mark.parametrize("T", TS)
def test_hs1997_markers_values_and_targets(T: int) -> None:
    task = _task(T, "hs1997")
    b = task.sample(np.random.default_rng(3), N)
    cols = np.arange(N)
    val, mk = b.inputs[..., 0], b.inputs[..., 1]
    valid = b.valid_steps() > 0
    assert np.all((val[valid] >= -1) & (val[valid] <= 1))

    plus = mk == 1.0
    assert np.array_equal(plus.sum(axis=0), np.full(N, 2))
    steps = np.sort(np.nonzero(plus.T)[1].reshape(N, 2), axis=1)
    # one mark among the first 10 steps, the other among the first T//2 - 1 unmarked ones
    assert np.all(steps[:, 0] <= 9)
    assert np.all(steps[:, 1] <= max(9, T // 2 - 1))
    assert task.marker_ranges() == ((0, 9), (0, T // 2 - 1))
    # X1 := 0 when the first mark is on the very first pair (HS97). Step 0 is
    # certainly the first mark when the other mark lies beyond the first 10 steps.
    surely_first = plus[0] & (steps[:, 1] > 9)
    assert np.all(val[0, surely_first] == 0.0)
    if T >= 30:
        assert surely_first.sum() > 0  # the check above is not vacuous

    expected = np.zeros_like(mk)
    expected[0] = -1.0
    expected[b.lengths - 1, cols] = -1.0
    expected[plus] = 1.0
    expected[~valid] = 0.0
    np.testing.assert_array_equal(mk, expected)

    x1 = val[steps[:, 0], cols]
    x2 = val[steps[:, 1], cols]
    y = b.targets[b.lengths - 1, cols, 0]
    np.testing.assert_allclose(y, 0.5 + (x1 + x2) / 4, rtol=0, atol=1e-15)


def test_position_ranges_fully_covered() -> None:
    """Off-by-one guard: every allowed marker step and length occurs (T=100)."""
    task = _task(100, "ms2011")
    b = task.sample(np.random.default_rng(4), 4000)
    plus = b.inputs[..., 1] == 1.0
    first = np.argmax(plus, axis=0)
    second = task.max_length - 1 - np.argmax(plus[::-1], axis=0)
    assert set(first) == set(range(1, 10))
    assert set(second) == set(range(10, 50))
    assert set(b.lengths) == set(range(101, 111))

    task = _task(30, "hs1997")
    b = task.sample(np.random.default_rng(4), 4000)
    assert set(b.lengths) == set(range(30, 34))
    steps = np.nonzero(b.inputs[..., 1].T == 1.0)[1]
    # union of [0, 9] and the first T//2 - 1 = 14 unmarked steps (reaching step 14 when skipping mark 1)
    assert set(steps) == set(range(0, 15))


@pytest.mark.parametrize("spec", SPECS)
def test_test_set_fixed(spec: str) -> None:
    task = _task(30, spec, test_size=300, test_seed=99)
    a = task.test_batch()
    assert a is task.test_batch() and a.size == 300
    other = _task(30, spec, test_size=300, test_seed=99).test_batch()
    assert _batches_equal(a, other)
    assert _batches_equal(a, task.sample(np.random.default_rng(99), 300))
    assert not _batches_equal(a, _task(30, spec, test_size=300, test_seed=100).test_batch())
    with pytest.raises(ValueError):
        a.inputs[0, 0, 0] = 1.0  # cached set is read-only


@pytest.mark.parametrize("spec", SPECS)
@pytest.mark.parametrize("T", TS)
def test_error_criterion(T: int, spec: str) -> None:
    task = _task(T, spec)
    b = task.sample(np.random.default_rng(5), 200)
    assert task.error(b.targets.copy(), b) == 0.0
    assert task.error(b.targets + 0.05, b) == 1.0
    assert task.error(b.targets - 0.05, b) == 1.0
    assert task.error(b.targets + 0.03, b) == 0.0
    # off by 0.05 on half the sequences
    out = b.targets.copy()
    out[:, :100] += 0.05
    assert task.error(out, b) == 0.5
    # garbage on inactive steps is ignored; NaN on an active step counts as wrong
    out = b.targets + 7.0 * (b.mask[..., None] == 0)
    assert task.error(out, b) == 0.0
    out[b.lengths[0] - 1, 0, 0] = np.nan
    assert task.error(out, b) == pytest.approx(1 / 200)
    with pytest.raises(ValueError, match="shape"):
        task.error(b.targets[:, :10], b)


def test_solved_threshold() -> None:
    task = _task(30, "ms2011")
    assert task.solved(0.0) and task.solved(0.0009)
    assert not task.solved(0.001) and not task.solved(0.5)
    task = _task(30, "ms2011", success_threshold=0.1)
    assert task.solved(0.05) and not task.solved(0.1)


@pytest.mark.parametrize(
    ("kw", "field"),
    [
        ({"T": 9}, "T=9"),
        ({"T": 0}, "T=0"),
        ({"spec": "p13"}, "spec='p13'"),
        ({"test_size": 0}, "test_size=0"),
        ({"tolerance": 0.0}, "tolerance=0.0"),
        ({"tolerance": -0.1}, "tolerance=-0.1"),
        ({"success_threshold": 0.0}, "success_threshold=0.0"),
        ({"success_threshold": 1.5}, "success_threshold=1.5"),
    ],
)
def test_addition_validation(kw: dict, field: str) -> None:
    with pytest.raises(ValueError, match=field.replace("(", r"\(")) as info:
        make_addition(AdditionConfig(**kw))
    assert "\n" not in str(info.value)
    if "T" in kw:
        assert "empty" in str(info.value)  # says why a minimum exists


def test_addition_from_omegaconf() -> None:
    omegaconf = pytest.importorskip("omegaconf")
    cfg = omegaconf.OmegaConf.structured(AdditionConfig(T=50, spec="hs1997"))
    task = make_addition(cfg)
    assert task.T == 50 and task.variant == "hs1997" and task.tolerance == 0.04


# --------------------------------------------------------------- quadratic


def _objective(theta: np.ndarray, b: Batch, l2: float, n_in: int, n_out: int) -> float:
    """Independent statement of the objective: loop over sequences."""
    W = theta[: n_out * n_in].reshape(n_out, n_in)
    bias = theta[n_out * n_in :]
    total = 0.0
    N = b.size
    for n in range(N):
        r = W @ b.inputs[0, n] + bias - b.targets[0, n]
        total += 0.5 * float(r @ r)
    return total / N + 0.5 * l2 * float(theta @ theta)


@pytest.mark.parametrize("l2", [0.0, 2e-5, 0.3])
@pytest.mark.parametrize("n", [None, 16])
def test_quadratic_minimiser_has_zero_gradient(l2: float, n: int | None) -> None:
    task = make_quadratic(QuadraticConfig())
    b = task.sample(np.random.default_rng(0), n or task.n_train)
    theta = task.minimiser(l2, n=n)
    assert theta.shape == (task.n_out * task.n_in + task.n_out,)
    # Central differences are exact for a quadratic up to rounding.
    h = 1e-4
    grad = np.empty_like(theta)
    for i in range(theta.size):
        e = np.zeros_like(theta)
        e[i] = h
        grad[i] = (_objective(theta + e, b, l2, task.n_in, task.n_out)
                   - _objective(theta - e, b, l2, task.n_in, task.n_out)) / (2 * h)
    assert np.max(np.abs(grad)) < 1e-8
    # and it is a minimum: random perturbations raise the objective
    f0 = _objective(theta, b, l2, task.n_in, task.n_out)
    rng = np.random.default_rng(1)
    for _ in range(5):
        assert _objective(theta + 1e-2 * rng.standard_normal(theta.size), b, l2, task.n_in, task.n_out) > f0


def test_quadratic_minimiser_close_to_truth_and_solves() -> None:
    task = make_quadratic(QuadraticConfig())
    theta = task.minimiser(0.0)
    W = theta[: task.n_out * task.n_in].reshape(task.n_out, task.n_in)
    np.testing.assert_allclose(W, task.A, atol=0.1)
    np.testing.assert_allclose(theta[-task.n_out :], task.c, atol=0.1)
    tb = task.test_batch()
    out = np.einsum("oi,tbi->tbo", W, tb.inputs) + theta[-task.n_out :]
    err = task.error(out, tb)
    assert 0.5 * task.noise**2 < err < 2 * task.noise**2 and task.solved(err)
    assert not task.solved(task.error(np.zeros_like(tb.targets), tb))


def test_quadratic_data() -> None:
    task = make_quadratic(QuadraticConfig())
    assert isinstance(task, Task)
    assert task.spec.n_in == 3 and task.spec.n_out == 2 and task.spec.output == "linear"
    rng = np.random.default_rng(3)
    state = rng.bit_generator.state
    b = task.sample(rng, 10)
    assert rng.bit_generator.state == state  # rng not consumed
    assert b.inputs.shape == (1, 10, 3) and b.targets.shape == (1, 10, 2)
    assert np.array_equal(b.mask, np.ones((1, 10))) and np.array_equal(b.lengths, np.ones(10))
    full = task.sample(np.random.default_rng(9), task.n_train)
    assert np.array_equal(full.inputs[:, :10], b.inputs)
    assert _batches_equal(full, make_quadratic(QuadraticConfig()).sample(rng, task.n_train))
    other = make_quadratic(QuadraticConfig(data_seed=1)).sample(rng, task.n_train)
    assert not np.array_equal(other.inputs, full.inputs)
    with pytest.raises(ValueError, match="n=65"):
        task.sample(rng, 65)
    tb = task.test_batch()
    assert tb is task.test_batch() and tb.size == 1000
    assert not np.array_equal(tb.inputs[:, : task.n_train], full.inputs)
    # same seeds for data and test still give different sets
    same = make_quadratic(QuadraticConfig(data_seed=5, test_seed=5))
    assert not np.array_equal(same.test_batch().inputs[:, :64], same.sample(rng, 64).inputs)
    # error is the mean squared error over active targets and units
    assert task.error(b.targets + 0.5, b) == pytest.approx(0.25)


@pytest.mark.parametrize(
    ("kw", "field"),
    [
        ({"T": 2}, "T=2"),
        ({"spec": "ms2011"}, "spec='ms2011'"),
        ({"n_in": 0}, "n_in=0"),
        ({"n_out": 0}, "n_out=0"),
        ({"n_train": 0}, "n_train=0"),
        ({"test_size": 0}, "test_size=0"),
        ({"noise": -1.0}, "noise=-1.0"),
        ({"success_threshold": 0.0}, "success_threshold=0.0"),
    ],
)
def test_quadratic_validation(kw: dict, field: str) -> None:
    with pytest.raises(ValueError, match=field):
        make_quadratic(QuadraticConfig(**kw))
    with pytest.raises(ValueError, match="l2"):
        make_quadratic(QuadraticConfig()).minimiser(-1.0)


# ------------------------------------------------------------------ plugin


def test_plugin_registers_tasks() -> None:
    class Registry:
        def __init__(self) -> None:
            self.tasks: dict = {}

        def add_task(self, name, factory, config) -> None:
            self.tasks[name] = (factory, config)

    reg = Registry()
    plugin.hfcore_register_tasks(registry=reg)
    assert set(reg.tasks) == set(ALL_TASKS)
    for name, (factory, config) in reg.tasks.items():
        assert config.name == name
        task = factory(config)
        assert isinstance(task, Task) and task.name == name
    assert isinstance(reg.tasks["addition"][0](reg.tasks["addition"][1]), AdditionTask)
    assert isinstance(reg.tasks["quadratic"][0](reg.tasks["quadratic"][1]), QuadraticTask)


def test_plugin_with_pluggy() -> None:
    pluggy = pytest.importorskip("pluggy")
    from hfcore import hookspecs

    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    pm.register(plugin)
    names: list[str] = []

    class Registry:
        def add_task(self, name, factory, config) -> None:
            names.append(name)

    hook = pm.hook.hfcore_register_tasks
    if hook.spec.opts.get("historic"):
        hook.call_historic(kwargs={"registry": Registry()})
    else:
        hook(registry=Registry())
    assert names == list(ALL_TASKS)

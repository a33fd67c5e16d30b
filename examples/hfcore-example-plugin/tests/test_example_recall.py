"""The recall task: registration, a deterministic generator, correct targets, scoring, validation."""

import numpy as np
import pytest
from hfcore_example import plugin
from hfcore_example.recall import RecallConfig, RecallTask, make_recall

from hfcore.interfaces import Task
from hfcore.registry import load_plugins


def make(**overrides) -> RecallTask:
    return make_recall(RecallConfig(**{"test_size": 200, **overrides}))


def test_registers_without_installing():
    _, registry = load_plugins(extra_plugins=[("example", plugin)], autoload=False)
    component = registry.get("task", "recall")
    assert component.plugin == "example" and isinstance(component.config, RecallConfig)
    assert isinstance(component.factory(RecallConfig(test_size=10)), Task)


def test_entry_point_of_the_installed_distribution():
    _, registry = load_plugins()
    assert registry.get("task", "recall").plugin == "example"
    assert registry.get("damping", "fixed").plugin == "example"


def test_generator_is_a_function_of_the_generator_state():
    task = make(T=30)
    a = task.sample(np.random.default_rng(7), 50)
    b = task.sample(np.random.default_rng(7), 50)
    c = task.sample(np.random.default_rng(8), 50)
    for name in ("inputs", "targets", "mask", "lengths"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert not np.array_equal(a.inputs, c.inputs)
    rng = np.random.default_rng(7)
    task.sample(rng, 50)
    after = rng.bit_generator.state
    rng = np.random.default_rng(7)
    make(T=30, spec="binary").sample(rng, 50)
    assert rng.bit_generator.state == after  # the same draws whatever the variant


@pytest.mark.parametrize("spec", ["uniform", "binary"])
def test_targets_are_the_marked_values(spec):
    task = make(T=30, window=4, spec=spec)
    n = 300
    batch = task.sample(np.random.default_rng(0), n)
    cols = np.arange(n)
    assert batch.inputs.shape == (33, n, 2) and batch.targets.shape == (33, n, 1) and batch.mask.shape == (33, n)
    assert batch.lengths.min() >= 30 and batch.lengths.max() <= 33
    assert set(np.unique(batch.lengths)) == {30, 31, 32, 33}
    values, marker = batch.inputs[..., 0], batch.inputs[..., 1]
    assert np.all(marker.sum(axis=0) == 1)  # exactly one mark per sequence ...
    marked = marker.argmax(axis=0)
    assert marked.max() < 4 and set(np.unique(marked)) == {0, 1, 2, 3}  # ... among the first `window` steps
    np.testing.assert_array_equal(batch.mask.sum(axis=0), np.ones(n))  # one target per sequence ...
    assert np.all(batch.mask[batch.lengths - 1, cols] == 1)  # ... at the last real step
    np.testing.assert_array_equal(batch.targets[batch.lengths - 1, cols, 0], values[marked, cols])
    padding = np.arange(33)[:, None] >= batch.lengths[None, :]
    assert not batch.inputs[padding].any() and not batch.targets[padding].any() and not batch.mask[padding].any()
    if spec == "binary":
        assert set(np.unique(values[~padding])) == {0.0, 1.0}
    else:
        assert 0.0 <= values.min() and values.max() < 1.0


def test_fixed_test_set():
    task = make(T=10, test_seed=3)
    batch = task.test_batch()
    assert task.test_batch() is batch and batch.size == 200 and not batch.inputs.flags.writeable
    again = make(T=10, test_seed=3).test_batch()
    np.testing.assert_array_equal(batch.inputs, again.inputs)
    other = make(T=10, test_seed=4).test_batch()
    assert not np.array_equal(batch.inputs, other.inputs)


def test_error_and_success():
    task = make(T=10, tolerance=0.1, success_threshold=0.3)
    batch = task.sample(np.random.default_rng(1), 10)
    assert task.error(batch.targets, batch) == 0.0
    assert task.error(batch.targets + 0.09, batch) == 0.0
    assert task.error(batch.targets + 0.11, batch) == 1.0
    off = batch.targets.copy()
    off[batch.lengths[:2] - 1, [0, 1], 0] = np.nan  # NaN outputs are wrong
    assert task.error(off, batch) == pytest.approx(0.2)
    padding_junk = np.where(batch.mask[..., None] > 0, batch.targets, 5.0)  # outputs off the mask do not count
    assert task.error(padding_junk, batch) == 0.0
    assert task.solved(0.29) and not task.solved(0.3)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"T": 1}, "T=1 must be >= 2"),
        ({"spec": "ms2011"}, "spec='ms2011' must be one of uniform, binary"),
        ({"T": 5, "window": 5}, r"window=5 must be in \[1, T-1\] = \[1, 4\]"),
        ({"window": 0}, r"window=0 must be in \[1, T-1\]"),
        ({"tolerance": 0.0}, "tolerance=0.0 must be > 0"),
        ({"test_size": 0}, "test_size=0 must be >= 1"),
        ({"success_threshold": 0.0}, r"success_threshold=0.0 must be in \(0, 1\]"),
    ],
)
def test_validation_is_one_line(overrides, message):
    with pytest.raises(ValueError, match=message) as info:
        make(**overrides)
    assert "\n" not in str(info.value)

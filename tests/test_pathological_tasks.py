"""Tests of the pathological tasks of MS11 Figure 3 (plugins/hfcore_tasks), every variant.

Definitions are checked against algorithm notes sec. 9a (HS97), 9b (MS11 release,
IS11) and 9c (P13). Expected positions and targets are recomputed here from the
inputs with independent (float) formulas, not with the generators' helpers.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pytest

from hfcore.interfaces import Task
from hfcore.types import Batch
from hfcore_tasks import plugin
from hfcore_tasks._common import P13_SUCCESS_THRESHOLD

TS = (30, 50, 100, 200)


def _registry() -> dict[str, tuple[Any, Any]]:
    class Registry:
        def __init__(self) -> None:
            self.tasks: dict[str, tuple[Any, Any]] = {}

        def add_task(self, name: str, factory: Any, config: Any) -> None:
            self.tasks[name] = (factory, config)

    reg = Registry()
    plugin.hfcore_register_tasks(registry=reg)
    return reg.tasks


REGISTRY = _registry()
VARIANTS = {
    "addition": ("ms2011", "hs1997", "pascanu2013"),
    "multiplication": ("ms2011", "hs1997", "pascanu2013"),
    "xor": ("ms2011",),
    "temporal_order": ("ms2011", "hs1997", "pascanu2013"),
    "temporal_order_3bit": ("ms2011", "hs1997", "pascanu2013"),
    "random_permutation": ("ms2011", "hs1997", "pascanu2013"),
    "memorization": ("ms2011", "pascanu2013"),
}
CASES = [(name, spec) for name, specs in VARIANTS.items() for spec in specs]
CASES_MEM = CASES + [("memorization", "ms2011", 20), ("memorization", "pascanu2013", 20)]


def make(name: str, T: int = 30, spec: str = "ms2011", test_size: int = 40, **kw: Any) -> Any:
    """Build a task through its registered factory and config schema."""
    factory, config = REGISTRY[name]
    return factory(replace(config, T=T, spec=spec, test_size=test_size, **kw))


def f(x: float, T: int) -> int:
    """Float form of the release's scaling ``int(x T / 100)`` (notes sec. 9b)."""
    return int(x * T / 100.0)


def n_for(name: str, T: int) -> int:
    return 64 if name == "random_permutation" and T >= 100 else 200


def equal(a: Batch, b: Batch) -> bool:
    return all(np.array_equal(getattr(a, k), getattr(b, k)) for k in ("inputs", "targets", "mask", "lengths"))


def symbols(x: np.ndarray) -> np.ndarray:
    """Arg-max symbol per step, -1 on all-zero (padding) rows."""
    return np.where(x.sum(-1) > 0, x.argmax(-1), -1)


# ------------------------------------------------------------------ generic


def test_registered_names() -> None:
    assert set(REGISTRY) == set(VARIANTS) | {"quadratic"}
    for name, (factory, config) in REGISTRY.items():
        assert config.name == name
        task = factory(config)
        assert isinstance(task, Task) and task.name == name


@pytest.mark.parametrize(("name", "spec"), CASES)
@pytest.mark.parametrize("T", TS)
def test_batch_structure(name: str, spec: str, T: int) -> None:
    """Shapes, dtypes, lengths in range, padding zero, mask only on real steps; determinism."""
    task = make(name, T, spec)
    assert isinstance(task, Task) and task.variant == spec
    n = n_for(name, T)
    state = np.random.get_state()
    b = task.sample(np.random.default_rng(11), n)
    assert np.array_equal(np.random.get_state()[1], state[1])  # the global generator is not touched
    Tm = task.max_length
    assert b.inputs.shape == (Tm, n, task.spec.n_in) and b.targets.shape == (Tm, n, task.spec.n_out)
    assert b.mask.shape == (Tm, n) and b.lengths.shape == (n,)
    assert b.inputs.dtype == b.targets.dtype == b.mask.dtype == np.float64
    assert b.lengths.dtype == np.int64
    assert b.lengths.min() >= 1 and b.lengths.max() <= Tm
    lo, hi = getattr(task, "length_range", (Tm, Tm))
    assert lo <= b.lengths.min() and b.lengths.max() <= hi == Tm
    pad = np.arange(Tm)[:, None] >= b.lengths[None, :]
    assert np.all(b.inputs[pad] == 0) and np.all(b.targets[pad] == 0) and np.all(b.mask[pad] == 0)
    assert set(np.unique(b.mask)) <= {0.0, 1.0}
    assert np.all(b.targets[b.mask == 0] == 0)
    # every sequence has a target at its last real step
    assert np.all(b.mask[b.lengths - 1, np.arange(n)] == 1)
    # deterministic given the generator; a second instance gives the same data
    assert equal(b, make(name, T, spec).sample(np.random.default_rng(11), n))
    assert not equal(b, task.sample(np.random.default_rng(12), n))


@pytest.mark.parametrize(("name", "spec"), CASES)
def test_test_set_fixed(name: str, spec: str) -> None:
    task = make(name, 30, spec, test_size=60, test_seed=5)
    a = task.test_batch()
    assert a is task.test_batch() and a.size == 60
    assert equal(a, make(name, 30, spec, test_size=60, test_seed=5).test_batch())
    assert equal(a, task.sample(np.random.default_rng(5), 60))
    assert not equal(a, make(name, 30, spec, test_size=60, test_seed=6).test_batch())
    with pytest.raises(ValueError):
        a.inputs[0, 0, 0] = 1.0


@pytest.mark.parametrize(("name", "spec"), CASES)
def test_output_and_error_basics(name: str, spec: str) -> None:
    """Exact outputs score 0; NaN on a scored target is wrong; wrong shapes and empty masks raise."""
    task = make(name, 30, spec)
    b = task.sample(np.random.default_rng(3), 40)
    if name in ("addition", "multiplication"):
        assert task.spec.output == "linear"
    elif name == "xor" or spec == "hs1997":
        assert task.spec.output == "logistic"
    else:
        assert task.spec.output == "softmax"
    assert task.error(b.targets.copy(), b) == 0.0
    out = b.targets.copy()
    out[b.lengths[0] - 1, 0, :] = np.nan
    assert task.error(out, b) == pytest.approx(1 / 40)  # one wrong sequence of 40 (memorisation: per sequence)
    with pytest.raises(ValueError, match="shape"):
        task.error(b.targets[:, :5], b)
    empty = Batch(b.inputs, b.targets, np.zeros_like(b.mask), b.lengths)
    with pytest.raises(ValueError, match="no active targets"):
        task.error(b.targets, empty)
    assert task.solved(0.0) and not task.solved(task.success_threshold)


@pytest.mark.parametrize(
    ("name", "kw", "expected"),
    [
        ("addition", {}, 0.01),
        ("multiplication", {"spec": "hs1997"}, 0.01),
        ("xor", {}, 0.01),
        ("temporal_order", {}, 0.08),
        ("temporal_order_3bit", {"spec": "pascanu2013"}, 0.08),
        ("random_permutation", {"T": 200}, 2.0),
        ("memorization", {"T": 100}, 10.0),
        ("memorization", {"T": 100, "bits": 20}, 50.0),
    ],
)
def test_default_lambda0(name: str, kw: dict, expected: float) -> None:
    """IS11's initial lambda (notes sec. 6), exposed read-only."""
    task = make(name, **kw)
    assert task.default_lambda0 == pytest.approx(expected)
    with pytest.raises(AttributeError):
        task.default_lambda0 = 1.0


# ------------------------------------------------------ marked-pair problems


def _marks(b: Batch, marker: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    plus = marker == 1.0
    assert np.array_equal(plus.sum(axis=0), np.full(b.size, 2))
    first = np.argmax(plus, axis=0)
    second = plus.shape[0] - 1 - np.argmax(plus[::-1], axis=0)
    return first, second


@pytest.mark.parametrize("name", ["addition", "multiplication"])
@pytest.mark.parametrize("T", TS)
def test_add_mult_ms2011(name: str, T: int) -> None:
    task = make(name, T, "ms2011")
    b = task.sample(np.random.default_rng(4), 300)
    cols = np.arange(b.size)
    val, mk = b.inputs[..., 0], b.inputs[..., 1]
    # IS11: target step T' in [T, 1.1T - 1], end signal at T' - 3; the sequence has T' + 1 steps
    assert np.all(b.lengths >= T + 1) and np.all(b.lengths <= int(1.1 * T))
    first, second = _marks(b, mk)
    assert first.min() >= f(1, T) and first.max() <= f(10, T) - 1
    assert second.min() >= f(10, T) and second.max() <= f(50, T) - 1
    assert np.all(mk[b.lengths - 4, cols] == -1.0)
    valid = b.valid_steps() > 0
    assert np.all((val[valid] >= 0) & (val[valid] < 1))
    a, c = val[first, cols], val[second, cols]
    y = b.targets[b.lengths - 1, cols, 0]
    np.testing.assert_allclose(y, a + c if name == "addition" else a * c, rtol=0, atol=1e-15)


@pytest.mark.parametrize("T", TS)
def test_multiplication_hs1997(T: int) -> None:
    task = make("multiplication", T, "hs1997")
    b = task.sample(np.random.default_rng(5), 400)
    cols = np.arange(b.size)
    val, mk = b.inputs[..., 0], b.inputs[..., 1]
    assert np.all(b.lengths >= T) and np.all(b.lengths <= T + T // 10)
    valid = b.valid_steps() > 0
    assert np.all((val[valid] >= 0) & (val[valid] <= 1))
    assert np.all(mk[0] != 0) and np.all(mk[b.lengths - 1, cols] != 0)  # -1 ends unless a mark sits there
    steps = np.sort(np.nonzero((mk == 1.0).T)[1].reshape(b.size, 2), axis=1)
    assert np.all(steps[:, 0] <= 9) and np.all(steps[:, 1] <= max(9, T // 2 - 1))
    surely_first = (mk[0] == 1.0) & (steps[:, 1] > 9)  # step 0 marked and certainly the first mark
    assert surely_first.sum() > 0 and np.all(val[0, surely_first] == 1.0)  # HS97 Exp. 5: X1 := 1.0
    y = b.targets[b.lengths - 1, cols, 0]
    np.testing.assert_allclose(y, val[steps[:, 0], cols] * val[steps[:, 1], cols], rtol=0, atol=1e-15)


@pytest.mark.parametrize("name", ["addition", "multiplication"])
@pytest.mark.parametrize("T", TS)
def test_add_mult_pascanu2013(name: str, T: int) -> None:
    task = make(name, T, "pascanu2013")
    b = task.sample(np.random.default_rng(6), 300)
    cols = np.arange(b.size)
    mk, val = b.inputs[..., 0], b.inputs[..., 1]  # P13 channel order: marker, value
    assert set(np.unique(mk)) <= {0.0, 1.0}
    assert np.all(b.lengths >= T) and np.all(b.lengths <= T + int(0.1 * T) - 1)
    first, second = _marks(b, mk)
    L = b.lengths
    assert np.all(first < np.array([int(x * 0.1) for x in L]))
    lo = np.array([int(x * 0.1) for x in L])
    assert np.all(second >= lo) and np.all(second < lo + np.array([int(x * 0.4) for x in L]))
    a, c = val[first, cols], val[second, cols]
    y = b.targets[L - 1, cols, 0]
    np.testing.assert_allclose(y, (a + c) / 2 if name == "addition" else a * c, rtol=0, atol=1e-15)


@pytest.mark.parametrize("T", TS)
def test_xor_ms2011(T: int) -> None:
    task = make("xor", T)
    b = task.sample(np.random.default_rng(7), 400)
    cols = np.arange(b.size)
    val, mk = b.inputs[..., 0], b.inputs[..., 1]
    lo, hi = f(50, T) + 1, max(f(55, T), f(50, T) + 1)  # half length, T' + 1 steps (notes sec. 9b)
    assert task.length_range == (lo, hi) and b.lengths.min() >= lo and b.lengths.max() <= hi
    assert set(np.unique(val)) <= {0.0, 1.0} and 0.3 < val[b.valid_steps() > 0].mean() < 0.7
    first, second = _marks(b, mk)
    assert first.min() >= f(1, T) and first.max() <= f(10, T) - 1
    assert second.min() >= f(15, T) and second.max() <= f(25, T) - 1
    assert np.all(mk[b.lengths - 4, cols] == -1.0)
    y = b.targets[b.lengths - 1, cols, 0]
    assert np.array_equal(y, (val[first, cols] != val[second, cols]).astype(float))
    assert 0.3 < y.mean() < 0.7


def test_marked_ranges_fully_covered() -> None:
    """Off-by-one guard at T=100: every allowed step and length occurs."""
    b = make("multiplication", 100).sample(np.random.default_rng(8), 3000)
    first, second = _marks(b, b.inputs[..., 1])
    assert set(first) == set(range(1, 10)) and set(second) == set(range(10, 50))
    assert set(b.lengths) == set(range(101, 111))
    b = make("xor", 100).sample(np.random.default_rng(8), 3000)
    first, second = _marks(b, b.inputs[..., 1])
    assert set(first) == set(range(1, 10)) and set(second) == set(range(15, 25))
    assert set(b.lengths) == set(range(51, 56))
    b = make("addition", 100, "pascanu2013").sample(np.random.default_rng(8), 3000)
    first, second = _marks(b, b.inputs[..., 0])
    assert set(b.lengths) == set(range(100, 110)) and set(first) == set(range(0, 10))
    # p1 = L//10 + randint((4 L)//10): up to 10 + 43 - 1 = 52 for L = 109
    assert set(second) == set(range(10, 53))
    assert make("addition", 100, "pascanu2013").marker_ranges() == ((0, 9), (10, 52))


@pytest.mark.parametrize("name", ["addition", "multiplication"])
def test_error_real_valued(name: str) -> None:
    """|err| > 0.04 for ms2011/hs1997; squared error > 0.04 (|err| > 0.2) for P13."""
    for spec in ("ms2011", "hs1997"):
        task = make(name, 50, spec)
        b = task.sample(np.random.default_rng(9), 100)
        assert task.error(b.targets + 0.03, b) == 0.0
        assert task.error(b.targets - 0.05, b) == 1.0
        out = b.targets + 9.0 * (b.mask[..., None] == 0)  # garbage on unscored steps is ignored
        out[:, :25] += 0.05 * b.mask[:, :25, None]
        assert task.error(out, b) == 0.25
    task = make(name, 50, "pascanu2013")
    b = task.sample(np.random.default_rng(9), 100)
    assert task.error(b.targets + 0.19, b) == 0.0
    assert task.error(b.targets - 0.21, b) == 1.0


def test_error_xor() -> None:
    """Sign rule on g(s): p > 0.5 means class 1 (IS11 ``sign(s) != [y > 0.5]``)."""
    task = make("xor", 60)
    b = task.sample(np.random.default_rng(10), 200)
    y = b.targets
    assert task.error(0.2 + 0.6 * y, b) == 0.0  # 0.8 for ones, 0.2 for zeros
    assert task.error(0.8 - 0.6 * y, b) == 1.0
    half = np.full_like(y, 0.5)  # s = 0: predicts 0, wrong exactly on the ones
    ones = y[b.lengths - 1, np.arange(b.size), 0]
    assert task.error(half, b) == pytest.approx(ones.mean())


# -------------------------------------------------------- temporal order


def _decode_temporal(task: Any, b: Batch) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(positions (bits, n), values (bits, n), class) read back from the inputs."""
    s = symbols(b.inputs)
    rel = (0, 1) if task.variant == "pascanu2013" else (4, 5)
    is_rel = (s == rel[0]) | (s == rel[1])
    assert np.array_equal(is_rel.sum(axis=0), np.full(b.size, task.bits))
    pos = np.sort(np.nonzero(is_rel.T)[1].reshape(b.size, task.bits), axis=1).T
    vals = s[pos, np.arange(b.size)] - rel[0]
    cls = sum(vals[k] * 2 ** (task.bits - 1 - k) for k in range(task.bits))
    return pos, vals, cls


TEMPORAL_RANGES = {  # inclusive, in percent of T (notes sec. 9a-9c)
    ("ms2011", 2): ((1, 10), (40, 50)),
    ("ms2011", 3): ((1, 10), (30, 40), (50, 60)),
    ("hs1997", 2): ((10, 20), (50, 60)),
    ("hs1997", 3): ((10, 20), (33, 43), (66, 76)),
}


@pytest.mark.parametrize("name", ["temporal_order", "temporal_order_3bit"])
@pytest.mark.parametrize("spec", ["ms2011", "hs1997", "pascanu2013"])
@pytest.mark.parametrize("T", TS)
def test_temporal_layout_and_targets(name: str, spec: str, T: int) -> None:
    task = make(name, T, spec)
    bits = 2 if name == "temporal_order" else 3
    assert task.bits == bits and task.spec.n_out == 2**bits
    b = task.sample(np.random.default_rng(12), 400)
    cols, L = np.arange(b.size), b.lengths
    valid = b.valid_steps() > 0
    assert np.all(b.inputs.sum(-1)[valid] == 1.0)  # one-hot on every real step
    assert np.array_equal(b.mask.sum(axis=0), np.ones(b.size))
    pos, _, cls = _decode_temporal(task, b)
    assert np.array_equal(b.targets[L - 1, cols].argmax(-1), cls)
    assert np.all(b.targets[L - 1, cols].sum(-1) == 1.0)
    s = symbols(b.inputs)
    if spec == "pascanu2013":
        assert task.spec.n_in == 6 and np.all(L == T)
        other = s[valid & ~np.isin(s, (0, 1))]
        assert set(np.unique(other)) <= {2, 3, 4, 5}
        for k, lo in enumerate((10, 50) if bits == 2 else (10, 30, 60)):
            assert pos[k].min() >= int(lo * T / 100) and pos[k].max() < int(lo * T / 100) + int(0.1 * T)
        return
    assert task.spec.n_in == 8
    if spec == "ms2011":  # IS11: target step T' in [T, 1.1T - 1], T' + 1 steps
        assert L.min() >= T + 1 and L.max() <= int(1.1 * T)
    else:
        assert L.min() >= T and L.max() <= int(1.1 * T)
    for k, (lo, hi) in enumerate(TEMPORAL_RANGES[(spec, bits)]):
        assert pos[k].min() >= f(lo, T) and pos[k].max() <= f(hi, T)
    trigger_at = L - (2 if (spec == "ms2011" and bits == 2) else 1)
    assert np.all(s[trigger_at, cols] == 6) and np.array_equal((s == 6).sum(axis=0), np.ones(b.size))
    assert np.all((s[0] == 7) | (pos[0] == 0)) and np.array_equal((s == 7).sum(axis=0), (pos[0] > 0).astype(int))
    distractors = valid & (s < 4)
    assert np.array_equal(distractors.sum(axis=0), L - bits - 1 - (pos[0] > 0))


@pytest.mark.parametrize("name", ["temporal_order", "temporal_order_3bit"])
def test_temporal_ms2011_balance(name: str) -> None:
    """Classes by batch index: deterministic, every prefix balanced, independent of the batch size."""
    task = make(name, 50)
    K = task.n_classes

    def classes(n: int, seed: int) -> np.ndarray:
        b = task.sample(np.random.default_rng(seed), n)
        return b.targets[b.lengths - 1, np.arange(n)].argmax(-1)

    c = classes(8 * K + 3, 0)
    assert np.array_equal(c, np.arange(8 * K + 3) % K)
    assert np.array_equal(classes(5, 1), c[:5])  # same classes for another size and seed
    counts = np.bincount(c, minlength=K)
    assert counts.max() - counts.min() <= 1
    assert np.all(np.bincount(c[: 4 * K], minlength=K) == 4)
    # The relevant symbols agree with the balanced class (decoded independently).
    b = task.sample(np.random.default_rng(2), 4 * K)
    assert np.array_equal(_decode_temporal(task, b)[2], np.arange(4 * K) % K)


@pytest.mark.parametrize("spec", ["hs1997", "pascanu2013"])
def test_temporal_random_classes(spec: str) -> None:
    task = make("temporal_order_3bit", 50, spec)
    b = task.sample(np.random.default_rng(3), 800)
    cls = b.targets[b.lengths - 1, np.arange(800)].argmax(-1)
    counts = np.bincount(cls, minlength=8)
    assert counts.min() > 60 and not np.array_equal(cls[:16], np.arange(16) % 8)


def test_temporal_error_rules() -> None:
    task = make("temporal_order", 50)
    b = task.sample(np.random.default_rng(4), 100)
    soft = 0.4 * b.targets + 0.15  # arg-max is the target class
    assert task.error(soft, b) == 0.0
    assert task.error(np.roll(soft, 1, axis=-1), b) == 1.0
    out = soft + 5.0 * (b.mask[..., None] == 0) * np.arange(4)  # unscored steps ignored
    assert task.error(out, b) == 0.0
    hs = make("temporal_order", 50, "hs1997")
    b = hs.sample(np.random.default_rng(4), 100)
    assert hs.error(0.75 * b.targets + 0.1, b) == 0.0  # every unit within 0.25 < 0.3
    assert hs.error(0.6 * b.targets + 0.05, b) == 1.0  # the target unit is off by 0.35
    out = b.targets.copy()
    out[..., 0] += 0.31 * b.mask  # one unit off by more than 0.3 on every sequence
    assert hs.error(out, b) == 1.0


# ------------------------------------------------------ random permutation


@pytest.mark.parametrize("spec", ["ms2011", "hs1997", "pascanu2013"])
@pytest.mark.parametrize("T", TS)
def test_permutation_layout(spec: str, T: int) -> None:
    task = make("random_permutation", T, spec)
    n = n_for("random_permutation", T)
    b = task.sample(np.random.default_rng(5), n)
    cols = np.arange(n)
    S = T + 1 if spec == "hs1997" else 100
    assert task.spec.n_in == task.spec.n_out == S and np.all(b.lengths == T) and task.max_length == T
    assert np.all(b.inputs.sum(-1) == 1.0)
    s = symbols(b.inputs)
    key = s[0]
    assert set(np.unique(key)) <= {0, 1} and np.all((s[1:] >= 2) & (s[1:] < S))
    assert np.array_equal(b.targets[T - 1].argmax(-1), key)
    if spec == "ms2011":
        assert np.array_equal(key, cols % 2)  # balanced by batch index (IS11)
    else:
        assert 0.3 < key.mean() < 0.7 and not np.array_equal(key, cols % 2)
    if spec == "pascanu2013":
        assert np.array_equal(b.mask, np.eye(T)[T - 1][:, None] * np.ones((1, n)))
    else:
        assert np.all(b.mask == 1.0)
        assert np.array_equal(b.targets[: T - 1].argmax(-1), s[1:])  # next-symbol prediction
        assert np.all(b.targets.sum(-1) == 1.0)


def test_permutation_distractors_cover_alphabet() -> None:
    b = make("random_permutation", 200).sample(np.random.default_rng(6), 30)
    assert set(np.unique(symbols(b.inputs)[1:])) == set(range(2, 100))


def test_permutation_error_only_last_step() -> None:
    task = make("random_permutation", 30)
    b = task.sample(np.random.default_rng(7), 50)
    out = 0.5 * b.targets + 0.005
    out[:-1] = np.roll(out[:-1], 3, axis=-1)  # every step but the last is wrong: ignored
    assert task.error(out, b) == 0.0
    out[-1, :10] = np.roll(out[-1, :10], 1, axis=-1)
    assert task.error(out, b) == pytest.approx(0.2)
    hs = make("random_permutation", 30, "hs1997")
    b = hs.sample(np.random.default_rng(7), 50)
    assert hs.error(0.8 * b.targets + 0.1, b) == 0.0  # max error 0.2 < 0.25
    assert hs.error(0.9 * b.targets + 0.26 * (1 - b.targets), b) == 1.0  # a non-target unit at 0.26


# ------------------------------------------------------------ memorisation


@pytest.mark.parametrize("spec", ["ms2011", "pascanu2013"])
@pytest.mark.parametrize("bits", [5, 20])
@pytest.mark.parametrize("T", TS)
def test_memorization_layout(spec: str, bits: int, T: int) -> None:
    task = make("memorization", T, spec, bits=bits)
    c, k = (2, 5) if bits == 5 else (5, 10)
    assert (task.char_size, task.num_chars) == (c, k)
    assert task.spec.n_in == c + 2 and task.spec.n_out == c + 1 and task.spec.output == "softmax"
    L = T if spec == "ms2011" else T + 2 * k
    go = T - k - 1 if spec == "ms2011" else T + k  # IS11: V[-k-1]; P13: first output step
    b = task.sample(np.random.default_rng(8), 150)
    assert b.inputs.shape[0] == L and np.all(b.lengths == L) and np.all(b.mask == 1.0) and task.go_step == go
    assert np.all(b.inputs.sum(-1) == 1.0) and np.all(b.targets.sum(-1) == 1.0)
    s, y = symbols(b.inputs), b.targets.argmax(-1)
    data = s[:k]
    assert np.all(data < c)
    expected_in = np.full((L, 150), c)
    expected_in[:k] = data
    expected_in[go] = c + 1
    assert np.array_equal(s, expected_in)
    expected_out = np.full((L, 150), c)
    expected_out[L - k :] = data
    assert np.array_equal(y, expected_out)


def test_memorization_uniform_strings() -> None:
    b = make("memorization", 12, bits=5).sample(np.random.default_rng(9), 2000)
    codes = (symbols(b.inputs)[:5] * (2 ** np.arange(4, -1, -1))[:, None]).sum(0)
    counts = np.bincount(codes, minlength=32)
    assert counts.min() > 30  # all 32 strings, roughly uniform (expected 62.5 each)


def test_memorization_errors() -> None:
    """Per-sequence error in both variants (P13; ms2011 since issue 16); IS11's per-step rate as an extra metric."""
    for spec in ("ms2011", "pascanu2013"):
        task = make("memorization", 40, spec, bits=20)
        b = task.sample(np.random.default_rng(10), 50)
        out = 0.5 * b.targets + 0.05
        assert task.error(out, b) == 0.0 and task.sequence_error(out, b) == 0.0
        out[-3:, :4] = np.roll(out[-3:, :4], 1, axis=-1)  # 3 wrong steps in each of 4 sequences
        assert task.sequence_error(out, b) == pytest.approx(4 / 50)
        assert task.error(out, b) == pytest.approx(4 / 50)
        extra = task.extra_metrics(out, b)
        assert extra["step_error"] == pytest.approx(12 / b.mask.sum())
        assert extra["recall_error"] == pytest.approx(12 / (50 * 10))


def test_p13_threshold_constant() -> None:
    task = make("temporal_order", 30, "pascanu2013", success_threshold=P13_SUCCESS_THRESHOLD)
    assert task.solved(0.0) and not task.solved(1 / 10000)


# -------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("name", "kw", "field"),
    [
        ("multiplication", {"T": 9}, "T=9"),
        ("multiplication", {"spec": "p13"}, "spec='p13'"),
        ("multiplication", {"tolerance": 0.0}, "tolerance=0.0"),
        ("multiplication", {"test_size": 0}, "test_size=0"),
        ("multiplication", {"success_threshold": 0.0}, "success_threshold=0.0"),
        ("addition", {"spec": "pascanu"}, "spec='pascanu'"),
        ("xor", {"T": 5}, "T=5"),
        ("xor", {"spec": "hs1997"}, "spec='hs1997'"),
        ("xor", {"success_threshold": 2.0}, "success_threshold=2.0"),
        ("temporal_order", {"T": 9}, "T=9"),
        ("temporal_order", {"spec": "ms2012"}, "spec='ms2012'"),
        ("temporal_order_3bit", {"T": 3}, "T=3"),
        ("temporal_order_3bit", {"test_size": -1}, "test_size=-1"),
        ("random_permutation", {"T": 1}, "T=1"),
        ("random_permutation", {"symbols": 2}, "symbols=2"),
        ("random_permutation", {"spec": "x"}, "spec='x'"),
        ("memorization", {"T": 10}, "T=10"),
        ("memorization", {"T": 20, "bits": 20}, "T=20"),
        ("memorization", {"T": 0, "spec": "pascanu2013"}, "T=0"),
        ("memorization", {"bits": 8}, "bits=8"),
        ("memorization", {"spec": "hs1997"}, "spec='hs1997'"),
    ],
)
def test_validation(name: str, kw: dict, field: str) -> None:
    factory, config = REGISTRY[name]
    with pytest.raises(ValueError, match=field) as info:
        factory(replace(config, **kw))
    msg = str(info.value)
    assert "\n" not in msg and msg.startswith(name)
    if "T" in kw:
        assert "(" in msg and ")" in msg  # the reason for the minimum is given


def test_minimum_T_accepted() -> None:
    for name, T, kw in [("multiplication", 10, {}), ("xor", 10, {}), ("temporal_order", 10, {}),
                        ("temporal_order_3bit", 10, {"spec": "pascanu2013"}), ("random_permutation", 2, {}),
                        ("memorization", 11, {}), ("memorization", 21, {"bits": 20}),
                        ("memorization", 1, {"spec": "pascanu2013"})]:
        task = make(name, T, **kw)
        b = task.sample(np.random.default_rng(0), 16)
        assert task.error(b.targets, b) == 0.0


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_configs_compose_with_omegaconf(name: str) -> None:
    omegaconf = pytest.importorskip("omegaconf")
    from hfcore.config import TrainConfig

    factory, config = REGISTRY[name]
    merged = omegaconf.OmegaConf.merge(omegaconf.OmegaConf.structured(TrainConfig),
                                       {"task": omegaconf.OmegaConf.structured(config)},
                                       omegaconf.OmegaConf.from_dotlist(["task.T=50", "task.test_size=10"]))
    task = factory(merged.task)
    assert task.name == name and task.T == 50 and task.test_batch().size == 10

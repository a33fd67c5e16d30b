"""Two marked values in a noisy sequence: the common core of addition, multiplication and XOR.

The three tasks differ only in the value distribution, the operation applied to
the two marked values and (for XOR) the lengths and output; marker placement,
lengths and padding are shared here (algorithm notes sec. 9a-9c).

Variants
--------
``ms2011``
    IS11 ``op_cls`` (notes sec. 9b): 2-d input (value, marker). Target step
    ``T' ~ randint(lo, hi)``, so the sequence has ``L = T' + 1`` steps; first
    mark ``I ~ randint(i_lo, i_hi)``, second mark ``J ~ randint(j_lo, j_hi)``;
    marker ``-1`` at step 0 and at the end signal ``T' - 3`` (three steps
    before the target), ``+1`` at ``I`` and ``J`` (written after the step-0
    ``-1``, so ``+1`` wins where ``I = 0``; ``J < T' - 3`` always).
``hs1997``
    HS97 Exp. 4/5 (notes sec. 9a): 2-d input (value, marker), ``L`` uniform in
    ``[T, T + T//10]``, first mark among steps 0..9, second among the first
    ``T//2 - 1`` unmarked steps, marker ``-1`` at the first and last steps
    (written first, so the marks win).
``pascanu2013``
    P13 ``AddTask`` (notes sec. 9c): 2-d input (**marker, value**, in that
    order), marker 0/1 only, ``L = T + randint(T//10)``, first mark
    ``p0 ~ randint(0, L//10)``, second ``p1 = L//10 + randint((4 L)//10)``.
    P13 draws one ``L`` per batch; here it is drawn per sequence so that the
    fixed test set covers every length (the positions scale with each
    sequence's own ``L`` as in P13).

In every variant the random stream consumed per batch does not depend on the
drawn lengths: values are drawn for all ``T_max`` steps, then zeroed on padding.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from hfcore.kit.tasks import SequenceTask, abs_wrong, check_common, check_positive, check_spec, check_T
from hfcore.types import Batch, ModelSpec
from hfcore_tasks._common import end_target_batch, randint_range, scale, valid_steps

MIN_T = 10
"""Smallest supported ``T`` for the marked-pair tasks.

``ms2011``: the first-marker range ``[int(T/100), int(T/10))`` is empty for
``T < 10``; ``hs1997``: the first mark lies among the first 10 steps;
``pascanu2013``: ``randint(int(0.1 T))`` needs ``T >= 10``.
"""

MIN_T_REASON = (
    "shorter sequences leave the first-marker range [int(T/100), int(T/10)) empty / "
    "cannot hold HS97's first 10 steps"
)


@dataclass(frozen=True)
class PairDraw:
    """Raw draw of a marked-pair batch (time-major, padding already zero).

    Attributes
    ----------
    values, marker : ndarray, shape (T_max, n)
    lengths, first, second : ndarray of int, shape (n,)
        Sequence lengths and the two marked steps.
    """

    values: np.ndarray
    marker: np.ndarray
    lengths: np.ndarray
    first: np.ndarray
    second: np.ndarray

    def marked(self) -> tuple[np.ndarray, np.ndarray]:
        """The two marked values ``(X1, X2)`` read back from the value channel."""
        cols = np.arange(self.lengths.size)
        return self.values[self.first, cols], self.values[self.second, cols]


ValueFn = Callable[[np.random.Generator, tuple[int, int]], np.ndarray]
"""Draws the value channel for all ``(T_max, n)`` steps from the generator."""


def uniform01(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """Values ``~U[0, 1)`` (IS11 ``rand``, HS97 Exp. 5, P13)."""
    return rng.uniform(0.0, 1.0, size=shape)


def uniform11(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """Values ``~U[-1, 1)`` (HS97 Exp. 4)."""
    return rng.uniform(-1.0, 1.0, size=shape)


def bits(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """Fair bits as 0.0 / 1.0 (IS11 XOR: ``rand() < 0.5``)."""
    return rng.integers(0, 2, size=shape).astype(np.float64)


def draw_ms2011(
    rng: np.random.Generator,
    n: int,
    steps: int,
    ends: tuple[int, int],
    first: tuple[int, int],
    second: tuple[int, int],
    values: ValueFn,
) -> PairDraw:
    """IS11 ``op_cls`` (notes sec. 9b); all ranges half-open ``[lo, hi)``.

    ``ends`` is the range of the release's ``T'``, the index of the target
    step (``M[T'] = 1``), so each sequence has ``T' + 1`` steps and ``steps``
    must be at least ``ends[1]``. Draw order (fixed, so batches replay from
    the generator state): target steps, first mark, second mark, values.
    """
    cols = np.arange(n)
    end = rng.integers(*ends, size=n)
    L = end + 1
    I = rng.integers(*first, size=n)  # noqa: E741  (the release's name)
    J = rng.integers(*second, size=n)
    vals = np.where(valid_steps(L, steps), values(rng, (steps, n)), 0.0)
    marker = np.zeros((steps, n))
    marker[0, :] = -1.0
    marker[end - 3, cols] = -1.0  # the release's "about to predict" signal, three steps before the target
    marker[I, cols] = 1.0  # +1 written after the step-0 -1: wins where I = 0 (as in the release)
    marker[J, cols] = 1.0
    return PairDraw(vals, marker, L, I, J)


def draw_hs1997(
    rng: np.random.Generator, n: int, steps: int, T: int, lengths: tuple[int, int], values: ValueFn
) -> PairDraw:
    """HS97 Exp. 4/5 marker placement (notes sec. 9a); ``lengths`` half-open.

    The second mark is uniform among the first ``T//2 - 1`` steps that are not
    the first mark: draw ``k`` in ``[0, T//2 - 1)`` and skip over the first
    mark (``k + (k >= p1)``). Draw order: lengths, first, ``k``, values.
    """
    cols = np.arange(n)
    L = rng.integers(*lengths, size=n)
    first = rng.integers(0, 10, size=n)
    k = rng.integers(0, T // 2 - 1, size=n)
    second = k + (k >= first)
    vals = np.where(valid_steps(L, steps), values(rng, (steps, n)), 0.0)
    marker = np.zeros((steps, n))
    marker[0, :] = -1.0
    marker[L - 1, cols] = -1.0
    marker[first, cols] = 1.0  # marks win on collision with the -1 steps
    marker[second, cols] = 1.0
    return PairDraw(vals, marker, L, first, second)


def draw_p13(rng: np.random.Generator, n: int, steps: int, T: int, values: ValueFn) -> PairDraw:
    """P13 ``AddTask`` marker placement (notes sec. 9c), one length per sequence.

    ``L = T + randint(T//10)``, ``p0 = randint(L//10)``,
    ``p1 = L//10 + randint((4 L)//10)``; marker 0/1. Draw order: lengths, p0,
    p1, values.
    """
    cols = np.arange(n)
    L = T + rng.integers(0, T // 10, size=n)
    p0 = rng.integers(0, L // 10)
    p1 = L // 10 + rng.integers(0, (4 * L) // 10)
    vals = np.where(valid_steps(L, steps), values(rng, (steps, n)), 0.0)
    marker = np.zeros((steps, n))
    marker[p0, cols] = 1.0
    marker[p1, cols] = 1.0
    return PairDraw(vals, marker, L, p0, p1)


def validate(
    name: str, T: Any, variant: Any, specs: tuple[str, ...], test_size: Any, success_threshold: Any
) -> None:
    """Shared factory checks of the marked-pair tasks (one-line ``ValueError``)."""
    check_T(name, T, MIN_T, MIN_T_REASON)
    check_spec(name, variant, specs)
    check_common(name, test_size, success_threshold)


class MarkedPairTask(SequenceTask):
    """Base of addition and multiplication (IS11 / HS97 / P13 forms).

    Subclasses give :meth:`_target` and the HS97 first-pair fix-up
    (:attr:`hs1997_first_value`) and value distribution
    (:attr:`hs1997_values`).

    Notes
    -----
    Error rule per variant (notes sec. 9a-9c): ``ms2011`` and ``hs1997``
    count a target wrong when ``|y_hat - y| > tolerance``; ``pascanu2013``
    when ``(y_hat - y)^2 > tolerance``. ``tolerance`` is 0.04 in all three
    papers. Non-finite outputs are wrong.
    """

    SPECS: tuple[str, ...] = ("ms2011", "hs1997", "pascanu2013")
    hs1997_values: ValueFn = staticmethod(uniform01)
    hs1997_first_value: float = 0.0
    _repr_fields = ("tolerance",)

    def __init__(
        self,
        T: int = 30,
        variant: str = "ms2011",
        tolerance: float = 0.04,
        test_size: int = 10000,
        test_seed: int = 12345,
        success_threshold: float = 0.001,
    ) -> None:
        validate(self.name, T, variant, self.SPECS, test_size, success_threshold)
        check_positive(self.name, "tolerance", tolerance)
        super().__init__(T, variant, test_size, test_seed, success_threshold)
        self.tolerance = float(tolerance)
        self.spec = ModelSpec(n_in=2, n_out=1, output="linear")
        self._lambda0 = 0.01  # IS11: 0.01 * num_outputs, num_outputs = 1 (notes sec. 6)
        T = self.T
        if self.variant == "ms2011":
            # Target step T' ~ randint(T, int(1.1T)), i.e. [T, 1.1T - 1] (widened to {T} only if empty);
            # a sequence has T' + 1 steps, so lengths run T + 1 .. 1.1T.
            self._ends = randint_range(T, (11 * T) // 10)
            self._len = (self._ends[0] + 1, self._ends[1] + 1)
        elif self.variant == "hs1997":
            self._len = (T, T + T // 10 + 1)  # inclusive upper end T + T//10
        else:
            self._len = (T, T + T // 10)  # T + randint(int(0.1 T))
        self.max_length = self._len[1] - 1

    @property
    def length_range(self) -> tuple[int, int]:
        """Inclusive ``(min, max)`` of the real sequence lengths."""
        return self._len[0], self._len[1] - 1

    def marker_ranges(self) -> tuple[tuple[int, int], tuple[int, int]]:
        """Inclusive ranges of the two marked steps.

        Returns
        -------
        tuple
            ``((I_min, I_max), (J_min, J_max))``. For ``hs1997`` the second
            range is the union of candidate steps ``[0, T//2 - 1]`` (the first
            mark's step is excluded per sequence); for ``pascanu2013`` both are
            unions over the possible lengths.
        """
        T = self.T
        if self.variant == "ms2011":
            return (scale(1, T), scale(10, T) - 1), (scale(10, T), scale(50, T) - 1)
        if self.variant == "hs1997":
            return (0, 9), (0, T // 2 - 1)
        lo, hi = self.length_range
        return (0, hi // 10 - 1), (lo // 10, hi // 10 + (4 * hi) // 10 - 1)

    def _draw(self, rng: np.random.Generator, n: int) -> PairDraw:
        T, Tm = self.T, self.max_length
        if self.variant == "ms2011":
            return draw_ms2011(rng, n, Tm, self._ends, (scale(1, T), scale(10, T)), (scale(10, T), scale(50, T)),
                               uniform01)
        if self.variant == "hs1997":
            d = draw_hs1997(rng, n, Tm, T, self._len, self.hs1997_values)
            # HS97: X1 is fixed when the very first pair is marked; set in the input too, so the
            # target stays readable from the inputs.
            d.values[0, d.first == 0] = self.hs1997_first_value
            return d
        return draw_p13(rng, n, Tm, T, uniform01)

    def _target(self, x1: np.ndarray, x2: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _sample(self, rng: np.random.Generator, n: int) -> Batch:
        d = self._draw(rng, n)
        x1, x2 = d.marked()
        channels = (d.marker, d.values) if self.variant == "pascanu2013" else (d.values, d.marker)
        return end_target_batch(np.stack(channels, axis=-1), self._target(x1, x2), d.lengths)

    def value_channel(self) -> int:
        """Index of the value channel (0, or 1 for ``pascanu2013``); the other is the marker."""
        return 1 if self.variant == "pascanu2013" else 0

    def _wrong(self, outputs: np.ndarray, batch: Batch) -> np.ndarray:
        if self.variant == "pascanu2013":
            return ~np.all((outputs - batch.targets) ** 2 <= self.tolerance, axis=-1)
        return abs_wrong(outputs, batch.targets, self.tolerance)

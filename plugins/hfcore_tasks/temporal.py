"""The temporal order problems (HS97 tasks 6a and 6b; MS11 problems 4 and 5) as hfcore tasks.

A sequence of random distractor symbols contains two (``temporal_order``) or
three (``temporal_order_3bit``) relevant symbols, each X or Y, at widely
separated positions; at the end the network must name the ordered
combination: 4 (or 8) classes, one target at the last real step.

Variants (``spec``)
-------------------
``ms2011`` (default; IS11 ``temporal2`` / ``temporal3``, algorithm notes sec. 9b)
    8-d one-hot input: 0-3 distractors, 4 = X, 5 = Y, 6 = "predict now",
    7 = start (at step 0). With ``f(x) = int(x T / 100)``: target step
    ``T' ~ randint(f(100), f(110))``, and as in the release (``M[T'] = 1``) a
    sequence has ``L = T' + 1`` steps, so lengths run ``f(100) + 1 .. f(110)``;
    2-bit: ``I`` in ``[f(1), f(10)]``, ``J`` in ``[f(40), f(50)]`` (inclusive,
    the release's ``randint(a, b + 1)``), "predict now" one step before the
    target (step ``T'-1 = L-2``); 3-bit: ``I`` in ``[f(1), f(10)]``, ``J`` in
    ``[f(30), f(40)]``, ``K`` in ``[f(50), f(60)]``, "predict now" at the target
    step ``T' = L-1``. Softmax over 4 (8) classes with
    cross-entropy; wrong when the arg-max class is wrong. Classes are balanced
    by batch index as in the release: sequence ``b`` of every batch has class
    ``b mod 4`` (``b mod 8``), so the balance is deterministic, independent of
    the batch size (counts differ by at most one, exactly equal when the size is
    a multiple of the class count) and holds for every prefix of a batch, such
    as the curvature subset.
``hs1997`` (HS97 6a / 6b, notes sec. 9a)
    Same 8-d alphabet (a-d, X, Y, B = "predict now", E = start). Length uniform
    in ``[f(100), f(110)]``; 6a: ``t1`` in ``[f(10), f(20)]``, ``t2`` in
    ``[f(50), f(60)]``; 6b: ``[f(10), f(20)]``, ``[f(33), f(43)]``,
    ``[f(66), f(76)]`` (inclusive; HS97's 100-110 step values scaled by
    ``T/100``). E at step 0, B at the last step (the target step). Classes
    drawn at random. HS97 used sigmoid output units, so the output is
    ``logistic`` (one unit per class, cross-entropy); a target is wrong unless
    **every** output is within 0.3 of its target (HS97's criterion).
``pascanu2013`` (P13 ``tempOrder.py`` / ``tempOrder3bit.py``, notes sec. 9c)
    6-d one-hot input: 0 = A, 1 = B (the relevant symbols), 2-5 distractors;
    no start or "predict now" symbol; fixed length ``T``. Positions
    ``lo + randint(f(10))`` with ``lo = f(10), f(50)`` (2-bit) or
    ``f(10), f(30), f(60)`` (3-bit), i.e. ``[0.1T, 0.2T)`` etc. as in P13's
    code. Classes drawn at random; softmax, arg-max error. P13 counts the task
    solved at zero test errors (``success_threshold`` =
    :data:`~hfcore_tasks._common.P13_SUCCESS_THRESHOLD`).

Class labels: ``class = sum_k v_k 2^(bits-1-k)`` with ``v_k = 0`` for X (A) and 1
for Y (B), the first relevant symbol most significant, in every variant. IS11's
3-bit and P13's labelling (first symbol least significant) differ from this by
a fixed permutation of the labels, which does not change the problem.

Where a relevant symbol falls on step 0 (possible in ``ms2011`` for ``T < 100``,
where ``f(1) = 0``) it overwrites the start symbol, as in the release.
Padding steps are all-zero in inputs, targets and mask. ``default_lambda0`` is
IS11's 0.08 (``0.01 * num_outputs`` with ``num_outputs = 8`` for both problems,
notes sec. 6).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from hfcore.config import TaskConfig
from hfcore.kit.tasks import SequenceTask, argmax_wrong, check_choice, check_common, check_spec, check_T
from hfcore.types import Batch, ModelSpec
from hfcore_tasks._common import (
    balanced_classes,
    class_bits,
    end_target_batch,
    one_hot,
    randint_range,
    scale,
    valid_steps,
)

SPECS = ("ms2011", "hs1997", "pascanu2013")
"""Known generator variants (``spec``)."""

MIN_T = 10
"""Smallest supported ``T``: below it P13's ``randint(int(0.1 T))`` is empty, HS97's first window
``[f(10), f(20)]`` reaches the start step and IS11's length range ``randint(f(100), f(110))`` is empty."""

HS97_TOLERANCE = 0.3
"""HS97 6a/6b: correct when the absolute error of every output is below this at the end."""

# 8-d alphabet of ms2011 / hs1997 (notes sec. 9b): distractors 0-3, X = 4, Y = 5, trigger 6, start 7.
_X8, _TRIGGER, _START = 4, 6, 7
# 6-d alphabet of P13: A = 0, B = 1, distractors 2-5.
_X6 = 0

_POSITIONS = {
    # inclusive (lo, hi) in units of f(x) = int(x T / 100); P13 entries are (lo, lo + 10) half-open
    ("ms2011", 2): ((1, 10), (40, 50)),
    ("ms2011", 3): ((1, 10), (30, 40), (50, 60)),
    ("hs1997", 2): ((10, 20), (50, 60)),
    ("hs1997", 3): ((10, 20), (33, 43), (66, 76)),
    ("pascanu2013", 2): (10, 50),
    ("pascanu2013", 3): (10, 30, 60),
}


@dataclass
class TemporalOrderConfig(TaskConfig):
    """Config schema of the 2-bit temporal order task (HS97 6a).

    Parameters
    ----------
    name : str
        Registry name, ``"temporal_order"``.
    T : int
        Nominal length, >= 10 (lengths in ``[T + 1, 1.1 T]`` for ``ms2011``,
        ``[T, 1.1 T]`` for ``hs1997``, exactly ``T`` for ``pascanu2013``).
    spec : str
        Generator variant, one of :data:`SPECS`.
    test_size, test_seed, success_threshold
        Inherited from :class:`hfcore.config.TaskConfig`.
    """

    name: str = "temporal_order"
    T: int = 30
    spec: str = "ms2011"


@dataclass
class TemporalOrder3BitConfig(TaskConfig):
    """Config schema of the 3-bit temporal order task (HS97 6b); fields as :class:`TemporalOrderConfig`."""

    name: str = "temporal_order_3bit"
    T: int = 30
    spec: str = "ms2011"


class TemporalOrderTask(SequenceTask):
    """Temporal order problem with ``bits`` relevant symbols (4 or 8 classes).

    Parameters
    ----------
    T : int
        Nominal length, at least :data:`MIN_T`.
    variant : str
        One of :data:`SPECS` (see module docstring).
    bits : int
        2 (``temporal_order``) or 3 (``temporal_order_3bit``).
    test_size, test_seed, success_threshold
        As for :class:`hfcore_tasks.addition.AdditionTask`.

    Attributes
    ----------
    name : str
        ``"temporal_order"`` or ``"temporal_order_3bit"``.
    spec : ModelSpec
        8 inputs (6 for ``pascanu2013``), ``2**bits`` outputs, ``"softmax"``
        (``"logistic"`` for ``hs1997``).
    n_classes : int
        ``2**bits``.
    default_lambda0 : float
        0.08 (IS11, notes sec. 6).
    """

    _repr_fields = ("bits",)

    def __init__(
        self,
        T: int = 30,
        variant: str = "ms2011",
        bits: int = 2,
        test_size: int = 10000,
        test_seed: int = 12345,
        success_threshold: float = 0.001,
    ) -> None:
        name = "temporal_order" if bits == 2 else "temporal_order_3bit"
        check_choice("temporal_order", "bits", bits, (2, 3))
        check_T(name, T, MIN_T, "below it P13's window randint(int(0.1 T)) is empty")
        check_spec(name, variant, SPECS)
        check_common(name, test_size, success_threshold)
        super().__init__(T, variant, test_size, test_seed, success_threshold)
        self.name = name
        self.bits = int(bits)
        self.n_classes = 2**self.bits
        T = self.T
        if self.variant == "pascanu2013":
            self._len = (T, T + 1)
            self._pos = tuple((scale(lo, T), scale(lo, T) + scale(10, T)) for lo in _POSITIONS[(variant, bits)])
            self.spec = ModelSpec(n_in=6, n_out=self.n_classes, output="softmax")
        else:
            if self.variant == "ms2011":
                # Target step T' ~ randint(f(100), f(110)); T' + 1 steps (the release's M[T'] = 1).
                ends = randint_range(scale(100, T), scale(110, T))
                self._len = (ends[0] + 1, ends[1] + 1)
            else:
                self._len = (scale(100, T), scale(110, T) + 1)
            self._pos = tuple((scale(lo, T), scale(hi, T) + 1) for lo, hi in _POSITIONS[(variant, bits)])
            output = "softmax" if self.variant == "ms2011" else "logistic"
            self.spec = ModelSpec(n_in=8, n_out=self.n_classes, output=output)
        self.max_length = self._len[1] - 1
        self._lambda0 = 0.08

    @property
    def length_range(self) -> tuple[int, int]:
        """Inclusive ``(min, max)`` of the real sequence lengths."""
        return self._len[0], self._len[1] - 1

    def position_ranges(self) -> tuple[tuple[int, int], ...]:
        """Inclusive ``(lo, hi)`` of each relevant symbol's step, in order."""
        return tuple((lo, hi - 1) for lo, hi in self._pos)

    def trigger_offset(self) -> int | None:
        """Steps from the end of the "predict now" symbol (1 = last step), or None (P13 has none)."""
        if self.variant == "pascanu2013":
            return None
        return 2 if (self.variant == "ms2011" and self.bits == 2) else 1

    def _sample(self, rng: np.random.Generator, n: int) -> Batch:
        Tm, cols = self.max_length, np.arange(n)
        # Draw order is fixed per variant: lengths, positions, classes, distractors.
        if self.variant == "pascanu2013":
            lengths = np.full(n, self.T, dtype=np.int64)
        else:
            lengths = rng.integers(*self._len, size=n)
        positions = [rng.integers(lo, hi, size=n) for lo, hi in self._pos]
        if self.variant == "ms2011":
            classes = balanced_classes(n, self.n_classes)  # IS11: balanced by batch index, no randomness
        else:
            classes = rng.integers(0, self.n_classes, size=n)
        if self.variant == "pascanu2013":
            symbols = rng.integers(2, 6, size=(Tm, n))
            x = _X6
        else:
            symbols = rng.integers(0, 4, size=(Tm, n))
            symbols[0, :] = _START
            symbols[lengths - self.trigger_offset(), cols] = _TRIGGER
            x = _X8
        for p, v in zip(positions, class_bits(classes, self.bits), strict=True):
            symbols[p, cols] = x + v  # written last: a relevant symbol wins over the start symbol
        symbols[~valid_steps(lengths, Tm)] = -1  # padding -> all-zero input rows
        inputs = one_hot(symbols, self.spec.n_in)
        return end_target_batch(inputs, one_hot(classes, self.n_classes), lengths)

    def _wrong(self, outputs: np.ndarray, batch: Batch) -> np.ndarray:
        if self.variant == "hs1997":
            return ~np.all(np.abs(outputs - batch.targets) < HS97_TOLERANCE, axis=-1)
        return argmax_wrong(outputs, batch.targets)


def make_temporal_order(cfg: TemporalOrderConfig | Any) -> TemporalOrderTask:
    """Build the 2-bit :class:`TemporalOrderTask` from its config.

    Raises
    ------
    ValueError
        If ``T < 10``, ``spec`` is unknown, ``test_size < 1`` or
        ``success_threshold`` is outside (0, 1].
    """
    return TemporalOrderTask(T=cfg.T, variant=cfg.spec, bits=2, test_size=cfg.test_size,
                             test_seed=cfg.test_seed, success_threshold=cfg.success_threshold)


def make_temporal_order_3bit(cfg: TemporalOrder3BitConfig | Any) -> TemporalOrderTask:
    """Build the 3-bit :class:`TemporalOrderTask` from its config (checks as :func:`make_temporal_order`)."""
    return TemporalOrderTask(T=cfg.T, variant=cfg.spec, bits=3, test_size=cfg.test_size,
                             test_seed=cfg.test_seed, success_threshold=cfg.success_threshold)

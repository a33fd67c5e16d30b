"""The addition problem (Hochreiter & Schmidhuber 1997, Exp. 4) as an hfcore task.

Two generators are provided, chosen by ``AdditionConfig.spec``:

``ms2011`` (default)
    The form of Sutskever's 2011 HF-RNN release used for Martens & Sutskever
    (2011), algorithm notes sec. 9b ("Add").
``hs1997``
    The original of Hochreiter & Schmidhuber (1997), Exp. 4, notes sec. 9a
    ("Adding").

Both give a 2-d input (value, marker) per step, one scalar target at the last
real step of each sequence and a linear output with half squared error. A
target counts as wrong when ``|y_hat - y| > tolerance`` (0.04 in both papers);
the task is solved when fewer than ``success_threshold`` of the fixed test
targets are wrong (IS11 criterion, notes sec. 9b).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from hfcore.config import TaskConfig
from hfcore.types import Batch, ModelSpec

SPECS = ("ms2011", "hs1997")
"""Known generator variants (``AdditionConfig.spec``)."""

MIN_T = 10
"""Smallest supported ``T``.

For ``ms2011`` the first marker is drawn from ``randint(int(T/100), int(T/10))``,
which is empty for ``T < 10``. For ``hs1997`` the first marker lies among the
first 10 steps, so shorter sequences could not hold it; the same bound keeps
both variants on one validation rule.
"""


@dataclass
class AdditionConfig(TaskConfig):
    """Config schema of the addition task.

    Parameters
    ----------
    name : str
        Registry name, ``"addition"``.
    T : int
        Nominal sequence length (minimum length; real lengths are drawn in
        ``[T, 1.1 T)`` for ``ms2011`` and ``[T, T + T//10]`` for ``hs1997``).
    spec : str
        Generator variant, one of :data:`SPECS`.
    tolerance : float
        A target is wrong when ``|y_hat - y| > tolerance``.
    test_size, test_seed, success_threshold
        Inherited from :class:`hfcore.config.TaskConfig`.
    """

    name: str = "addition"
    T: int = 30
    spec: str = "ms2011"
    tolerance: float = 0.04


def _f(x: int, T: int) -> int:
    """``int(x * T / 100)`` in exact integer arithmetic (notes sec. 9b).

    Exact for non-negative integers and free of float artefacts such as
    ``1.1 * 30 = 33.000000000000004`` that the float form would have to be
    trusted on.
    """
    return (x * T) // 100


class AdditionTask:
    """Addition problem: output the sum of two marked values at the end.

    Parameters
    ----------
    T : int
        Nominal length, at least :data:`MIN_T`.
    variant : str
        ``"ms2011"`` or ``"hs1997"`` (see module docstring).
    tolerance : float
        Per-target error threshold, > 0.
    test_size : int
        Number of fixed test sequences, >= 1.
    test_seed : int
        Seed of the fixed test set (``np.random.default_rng(test_seed)``).
    success_threshold : float
        Solved when the test error rate is below this, in (0, 1].

    Attributes
    ----------
    name : str
        ``"addition"``.
    spec : ModelSpec
        2 inputs, 1 output, ``"linear"`` output with half squared error.
    variant : str
        The generator variant (called ``spec`` in the config; renamed here
        because the :class:`hfcore.interfaces.Task` protocol reserves ``spec``
        for the :class:`ModelSpec`).
    max_length : int
        Array length ``T_max`` of every batch (the longest possible sequence).

    Notes
    -----
    ``ms2011`` (notes sec. 9b, IS11 ``pathological.py``), with
    ``f(x) = int(x T / 100)`` and ``randint(a, b)`` an integer in ``[a, b-1]``:

    - length ``T' ~ randint(T, int(1.1 T))``, computed as ``(11 T) // 10``;
      the upper end is raised to ``T + 1`` should the range be empty (only for
      ``T < 10``, which validation rejects), so ``T' >= T``. At ``T = 10`` the
      range is ``{10}``;
    - ``I ~ randint(f(1), f(10))``, ``J ~ randint(f(10), f(50))``. For ``T >= 10``
      both ranges are non-empty and ``I < f(10) <= J``, so ``I != J`` always
      (no rejection step is needed);
    - channel 0: value ``~U[0, 1]`` at every real step; channel 1 (marker):
      ``-1`` at step 0 and step ``T'-3``, ``+1`` at steps ``I`` and ``J``.
      ``+1`` is written last, so it wins where ``I = 0`` meets the step-0
      ``-1``. ``J <= T/2 - 1 < T' - 3`` for ``T >= 10``, so ``J`` never meets
      the ``T'-3`` marker;
    - target ``A + B`` (the two marked values, unscaled) at step ``T'-1``.

    ``hs1997`` (notes sec. 9a, HS97 Exp. 4):

    - length ``L`` uniform in ``[T, T + T//10]`` (inclusive);
    - first mark ``p1`` uniform among steps ``0..9``; if ``p1 = 0`` its value
      ``X1`` is set to 0 *in the input as well*, so the target stays readable
      from the inputs;
    - second mark uniform among the first ``T//2 - 1`` steps that are not
      ``p1`` (draw ``k`` in ``[0, T//2 - 1)``, then step ``k + (k >= p1)``);
    - values ``~U[-1, 1]``; marker ``-1`` on the first and last steps, written
      before the ``+1`` marks so that the marks win on collision (possible at
      step 0, and at step ``L-1 = 9`` when ``T = 10``);
    - target ``0.5 + (X1 + X2) / 4`` at step ``L-1``.

    Padding steps (at or beyond a sequence's length) are zero in inputs,
    targets and mask. The random stream consumed per batch does not depend on
    the drawn lengths (values are drawn for all ``T_max`` steps, then zeroed),
    so batches are reproducible from the generator state alone.
    """

    name: str = "addition"

    def __init__(
        self,
        T: int = 30,
        variant: str = "ms2011",
        tolerance: float = 0.04,
        test_size: int = 10000,
        test_seed: int = 12345,
        success_threshold: float = 0.001,
    ) -> None:
        _validate(T, variant, tolerance, test_size, success_threshold)
        self.T = int(T)
        self.variant = str(variant)
        self.tolerance = float(tolerance)
        self.test_size = int(test_size)
        self.test_seed = int(test_seed)
        self.success_threshold = float(success_threshold)
        self.spec = ModelSpec(n_in=2, n_out=1, output="linear")
        if self.variant == "ms2011":
            # randint(T, int(1.1T)) -> [T, hi - 1]; guard keeps T' >= T and the range non-empty.
            self._len_lo = self.T
            self._len_hi = max((11 * self.T) // 10, self.T + 1)
        else:
            self._len_lo = self.T
            self._len_hi = self.T + self.T // 10 + 1  # inclusive upper end T + T//10
        self.max_length = self._len_hi - 1
        self._test: Batch | None = None

    # ------------------------------------------------------------------ data

    @property
    def length_range(self) -> tuple[int, int]:
        """Inclusive ``(min, max)`` of the real sequence lengths."""
        return self._len_lo, self._len_hi - 1

    def marker_ranges(self) -> tuple[tuple[int, int], tuple[int, int]]:
        """Inclusive ranges of the two ``+1`` marker steps.

        Returns
        -------
        tuple
            ``((I_min, I_max), (J_min, J_max))``. For ``hs1997`` the second
            range is the union of candidate steps, ``[0, T//2 - 1]`` (the
            first mark's step is excluded per sequence).
        """
        T = self.T
        if self.variant == "ms2011":
            return (_f(1, T), _f(10, T) - 1), (_f(10, T), _f(50, T) - 1)
        return (0, 9), (0, T // 2 - 1)

    def sample(self, rng: np.random.Generator, n: int) -> Batch:
        """Draw ``n`` fresh sequences using only ``rng``.

        Parameters
        ----------
        rng : numpy.random.Generator
            The only source of randomness.
        n : int
            Number of sequences, >= 1.

        Returns
        -------
        Batch
            ``inputs`` (T_max, n, 2), ``targets`` (T_max, n, 1), ``mask``
            (T_max, n) with a single 1 per sequence at ``lengths - 1``,
            ``lengths`` (n,) int64. All float arrays are float64.
        """
        n = int(n)
        if n < 1:
            raise ValueError(f"addition: n={n} must be >= 1")
        if self.variant == "ms2011":
            return self._sample_ms2011(rng, n)
        return self._sample_hs1997(rng, n)

    def _sample_ms2011(self, rng: np.random.Generator, n: int) -> Batch:
        """Notes sec. 9b "Add" (see class Notes)."""
        T, Tm = self.T, self.max_length
        cols = np.arange(n)
        lengths = rng.integers(self._len_lo, self._len_hi, size=n)
        first = rng.integers(_f(1, T), _f(10, T), size=n)
        second = rng.integers(_f(10, T), _f(50, T), size=n)
        values = rng.uniform(0.0, 1.0, size=(Tm, n))

        valid = np.arange(Tm)[:, None] < lengths[None, :]
        values *= valid  # padding steps carry no input
        marker = np.zeros((Tm, n))
        marker[0, :] = -1.0
        marker[lengths - 3, cols] = -1.0
        # +1 written last so it wins a collision with a -1 step (I = 0).
        marker[first, cols] = 1.0
        marker[second, cols] = 1.0

        target = values[first, cols] + values[second, cols]
        return _assemble(values, marker, target, lengths)

    def _sample_hs1997(self, rng: np.random.Generator, n: int) -> Batch:
        """Notes sec. 9a "Adding" (HS97 Exp. 4; see class Notes)."""
        T, Tm = self.T, self.max_length
        cols = np.arange(n)
        lengths = rng.integers(self._len_lo, self._len_hi, size=n)
        first = rng.integers(0, 10, size=n)
        # k-th still-unmarked step among the first T//2 - 1 of them: skip over `first`.
        k = rng.integers(0, T // 2 - 1, size=n)
        second = k + (k >= first)
        values = rng.uniform(-1.0, 1.0, size=(Tm, n))

        valid = np.arange(Tm)[:, None] < lengths[None, :]
        values *= valid
        values[0, first == 0] = 0.0  # HS97: X1 := 0 when the very first pair is marked
        marker = np.zeros((Tm, n))
        marker[0, :] = -1.0
        marker[lengths - 1, cols] = -1.0
        marker[first, cols] = 1.0  # marks win on collision
        marker[second, cols] = 1.0

        target = 0.5 + (values[first, cols] + values[second, cols]) / 4.0
        return _assemble(values, marker, target, lengths)

    def test_batch(self) -> Batch:
        """The fixed test set (generated once, then cached; arrays read-only).

        Returns
        -------
        Batch
            ``test_size`` sequences from ``np.random.default_rng(test_seed)``.
            The same object is returned on every call; its arrays are marked
            read-only so no caller can alter the cached set.
        """
        if self._test is None:
            batch = self.sample(np.random.default_rng(self.test_seed), self.test_size)
            for arr in (batch.inputs, batch.targets, batch.mask, batch.lengths):
                arr.flags.writeable = False
            self._test = batch
        return self._test

    # --------------------------------------------------------------- scoring

    def error(self, outputs: np.ndarray, batch: Batch) -> float:
        """Fraction of active targets with ``|y_hat - y| > tolerance``.

        Parameters
        ----------
        outputs : ndarray, shape (T, B, 1)
            Network outputs, as from :meth:`hfcore.interfaces.Model.predict`.
        batch : Batch
            The batch the outputs belong to; its ``mask`` selects the targets.

        Returns
        -------
        float
            Error rate in [0, 1].

        Notes
        -----
        Zero-one criterion of HS97 (notes sec. 9a) and IS11 (sec. 9b).
        Non-finite outputs count as wrong (``not |d| <= tol`` rather than
        ``|d| > tol``, which NaN would pass). With several output units a
        target would be wrong if any unit is off; here there is one.
        """
        return _zero_one_error(outputs, batch, self.tolerance)

    def solved(self, test_error: float) -> bool:
        """``test_error < success_threshold`` (IS11: < 10 wrong of 10,000)."""
        return bool(test_error < self.success_threshold)

    def __repr__(self) -> str:
        return (
            f"AdditionTask(T={self.T}, variant={self.variant!r}, tolerance={self.tolerance}, "
            f"test_size={self.test_size}, test_seed={self.test_seed}, "
            f"success_threshold={self.success_threshold})"
        )


def _assemble(values: np.ndarray, marker: np.ndarray, target: np.ndarray, lengths: np.ndarray) -> Batch:
    """Pack (T, n) value/marker channels and end-of-sequence targets into a Batch."""
    Tm, n = values.shape
    cols = np.arange(n)
    inputs = np.stack([values, marker], axis=-1)
    targets = np.zeros((Tm, n, 1))
    mask = np.zeros((Tm, n))
    targets[lengths - 1, cols, 0] = target
    mask[lengths - 1, cols] = 1.0
    return Batch(inputs=inputs, targets=targets, mask=mask, lengths=lengths.astype(np.int64))


def _zero_one_error(outputs: np.ndarray, batch: Batch, tolerance: float) -> float:
    """Share of active targets with any output unit off by more than ``tolerance``."""
    outputs = np.asarray(outputs)
    if outputs.shape != batch.targets.shape:
        raise ValueError(f"addition: outputs shape {outputs.shape} != targets shape {batch.targets.shape}")
    active = np.asarray(batch.mask) > 0
    n_active = int(active.sum())
    if n_active == 0:
        raise ValueError("addition: batch has no active targets (mask is all zero)")
    ok = np.all(np.abs(outputs - batch.targets) <= tolerance, axis=-1)
    return float(np.count_nonzero(~ok & active)) / n_active


def _validate(T: Any, variant: Any, tolerance: Any, test_size: Any, success_threshold: Any) -> None:
    """Raise ``ValueError`` naming the first bad field."""
    if isinstance(T, bool) or not isinstance(T, (int, np.integer)) or T < MIN_T:
        raise ValueError(
            f"addition: T={T!r} must be an integer >= {MIN_T} (shorter sequences leave the "
            f"first-marker range [int(T/100), int(T/10)) empty / cannot hold HS97's first 10 steps)"
        )
    if variant not in SPECS:
        raise ValueError(f"addition: spec={variant!r} is not one of {', '.join(SPECS)}")
    if isinstance(test_size, bool) or not isinstance(test_size, (int, np.integer)) or test_size < 1:
        raise ValueError(f"addition: test_size={test_size!r} must be an integer >= 1")
    if not (isinstance(tolerance, (int, float, np.floating)) and np.isfinite(tolerance) and tolerance > 0):
        raise ValueError(f"addition: tolerance={tolerance!r} must be a finite number > 0")
    if not (isinstance(success_threshold, (int, float, np.floating)) and 0 < success_threshold <= 1):
        raise ValueError(f"addition: success_threshold={success_threshold!r} must be in (0, 1]")


def make_addition(cfg: AdditionConfig | Any) -> AdditionTask:
    """Build an :class:`AdditionTask` from its config (dataclass or OmegaConf node).

    Parameters
    ----------
    cfg : AdditionConfig or DictConfig
        Needs ``T``, ``spec``, ``tolerance``, ``test_size``, ``test_seed`` and
        ``success_threshold``; a missing ``tolerance`` falls back to 0.04.

    Returns
    -------
    AdditionTask

    Raises
    ------
    ValueError
        If ``T < 10``, ``spec`` is unknown, ``test_size < 1``,
        ``tolerance <= 0`` or ``success_threshold`` is outside (0, 1].
    """
    return AdditionTask(
        T=cfg.T,
        variant=cfg.spec,
        tolerance=getattr(cfg, "tolerance", 0.04),
        test_size=cfg.test_size,
        test_seed=cfg.test_seed,
        success_threshold=cfg.success_threshold,
    )

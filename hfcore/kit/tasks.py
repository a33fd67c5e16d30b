"""Task-side helpers shared by the task plugins (pathological and natural tasks).

One-line config validators (``check_*``), the zero-one error reduction over
scored targets and :class:`SequenceTask`, a base class holding the fixed,
cached test set and the success rule. NumPy only.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from hfcore.types import Batch, ModelSpec

# ------------------------------------------------------------------ scoring


def zero_one_rate(wrong: np.ndarray, scored: np.ndarray, name: str) -> float:
    """Share of scored targets that are wrong (IS11's zero-one loss / number of targets, notes sec. 9b).

    Parameters
    ----------
    wrong : ndarray of bool, shape (T, n)
        Whether the output at each step is wrong.
    scored : ndarray, shape (T, n)
        Nonzero at the targets that count (the mask, or a part of it).
    name : str
        Task name for the error message.
    """
    scored = np.asarray(scored) > 0
    n_scored = int(scored.sum())
    if n_scored == 0:
        raise ValueError(f"{name}: batch has no active targets (mask is all zero)")
    return float(np.count_nonzero(wrong & scored)) / n_scored


def argmax_wrong(outputs: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """(T, n) True where the arg-max class differs from the target's (or an output is not finite)."""
    bad = ~np.all(np.isfinite(outputs), axis=-1)
    return (np.argmax(outputs, axis=-1) != np.argmax(targets, axis=-1)) | bad


def abs_wrong(outputs: np.ndarray, targets: np.ndarray, tolerance: float) -> np.ndarray:
    """(T, n) True where any unit is off by more than ``tolerance`` (NaN counts as off)."""
    return ~np.all(np.abs(outputs - targets) <= tolerance, axis=-1)


# --------------------------------------------------------------- validation


def _is_int(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, np.integer))


def check_T(name: str, T: Any, minimum: int, reason: str) -> None:
    """``T`` must be an integer >= ``minimum``; the message says why."""
    if not _is_int(T) or T < minimum:
        raise ValueError(f"{name}: T={T!r} must be an integer >= {minimum} ({reason})")


def check_spec(name: str, spec: Any, specs: tuple[str, ...]) -> None:
    """``spec`` must be one of ``specs``."""
    if spec not in specs:
        raise ValueError(f"{name}: spec={spec!r} is not one of {', '.join(specs)}")


def check_int(name: str, field: str, value: Any, minimum: int) -> None:
    """``value`` must be an integer >= ``minimum``."""
    if not _is_int(value) or value < minimum:
        raise ValueError(f"{name}: {field}={value!r} must be an integer >= {minimum}")


def check_choice(name: str, field: str, value: Any, choices: tuple[Any, ...]) -> None:
    """``value`` must be one of ``choices``."""
    if value not in choices or isinstance(value, bool):
        raise ValueError(f"{name}: {field}={value!r} must be one of {', '.join(map(str, choices))}")


def check_positive(name: str, field: str, value: Any) -> None:
    """``value`` must be a finite number > 0."""
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
    if not (ok and math.isfinite(value) and value > 0):
        raise ValueError(f"{name}: {field}={value!r} must be a finite number > 0")


def check_common(name: str, test_size: Any, success_threshold: Any) -> None:
    """Fields every task shares: ``test_size`` and ``success_threshold``."""
    check_int(name, "test_size", test_size, 1)
    ok = isinstance(success_threshold, (int, float, np.floating)) and not isinstance(success_threshold, bool)
    if not (ok and 0 < success_threshold <= 1):
        raise ValueError(f"{name}: success_threshold={success_threshold!r} must be in (0, 1]")


# --------------------------------------------------------------- base class


class SequenceTask:
    """Base of the pathological tasks: fixed test set, scoring, success rule.

    Subclasses set :attr:`name`, :attr:`spec`, :attr:`max_length` and
    ``_lambda0``, and implement :meth:`_sample` and :meth:`_wrong` (plus
    :meth:`_scored` where not every active target counts).

    Attributes
    ----------
    name : str
        Registry name.
    spec : ModelSpec
        Input/output sizes and the output/loss pair of the chosen variant.
    variant : str
        Generator variant (``spec`` in the config; the
        :class:`hfcore.interfaces.Task` protocol reserves ``spec`` for the
        :class:`ModelSpec`).
    T : int
        Nominal length.
    max_length : int
        Array length of every batch.
    """

    name: str = "sequence"
    spec: ModelSpec
    max_length: int
    _lambda0: float
    _repr_fields: tuple[str, ...] = ()

    def __init__(self, T: int, variant: str, test_size: int, test_seed: int, success_threshold: float) -> None:
        self.T = int(T)
        self.variant = str(variant)
        self.test_size = int(test_size)
        self.test_seed = int(test_seed)
        self.success_threshold = float(success_threshold)
        self._test: Batch | None = None

    @property
    def default_lambda0(self) -> float:
        """Initial Tikhonov lambda of IS11 for this task (notes sec. 6), read-only."""
        return float(self._lambda0)

    # ------------------------------------------------------------------ data

    def sample(self, rng: np.random.Generator, n: int) -> Batch:
        """Draw ``n`` fresh sequences using only ``rng``.

        Parameters
        ----------
        rng : numpy.random.Generator
            The only source of randomness; the number of draws does not depend
            on the drawn values, so a batch is a function of the generator
            state and ``n`` alone.
        n : int
            Number of sequences, >= 1.

        Returns
        -------
        Batch
            Time-major float64 arrays of length :attr:`max_length`; padding
            steps are zero in inputs, targets and mask.
        """
        n = int(n)
        if n < 1:
            raise ValueError(f"{self.name}: n={n} must be >= 1")
        return self._sample(rng, n)

    def _sample(self, rng: np.random.Generator, n: int) -> Batch:
        raise NotImplementedError

    def test_batch(self) -> Batch:
        """The fixed test set, generated once from ``default_rng(test_seed)`` and cached read-only."""
        if self._test is None:
            batch = self.sample(np.random.default_rng(self.test_seed), self.test_size)
            for arr in (batch.inputs, batch.targets, batch.mask, batch.lengths):
                arr.flags.writeable = False
            self._test = batch
        return self._test

    # --------------------------------------------------------------- scoring

    def _check(self, outputs: np.ndarray, batch: Batch) -> np.ndarray:
        outputs = np.asarray(outputs)
        if outputs.shape != batch.targets.shape:
            raise ValueError(f"{self.name}: outputs shape {outputs.shape} != targets shape {batch.targets.shape}")
        return outputs

    def _wrong(self, outputs: np.ndarray, batch: Batch) -> np.ndarray:
        raise NotImplementedError

    def _scored(self, batch: Batch) -> np.ndarray:
        """Targets that count for :meth:`error`: by default every active one."""
        return np.asarray(batch.mask)

    def wrong_steps(self, outputs: np.ndarray, batch: Batch) -> np.ndarray:
        """(T, n) bool: where the output is wrong by the variant's rule (active or not)."""
        return self._wrong(self._check(outputs, batch), batch)

    def error(self, outputs: np.ndarray, batch: Batch) -> float:
        """Zero-one error rate over the scored targets (see the class Notes).

        Parameters
        ----------
        outputs : ndarray, shape like ``batch.targets``
            ``g(s)`` as returned by the model's ``predict``.
        batch : Batch

        Returns
        -------
        float
            Wrong scored targets / scored targets; non-finite outputs are wrong.
        """
        return zero_one_rate(self.wrong_steps(outputs, batch), self._scored(batch), self.name)

    def solved(self, test_error: float) -> bool:
        """``test_error < success_threshold`` (IS11 default 0.001, notes sec. 9b)."""
        return bool(test_error < self.success_threshold)

    def __repr__(self) -> str:
        extra = "".join(f", {f}={getattr(self, f)!r}" for f in self._repr_fields)
        return (
            f"{type(self).__name__}(T={self.T}, variant={self.variant!r}{extra}, test_size={self.test_size}, "
            f"test_seed={self.test_seed}, success_threshold={self.success_threshold})"
        )

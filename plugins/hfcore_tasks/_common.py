"""Shared pieces of the pathological tasks (algorithm notes sec. 9).

Everything the pathological task modules have in common lives here (the generic
validators, scoring and :class:`~hfcore.kit.tasks.SequenceTask` are in :mod:`hfcore.kit.tasks`): the release's length
scaling ``f(x) = int(x T / 100)``, one-hot encoding, deterministic class
balancing and the end-of-sequence target layout.
"""

from __future__ import annotations

import numpy as np

from hfcore.types import Batch

IS11_SUCCESS_THRESHOLD = 0.001
"""IS11 ``test_losses_threshold_fn``: solved when the test zero-one rate is below this (notes sec. 9b)."""

P13_SUCCESS_THRESHOLD = 1e-6
"""P13: solved when the validation error is 0 (its threshold is 0.0001 %, notes sec. 9c)."""


# ------------------------------------------------------------------ numbers


def scale(x: int, T: int) -> int:
    """``f(x) = int(x T / 100)`` in exact integer arithmetic (notes sec. 9b).

    The release writes ``int(x * T / 100.)``; the integer form is the same
    for non-negative integers without trusting float rounding
    (``1.1 * 30 = 33.000000000000004``).
    """
    return (int(x) * int(T)) // 100


def randint_range(lo: int, hi: int) -> tuple[int, int]:
    """Half-open ``[lo, hi)`` for ``rng.integers``, widened to ``[lo, lo + 1)`` if empty.

    The release's ``randint(a, b)`` with ``a == b`` raises; validation rejects
    the ``T`` where that happens for positions, and for lengths this keeps the
    draw at ``lo`` (only at the smallest ``T``).
    """
    return int(lo), max(int(hi), int(lo) + 1)


# ----------------------------------------------------------------- encoding


def one_hot(symbols: np.ndarray, depth: int) -> np.ndarray:
    """One-hot float64 encoding along a new last axis.

    Parameters
    ----------
    symbols : ndarray of int, any shape
        Values in ``[0, depth)``; a negative value gives an all-zero row
        (used for padding steps).
    depth : int
        Number of classes.

    Returns
    -------
    ndarray, shape ``symbols.shape + (depth,)``, float64
    """
    symbols = np.asarray(symbols)
    return (symbols[..., None] == np.arange(depth)).astype(np.float64)


def valid_steps(lengths: np.ndarray, steps: int) -> np.ndarray:
    """(steps, n) boolean array, True at real (non-padding) steps."""
    return np.arange(steps)[:, None] < np.asarray(lengths)[None, :]


def balanced_classes(n: int, k: int) -> np.ndarray:
    """Class ``b mod k`` for sequence ``b`` of a batch (IS11's balancing, notes sec. 9b).

    The class of a sequence depends only on its index, not on the batch size:
    every block of ``k`` consecutive sequences holds each class once, so any
    batch (and any prefix, such as the curvature subset) has class counts
    that differ by at most one. No random numbers are consumed.
    """
    return np.arange(int(n)) % int(k)


def class_bits(classes: np.ndarray, nbits: int) -> np.ndarray:
    """Bits of ``classes``, first symbol most significant: shape ``(nbits, n)``.

    ``class = sum_k bits[k] 2^(nbits-1-k)``, so for two bits class
    ``2 v0 + v1`` (IS11's ``2(A-4) + (B-4)``).
    """
    classes = np.asarray(classes)
    shifts = np.arange(nbits - 1, -1, -1)[:, None]
    return (classes[None, :] >> shifts) & 1


def end_target_batch(inputs: np.ndarray, targets_at_end: np.ndarray, lengths: np.ndarray) -> Batch:
    """Batch with one target per sequence, at its last real step.

    Parameters
    ----------
    inputs : ndarray, shape (T_max, n, n_in)
        Already zero on padding steps.
    targets_at_end : ndarray, shape (n,) or (n, n_out)
        Target vector of each sequence.
    lengths : ndarray of int, shape (n,)
    """
    Tm, n = inputs.shape[:2]
    tgt = np.asarray(targets_at_end, dtype=np.float64).reshape(n, -1)
    cols = np.arange(n)
    targets = np.zeros((Tm, n, tgt.shape[1]))
    mask = np.zeros((Tm, n))
    targets[lengths - 1, cols] = tgt
    mask[lengths - 1, cols] = 1.0
    return Batch(inputs=inputs, targets=targets, mask=mask, lengths=np.asarray(lengths, dtype=np.int64))


def last_step_mask(batch: Batch) -> np.ndarray:
    """(T, n) boolean array, True only at each sequence's last real step."""
    out = np.zeros(batch.mask.shape, dtype=bool)
    out[np.asarray(batch.lengths) - 1, np.arange(batch.size)] = True
    return out



"""Per-sequence gradient products for the empirical Fisher diagonal (``loss_grad_and_squares``).

A weight gradient is a sum over time of outer products, ``sum_t a_t b_t'``; one sequence's share is the
``(m, T) @ (T, n)`` product of its own columns, so a group of sequences is one batched GEMM
(``np.matmul`` on ``(b, m, T) @ (b, T, n)``). Groups are small enough that these per-sequence gradients
stay a few MB whatever the batch.
"""

from __future__ import annotations

import numpy as np

GROUP_NUMBERS = 1 << 20
"""About how many numbers one group's per-sequence gradient of the largest block may hold."""


def group_size(n_sequences: int, *dims: int) -> int:
    """Sequences per group so that a ``(group, dims[0], max(dims))`` array holds about :data:`GROUP_NUMBERS`."""
    return max(1, min(n_sequences, GROUP_NUMBERS // max(1, dims[0] * max(dims))))


def by_sequence(a: np.ndarray, start: int, stop: int, columns: bool) -> np.ndarray:
    """Sequences ``start:stop`` of a time-major (T, B, n) array as a contiguous (b, n, T) (``columns``) or
    (b, T, n) stack."""
    part = a[:, start:stop]
    return np.ascontiguousarray(part.transpose(1, 2, 0) if columns else part.transpose(1, 0, 2))


def add_squares(out: np.ndarray, per_sequence: np.ndarray) -> None:
    """``out += sum_b per_sequence[b] ** 2`` (``per_sequence`` is overwritten)."""
    np.square(per_sequence, out=per_sequence)
    out += per_sequence.sum(axis=0)

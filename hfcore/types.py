"""Plain data types shared by the core and every plugin.

Everything here is a frozen dataclass of arrays and numbers, so it can be
checkpointed, compared in tests and sent between processes without ceremony.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

Vector = Any
"""A flat parameter-shaped vector. NumPy ``ndarray`` for the NumPy backend; any
array type supporting ``+ - *`` with scalars and ``@`` (dot product) works in
the core."""

OUTPUT_LOSSES = ("linear", "logistic", "softmax")
"""Matched output nonlinearity / loss pairs (M&S 2011 sec. 3.1):
``linear`` + half squared error, ``logistic`` + binary cross-entropy,
``softmax`` + categorical cross-entropy."""


@dataclass(frozen=True)
class Batch:
    """A batch of sequences, time-major.

    Parameters
    ----------
    inputs : ndarray, shape (T, B, n_in)
        Input vectors ``x_i``. Steps after a sequence's end are zero.
    targets : ndarray, shape (T, B, n_out)
        Targets ``y_i``; only read where ``mask`` is 1. For ``softmax`` they
        are one-hot rows, for ``logistic`` values in [0, 1].
    mask : ndarray, shape (T, B)
        1.0 where step ``i`` of sequence ``b`` carries a loss term, else 0.0.
    lengths : ndarray of int, shape (B,)
        True length of each sequence (``1 <= lengths[b] <= T``). Steps at or
        beyond ``lengths[b]`` are padding: no loss and no structural damping.
    """

    inputs: np.ndarray
    targets: np.ndarray
    mask: np.ndarray
    lengths: np.ndarray

    @property
    def size(self) -> int:
        """Number of sequences B."""
        return int(self.inputs.shape[1])

    @property
    def steps(self) -> int:
        """Array length T (the longest sequence)."""
        return int(self.inputs.shape[0])

    def valid_steps(self) -> np.ndarray:
        """(T, B) float mask of real (non-padding) steps."""
        t = np.arange(self.steps)[:, None]
        return (t < np.asarray(self.lengths)[None, :]).astype(self.inputs.dtype)

    def subset(self, start: int, stop: int) -> Batch:
        """Sequences ``start:stop`` of this batch (views, no copy)."""
        return Batch(
            self.inputs[:, start:stop],
            self.targets[:, start:stop],
            self.mask[:, start:stop],
            self.lengths[start:stop],
        )


NORMALISERS = ("targets", "sequences")
"""What divides a model's summed loss: active targets (IS11) or sequences (M&S 2011 sec. 2)."""


def normaliser_count(batch: Batch, normaliser: str) -> float:
    """The raw divisor of ``batch``'s summed loss: active targets or sequences (may be 0).

    Models divide by ``max(count, 1)``; a batch split into shards is weighted
    by each shard's count (:mod:`hfcore.parallel`).
    """
    if normaliser == "targets":
        return float(np.sum(np.asarray(batch.mask), dtype=np.float64))
    if normaliser == "sequences":
        return float(np.shape(batch.inputs)[1])
    raise ValueError(f"unknown normaliser {normaliser!r}; expected one of {', '.join(NORMALISERS)}")


@dataclass(frozen=True)
class ModelSpec:
    """What a task tells a backend about the network it needs.

    Parameters
    ----------
    n_in, n_out : int
        Input and output dimensions.
    output : str
        One of :data:`OUTPUT_LOSSES`.
    """

    n_in: int
    n_out: int
    output: str


@dataclass(frozen=True)
class CGResult:
    """Outcome of one conjugate-gradient solve.

    Parameters
    ----------
    x : Vector
        The final iterate (used, decayed, as the next warm start).
    iterates : tuple of Vector
        Saved iterates, in order; the last one is ``x``.
    iterate_indices : tuple of int
        CG iteration number of each saved iterate.
    iterate_phis : tuple of float
        Quadratic model value ``phi(x) = 0.5 x'Ax - b'x`` at each saved iterate.
    phis : tuple of float
        ``phi`` after every iteration (index 0 is the warm start).
    iterations : int
        Matrix-vector products spent (excluding the one for the initial residual).
    reason : str
        Why CG stopped: ``"progress"`` (Martens' relative-progress test),
        ``"max_iters"``, ``"residual"`` (``||r||`` below tolerance),
        ``"negative_curvature"`` (``p'Ap <= 0``) or ``"nonfinite"``.
    """

    x: Vector
    iterates: tuple
    iterate_indices: tuple[int, ...]
    iterate_phis: tuple[float, ...]
    phis: tuple[float, ...]
    iterations: int
    reason: str


@dataclass(frozen=True)
class Counters:
    """Compute spent so far, in the paper's units and beyond.

    ``minibatches`` follows M&S 2011 Fig. 3: a minibatch is 1000 sequences
    used for a gradient or a curvature-vector product; forward-only
    evaluations (backtracking, line search, rho) are counted separately.
    ``gv_float32`` counts the Gv products (of ``gv_products``) computed in float32
    (``hf.float32_gv_above_lambda``).
    """

    gradient_evals: int = 0
    gv_products: int = 0
    forward_evals: int = 0
    sequences_gradient: int = 0
    sequences_curvature: int = 0
    sequences_forward: int = 0
    gv_float32: int = 0

    @property
    def minibatches(self) -> float:
        """Paper units: (gradient + curvature sequences) / 1000."""
        return (self.sequences_gradient + self.sequences_curvature) / 1000.0

    def add(self, **increments: int) -> Counters:
        """Return a copy with the given fields incremented."""
        values = {k: getattr(self, k) + increments.get(k, 0) for k in self.__dataclass_fields__}
        return Counters(**values)


@dataclass(frozen=True)
class StepInfo:
    """What one HF iteration did; logged as metrics."""

    iteration: int
    train_loss: float
    new_train_loss: float
    lam: float
    rho: float
    cg_iterations: int
    cg_reason: str
    backtrack_index: int
    step_size: float
    delta_norm: float
    accepted: bool
    nonfinite: bool
    wall_time: float
    counters: Counters = field(default_factory=Counters)

"""Initialisation rules for named parameter blocks.

A rule is called with the run's initialisation generator and the block's
shape, and returns the block's initial values in float64 (the layout casts
them to the model dtype afterwards, so float32 and float64 models draw the
same numbers). Blocks are initialised in layout order, so a model's initial
parameters depend only on the seed and the order of its blocks. A rule that
draws nothing (:class:`Zeros`, :class:`Constant`) leaves the generator where
it was.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class InitRule(Protocol):
    """How one parameter block is initialised."""

    def __call__(self, rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
        """Initial values of a block of ``shape``, float64, drawn only from ``rng``."""
        ...


@dataclass(frozen=True)
class Zeros:
    """All zeros (biases, initial states); draws nothing."""

    def __call__(self, rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
        return np.zeros(shape)


@dataclass(frozen=True)
class Constant:
    """Every entry ``value`` (e.g. a gate bias that starts open); draws nothing."""

    value: float

    def __call__(self, rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
        return np.full(shape, float(self.value))


@dataclass(frozen=True)
class DenseNormal:
    """Every weight ``N(0, scale^2 / fan_in)`` times ``gain``; ``fan_in`` is the last axis.

    For a vector block the fan-in is 1.
    """

    scale: float = 1.0
    gain: float = 1.0

    def __call__(self, rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
        fan_in = shape[-1] if len(shape) > 1 else 1
        return rng.standard_normal(shape) * (self.scale / np.sqrt(fan_in)) * self.gain


@dataclass(frozen=True)
class SparseNormal:
    """IS11's sparse initialisation of a matrix (M&S 2011 sec. 4; Martens 2010 sec. 5).

    Each row keeps ``min(num_connections, fan_in)`` weights at positions drawn
    without replacement, valued ``N(0, 1) * scale / sqrt(num_connections)``; the
    others are 0. The matrix is then multiplied by ``gain`` (IS11 scales input
    weights by 0.25). Only for 2-D blocks ``(rows, fan_in)``.
    """

    num_connections: int = 15
    scale: float = 1.0
    gain: float = 1.0

    def __call__(self, rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
        if len(shape) != 2:
            raise ValueError(f"sparse initialisation needs a matrix block, got shape {shape}")
        rows, fan_in = shape
        k = min(self.num_connections, fan_in)
        # argsort of iid keys = an independent uniform k-subset per row, without a Python loop.
        idx = np.argsort(rng.random((rows, fan_in)), axis=1)[:, :k]
        vals = rng.standard_normal((rows, k)) * (self.scale / np.sqrt(self.num_connections))
        w = np.zeros((rows, fan_in))
        np.put_along_axis(w, idx, vals, axis=1)
        return w * self.gain

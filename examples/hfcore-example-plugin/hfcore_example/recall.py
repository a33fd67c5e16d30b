"""The recall task: output, at the last step, the value that was marked near the start.

Each sequence has two input channels: a value at every step and a marker that is 1 at one step
among the first ``window``. The single target, at the sequence's last real step, is the marked value.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hfcore.config import TaskConfig
from hfcore.types import Batch, ModelSpec

SPECS = ("uniform", "binary")  # values ~U[0, 1], or 0/1


@dataclass
class RecallConfig(TaskConfig):
    """Options of ``task=recall``; ``T``, ``test_size``, ``test_seed``, ... come from TaskConfig."""

    name: str = "recall"  # must equal the name given to registry.add_task
    T: int = 20
    spec: str = "uniform"
    window: int = 3  # new key task.window: the mark falls in steps 0 .. window-1
    tolerance: float = 0.04  # new key task.tolerance: an output is right when |y - target| <= tolerance


class RecallTask:
    """Lengths uniform in ``[T, T + T // 10]``; one target per sequence, at its last real step."""

    name = "recall"

    def __init__(self, cfg: RecallConfig) -> None:
        # One-line ValueErrors: hf-train prints them as "task 'recall': <message>" and exits with code 2.
        if cfg.T < 2:
            raise ValueError(f"T={cfg.T} must be >= 2")
        if cfg.spec not in SPECS:
            raise ValueError(f"spec={cfg.spec!r} must be one of {', '.join(SPECS)}")
        if not 1 <= cfg.window < cfg.T:
            raise ValueError(f"window={cfg.window} must be in [1, T-1] = [1, {cfg.T - 1}]")
        if not cfg.tolerance > 0:
            raise ValueError(f"tolerance={cfg.tolerance} must be > 0")
        if cfg.test_size < 1:
            raise ValueError(f"test_size={cfg.test_size} must be >= 1")
        if not 0 < cfg.success_threshold <= 1:
            raise ValueError(f"success_threshold={cfg.success_threshold} must be in (0, 1]")
        self.T, self.variant, self.window = int(cfg.T), str(cfg.spec), int(cfg.window)
        self.tolerance, self.threshold = float(cfg.tolerance), float(cfg.success_threshold)
        self.test_size, self.test_seed = int(cfg.test_size), int(cfg.test_seed)
        self.max_length = self.T + self.T // 10
        self.spec = ModelSpec(n_in=2, n_out=1, output="linear")  # linear output, half squared error
        self._test: Batch | None = None

    def sample(self, rng: np.random.Generator, n: int) -> Batch:
        """``n`` sequences drawn only from ``rng``; the draws never depend on drawn values."""
        steps, cols = self.max_length, np.arange(n)
        lengths = rng.integers(self.T, steps + 1, size=n)
        marked = rng.integers(0, self.window, size=n)
        values = rng.uniform(0.0, 1.0, size=(steps, n))
        if self.variant == "binary":
            values = np.floor(2.0 * values)
        values *= np.arange(steps)[:, None] < lengths[None, :]  # zero on padding steps
        marker = np.zeros((steps, n))
        marker[marked, cols] = 1.0
        targets = np.zeros((steps, n, 1))
        mask = np.zeros((steps, n))
        targets[lengths - 1, cols, 0] = values[marked, cols]
        mask[lengths - 1, cols] = 1.0
        return Batch(np.stack([values, marker], axis=-1), targets, mask, lengths)

    def test_batch(self) -> Batch:
        """The fixed test set: built once from ``test_seed`` (never the run's seed), then read-only."""
        if self._test is None:
            self._test = self.sample(np.random.default_rng(self.test_seed), self.test_size)
            for array in (self._test.inputs, self._test.targets, self._test.mask, self._test.lengths):
                array.flags.writeable = False
        return self._test

    def error(self, outputs: np.ndarray, batch: Batch) -> float:
        """Share of targets missed by more than ``tolerance``; NaN outputs count as wrong."""
        wrong = ~(np.abs(outputs - batch.targets)[..., 0] <= self.tolerance)
        active = batch.mask > 0
        return float(np.count_nonzero(wrong & active)) / max(int(active.sum()), 1)

    def solved(self, test_error: float) -> bool:
        """The success criterion."""
        return test_error < self.threshold


def make_recall(cfg: RecallConfig) -> RecallTask:
    """The factory registered with ``registry.add_task``; ``cfg`` is the ``task`` config node."""
    return RecallTask(cfg)

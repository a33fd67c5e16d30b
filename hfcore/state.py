"""The run state: everything needed to continue a run exactly."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from hfcore.types import Counters, Vector


@dataclass(frozen=True)
class RunState:
    """A plain value holding the whole state of an HF run.

    Parameters
    ----------
    iteration : int
        HF iterations completed.
    theta : Vector
        Current parameters.
    lam : float
        Current Tikhonov lambda.
    warm_start : Vector
        Last CG solution (un-backtracked), decayed before the next solve.
    data_rng : dict
        ``numpy.random.Generator.bit_generator.state`` of the training-data
        stream. Parameter initialisation uses its own stream, spent before
        iteration 0; the test set has a fixed seed in the task config.
    counters : Counters
        Compute spent so far.
    elapsed : float
        Wall-clock seconds spent in HF iterations so far (across resumes).
    cpu_seconds : float
        CPU seconds this process (all its threads) spent in iterations and
        test evaluations so far (across resumes). On a shared machine it
        measures the work done, where ``elapsed`` also counts waiting.
    test_error : float
        Test error at the last evaluation (NaN before the first).
    solved : bool
        Whether the task's success criterion has been met.
    """

    iteration: int
    theta: Vector
    lam: float
    warm_start: Vector
    data_rng: dict
    counters: Counters = field(default_factory=Counters)
    elapsed: float = 0.0
    cpu_seconds: float = 0.0
    test_error: float = float("nan")
    solved: bool = False

    def data_generator(self) -> np.random.Generator:
        """A generator positioned exactly at the saved data-stream state."""
        bit_generator = getattr(np.random, self.data_rng["bit_generator"])()
        bit_generator.state = self.data_rng
        return np.random.Generator(bit_generator)

    def evolve(self, **changes: Any) -> RunState:
        """A copy with ``changes`` applied."""
        return replace(self, **changes)


def seed_streams(seed: int) -> tuple[np.random.Generator, np.random.Generator]:
    """Independent (init, data) generators derived from one integer seed."""
    init_seq, data_seq = np.random.SeedSequence(seed).spawn(2)
    return np.random.default_rng(init_seq), np.random.default_rng(data_seq)

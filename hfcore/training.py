"""The HF training loop: iterate, evaluate, report to callbacks, stop."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from hfcore.hf import evaluate
from hfcore.interfaces import Communicator, Model, Optimizer, Task
from hfcore.state import RunState, seed_streams
from hfcore.types import StepInfo


class Callback(Protocol):
    """Receives every iteration's results (logging, progress, checkpoints)."""

    def on_step(self, state: RunState, info: StepInfo, metrics: dict[str, float]) -> None:
        """Called after each HF iteration with the new state."""
        ...


BUDGET_CLOCKS = ("wall", "cpu")
"""What ``hf.budget_seconds`` can count (:attr:`StopRule.budget_clock`)."""


@dataclass(frozen=True)
class StopRule:
    """When a run ends.

    Parameters
    ----------
    max_iterations : int or None
        Cap on iterations (>= 1); None, the default: none, so a run ends only on success or
        at a budget (MS11 Fig. 3's failure rule).
    budget_minibatches : float
        Paper units (M&S 2011 Fig. 3); a run past it is a failure.
    budget_seconds : float or None
        Time budget: the run ends once the time spent in iterations and test
        evaluations (across resumes) reaches it. None: no limit. It is checked
        after each iteration, so the last iteration and the final evaluation
        can go past it.
    budget_clock : {"wall", "cpu"}
        What :attr:`budget_seconds` counts: ``state.elapsed`` (wall clock) or
        ``state.cpu_seconds`` (this process's CPU time, unaffected by other
        jobs sharing the machine).
    eval_every : int
        Evaluate on the test set every this many iterations.
    stop_on_success : bool
        End as soon as the task's success criterion holds.
    """

    max_iterations: int | None = None
    budget_minibatches: float = 50000.0
    budget_seconds: float | None = None
    budget_clock: str = "wall"
    eval_every: int = 1
    stop_on_success: bool = True

    def capped(self, iteration: int) -> bool:
        """Whether ``iteration`` iterations reach :attr:`max_iterations` (never, when it is None)."""
        return self.max_iterations is not None and iteration >= self.max_iterations

    def __post_init__(self) -> None:
        # 0 would end a run before its first evaluation, with no result.
        if self.max_iterations is not None and self.max_iterations < 1:
            raise ValueError(f"hf.max_iterations must be >= 1, got {self.max_iterations}")
        if self.eval_every < 1:
            raise ValueError(f"hf.eval_every must be >= 1, got {self.eval_every}")
        if not self.budget_minibatches > 0:
            raise ValueError(f"hf.budget_minibatches must be > 0, got {self.budget_minibatches}")
        if self.budget_seconds is not None and not self.budget_seconds > 0:
            raise ValueError(f"hf.budget_seconds must be > 0 or null, got {self.budget_seconds}")
        if self.budget_clock not in BUDGET_CLOCKS:
            raise ValueError(f"hf.budget_clock must be one of {', '.join(BUDGET_CLOCKS)}, got {self.budget_clock!r}")

    def spent(self, state: RunState) -> float:
        """The seconds of ``state`` that count against :attr:`budget_seconds`, on :attr:`budget_clock`."""
        return state.cpu_seconds if self.budget_clock == "cpu" else state.elapsed

    def out_of_time(self, spent: float) -> bool:
        """Whether ``spent`` seconds use up :attr:`budget_seconds` (never when it is None)."""
        return self.budget_seconds is not None and spent >= self.budget_seconds


def initial_state(model: Model, seed: int, lambda0: float) -> RunState:
    """Fresh run state: parameters from the seed's init stream, data stream at its start."""
    init_rng, data_rng = seed_streams(seed)
    theta = model.init_params(init_rng)
    return RunState(
        iteration=0,
        theta=theta,
        lam=float(lambda0),
        warm_start=theta * 0.0,
        data_rng=data_rng.bit_generator.state,
    )


def step_metrics(info: StepInfo) -> dict[str, float]:
    """Flat per-iteration metrics (dotted names) from a :class:`StepInfo`."""
    c = info.counters
    return {
        "train.loss": info.train_loss,
        "train.loss_after": info.new_train_loss,
        "hf.lambda": info.lam,
        "hf.rho": info.rho,
        "hf.accepted": float(info.accepted),
        "hf.nonfinite": float(info.nonfinite),
        "cg.iters": float(info.cg_iterations),
        "cg.backtrack_index": float(info.backtrack_index),
        "line_search.step": info.step_size,
        "hf.delta_norm": info.delta_norm,
        "time.iteration": info.wall_time,
        "cost.gradient_evals": float(c.gradient_evals),
        "cost.gv_products": float(c.gv_products),
        "cost.forward_evals": float(c.forward_evals),
        "cost.sequences": float(c.sequences_gradient + c.sequences_curvature + c.sequences_forward),
        "cost.minibatches": c.minibatches,
    }


CG_REASON_CODES = {"none": 0, "progress": 1, "max_iters": 2, "residual": 3, "negative_curvature": 4, "nonfinite": 5}


def agreed_seconds(seconds: float, comm: Communicator | None) -> float:
    """``seconds`` as rank 0 measured them, so that every rank of a run takes the same time decision.

    Each rank has its own clock; a rank stopping one iteration before the
    others would leave them waiting in a collective. One scalar exchange per
    iteration, only in a multi-rank run with a time budget.
    """
    if comm is None or comm.size == 1:
        return seconds
    rows = comm.allgather_rows(np.array([[seconds]], dtype=np.float64), [1] * comm.size)
    return float(rows[0, 0])


def train(
    state: RunState,
    model: Model,
    task: Task,
    optimizer: Optimizer,
    stop: StopRule,
    callbacks: list[Callback] = (),
    comm: Communicator | None = None,
) -> RunState:
    """Run ``optimizer`` iterations from ``state`` until a stop rule fires.

    Parameters
    ----------
    comm : Communicator, optional
        The ranks of a data-parallel run; with a time budget they agree on
        rank 0's clock (:func:`agreed_seconds`). None: a single process.

    Returns
    -------
    RunState
        The final state; ``state.solved`` tells whether the task was solved.
    """
    test_batch = task.test_batch()
    # A resumed state carries the same clocks on every rank (one checkpoint), so no exchange is needed here.
    out_of_time = stop.out_of_time(stop.spent(state))
    while not stop.capped(state.iteration) and not (state.solved and stop.stop_on_success) and not out_of_time:
        if state.counters.minibatches >= stop.budget_minibatches:
            break
        cpu_started = time.process_time()
        state, info = optimizer.step(state, model, task)
        state = state.evolve(cpu_seconds=state.cpu_seconds + time.process_time() - cpu_started)
        metrics = step_metrics(info)
        metrics["cg.stop_reason"] = float(CG_REASON_CODES.get(info.cg_reason, -1))
        if stop.budget_seconds is not None:
            out_of_time = stop.out_of_time(agreed_seconds(stop.spent(state), comm))
        last = stop.capped(state.iteration) or state.counters.minibatches >= stop.budget_minibatches or out_of_time
        if state.iteration % stop.eval_every == 0 or last:  # the final state is always evaluated
            started, cpu_started = time.perf_counter(), time.process_time()
            test = evaluate(model, task, state.theta, test_batch)
            test_error = test["error"]
            solved = task.solved(test_error) if math.isfinite(test_error) else False
            # Evaluation is part of the time a user waits for success, so it counts on both clocks.
            state = state.evolve(test_error=test_error, solved=solved,
                                 elapsed=state.elapsed + time.perf_counter() - started,
                                 cpu_seconds=state.cpu_seconds + time.process_time() - cpu_started)
            metrics.update({f"test.{k}": v for k, v in test.items()})
            metrics["task.solved"] = float(solved)
        metrics["time.elapsed"] = state.elapsed
        metrics["time.cpu"] = state.cpu_seconds
        for callback in callbacks:
            callback.on_step(state, info, metrics)
    return state

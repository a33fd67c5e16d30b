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


@dataclass(frozen=True)
class StopRule:
    """When a run ends.

    Parameters
    ----------
    max_iterations : int
        Hard cap on HF iterations.
    budget_minibatches : float
        Paper units (M&S 2011 Fig. 3); a run past it is a failure.
    budget_seconds : float or None
        Wall-clock budget: the run ends once ``state.elapsed`` (time in
        iterations and test evaluations, across resumes) reaches it. None: no
        limit. It is checked after each iteration, so the last iteration and
        the final evaluation can go past it.
    eval_every : int
        Evaluate on the test set every this many iterations.
    stop_on_success : bool
        End as soon as the task's success criterion holds.
    """

    max_iterations: int = 2000
    budget_minibatches: float = 50000.0
    budget_seconds: float | None = None
    eval_every: int = 1
    stop_on_success: bool = True

    def __post_init__(self) -> None:
        if self.max_iterations < 0:
            raise ValueError(f"hf.max_iterations must be >= 0, got {self.max_iterations}")
        if self.eval_every < 1:
            raise ValueError(f"hf.eval_every must be >= 1, got {self.eval_every}")
        if not self.budget_minibatches > 0:
            raise ValueError(f"hf.budget_minibatches must be > 0, got {self.budget_minibatches}")
        if self.budget_seconds is not None and not self.budget_seconds > 0:
            raise ValueError(f"hf.budget_seconds must be > 0 or null, got {self.budget_seconds}")

    def out_of_time(self, elapsed: float) -> bool:
        """Whether ``elapsed`` seconds use up :attr:`budget_seconds` (never when it is None)."""
        return self.budget_seconds is not None and elapsed >= self.budget_seconds


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


def agreed_elapsed(state: RunState, comm: Communicator | None) -> float:
    """``state.elapsed`` as rank 0 measured it, so that every rank of a run takes the same time decision.

    Each rank has its own clock; a rank stopping one iteration before the
    others would leave them waiting in a collective. One scalar exchange per
    iteration, only in a multi-rank run with a time budget.
    """
    if comm is None or comm.size == 1:
        return state.elapsed
    rows = comm.allgather_rows(np.array([[state.elapsed]], dtype=np.float64), [1] * comm.size)
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
        rank 0's clock (:func:`agreed_elapsed`). None: a single process.

    Returns
    -------
    RunState
        The final state; ``state.solved`` tells whether the task was solved.
    """
    test_batch = task.test_batch()
    # A resumed state carries the same elapsed on every rank (one checkpoint), so no exchange is needed here.
    out_of_time = stop.out_of_time(state.elapsed)
    while state.iteration < stop.max_iterations and not (state.solved and stop.stop_on_success) and not out_of_time:
        if state.counters.minibatches >= stop.budget_minibatches:
            break
        state, info = optimizer.step(state, model, task)
        metrics = step_metrics(info)
        metrics["cg.stop_reason"] = float(CG_REASON_CODES.get(info.cg_reason, -1))
        if stop.budget_seconds is not None:
            out_of_time = stop.out_of_time(agreed_elapsed(state, comm))
        last = (state.iteration == stop.max_iterations or state.counters.minibatches >= stop.budget_minibatches
                or out_of_time)
        if state.iteration % stop.eval_every == 0 or last:  # the final state is always evaluated
            started = time.perf_counter()
            test = evaluate(model, task, state.theta, test_batch)
            test_error = test["error"]
            solved = task.solved(test_error) if math.isfinite(test_error) else False
            # Evaluation is part of the time a user waits for success, so it counts in elapsed.
            state = state.evolve(test_error=test_error, solved=solved,
                                 elapsed=state.elapsed + time.perf_counter() - started)
            metrics.update({f"test.{k}": v for k, v in test.items()})
            metrics["task.solved"] = float(solved)
        metrics["time.elapsed"] = state.elapsed
        for callback in callbacks:
            callback.on_step(state, info, metrics)
    return state

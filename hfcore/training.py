"""The training loop: iterate any optimiser, evaluate, report to callbacks, stop."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, fields, replace
from typing import Protocol

import numpy as np

from hfcore.config import StopConfig
from hfcore.hf import evaluate
from hfcore.interfaces import Communicator, Model, Optimizer, Task
from hfcore.state import RunState, seed_streams
from hfcore.types import Counters, StepInfo


class Callback(Protocol):
    """Receives every iteration's results (logging, progress, checkpoints)."""

    def on_step(self, state: RunState, info: StepInfo, metrics: dict[str, float]) -> None:
        """Called after each iteration with the new state."""
        ...


BUDGET_CLOCKS = ("wall", "cpu")
"""What ``hf.budget_seconds`` can count (:attr:`hfcore.config.StopConfig.budget_clock`)."""


@dataclass(frozen=True)
class StopRule:
    """When a run ends, from a :class:`hfcore.config.StopConfig` (the ``hf`` group's stop keys).

    Parameters
    ----------
    config : StopConfig
        ``max_iterations`` (None: no cap, so a run ends only on success or at a budget, MS11 Fig. 3's
        failure rule); ``budget_minibatches`` in paper units (a run past it is a failure);
        ``budget_seconds`` (None: no limit), checked after each iteration against the time spent in
        iterations and test evaluations across resumes, on ``budget_clock`` (``wall``:
        ``state.elapsed``; ``cpu``: ``state.cpu_seconds``, unaffected by other jobs sharing the
        machine), so the last iteration and the final evaluation can go past it; ``eval_every``:
        test evaluations every that many iterations; ``stop_on_success``. The defaults live in
        :class:`~hfcore.config.StopConfig`; a copy is kept.
    """

    config: StopConfig = field(default_factory=StopConfig)

    def __post_init__(self) -> None:
        c = StopConfig(**{f.name: getattr(self.config, f.name) for f in fields(StopConfig)})  # own copy
        object.__setattr__(self, "config", c)
        # 0 would end a run before its first evaluation, with no result.
        if c.max_iterations is not None and c.max_iterations < 1:
            raise ValueError(f"hf.max_iterations must be >= 1, got {c.max_iterations}")
        if c.eval_every < 1:
            raise ValueError(f"hf.eval_every must be >= 1, got {c.eval_every}")
        if not c.budget_minibatches > 0:
            raise ValueError(f"hf.budget_minibatches must be > 0, got {c.budget_minibatches}")
        if c.budget_seconds is not None and not c.budget_seconds > 0:
            raise ValueError(f"hf.budget_seconds must be > 0 or null, got {c.budget_seconds}")
        if c.budget_clock not in BUDGET_CLOCKS:
            raise ValueError(f"hf.budget_clock must be one of {', '.join(BUDGET_CLOCKS)}, got {c.budget_clock!r}")

    def capped(self, iteration: int) -> bool:
        """Whether ``iteration`` iterations reach ``max_iterations`` (never, when it is None)."""
        return self.config.max_iterations is not None and iteration >= self.config.max_iterations

    def spent(self, state: RunState) -> float:
        """The seconds of ``state`` that count against ``budget_seconds``, on ``budget_clock``."""
        return state.cpu_seconds if self.config.budget_clock == "cpu" else state.elapsed

    def out_of_time(self, spent: float) -> bool:
        """Whether ``spent`` seconds use up ``budget_seconds`` (never when it is None)."""
        return self.config.budget_seconds is not None and spent >= self.config.budget_seconds

    def out_of_budget(self, state: RunState) -> bool:
        """Whether ``state`` has spent ``budget_minibatches``."""
        return state.counters.minibatches >= self.config.budget_minibatches


def initial_state(model: Model, seed: int, optimizer: Optimizer) -> RunState:
    """Fresh run state: parameters from the seed's init stream, the optimiser's initial state, the data stream
    at its start."""
    init_rng, data_rng = seed_streams(seed)
    theta = model.init_params(init_rng)
    return RunState(iteration=0, theta=theta, optimizer=optimizer.init(theta), data_rng=data_rng.bit_generator.state)


def advance(state: RunState, model: Model, task: Task, optimizer: Optimizer) -> tuple[RunState, StepInfo]:
    """One iteration of ``optimizer`` from ``state``: the new state and what happened (with the run's counters)."""
    rng = state.data_generator()
    theta, opt_state, info = optimizer.step(state.optimizer, state.theta, model, task, rng, state.iteration + 1)
    counters = state.counters.add(**{f.name: getattr(info.counters, f.name) for f in fields(Counters)})
    new_state = state.evolve(iteration=state.iteration + 1, theta=theta, optimizer=opt_state,
                             data_rng=rng.bit_generator.state, counters=counters,
                             elapsed=state.elapsed + info.wall_time)
    return new_state, replace(info, counters=counters)


def step_metrics(info: StepInfo) -> dict[str, float]:
    """Flat per-iteration metrics (dotted names) from a :class:`StepInfo`."""
    c = info.counters
    metrics = {
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
    if c.gv_float32:  # only runs with hf.float32_gv_above_lambda compute any
        metrics["cost.gv_float32"] = float(c.gv_float32)
    return metrics


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
    while not stop.capped(state.iteration) and not (state.solved and stop.config.stop_on_success) and not out_of_time:
        if stop.out_of_budget(state):
            break
        cpu_started = time.process_time()
        state, info = advance(state, model, task, optimizer)
        state = state.evolve(cpu_seconds=state.cpu_seconds + time.process_time() - cpu_started)
        metrics = step_metrics(info)
        metrics["cg.stop_reason"] = float(CG_REASON_CODES.get(info.cg_reason, -1))
        if stop.config.budget_seconds is not None:
            out_of_time = stop.out_of_time(agreed_seconds(stop.spent(state), comm))
        last = stop.capped(state.iteration) or stop.out_of_budget(state) or out_of_time
        if state.iteration % stop.config.eval_every == 0 or last:  # the final state is always evaluated
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

"""One Hessian-free iteration (M&S 2011 sec. 3; Martens 2010 sec. 4).

gradient on the gradient batch -> CG on the curvature batch -> backtracking
over the saved CG iterates -> reduction ratio rho -> Levenberg-Marquardt
update of lambda -> Armijo line search -> parameter update. No I/O here.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar, cast

import numpy as np

from hfcore.config import HFConfig
from hfcore.interfaces import (
    CurvatureProduct,
    Damping,
    HasExtraMetrics,
    HasGradientSquares,
    Model,
    Solver,
    Task,
    loss_and_predict,
)
from hfcore.mixed_precision import float32_curvature, use_float32_gv
from hfcore.state import OptimizerState
from hfcore.types import Batch, CGResult, Counters, StepInfo, Vector

log = logging.getLogger(__name__)

DATA_SOURCES = ("gradient", "curvature", "fresh", "part1", "part2")
"""Where backtracking and the line search take their data: the gradient batch, the curvature batch, a fresh
batch of ``hf.fresh_batch`` sequences, or block 1 or 2 of the gradient batch cut in blocks of ``hf.fresh_batch``
(IS11's batch ids: its curvature batch is block 0, backtracking uses block 1, the line search block 2)."""
BACKTRACK_RULES = ("walkback", "argmin")
PRECONDITIONERS = ("none", "empirical_fisher")


@dataclass(frozen=True)
class HFState(OptimizerState):
    """Hessian-free's own state.

    Parameters
    ----------
    lam : float
        Current Tikhonov lambda.
    warm_start : Vector
        Last CG solution (un-backtracked), decayed before the next solve; zero after a rejected step.
    """

    name: ClassVar[str] = "hf"
    lam: float
    warm_start: Vector


def _check_config(c: HFConfig) -> None:
    """Refuse, in one message, every bad HF loop setting (the stop rule checks its own)."""
    problems = []
    if c.gradient_batch < 1:
        problems.append(f"hf.gradient_batch must be >= 1, got {c.gradient_batch}")
    if not 1 <= c.curvature_batch <= c.gradient_batch:
        problems.append(f"hf.curvature_batch must be in [1, hf.gradient_batch={c.gradient_batch}] "
                        f"(it is a subset of the gradient batch), got {c.curvature_batch}")
    for name in ("backtrack_data", "line_search_data"):
        if getattr(c, name) not in DATA_SOURCES:
            problems.append(f"hf.{name} must be one of {DATA_SOURCES}, got '{getattr(c, name)}'")
    if c.backtrack_rule not in BACKTRACK_RULES:
        problems.append(f"hf.backtrack_rule must be one of {BACKTRACK_RULES}, got '{c.backtrack_rule}'")
    if c.fresh_batch < 1:
        problems.append(f"hf.fresh_batch must be >= 1, got {c.fresh_batch}")
    for name in ("backtrack_data", "line_search_data"):
        block = _block(getattr(c, name))
        if block and c.fresh_batch >= 1 and (block + 1) * c.fresh_batch > c.gradient_batch:
            problems.append(f"hf.{name}={getattr(c, name)} needs a gradient batch of at least {block + 1} blocks of "
                            f"hf.fresh_batch={c.fresh_batch} sequences, got hf.gradient_batch={c.gradient_batch}")
    if not 0 < c.line_search_shrink < 1:
        problems.append(f"hf.line_search_shrink must be in (0, 1), got {c.line_search_shrink}")
    if c.line_search_tries < 1:
        problems.append(f"hf.line_search_tries must be >= 1, got {c.line_search_tries}")
    if not 0 <= c.armijo_c < 1:
        problems.append(f"hf.armijo_c must be in [0, 1), got {c.armijo_c}")
    if not 0 <= c.warm_start_decay <= 1:
        problems.append(f"hf.warm_start_decay must be in [0, 1], got {c.warm_start_decay}")
    if c.preconditioner not in PRECONDITIONERS:
        problems.append(f"hf.preconditioner must be one of {PRECONDITIONERS}, got '{c.preconditioner}'")
    if not 0 <= c.preconditioner_power <= 1:
        problems.append(f"hf.preconditioner_power must be in [0, 1], got {c.preconditioner_power}")
    if c.float32_gv_above_lambda is not None and not 0 < c.float32_gv_above_lambda < math.inf:
        problems.append(f"hf.float32_gv_above_lambda must be a positive number or null, "
                        f"got {c.float32_gv_above_lambda}")
    if problems:
        raise ValueError("; ".join(problems))


@dataclass(frozen=True)
class HessianFree:
    """The HF optimiser: :func:`hf_step` with a fixed damping, linear solver and loop settings.

    Parameters
    ----------
    damping : Damping
        Its initial lambda starts :meth:`init`'s state; it updates lambda after each step.
    solver : Solver
        The linear solver (:class:`hfcore.cg.ConjugateGradient`).
    config : HFConfig
        The loop settings (:class:`hfcore.config.HFConfig`, where the defaults live; a copy is kept).
    """

    damping: Damping
    solver: Solver
    config: HFConfig = field(default_factory=HFConfig)
    needs_curvature: ClassVar[bool] = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "config", replace(self.config))  # our own copy: a schema instance is mutable
        _check_config(self.config)

    @property
    def needs_gradient_squares(self) -> bool:
        """Whether :func:`hf_step` calls the model's ``loss_grad_and_squares`` (the CG preconditioner is on)."""
        return self.config.preconditioner != "none"

    def init(self, theta: Vector) -> HFState:
        """The state before the first iteration: lambda0 and a zero warm start."""
        return HFState(lam=float(self.damping.lambda0), warm_start=theta * 0.0)

    def step(self, state: HFState, theta: Vector, model: Model, task: Task, rng: np.random.Generator,
             iteration: int) -> tuple[Vector, HFState, StepInfo]:
        """One HF iteration (see :func:`hf_step`)."""
        return hf_step(self, state, theta, model, task, rng, iteration)

    def batch_sizes(self) -> dict[str, int]:
        """The largest batches one iteration samples, by config key."""
        c = self.config
        sizes = {"hf.gradient_batch": c.gradient_batch}
        if "fresh" in (c.backtrack_data, c.line_search_data):
            sizes["hf.fresh_batch"] = c.fresh_batch
        return sizes


class _Meter:
    """Counts compute while one step runs."""

    def __init__(self, model: Model) -> None:
        self.model = model
        self.forward = 0
        self.forward_sequences = 0
        self.gv = 0
        self.float32 = False  # this step's products came from the float32 twin

    def loss(self, theta: Vector, batch: Batch) -> float:
        self.forward += 1
        self.forward_sequences += batch.size
        return float(self.model.loss(theta, batch))


def _finite(x: float) -> bool:
    return math.isfinite(x)


def _all_finite(v: Vector) -> bool:
    return math.isfinite(float(v @ v))


@dataclass(frozen=True)
class _Batches:
    """The data of one iteration: gradient, curvature (its head), backtracking and line-search batches."""

    grad: Batch
    curv: Batch
    backtrack: Batch
    line_search: Batch


def _block(source: str) -> int:
    """The gradient-batch block a data source names (``part2``: 2); 0 for the other sources."""
    return int(source.removeprefix("part")) if source.startswith("part") else 0


def _draw_batches(task: Task, rng: np.random.Generator, c: HFConfig) -> _Batches:
    """Draw the iteration's batches, in the order that fixes the data stream (gradient, then fresh ones)."""
    grad = task.sample(rng, c.gradient_batch)
    curv = grad.subset(0, c.curvature_batch)

    def data_for(source: str) -> Batch:
        if source == "gradient":
            return grad
        if source == "curvature":
            return curv
        if _block(source):
            return grad.subset(_block(source) * c.fresh_batch, (_block(source) + 1) * c.fresh_batch)
        return task.sample(rng, c.fresh_batch)

    backtrack = data_for(c.backtrack_data)
    line_search = backtrack if c.line_search_data == c.backtrack_data else data_for(c.line_search_data)
    return _Batches(grad, curv, backtrack, line_search)


def _gradient(model: Model, theta: Vector, batch: Batch, c: HFConfig) -> tuple[float, Vector, Vector | None]:
    """Objective and gradient on the gradient batch, with the empirical Fisher diagonal (same backward pass)
    when the CG preconditioner is on (build refuses a model without :class:`HasGradientSquares` then)."""
    if c.preconditioner == "none":
        f0, grad = model.loss_and_grad(theta, batch)
        return float(f0), grad, None
    f0, grad, squares = cast(HasGradientSquares, model).loss_grad_and_squares(theta, batch)
    return float(f0), grad, squares


def _solve(hf: HessianFree, state: HFState, theta: Vector, grad: Vector, model: Model, batch: Batch,
           meter: _Meter, squares: Vector | None = None) -> tuple[CGResult, CurvatureProduct | None]:
    """CG on the damped quadratic, preconditioned by ``(squares + lambda) ** power`` when ``squares`` is given
    (Martens 2010 sec. 4.7); the curvature product is returned only when an undamped rho needs it."""
    curvature = _curvature(hf, state.lam, theta, model, batch, meter)
    lam = state.lam
    weight = hf.damping.structural_weight(lam)

    def matvec(v: Vector) -> Vector:
        meter.gv += 1
        return curvature.gv(v, weight) + lam * v

    # A zero warm start (first iteration, or after a rejected step) needs no product for CG's first residual.
    warm = state.warm_start
    x0 = None if float(warm @ warm) == 0.0 else warm * hf.config.warm_start_decay
    if squares is None:
        result = hf.solver.solve(matvec, -grad, x0)
    else:
        result = hf.solver.solve(matvec, -grad, x0, preconditioner=(squares + lam) ** hf.config.preconditioner_power)
    # The bound product caches the forward pass (several T x B x H arrays); backtracking and the line
    # search allocate their own, so it is released before they run unless an undamped rho needs it.
    return result, (None if hf.config.rho_damped else curvature)


def _curvature(hf: HessianFree, lam: float, theta: Vector, model: Model, batch: Batch,
               meter: _Meter) -> CurvatureProduct:
    """The step's curvature product: the float32 twin's while lambda >= ``hf.float32_gv_above_lambda``."""
    if not use_float32_gv(hf.config.float32_gv_above_lambda, lam):
        return model.curvature(theta, batch)
    meter.float32 = True
    return float32_curvature(model, theta, batch)


def _backtrack(
    result: CGResult, theta: Vector, batch: Batch, meter: _Meter, rule: str
) -> tuple[int, float]:
    """Choose a saved CG iterate; returns (index, loss at theta + iterate)."""
    iterates = result.iterates
    last = len(iterates) - 1
    if rule == "argmin":
        losses = [meter.loss(theta + p, batch) for p in iterates]
        finite = [(f, j) for j, f in enumerate(losses) if _finite(f)]
        if not finite:
            return last, float("nan")
        f, j = min(finite)
        return j, f
    # Martens (2010) walk-back: from the last iterate, step back while the
    # previous one is no worse; stop at the first that is worse.
    j = last
    f = meter.loss(theta + iterates[j], batch)
    while j > 0:
        f_prev = meter.loss(theta + iterates[j - 1], batch)
        if _finite(f) and not f_prev <= f:
            break
        j, f = j - 1, f_prev
    return j, f


def _reduction_ratio(numerator: float, model_decrease: float) -> float:
    """rho: the actual change of the loss over the quadratic model's; -inf for a rise, NaN if either is not finite."""
    if not (_finite(numerator) and _finite(model_decrease)):
        return float("nan")
    if numerator > 0 or model_decrease == 0:
        return float("-inf")
    return numerator / model_decrease


def _line_search(theta: Vector, p: Vector, slope: float, f_start: float, f_first: float | None, batch: Batch,
                 meter: _Meter, c: HFConfig) -> tuple[bool, float, float]:
    """Armijo backtracking along ``p``: (accepted, step size, loss there); ``f_first`` is the loss at ``p``
    when already known (the backtracking batch is the line-search batch)."""
    alpha = 1.0
    for attempt in range(c.line_search_tries):
        f_try = f_first if (attempt == 0 and f_first is not None) else meter.loss(theta + alpha * p, batch)
        if _finite(f_try) and f_try <= f_start + c.armijo_c * alpha * slope:
            return True, alpha, f_try
        alpha *= c.line_search_shrink
    return False, alpha, float("nan")


def _step_info(start: float, f0: float, lam: float, meter: _Meter, batches: _Batches, iteration: int,
               changes: dict[str, Any]) -> StepInfo:
    """What the iteration did; ``counters`` holds its own cost (the loop adds it to the run's)."""
    cost = Counters(gradient_evals=1, gv_products=meter.gv, gv_float32=meter.gv if meter.float32 else 0,
                    forward_evals=meter.forward,
                    sequences_gradient=batches.grad.size, sequences_curvature=meter.gv * batches.curv.size,
                    sequences_forward=meter.forward_sequences)
    values: dict[str, Any] = dict(
        iteration=iteration, train_loss=f0, new_train_loss=f0, lam=lam, rho=float("nan"), cg_iterations=0,
        cg_reason="none", backtrack_index=-1, step_size=0.0, delta_norm=0.0, accepted=False, nonfinite=False,
        wall_time=time.perf_counter() - start, counters=cost,
    )
    values.update(changes)
    return StepInfo(**values)


def hf_step(hf: HessianFree, state: HFState, theta: Vector, model: Model, task: Task, rng: np.random.Generator,
            iteration: int) -> tuple[Vector, HFState, StepInfo]:
    """Run HF iteration number ``iteration`` from ``theta``; return the new parameters, state and what happened.

    Notes
    -----
    Order as in M10c and IS11 (algorithm notes sec. 5). All data come from ``rng``. A NaN/Inf in
    the loss, gradient, Gv or phi rejects the step and raises lambda; the run goes on.
    rho uses the curvature batch; its denominator is the CG model value at
    the chosen iterate, ``phi(p) = g'p + 0.5 p'Ap``, i.e. damped (IS11), unless
    ``rho_damped`` is False (then ``g'p + 0.5 p'(G + kappa I)p``, one extra Gv).
    """
    start = time.perf_counter()
    c, damping, lam = hf.config, hf.damping, state.lam
    meter = _Meter(model)
    b = _draw_batches(task, rng, c)
    f0, grad, squares = _gradient(model, theta, b.grad, c)
    zero = theta * 0.0

    def finish(new_theta: Vector, new_lam: float, warm: Vector, **info: Any) -> tuple[Vector, HFState, StepInfo]:
        return new_theta, HFState(lam=new_lam, warm_start=warm), _step_info(start, f0, new_lam, meter, b,
                                                                            iteration, info)

    if not (_finite(f0) and _all_finite(grad)):
        log.warning("iteration %d: non-finite loss or gradient; step rejected, lambda raised", iteration)
        return finish(theta, damping.update(lam, float("nan")), zero, nonfinite=True)
    result, curvature = _solve(hf, state, theta, grad, model, b.curv, meter, squares)
    if result.reason == "negative_curvature":
        log.warning("iteration %d: CG met non-positive curvature after %d iterations; using the "
                    "iterates saved before it", iteration, result.iterations)
    if result.reason == "nonfinite":
        log.warning("iteration %d: non-finite Gv or phi in CG; step rejected, lambda raised", iteration)
        return finish(theta, damping.update(lam, float("nan")), zero, nonfinite=True,
                      cg_iterations=result.iterations, cg_reason=result.reason)

    index, f_bt = _backtrack(result, theta, b.backtrack, meter, c.backtrack_rule)
    p = result.iterates[index]
    model_decrease = float(result.iterate_phis[index])
    # Reduction ratio on the curvature batch.
    f_curv_old = meter.loss(theta, b.curv)
    f_curv_new = f_bt if b.backtrack is b.curv else meter.loss(theta + p, b.curv)
    if curvature is not None:  # undamped rho: one more product
        meter.gv += 1
        model_decrease = float(grad @ p) + 0.5 * float(p @ curvature.gv(p, 0.0))
    rho = _reduction_ratio(f_curv_new - f_curv_old, model_decrease)
    new_lam = damping.update(lam, rho)

    slope = float(grad @ p)
    f_ls0 = f0 if b.line_search is b.grad else meter.loss(theta, b.line_search)
    accepted, alpha, f_new = _line_search(theta, p, slope, f_ls0, f_bt if b.line_search is b.backtrack else None,
                                          b.line_search, meter, c)
    info = dict(new_train_loss=f_new if accepted else f0, rho=rho, cg_iterations=result.iterations,
                cg_reason=result.reason, backtrack_index=int(result.iterate_indices[index]), nonfinite=math.isnan(rho))
    if not accepted:
        # IS11: a rejected step also forgets the warm start.
        return finish(theta, new_lam, zero, **info)
    step = alpha * p
    return finish(theta + step, new_lam, result.x, step_size=alpha, delta_norm=math.sqrt(float(step @ step)),
                  accepted=True, **info)


def evaluate(model: Model, task: Task, theta: Vector, batch: Batch) -> dict[str, float]:
    """Objective, task error and the task's extra metrics of ``theta`` on ``batch``.

    Returns
    -------
    dict of str to float
        ``loss`` (the training objective), ``error`` (:meth:`Task.error`) and
        whatever the task's optional ``extra_metrics(outputs, batch)`` returns
        (e.g. the music task's log-likelihoods), all from one forward pass when
        the model has ``loss_and_predict`` (:func:`hfcore.interfaces.loss_and_predict`).
    """
    loss, outputs = loss_and_predict(model, theta, batch)
    metrics = ({str(k): float(v) for k, v in task.extra_metrics(outputs, batch).items()}
               if isinstance(task, HasExtraMetrics) else {})
    # The objective and the task error keep their meaning even if a task reuses their names.
    metrics.update(loss=loss, error=float(task.error(outputs, batch)))
    return metrics

"""One Hessian-free iteration (M&S 2011 sec. 3; Martens 2010 sec. 4).

gradient on the gradient batch -> CG on the curvature batch -> backtracking
over the saved CG iterates -> reduction ratio rho -> Levenberg-Marquardt
update of lambda -> Armijo line search -> parameter update. No I/O here.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

from hfcore.interfaces import Damping, HasExtraMetrics, Model, Solver, Task, loss_and_predict
from hfcore.state import RunState
from hfcore.types import Batch, CGResult, StepInfo, Vector

log = logging.getLogger(__name__)

DATA_SOURCES = ("gradient", "curvature", "fresh")
BACKTRACK_RULES = ("walkback", "argmin")


@dataclass(frozen=True)
class HFSettings:
    """The outer-loop options (see :class:`hfcore.config.HFConfig`)."""

    gradient_batch: int = 10000
    curvature_batch: int = 1000
    backtrack_data: str = "gradient"
    line_search_data: str = "gradient"
    fresh_batch: int = 1000
    backtrack_rule: str = "walkback"
    rho_damped: bool = True
    armijo_c: float = 1e-2
    line_search_shrink: float = 0.8
    line_search_tries: int = 60
    warm_start_decay: float = 0.95

    def __post_init__(self) -> None:
        problems = []
        if self.gradient_batch < 1:
            problems.append(f"hf.gradient_batch must be >= 1, got {self.gradient_batch}")
        if not 1 <= self.curvature_batch <= self.gradient_batch:
            problems.append(
                f"hf.curvature_batch must be in [1, hf.gradient_batch={self.gradient_batch}] "
                f"(it is a subset of the gradient batch), got {self.curvature_batch}"
            )
        for name in ("backtrack_data", "line_search_data"):
            if getattr(self, name) not in DATA_SOURCES:
                problems.append(f"hf.{name} must be one of {DATA_SOURCES}, got '{getattr(self, name)}'")
        if self.backtrack_rule not in BACKTRACK_RULES:
            problems.append(f"hf.backtrack_rule must be one of {BACKTRACK_RULES}, got '{self.backtrack_rule}'")
        if self.fresh_batch < 1:
            problems.append(f"hf.fresh_batch must be >= 1, got {self.fresh_batch}")
        if not 0 < self.line_search_shrink < 1:
            problems.append(f"hf.line_search_shrink must be in (0, 1), got {self.line_search_shrink}")
        if self.line_search_tries < 1:
            problems.append(f"hf.line_search_tries must be >= 1, got {self.line_search_tries}")
        if not 0 <= self.armijo_c < 1:
            problems.append(f"hf.armijo_c must be in [0, 1), got {self.armijo_c}")
        if not 0 <= self.warm_start_decay <= 1:
            problems.append(f"solver.warm_start_decay must be in [0, 1], got {self.warm_start_decay}")
        if problems:
            raise ValueError("; ".join(problems))


class _Meter:
    """Counts compute while one step runs."""

    def __init__(self, model: Model) -> None:
        self.model = model
        self.forward = 0
        self.forward_sequences = 0

    def loss(self, theta: Vector, batch: Batch) -> float:
        self.forward += 1
        self.forward_sequences += batch.size
        return float(self.model.loss(theta, batch))


def _finite(x: float) -> bool:
    return math.isfinite(x)


def _all_finite(v: Vector) -> bool:
    return math.isfinite(float(v @ v))


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


def hf_step(
    state: RunState,
    model: Model,
    task: Task,
    damping: Damping,
    solver: Solver,
    settings: HFSettings,
) -> tuple[RunState, StepInfo]:
    """Run one HF iteration and return the new state and what happened.

    Notes
    -----
    Order as in M10c and IS11 (algorithm notes sec. 5). A NaN/Inf in the loss,
    gradient, Gv or phi rejects the step and raises lambda; the run goes on.
    rho uses the curvature batch; its denominator is the CG model value at
    the chosen iterate, ``phi(p) = g'p + 0.5 p'Ap``, i.e. damped (IS11), unless
    ``rho_damped`` is False (then ``g'p + 0.5 p'(G + kappa I)p``, one extra Gv).
    """
    start = time.perf_counter()
    rng = state.data_generator()
    theta, lam = state.theta, state.lam
    meter = _Meter(model)

    grad_batch = task.sample(rng, settings.gradient_batch)
    curv_batch = grad_batch.subset(0, settings.curvature_batch)

    def data_for(source: str) -> Batch:
        if source == "gradient":
            return grad_batch
        if source == "curvature":
            return curv_batch
        return task.sample(rng, settings.fresh_batch)

    bt_batch = data_for(settings.backtrack_data)
    ls_batch = bt_batch if settings.line_search_data == settings.backtrack_data else data_for(
        settings.line_search_data
    )

    f0, grad = model.loss_and_grad(theta, grad_batch)
    f0 = float(f0)
    gv_count = 0
    counters = state.counters.add(gradient_evals=1, sequences_gradient=grad_batch.size)

    def finish(
        new_theta: Vector,
        new_lam: float,
        warm: Vector,
        info: dict,
        extra_gv: int = 0,
    ) -> tuple[RunState, StepInfo]:
        n_gv = gv_count + extra_gv
        total = counters.add(
            gv_products=n_gv,
            sequences_curvature=n_gv * curv_batch.size,
            forward_evals=meter.forward,
            sequences_forward=meter.forward_sequences,
        )
        wall = time.perf_counter() - start
        new_state = state.evolve(
            iteration=state.iteration + 1,
            theta=new_theta,
            lam=new_lam,
            warm_start=warm,
            data_rng=rng.bit_generator.state,
            counters=total,
            elapsed=state.elapsed + wall,
        )
        defaults = dict(
            iteration=state.iteration + 1,
            train_loss=f0,
            new_train_loss=f0,
            lam=new_lam,
            rho=float("nan"),
            cg_iterations=0,
            cg_reason="none",
            backtrack_index=-1,
            step_size=0.0,
            delta_norm=0.0,
            accepted=False,
            nonfinite=False,
            wall_time=wall,
            counters=total,
        )
        defaults.update(info)
        return new_state, StepInfo(**defaults)

    zero = theta * 0.0
    if not (_finite(f0) and _all_finite(grad)):
        log.warning("iteration %d: non-finite loss or gradient; step rejected, lambda raised", state.iteration + 1)
        return finish(theta, damping.update(lam, float("nan")), zero, dict(nonfinite=True))

    curvature = model.curvature(theta, curv_batch)
    weight = damping.structural_weight(lam)

    def matvec(v: Vector) -> Vector:
        nonlocal gv_count
        gv_count += 1
        return curvature.gv(v, weight) + lam * v

    # A zero warm start (first iteration, or after a rejected step) needs no product for CG's first residual.
    warm = state.warm_start
    x0 = None if float(warm @ warm) == 0.0 else warm * settings.warm_start_decay
    result = solver.solve(matvec, -grad, x0)
    if result.reason == "negative_curvature":
        log.warning("iteration %d: CG met non-positive curvature after %d iterations; using the "
                    "iterates saved before it", state.iteration + 1, result.iterations)
    if result.reason == "nonfinite":
        log.warning("iteration %d: non-finite Gv or phi in CG; step rejected, lambda raised", state.iteration + 1)
        return finish(theta, damping.update(lam, float("nan")), zero, dict(
            nonfinite=True, cg_iterations=result.iterations, cg_reason=result.reason))

    if settings.rho_damped:
        # The bound product caches the forward pass (several T x B x H arrays); backtracking and the line
        # search allocate their own, so release it before they run. It is only needed again for an undamped rho.
        curvature = None
    index, f_bt = _backtrack(result, theta, bt_batch, meter, settings.backtrack_rule)
    p = result.iterates[index]
    model_decrease = float(result.iterate_phis[index])

    # Reduction ratio on the curvature batch.
    f_curv_old = meter.loss(theta, curv_batch)
    f_curv_new = f_bt if bt_batch is curv_batch else meter.loss(theta + p, curv_batch)
    extra_gv = 0
    if not settings.rho_damped:
        extra_gv = 1
        model_decrease = float(grad @ p) + 0.5 * float(p @ curvature.gv(p, 0.0))
    numerator = f_curv_new - f_curv_old
    if not (_finite(numerator) and _finite(model_decrease)):
        rho = float("nan")
    elif numerator > 0 or model_decrease == 0:
        rho = float("-inf")
    else:
        rho = numerator / model_decrease
    new_lam = damping.update(lam, rho)

    # Armijo line search along p.
    slope = float(grad @ p)
    f_ls0 = f0 if ls_batch is grad_batch else meter.loss(theta, ls_batch)
    alpha, f_new = 1.0, float("nan")
    accepted = False
    for attempt in range(settings.line_search_tries):
        f_try = f_bt if (attempt == 0 and ls_batch is bt_batch) else meter.loss(theta + alpha * p, ls_batch)
        if _finite(f_try) and f_try <= f_ls0 + settings.armijo_c * alpha * slope:
            accepted, f_new = True, f_try
            break
        alpha *= settings.line_search_shrink
    info = dict(
        new_train_loss=f_new if accepted else f0,
        rho=rho,
        cg_iterations=result.iterations,
        cg_reason=result.reason,
        backtrack_index=int(result.iterate_indices[index]),
        nonfinite=not _finite(rho) and math.isnan(rho),
    )
    if not accepted:
        # IS11: a rejected step also forgets the warm start.
        return finish(theta, new_lam, zero, info, extra_gv)
    step = alpha * p
    info.update(step_size=alpha, delta_norm=math.sqrt(float(step @ step)), accepted=True)
    return finish(theta + step, new_lam, result.x, info, extra_gv)


@dataclass(frozen=True)
class HessianFree:
    """The HF optimiser: :func:`hf_step` with a fixed damping, linear solver and settings."""

    damping: Damping
    solver: Solver
    settings: HFSettings

    def step(self, state: RunState, model: Model, task: Task) -> tuple[RunState, StepInfo]:
        """One HF iteration (see :func:`hf_step`)."""
        return hf_step(state, model, task, self.damping, self.solver, self.settings)


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

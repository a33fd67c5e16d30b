"""What a user sees: a live progress line, log lines, and the learning-curve plot."""

from __future__ import annotations

import logging
import math
import sys
from typing import Any

from hfcore.state import RunState
from hfcore.types import StepInfo

log = logging.getLogger("hfcore")


class JobFormatter(logging.Formatter):
    """Hydra's log format, with a sweep job's label before each message in a ``--multirun``.

    The jobs of a sweep print to one console, and with a parallel launcher their lines
    interleave: ``[#3]`` says whose line each is, the job numbered ``#3`` in Hydra's
    ``Launching N jobs`` lines, which list each job's overrides (all of them, the swept and the
    fixed ones, so they stay there rather than on every line). Named by ``hydra.job_logging``
    in ``conf/config.yaml``; Hydra configures a job's logging after setting its
    :class:`~hydra.core.hydra_config.HydraConfig`, which gives the number. A single run's lines
    are unchanged.
    """

    def __init__(self, fmt: str | None = None, datefmt: str | None = None, style: str = "%",
                 validate: bool = True, **kwargs: Any) -> None:
        label = job_label()
        if fmt and label and style == "%":
            fmt = fmt.replace("%(message)s", label.replace("%", "%%") + " %(message)s")
        super().__init__(fmt, datefmt, style, validate, **kwargs)  # type: ignore[arg-type]


def job_label() -> str:
    """``[#<job number>]`` for a job of a Hydra multirun, else ``""``."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    if not HydraConfig.initialized() or HydraConfig.get().mode != RunMode.MULTIRUN:
        return ""
    return f"[#{HydraConfig.get().job.num}]"


class ProgressReporter:
    """A tqdm bar per iteration (only on a TTY) plus a log line every ``log_every`` iterations.

    Parameters
    ----------
    enabled : bool
        Show the bar; it is also off when stderr is not a terminal.
    initial : int
        Iterations already done (when resuming).
    log_every : int
        Log an iteration's line every this many iterations, and at every test evaluation:
        the cadence of ``tracking.log_every`` (a first-order run's steps are short and many).
    """

    def __init__(self, enabled: bool = True, initial: int = 0, log_every: int = 1) -> None:
        self.bar = None
        self.log_every = log_every
        self._redirect: Any = None
        if enabled and sys.stderr.isatty():
            from tqdm import tqdm
            from tqdm.contrib.logging import logging_redirect_tqdm

            # No total: runs end on success long before the iteration cap, so a bar would mislead.
            self.bar = tqdm(initial=initial, unit="it", dynamic_ncols=True, desc="HF")
            # Console log lines go through tqdm.write, above the bar, instead of onto the bar's line.
            self._redirect = logging_redirect_tqdm()
            self._redirect.__enter__()
        self.history: list[dict[str, float]] = []
        self.test_error: float | None = None

    def on_step(self, state: RunState, info: StepInfo, metrics: dict[str, float]) -> None:
        """Update the bar and the log, and keep the metrics for the plot."""
        self.history.append({"iteration": float(state.iteration), **metrics})
        evaluated = "test.error" in metrics
        if evaluated:
            self.test_error = metrics["test.error"]
        if evaluated or state.iteration % self.log_every == 0:
            log.info(iteration_line(state, info, metrics))
        if self.bar is not None:
            postfix = {"loss": f"{info.new_train_loss:.4g}"}
            if self.test_error is not None:  # the last evaluation's, until the next one
                postfix["test_err"] = f"{self.test_error:.4g}"
            if info.cg_reason != "none":
                postfix.update(lam=f"{info.lam:.3g}", cg=str(info.cg_iterations))
            self.bar.set_postfix(postfix, refresh=False)
            self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        if self._redirect is not None:
            self._redirect.__exit__(None, None, None)
            self._redirect = None


def iteration_line(state: RunState, info: StepInfo, metrics: dict[str, float]) -> str:
    """One iteration's console line; ``test_err`` only when this iteration was evaluated (never ``nan``)."""
    parts = [f"iter {state.iteration}", f"loss {info.new_train_loss:.5g}"]
    if "test.error" in metrics:
        parts.append(f"test_err {metrics['test.error']:.4g}")
    if info.cg_reason == "none":  # a first-order step: no lambda, rho or CG to report
        parts += [f"lr {info.step_size:.3g}", f"step_norm {info.delta_norm:.3g}"]
    else:
        parts += [f"lambda {info.lam:.3g}", f"rho {info.rho:.3g}", f"cg {info.cg_iterations} ({info.cg_reason})",
                  f"alpha {info.step_size:.3g}"]
    parts.append(f"minibatches {info.counters.minibatches:.0f}")
    return "  ".join(parts)


CURVE_METRICS = ("cost.minibatches", "train.loss_after", "test.loss", "test.error", "hf.lambda", "hf.delta_norm")
"""The metrics :func:`learning_curve` draws (``cost.minibatches`` is its x axis)."""


def learning_curve(history: list[dict[str, float]], title: str = "") -> Any:
    """A figure of train/test loss, test error and lambda against paper minibatches.

    A run with no finite lambda (a first-order optimiser's, which logs it as NaN) gets its step length
    ``hf.delta_norm`` in the third panel instead.

    Parameters
    ----------
    history : list of dict
        Per-iteration metrics as produced by :func:`hfcore.training.step_metrics`
        plus ``test.*`` entries.
    title : str
        Figure title.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 3.4), layout="constrained")
    axes = fig.subplots(1, 3)
    x = [h["cost.minibatches"] for h in history]

    def series(key: str) -> tuple[list[float], list[float]]:
        pts = [(xi, h[key]) for xi, h in zip(x, history, strict=True) if key in h]
        return [p[0] for p in pts], [p[1] for p in pts]

    axes[0].plot(*series("train.loss_after"), label="train (gradient batch)")
    axes[0].plot(*series("test.loss"), label="test")
    axes[0].set_yscale("log")
    axes[0].set_ylabel("objective")
    axes[0].legend()
    errors = series("test.error")
    axes[1].plot(*errors, color="C2")
    axes[1].set_ylabel("test error")
    highest = max((e for e in errors[1] if math.isfinite(e)), default=0.0)
    # From 0: the level matters more than a stalled run's wiggle (which would get a "+1" offset axis)
    axes[1].set_ylim(0.0, 1.08 * highest if highest > 0 else None)
    lambdas = series("hf.lambda")
    if any(math.isfinite(v) for v in lambdas[1]):
        axes[2].plot(*lambdas, color="C3")
        axes[2].set_ylabel("lambda")
    else:
        axes[2].plot(*series("hf.delta_norm"), color="C4", linewidth=0.6)
        axes[2].set_ylabel("step length")
    axes[2].set_yscale("log")
    for ax in axes:
        ax.set_xlabel("minibatches (1000 sequences)")
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    return fig

"""What a user sees: a live progress line, log lines, and the learning-curve plot."""

from __future__ import annotations

import logging
import sys
from typing import Any

from hfcore.state import RunState
from hfcore.types import StepInfo

log = logging.getLogger("hfcore")


class ProgressReporter:
    """A tqdm bar per HF iteration (only on a TTY) plus one log line per iteration.

    Parameters
    ----------
    enabled : bool
        Show the bar; it is also off when stderr is not a terminal.
    initial : int
        Iterations already done (when resuming).
    """

    def __init__(self, enabled: bool = True, initial: int = 0) -> None:
        self.bar = None
        if enabled and sys.stderr.isatty():
            from tqdm import tqdm

            # No total: runs end on success long before the iteration cap, so a bar would mislead.
            self.bar = tqdm(initial=initial, unit="it", dynamic_ncols=True, desc="HF")
        self.history: list[dict[str, float]] = []

    def on_step(self, state: RunState, info: StepInfo, metrics: dict[str, float]) -> None:
        """Update the bar and the log, and keep the metrics for the plot."""
        self.history.append({"iteration": float(state.iteration), **metrics})
        test_error = metrics.get("test.error", float("nan"))
        if info.cg_reason == "none":  # a first-order step: no lambda, rho or CG to report
            log.info("iter %d  loss %.5g  test_err %.4g  lr %.3g  step_norm %.3g  minibatches %.0f",
                     state.iteration, info.new_train_loss, test_error, info.step_size, info.delta_norm,
                     info.counters.minibatches)
        else:
            log.info(
                "iter %d  loss %.5g  test_err %.4g  lambda %.3g  rho %.3g  cg %d (%s)  alpha %.3g  minibatches %.0f",
                state.iteration, info.new_train_loss, test_error, info.lam, info.rho,
                info.cg_iterations, info.cg_reason, info.step_size, info.counters.minibatches,
            )
        if self.bar is not None:
            self.bar.set_postfix(loss=f"{info.new_train_loss:.4g}", test_err=f"{test_error:.4g}",
                                 lam=f"{info.lam:.3g}", cg=info.cg_iterations, refresh=False)
            self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


CURVE_METRICS = ("cost.minibatches", "train.loss_after", "test.loss", "test.error", "hf.lambda")
"""The metrics :func:`learning_curve` draws (``cost.minibatches`` is its x axis)."""


def learning_curve(history: list[dict[str, float]], title: str = "") -> Any:
    """A figure of train/test loss, test error and lambda against paper minibatches.

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
    axes[1].plot(*series("test.error"), color="C2")
    axes[1].set_ylabel("test error")
    axes[2].plot(*series("hf.lambda"), color="C3")
    axes[2].set_yscale("log")
    axes[2].set_ylabel("lambda")
    for ax in axes:
        ax.set_xlabel("minibatches (1000 sequences)")
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    return fig

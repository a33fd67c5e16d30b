"""Which test sequences a multiplication or addition checkpoint still gets wrong, and why.

Loads each checkpoint with the task settings it was trained with, runs the fixed test set once and
prints, for the sequences whose ``|y_hat - y|`` exceeds the task's tolerance, the two marked values,
the marker steps and the error; then the error by the step of the second marker (how long the
network must hold the answer) and by the size of the smaller factor.

Usage, from the repository root::

    python docs/results/figure3-t100/analyse_failures.py docs/results/figure3-t100/checkpoints/*.npz
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from hfcore.build import load_run
from hfcore.checkpoint import load_checkpoint


def marked_values(inputs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(steps, A, B)`` of an ``ms2011`` batch: the two marked steps (n, 2) and the two marked values.

    The value channel is 0 and the marker channel 1; the markers of interest are the two +1 steps.
    """
    marks = inputs[:, :, 1] == 1.0
    steps = np.argsort(~marks, axis=0, kind="stable")[:2].T  # the two marked steps, in time order
    cols = np.arange(inputs.shape[1])
    return steps, inputs[steps[:, 0], cols, 0], inputs[steps[:, 1], cols, 0]


def analyse(path: Path) -> str:
    """The report for one checkpoint, as text."""
    state, parts = load_run(path)  # the run's own task and model, from the config it saved
    cfg = load_checkpoint(path)[1]["config"]
    task, model = parts.task, parts.model
    batch = task.test_batch()
    steps, a, b = marked_values(batch.inputs)
    cols = np.arange(batch.size)
    loss, outputs = model.loss_and_predict(state.theta, batch)
    target = batch.targets[batch.lengths - 1, cols, 0]
    err = outputs[batch.lengths - 1, cols, 0] - target
    wrong = np.abs(err) > cfg["task"]["tolerance"]
    lines = [f"{path.name}: {cfg['task']['name']} T={cfg['task']['T']} seed={cfg['seed']} iteration "
             f"{state.iteration}, test loss {loss:.3g}, {wrong.sum()} of {batch.size} wrong "
             f"({wrong.mean():.2%})", "", "| A | B | target | error | first marker | second marker | length |",
             "|---|---|---|---|---|---|---|"]
    for i in np.flatnonzero(wrong):
        lines.append(f"| {a[i]:.3f} | {b[i]:.3f} | {target[i]:.3f} | {err[i]:+.3f} | {steps[i, 0]} | "
                     f"{steps[i, 1]} | {batch.lengths[i]} |")
    lines += ["", "| second marker in | sequences | rms error | wrong | smaller factor < 0.1: n | mean error | rms |",
              "|---|---|---|---|---|---|---|"]
    edges = np.linspace(steps[:, 1].min(), steps[:, 1].max() + 1, 5).astype(int)
    small = np.minimum(a, b) < 0.1
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        m = (steps[:, 1] >= lo) & (steps[:, 1] < hi)
        s = m & small
        lines.append(f"| [{lo}, {hi}) | {m.sum()} | {np.sqrt(np.mean(err[m] ** 2)):.4f} | {wrong[m].sum()} | "
                     f"{s.sum()} | {err[s].mean():+.4f} | {np.sqrt(np.mean(err[s] ** 2)):.4f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("checkpoints", nargs="+", type=Path)
    for path in p.parse_args(argv).checkpoints:
        print(analyse(path), end="\n\n")


if __name__ == "__main__":
    main()

"""Which test strings a memorization checkpoint still gets wrong, where, and by how much.

Loads each checkpoint with the task settings it was trained with, runs the fixed test set once and prints,
per string that some test sequence gets wrong: the string, how many of its test sequences are wrong, and for
each wrong step (a recalled symbol or a blank) the target, the arg-max class and the probability given to the
target. The margin says how far a run is from solving: a target at 0.45 is one small step away, one at 0.01 is
not.

Usage, from the repository root::

    python docs/results/figure3-s17/analyse_memorization.py docs/results/figure3-s16/checkpoints/memorization_*.npz
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from pathlib import Path

import numpy as np

from hfcore.build import load_run
from hfcore.checkpoint import load_checkpoint


def analyse(path: Path) -> str:
    """The report for one checkpoint, as markdown text."""
    state, parts = load_run(path)  # the run's own task and model, from the config it saved
    cfg = load_checkpoint(path)[1]["config"]
    task, model = parts.task, parts.model
    batch = task.test_batch()
    loss, outputs = model.loss_and_predict(state.theta, batch)
    probs = np.asarray(outputs)  # softmax outputs, (T, n, classes)
    target = batch.targets.argmax(axis=2)
    predicted = probs.argmax(axis=2)
    wrong = predicted != target  # (T, n)
    k = task.num_chars
    strings = ["".join(str(s) for s in target[-k:, i]) for i in range(batch.size)]
    bad = np.flatnonzero(wrong.any(axis=0))
    lines = [f"{path.name}: {cfg['task']['name']} T={cfg['task']['T']} seed={cfg['seed']} iteration "
             f"{state.iteration}, test loss {loss:.4g}, {len(bad)} of {batch.size} test sequences wrong", ""]
    T = probs.shape[0]
    right = ~wrong.any(axis=0)
    p_right = np.take_along_axis(probs[T - k:], target[T - k:, :, None], axis=2)[..., 0][:, right]
    margin = (f"The {right.sum()} right sequences give their recalled symbols p(target) {p_right.min():.3f} at least "
              f"(median {np.median(p_right):.3f})." if right.any() else "No test sequence is right.")
    if not len(bad):
        return "\n".join(lines + [margin])
    by_string: dict[str, list[int]] = defaultdict(list)
    for i in bad:
        by_string[strings[i]].append(int(i))
    lines += ["| string | sequences wrong / held | wrong step (recall position) | target | arg-max | "
              "p(target): min / median / max |", "|---|---|---|---|---|---|"]
    held = defaultdict(int)
    for s in strings:
        held[s] += 1
    for string, rows in sorted(by_string.items()):
        steps = sorted({int(t) for i in rows for t in np.flatnonzero(wrong[:, i])})
        for t in steps:
            cols = [i for i in rows if wrong[t, i]]
            p = probs[t, cols, target[t, cols]]
            where = f"{t} (recall {t - (T - k) + 1} of {k})" if t >= T - k else f"{t} (blank)"
            lines.append(f"| {string} | {len(rows)} / {held[string]} | {where} | {target[t, cols[0]]} | "
                         f"{np.bincount(predicted[t, cols]).argmax()} | {p.min():.3f} / {np.median(p):.3f} / "
                         f"{p.max():.3f} |")
    return "\n".join(lines + ["", margin])


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("checkpoints", nargs="+", type=Path)
    for path in p.parse_args(argv).checkpoints:
        print(analyse(path), end="\n\n")


if __name__ == "__main__":
    main()

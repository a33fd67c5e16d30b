"""NumPy LSTM or GRU: the hand-written Gauss-Newton product against the same model's gradient, in one process.

Issue 19's target: at 100 cells, B = 1000, T = 100, float64 and one thread, one Gv product of the NumPy
LSTM (``model=lstm backend=numpy``; the GRU with ``--model gru``) costs at most 1.5x its gradient (loss +
BPTT). With interleaved repeats this times, on one fixed batch:

* ``forward``   ``model.loss`` (one forward pass),
* ``gradient``  ``model.loss_and_grad`` (forward + BPTT): the baseline,
* ``bind``      ``model.curvature`` (the forward pass cached for the HF step's Gv products),
* ``gv``        one ``gv(v, structural_weight)`` on a bound object that has already done one (untimed)
  product, so its work buffers exist, as in every CG iteration after the first.

Every figure is min / median / max over the repeats; ``gv / gradient`` is given for the minima, the
medians and per repeat (paired, same repeat). The BLAS, its kernel and the thread count are named in
the header (threads pinned with threadpoolctl). The structural term is on (``--structural-weight``,
0.3 by default), as in an HF run with structural damping::

    python benchmarks/lstm_gv.py                                  # H=100, B=1000, T=100, float64, 1 thread
    python benchmarks/lstm_gv.py --B 200 --T 50 --repeats 3      # a smaller size on a loaded machine
    python benchmarks/lstm_gv.py --model gru                      # the NumPy GRU, same sizes (H = 100 units)

No test asserts a time.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import (  # noqa: E402
    Stats,
    add_gated_size_args,
    emit,
    environment,
    fmt_ms,
    fmt_ratio,
    full_mask_batch,
    header_lines,
    limit_threads,
    log,
    md_table,
    parse_gated_args,
    timed,
)

from hfcore.types import Batch, ModelSpec  # noqa: E402

OPS = ("forward", "gradient", "bind", "gv")
TARGET = 1.5
"""Issue 19: Gv within 1.5x of the gradient."""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options (see the module docstring)."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="lstm", choices=["lstm", "gru"], help="the NumPy model (default lstm)")
    add_gated_size_args(p, "memory cells or GRU units (default 100)", "cells per block (default 10)",
                        "BLAS threads (default 1)")
    return parse_gated_args(p, argv)


def build(args: argparse.Namespace) -> tuple[Any, np.ndarray, Batch, np.ndarray]:
    """The NumPy model through the plugin registry, a point away from init, a full-mask batch and a direction."""
    from hfcore.config import GRUConfig, LSTMConfig
    from hfcore.registry import load_plugins

    _, registry = load_plugins()
    spec = ModelSpec(args.inputs, args.outputs, "linear")
    cfg = (GRUConfig(hidden=args.H, l2=1e-5) if args.model == "gru"
           else LSTMConfig(hidden=args.H, cells_per_block=args.cells_per_block, l2=1e-5))
    definition = registry.get("model", args.model).factory(spec, cfg)
    model = registry.get("backend", "numpy").factory(definition, cfg,
                                                     SimpleNamespace(dtype=args.dtype, chunk_size=args.B))
    rng = np.random.default_rng(0)
    theta = model.init_params(rng) + 0.01 * rng.standard_normal(model.n_params)
    batch = full_mask_batch(rng, args.T, args.B, args.inputs, args.outputs)
    return model, model.from_numpy(theta), batch, model.from_numpy(rng.standard_normal(model.n_params))


def measure(args: argparse.Namespace) -> dict[str, list[float]]:
    """Seconds per operation and repeat (interleaved: repeat -> operation)."""
    model, theta, batch, v = build(args)
    times: dict[str, list[float]] = {op: [] for op in OPS}
    w = args.structural_weight
    with limit_threads(args.threads):
        model.loss_and_grad(theta, batch)  # warm-up: page faults, BLAS init
        for rep in range(args.repeats):
            times["forward"].append(timed(lambda: model.loss(theta, batch))[0])
            times["gradient"].append(timed(lambda: model.loss_and_grad(theta, batch))[0])
            seconds, curv = timed(lambda: model.curvature(theta, batch))
            times["bind"].append(seconds)
            curv.gv(v, w)  # the work buffers now exist, as in every later CG iteration
            times["gv"].append(timed(lambda c=curv: c.gv(v, w))[0])
            del curv
            log(f"[rep {rep + 1}/{args.repeats}] " + ", ".join(f"{op} {fmt_ms(times[op][-1])} ms" for op in OPS))
    return times


def render(args: argparse.Namespace, env: dict[str, Any], times: dict[str, list[float]]) -> str:
    """The markdown report: environment, the operations' min/median/max, and the Gv/gradient ratios."""
    stats = {op: Stats.of(times[op]) for op in OPS}
    grad = stats["gradient"]
    rows = [[op, stats[op].n, fmt_ms(stats[op].min), fmt_ms(stats[op].median), fmt_ms(stats[op].max),
             fmt_ratio(stats[op].median / grad.median)] for op in OPS]
    paired = [g / d for g, d in zip(times["gv"], times["gradient"], strict=True)]
    ratio_min, ratio_median = stats["gv"].min / grad.min, stats["gv"].median / grad.median
    verdict = "meets" if ratio_median <= TARGET else "misses"
    lines = [
        f"# NumPy {args.model.upper()}: Gv against the gradient",
        "",
        *header_lines(env, [args.threads]),
        (f"- model `{args.model}`, backend `numpy`, {args.dtype}: H = {args.H} "
         + (f"cells in blocks of {args.cells_per_block}, " if args.model == "lstm" else "units, ") +
         f"I = {args.inputs}, O = {args.outputs} (linear output), B = {args.B}, T = {args.T}, full mask; "
         f"gv with structural weight {args.structural_weight}"),
        "",
        md_table(["operation", "repeats", "min ms", "median ms", "max ms", "median / gradient"], rows),
        "",
        (f"**gv / gradient: {fmt_ratio(ratio_median)} (medians), {fmt_ratio(ratio_min)} (minima); per repeat "
         f"{', '.join(fmt_ratio(r) for r in paired)}** — {verdict} the target of {TARGET}x."),
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Measure, print the report, and write it where asked."""
    args = parse_args(argv)
    env = environment(with_torch=False)
    times = measure(args)
    env["loadavg_end"] = os.getloadavg() if hasattr(os, "getloadavg") else None
    report = render(args, env, times)
    emit(report, {"args": vars(args), "environment": env, "seconds": times}, args.json, args.markdown,
         args.mlflow, f"{args.model}_gv")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""CG steps and CPU seconds with float32 against float64 Gv products, as lambda falls: where to switch.

``hf.float32_gv_above_lambda`` computes CG's Gv products in float32 while lambda is at least its value
(everything else in float64). This script picks that value. It builds one HF subproblem of the addition
problem as ``cg_precision.py`` does (theta and the data stream from a checkpoint or a seed's initial state,
the next gradient and curvature batches, paper settings) and solves it with the engine's CG from zero at
each lambda given, once with the float64 model's products and once with the float32 twin's (the gradient,
CG's vectors and lambda's term in float64, as the setting does). Reported per lambda and precision: CG
steps, why CG stopped, the final phi and the CPU seconds of the solve (the forward pass each product
caches is bound once, outside the timing)::

    python benchmarks/gv_precision_threshold.py --T 50 \\
        --checkpoint benchmarks/results/checkpoints/addition-T50-s0-solved.npz --lambdas 0.02 0.01 0.005 0.002
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import add_mlflow_arg, emit, environment, header_lines, limit_threads, log, md_table  # noqa: E402
from cg_precision import build, subproblem  # noqa: E402


def solve(p: dict[str, Any], damping: Any, lam: float, dtype: str) -> dict[str, Any]:
    """CG from zero on ``G + lam I`` (structural weight at ``lam``) with ``dtype``'s products, CPU-timed."""
    from hfcore.cg import ConjugateGradient

    curvature, weight = p["curvatures"][dtype], damping.structural_weight(lam)

    def matvec(v: np.ndarray) -> np.ndarray:
        return np.asarray(curvature.gv(v.astype(dtype), weight), np.float64) + lam * v

    start = time.process_time()
    result = ConjugateGradient().solve(matvec, -p["grads"]["float64"], None)
    seconds = time.process_time() - start
    return {"lam": lam, "precision": dtype, "steps": result.iterations, "reason": result.reason,
            "phi_end": result.phis[-1], "cpu_seconds": seconds}


def report(T: int, where: str, p: dict[str, Any], rows: list[dict[str, Any]], env: dict[str, Any]) -> str:
    by = {(r["lam"], r["precision"]): r for r in rows}
    table = []
    for lam in dict.fromkeys(r["lam"] for r in rows):
        a, b = by[(lam, "float64")], by[(lam, "float32")]
        table.append([f"{lam:g}", f"{a['steps']} ({a['reason']})", f"{b['steps']} ({b['reason']})",
                      f"{a['phi_end']:.4e}", f"{b['phi_end']:.4e}", f"{a['cpu_seconds']:.1f}",
                      f"{b['cpu_seconds']:.1f}", f"{a['cpu_seconds'] / max(b['cpu_seconds'], 1e-9):.2f}"])
    return "\n".join([
        "# CG steps with float32 against float64 Gv products, by lambda", "",
        *header_lines(env, [1]), "",
        f"Addition, T = {T}, paper settings; {where} (HF iteration {p['iteration']}, its own lambda "
        f"{p['lam']:.4g}); gradient (float64) on {p['gradient_batch'].size:,} sequences, Gv on "
        f"{p['curvature_batch'].size:,}; CG from zero at each lambda.", "",
        md_table(["lambda", "float64 CG steps", "float32 CG steps", "phi float64", "phi float32",
                  "CPU s float64", "CPU s float32", "float64 / float32 CPU"], table), "",
    ])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--T", type=int, default=50)
    parser.add_argument("--checkpoint", type=Path, help="an hf-train checkpoint of this problem (default: seed's init)")
    parser.add_argument("--seed", type=int, default=0, help="without --checkpoint: whose initial state (default 0)")
    parser.add_argument("--lambdas", type=float, nargs="+", help="lambdas to solve at (default: the state's own)")
    parser.add_argument("--override", nargs="+", default=[], metavar="KEY=VALUE",
                        help="extra overrides, e.g. model.hidden=8 hf.gradient_batch=200 (smoke tests)")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--markdown", type=Path)
    add_mlflow_arg(parser)
    args = parser.parse_args(argv)
    with limit_threads(1):
        p = subproblem(args.T, args.checkpoint, args.seed, args.override)
        damping = build(args.T, "float64", args.override)[0].optimizer.damping
        rows = []
        for lam in args.lambdas or [p["lam"]]:
            for dtype in ("float64", "float32"):
                rows.append(solve(p, damping, lam, dtype))
                log(f"lambda {lam:g}, {dtype}: {rows[-1]['steps']} CG steps ({rows[-1]['reason']}), "
                    f"{rows[-1]['cpu_seconds']:.1f} CPU s")
    where = f"checkpoint `{args.checkpoint.name}`" if args.checkpoint else f"seed {args.seed}'s initial weights"
    env = environment(with_torch=False)
    emit(report(args.T, where, p, rows, env), {"environment": env, "T": args.T, "iteration": p["iteration"],
                                               "state_lam": p["lam"], "rows": rows},
         args.json, args.markdown, args.mlflow)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

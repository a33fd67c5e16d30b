"""CG in float32 against float64 on one HF subproblem: why float32 runs spend more Gv products.

The macro benchmark finds float32 HF runs solving addition with about twice the Gv products of float64
runs, so the 2x cheaper float32 product buys much less than 2x in time to success. This script isolates
the cause. It builds one HF subproblem of the addition problem with the paper's settings
(``experiment=ms2011_addition``): theta, lambda and the data stream from a checkpoint (or a seed's
initial state), the next gradient batch (10,000 sequences) and curvature batch (its first 1,000), and
the damped structural Gv. The engine's CG (its defaults: Martens' progress rule, at most 250 steps) then
solves it in four precisions:

- ``float64``: the gradient and the Gv of the float64 model (a ``backend.dtype=float64`` run);
- ``float32``: both from the float32 model, CG's vectors float32 (a ``backend.dtype=float32`` run);
- ``float32, f64 CG``: the float32 model's products, CG's vectors and dot products in float64;
- ``float32 Gv, f64 gradient``: the gradient of the float64 model, the Gv of the float32 one.

Reported: CG steps, why CG stopped, phi after 10 and 30 steps and at the end, and the relative error of
the float32 gradient and of the float32 Gv of one random vector, against float64::

    python benchmarks/cg_precision.py --T 50                         # at the initial weights
    python benchmarks/cg_precision.py --T 50 --checkpoint run/checkpoints/state.npz
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import add_mlflow_arg, emit, environment, header_lines, limit_threads, log, md_table  # noqa: E402

VARIANTS = ("float64", "float32", "float32, f64 CG", "float32 Gv, f64 gradient")


def build(T: int, dtype: str, overrides: list[str]) -> Any:
    """The run components of ``experiment=ms2011_addition task.T=T`` in ``dtype``."""
    from hydra import compose, initialize_config_module

    from hfcore.build import build_run
    from hfcore.cli import register_configs
    from hfcore.registry import load_plugins

    _, registry = load_plugins()
    register_configs(registry)
    with initialize_config_module("hfcore.conf", version_base="1.3"):
        cfg = compose("config", overrides=["experiment=ms2011_addition", f"task.T={T}", "tracking=none",
                                           f"backend.dtype={dtype}", *overrides])
    return build_run(cfg, registry), cfg


def subproblem(T: int, checkpoint: Path | None, seed: int, overrides: list[str]) -> dict[str, Any]:
    """Theta, lambda, the structural weight, the next iteration's batches, and per dtype its gradient and Gv."""
    from hfcore.checkpoint import load_checkpoint
    from hfcore.training import initial_state

    parts64, cfg = build(T, "float64", overrides)
    parts32, _ = build(T, "float32", overrides)
    if checkpoint is not None:
        state, _ = load_checkpoint(checkpoint)
    else:
        state = initial_state(parts64.model, seed, parts64.optimizer)
    rng = state.data_generator()
    gradient_batch = parts64.task.sample(rng, int(cfg.hf.gradient_batch))
    curvature_batch = gradient_batch.subset(0, int(cfg.hf.curvature_batch))
    theta = np.asarray(parts64.model.to_numpy(state.theta), dtype=np.float64)
    grads, curvatures = {}, {}
    for dtype, model in (("float64", parts64.model), ("float32", parts32.model)):  # once each, shared by the variants
        grads[dtype] = np.asarray(model.loss_and_grad(theta.astype(dtype), gradient_batch)[1])
        curvatures[dtype] = model.curvature(theta.astype(dtype), curvature_batch)
    return {
        "grads": grads,
        "curvatures": curvatures,
        "theta": theta,
        "lam": float(state.optimizer.lam),
        "weight": parts64.optimizer.damping.structural_weight(float(state.optimizer.lam)),
        "gradient_batch": gradient_batch,
        "curvature_batch": curvature_batch,
        "iteration": state.iteration,
    }


def solve(p: dict[str, Any], variant: str) -> dict[str, Any]:
    """Run the engine's CG on the subproblem in ``variant``'s precisions."""
    from hfcore.cg import ConjugateGradient

    gv_dtype = "float64" if variant == "float64" else "float32"
    grad_dtype = "float64" if variant in ("float64", "float32 Gv, f64 gradient") else "float32"
    vec = np.float32 if variant == "float32" else np.float64
    grad, curvature = p["grads"][grad_dtype], p["curvatures"][gv_dtype]
    lam, weight = p["lam"], p["weight"]

    def matvec(v: np.ndarray) -> np.ndarray:
        v_model = v.astype(gv_dtype)
        return (np.asarray(curvature.gv(v_model, weight)) + lam * v_model).astype(vec)

    result = ConjugateGradient().solve(matvec, -grad.astype(vec), None)
    phis = result.phis
    return {"variant": variant, "steps": result.iterations, "reason": result.reason,
            "phi10": phis[min(10, len(phis) - 1)], "phi30": phis[min(30, len(phis) - 1)], "phi_end": phis[-1]}


def float32_errors(p: dict[str, Any]) -> dict[str, float]:
    """Relative errors of the float32 gradient and of one float32 Gv (random direction) against float64."""
    v = np.random.default_rng(0).standard_normal(p["theta"].size)
    a64 = p["curvatures"]["float64"].gv(v, p["weight"])
    a32 = p["curvatures"]["float32"].gv(v.astype("float32"), p["weight"])

    def rel(a: Any, b: Any) -> float:
        a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
        return float(np.linalg.norm(a - b) / np.linalg.norm(a))

    return {"gradient": rel(p["grads"]["float64"], p["grads"]["float32"]), "gv": rel(a64, a32)}


def report(T: int, where: str, p: dict[str, Any], rows: list[dict[str, Any]], errors: dict[str, float],
           env: dict[str, Any]) -> str:
    fmt: Callable[[float], str] = "{:.4e}".format
    return "\n".join([
        "# CG in float32 against float64 on one HF subproblem", "",
        *header_lines(env, [1]), "",
        f"Addition, T = {T}, paper settings; {where} (HF iteration {p['iteration']}), lambda = {p['lam']:.4g}; "
        f"gradient on {p['gradient_batch'].size:,} sequences, Gv on {p['curvature_batch'].size:,}. "
        f"float32 against float64: gradient relative error {errors['gradient']:.2e}, Gv relative error "
        f"{errors['gv']:.2e} (one random direction).", "",
        md_table(["precision", "CG steps", "stopped by", "phi after 10", "phi after 30", "phi at the end"],
                 [[r["variant"], r["steps"], r["reason"], fmt(r["phi10"]), fmt(r["phi30"]), fmt(r["phi_end"])]
                  for r in rows]), "",
    ])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--T", type=int, default=50)
    parser.add_argument("--checkpoint", type=Path, help="an hf-train checkpoint of this problem (default: seed's init)")
    parser.add_argument("--seed", type=int, default=0, help="without --checkpoint: whose initial state (default 0)")
    parser.add_argument("--override", nargs="+", default=[], metavar="KEY=VALUE",
                        help="extra overrides, e.g. model.hidden=8 hf.gradient_batch=200 (smoke tests)")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--markdown", type=Path)
    add_mlflow_arg(parser)
    args = parser.parse_args(argv)
    with limit_threads(1):
        p = subproblem(args.T, args.checkpoint, args.seed, args.override)
        rows = []
        for variant in VARIANTS:
            rows.append(solve(p, variant))
            log(f"{variant}: {rows[-1]['steps']} CG steps ({rows[-1]['reason']})")
        errors = float32_errors(p)
    where = f"checkpoint `{args.checkpoint.name}`" if args.checkpoint else f"seed {args.seed}'s initial weights"
    env = environment(with_torch=False)
    emit(report(args.T, where, p, rows, errors, env),
         {"environment": env, "T": args.T, "lam": p["lam"], "iteration": p["iteration"], "rows": rows,
          "errors": errors},
         args.json, args.markdown, args.mlflow)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

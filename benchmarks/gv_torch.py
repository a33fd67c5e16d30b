"""Gated RNNs: the NumPy backend's gradient and Gauss-Newton product against torch's, same model, in one process.

Issue 19's target: at 100 units, B = 1000, T = 100, float64 and one thread, one Gv product of the NumPy LSTM
or GRU (the hand-written R-op) costs at most 1.3x the torch CPU equivalent: the torch backend's Gv of the same
model at the same parameters (``hfcore_torch.defined.TorchDefinedModel``: the model kit's unrolled cells, the
gradient by ``torch.func.grad_and_value`` and the Gv by a double ``torch.func.vjp``; no ``torch.nn.LSTM``/
``GRU``, and cuDNN is switched off while this runs, so no fused cuDNN RNN can be in the measured path).

For each model of ``--models`` (one that is not registered in this install is skipped, with one line saying
so), on one fixed batch and one parameter vector shared by both backends, it first checks that the products
agree (relative errors of torch's loss, gradient and Gv against NumPy's), then times with interleaved repeats
(repeat -> model -> backend -> operation):

* ``gradient``  ``model.loss_and_grad`` (forward + BPTT),
* ``bind``      ``model.curvature`` (the forward pass cached for the HF step's Gv products),
* ``gv``        one ``gv(v, structural_weight)`` on a bound object that has already done one (untimed)
  product, as in every CG iteration after the first: the cached forward pass is reused across Gv calls.

Every figure is min / median / max over the repeats; the ratios NumPy / torch are given for the medians, the
minima and per repeat (paired, same repeat), with each backend's Gv / gradient. Threads are pinned
(threadpoolctl for numpy's BLAS, ``torch.set_num_threads``) and named in the header with both BLAS.
``--device cuda`` runs torch on the GPU (timings synchronised) beside NumPy on one CPU thread::

    python benchmarks/gv_torch.py                                    # lstm gru, H=100, B=1000, T=100, float64
    python benchmarks/gv_torch.py --models lstm --B 200 --repeats 3  # smaller, on a loaded machine
    python benchmarks/gv_torch.py --device cuda --repeats 5          # torch on CUDA (benchmarks/gpu_check.sh)

No test asserts a time.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
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
    rel_diff,
    timed,
)

from hfcore.types import ModelSpec  # noqa: E402

OPS = ("gradient", "bind", "gv")
BACKENDS = ("numpy", "torch")
TARGET = 1.3
"""Issue 19: the NumPy Gv within 1.3x of the torch CPU equivalent."""
PROG = "gv_torch.py"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options (see the module docstring)."""
    p = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", nargs="+", default=["lstm", "gru"], help="models to measure (default: lstm gru)")
    add_gated_size_args(p, "units (memory cells) per model (default 100)",
                        "cells per block, for a model that has blocks (the LSTM; default 10)",
                        "BLAS and torch threads (default 1)")
    p.add_argument("--device", default="cpu", help="torch's device: cpu (default), cuda, cuda:N")
    p.add_argument("--backends", nargs="+", default=list(BACKENDS), choices=BACKENDS,
                   help="which to time (default: both; the agreement check needs both)")
    return parse_gated_args(p, argv)


def model_config(registry: Any, name: str, args: argparse.Namespace) -> Any:
    """The model's registered schema at ``--H`` units (and ``--cells-per-block`` where it has blocks)."""
    cfg = registry.get("model", name).config
    fields = {f.name for f in dataclasses.fields(cfg)}
    changes = {"hidden": args.H, "l2": 1e-5, "output": "linear", "cells_per_block": args.cells_per_block}
    return dataclasses.replace(cfg, **{k: v for k, v in changes.items() if k in fields})


def build(registry: Any, name: str, args: argparse.Namespace) -> dict[str, Any]:
    """Both backends' model of ``name``, a point away from init, a full-mask batch and a direction, as each
    backend's vectors (the same numbers)."""
    spec = ModelSpec(args.inputs, args.outputs, "linear")
    cfg = model_config(registry, name, args)
    definition = registry.get("model", name).factory(spec, cfg)
    backend_cfgs = {"numpy": SimpleNamespace(name="numpy", dtype=args.dtype, chunk_size=args.B),
                    "torch": SimpleNamespace(name="torch", dtype=args.dtype, device=args.device, threads=None,
                                             chunk_size=args.B)}
    models = {b: registry.get("backend", b).factory(definition, cfg, backend_cfgs[b]) for b in args.backends}
    rng = np.random.default_rng(0)
    first = models[args.backends[0]]
    theta = first.to_numpy(first.init_params(rng)) + 0.01 * rng.standard_normal(first.n_params)
    v = rng.standard_normal(first.n_params)
    batch = full_mask_batch(rng, args.T, args.B, args.inputs, args.outputs)
    return {"models": models, "batch": batch,
            "theta": {b: m.from_numpy(theta) for b, m in models.items()},
            "v": {b: m.from_numpy(v) for b, m in models.items()}}


def agreement(built: dict[str, Any], w: float) -> dict[str, float]:
    """Relative errors of torch's loss, gradient and Gv against NumPy's at the same point."""
    models, batch, theta, v = built["models"], built["batch"], built["theta"], built["v"]
    out = {}
    results = {}
    for b, model in models.items():
        loss, grad = model.loss_and_grad(theta[b], batch)
        results[b] = (float(loss), model.to_numpy(grad), model.to_numpy(model.curvature(theta[b], batch).gv(v[b], w)))
    ref, got = results["numpy"], results["torch"]
    out["loss"] = abs(got[0] - ref[0]) / abs(ref[0])
    out["gradient"] = rel_diff(got[1], ref[1])
    out["gv"] = rel_diff(got[2], ref[2])
    return out


def synchroniser(device: str) -> Any:
    """``torch.cuda.synchronize`` for a CUDA device (timings then include the kernels), else None."""
    if not device.startswith("cuda"):
        return None
    import torch

    return torch.cuda.synchronize


def measure_once(built: dict[str, Any], backend: str, w: float, sync: Any) -> dict[str, float]:
    """One repeat of one backend: seconds of the gradient, the bind and one warm Gv."""
    model, batch, theta, v = (built["models"][backend], built["batch"], built["theta"][backend],
                              built["v"][backend])
    s = sync if backend == "torch" else None
    out = {"gradient": timed(lambda: model.loss_and_grad(theta, batch), s)[0]}
    out["bind"], curv = timed(lambda: model.curvature(theta, batch), s)
    curv.gv(v, w)  # the work buffers (numpy) and graphs (torch) exist now, as in every later CG iteration
    out["gv"] = timed(lambda: curv.gv(v, w), s)[0]
    return out


def run(args: argparse.Namespace) -> tuple[dict[str, Any], list[str]]:
    """Agreement and interleaved timings per model; and the models skipped, one line each."""
    from hfcore.registry import load_plugins

    _, registry = load_plugins()
    known, skipped, built = registry.names("model"), [], {}
    for name in args.models:
        if name not in known:
            skipped.append(f"`{name}`: not registered in this install (registered models: {', '.join(known)})")
            log(f"{PROG}: skipped model '{name}': not registered in this install")
            continue
        try:
            built[name] = build(registry, name, args)
        except (ImportError, ValueError) as exc:  # a missing extra, CUDA asked for where there is none
            raise SystemExit(f"{PROG}: error: {name}: {str(exc).splitlines()[0]}") from None
    results: dict[str, Any] = {name: {"agreement": None, "seconds": {b: {op: [] for op in OPS}
                                                                   for b in args.backends}} for name in built}
    sync = synchroniser(args.device)
    w = args.structural_weight
    with limit_threads(args.threads), _no_cudnn():
        for name, b in built.items():
            if len(args.backends) == 2:
                results[name]["agreement"] = agreement(b, w)
                log(f"[{name}] torch vs numpy rel err: " + ", ".join(
                    f"{k} {e:.1e}" for k, e in results[name]["agreement"].items()))
            for backend in args.backends:  # warm-up: page faults, BLAS init, torch's allocator
                measure_once(b, backend, w, sync)
        for rep in range(args.repeats):
            for name, b in built.items():
                for backend in args.backends:
                    for op, seconds in measure_once(b, backend, w, sync).items():
                        results[name]["seconds"][backend][op].append(seconds)
                    log(f"[rep {rep + 1}/{args.repeats}] {name} {backend}: " + ", ".join(
                        f"{op} {fmt_ms(results[name]['seconds'][backend][op][-1])} ms" for op in OPS))
    return results, skipped


@contextmanager
def _no_cudnn() -> Iterator[None]:
    """cuDNN off while measuring: the gated models must not depend on its fused RNNs (issue 19)."""
    import torch

    old = torch.backends.cudnn.enabled
    torch.backends.cudnn.enabled = False
    try:
        yield
    finally:
        torch.backends.cudnn.enabled = old


def render(args: argparse.Namespace, env: dict[str, Any], results: dict[str, Any], skipped: list[str]) -> str:
    """The markdown report: environment, agreement, each backend's times, the NumPy / torch ratios."""
    torch_where = "torch on CPU" if args.device == "cpu" else f"torch on `{args.device}`"
    lines = [
        f"# Gated RNNs: NumPy against {torch_where}, gradient and Gv",
        "",
        *header_lines(env, [args.threads]),
        (f"- models {', '.join(f'`{m}`' for m in results) or '(none)'}, {args.dtype}: H = {args.H} units "
         f"(LSTM blocks of {args.cells_per_block} cells), I = {args.inputs}, O = {args.outputs} (linear output), "
         f"B = {args.B}, T = {args.T}, full mask; gv with structural weight {args.structural_weight}; the "
         f"same parameters and batch on both backends"),
        (f"- torch path: `TorchDefinedModel` (the kit's unrolled cells; gradient by torch.func.grad_and_value, Gv "
         f"by a double torch.func.vjp, the graph recorded once per bind), device `{args.device}`, "
         f"cuDNN switched off; NumPy: the hand-written BPTT and R-op"),
        *[f"- skipped {line}" for line in skipped],
    ]
    if any(r["agreement"] for r in results.values()):
        lines += ["", "## Agreement: torch against NumPy (relative error)", "",
                  md_table(["model", "loss", "gradient", "Gv"],
                           [[m, *(f"{r['agreement'][k]:.1e}" for k in ("loss", "gradient", "gv"))]
                            for m, r in results.items() if r["agreement"]])]
    rows = []
    for m, r in results.items():
        for backend, times in r["seconds"].items():
            stats = {op: Stats.of(times[op]) for op in OPS}
            rows += [[m, backend, op, stats[op].n, fmt_ms(stats[op].min), fmt_ms(stats[op].median),
                      fmt_ms(stats[op].max), fmt_ratio(stats[op].median / stats["gradient"].median)] for op in OPS]
    lines += ["", f"## Times, {args.threads} thread{'s' * (args.threads > 1)}", "",
              md_table(["model", "backend", "operation", "repeats", "min ms", "median ms", "max ms",
                        "median / gradient"], rows)]
    if len(args.backends) == 2 and results:
        lines += ["", "## NumPy / torch", "", *_ratio_table(results)]
    return "\n".join(lines) + "\n"


def _ratio_table(results: dict[str, Any]) -> list[str]:
    """NumPy's time over torch's per model and operation, and the verdicts on the Gv target."""
    rows, verdicts = [], []
    for m, r in results.items():
        npy, tch = r["seconds"]["numpy"], r["seconds"]["torch"]
        for op in OPS:
            a, b = Stats.of(npy[op]), Stats.of(tch[op])
            paired = [x / y for x, y in zip(npy[op], tch[op], strict=True)]
            rows.append([m, op, fmt_ratio(a.median / b.median), fmt_ratio(a.min / b.min),
                         ", ".join(fmt_ratio(p) for p in paired)])
        ratio = Stats.of(npy["gv"]).median / Stats.of(tch["gv"]).median
        verdicts.append(f"**{m}: NumPy Gv / torch Gv {fmt_ratio(ratio)} (medians)** — "
                        f"{'meets' if ratio <= TARGET else 'misses'} the target of at most {TARGET}x.")
    return [md_table(["model", "operation", "numpy / torch (medians)", "numpy / torch (minima)", "per repeat"],
                     rows), "", "Below 1.00x NumPy is the faster. " + " ".join(verdicts)]


def main(argv: list[str] | None = None) -> int:
    """Measure, print the report, and write it where asked."""
    args = parse_args(argv)
    try:
        import torch  # noqa: F401
    except ImportError:
        print(f"{PROG}: error: needs torch (pip install 'hfcore[torch]')", file=sys.stderr)
        return 2
    env = environment(with_torch=True)
    results, skipped = run(args)
    env["loadavg_end"] = os.getloadavg() if hasattr(os, "getloadavg") else None
    report = render(args, env, results, skipped)
    emit(report, {"args": vars(args), "environment": env, "skipped": skipped,
                  "results": results}, args.json, args.markdown, args.mlflow, "gv_torch")
    return 0


if __name__ == "__main__":
    sys.exit(main())

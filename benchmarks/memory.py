"""Peak resident memory of hfcore's backends, each measurement in a fresh child process.

For every backend, dtype and operation a new Python process builds the model, makes the
batch and runs the operation once; it reports its resident set size (RSS) after the
imports and model, after the data, and its peak: ``resource.getrusage(RUSAGE_SELF).ru_maxrss``
(the process's high-water mark) with ``VmHWM`` from ``/proc/self/status`` beside it.
Operations:

* ``loss_grad``  ``model.loss_and_grad`` (forward + BPTT),
* ``bind_gv``    ``model.curvature`` then two ``gv`` products (what CG holds),
* ``hf_step``    one :func:`hfcore.hf.hf_step` with ``ConjugateGradient(max_iters=2)``: the
  gradient, the bound curvature, CG's vectors and the line search, i.e. an HF iteration's
  working set (20 or 300 CG steps add only parameter-sized vectors).

Default size: ``h300`` (H=300, B=1000, T=200, 128 in / 128 out), the issue's memory target.
Run ``python benchmarks/memory.py --help``; see ``benchmarks/README.md``.

Linux hands a child its parent's ``ru_maxrss`` across fork/exec, so a child of a big parent
reports at least the parent's size. The launching parent here therefore imports no backend
library (not even torch); the environment header is gathered in a child too.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import (  # noqa: E402
    SIZES,
    FixedBatchTask,
    add_mlflow_arg,
    build_model,
    emit,
    environment,
    header_lines,
    limit_threads,
    log,
    make_batch,
    md_table,
    resolve_sizes,
)

OPS = ("loss_grad", "bind_gv", "hf_step")
MIB = 1024.0 * 1024.0


def current_rss() -> float:
    """Resident set size now, in bytes (``/proc/self/statm``)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as fh:
            return float(int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE"))
    except OSError:
        return float("nan")


def peak_rss() -> float:
    """Peak resident set size of this process so far, in bytes (``ru_maxrss`` is KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024.0


def hwm_rss() -> float:
    """``VmHWM`` of ``/proc/self/status`` in bytes: this process image's own peak RSS (reset at exec)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return float(line.split()[1]) * 1024.0
    except OSError:
        pass
    return float("nan")


def child(backend: str, size: str, dtype: str, op: str, torch_device: str) -> dict[str, Any]:
    """Run one measurement in this (fresh) process and return its figures."""
    from hfcore.cg import ConjugateGradient
    from hfcore.config import CGConfig, HFConfig, TikhonovConfig
    from hfcore.damping import LevenbergMarquardt
    from hfcore.hf import HessianFree, HFState
    from hfcore.registry import load_plugins
    from hfcore.state import RunState
    from hfcore.training import advance

    s = SIZES[size]
    head = {"backend": backend, "size": size, "dtype": dtype, "op": op}
    _, registry = load_plugins()
    with limit_threads(1):
        try:
            model = build_model(registry, backend, s, dtype, torch_device)
        except ImportError as exc:  # the backend's extra is not installed
            return {**head, "skipped": str(exc)}
        theta = model.from_numpy(np.asarray(model.to_numpy(model.init_params(np.random.default_rng(1))),
                                            dtype=np.float64))
        v = model.from_numpy(np.random.default_rng(2).standard_normal(model.n_params))
        rss_model = current_rss()
        batch = make_batch(s, dtype)
        rss_data = current_rss()
        peak_before = peak_rss()
        if op == "loss_grad":
            model.loss_and_grad(theta, batch)
        elif op == "bind_gv":
            curv = model.curvature(theta, batch)
            curv.gv(v)
            curv.gv(v)
        elif op == "hf_step":
            state = RunState(iteration=0, theta=theta, optimizer=HFState(lam=1.0, warm_start=theta * 0.0),
                             data_rng=np.random.default_rng(0).bit_generator.state)
            hf = HessianFree(LevenbergMarquardt(TikhonovConfig(lambda0=1.0)),
                             ConjugateGradient(CGConfig(max_iters=2, progress_tol=1e-300, residual_tol=0.0)),
                             HFConfig(gradient_batch=s.batch, curvature_batch=s.batch))
            advance(state, model, FixedBatchTask(s.spec, batch), hf)
        else:
            raise SystemExit(f"unknown op {op!r}")
    return {**head, "rss_model": rss_model, "rss_data": rss_data, "peak_before_op": peak_before,
            "peak": peak_rss(), "hwm": hwm_rss()}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", nargs="+", default=["h300"], help=f"sizes ({', '.join(SIZES)}) or groups; default h300")
    p.add_argument("--backends", nargs="+", default=None, help="default: every registered backend")
    p.add_argument("--dtypes", nargs="+", default=["float64", "float32"], choices=["float64", "float32"])
    p.add_argument("--ops", nargs="+", default=list(OPS), choices=list(OPS))
    p.add_argument("--torch-device", default="cpu")
    p.add_argument("--json", type=Path)
    p.add_argument("--markdown", type=Path)
    add_mlflow_arg(p)
    p.add_argument("--child", nargs=4, metavar=("BACKEND", "SIZE", "DTYPE", "OP"), help=argparse.SUPPRESS)
    p.add_argument("--env-child", action="store_true", help=argparse.SUPPRESS)
    return p.parse_args(argv)


def run(args: argparse.Namespace) -> dict[str, Any]:
    """One fresh child per (size, backend, dtype, op); this parent imports no backend library.

    Backends are taken from the registry by name; a child whose backend cannot be built
    (its extra is missing) reports that, and the backend is skipped.
    """
    from hfcore.registry import load_plugins

    _, registry = load_plugins()
    names = registry.names("backend") if args.backends is None else list(args.backends)
    backends = sorted(names, key=lambda n: (n != "numpy", n))
    sizes = resolve_sizes(args.sizes)
    child_env = dict(os.environ)
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        child_env[var] = "1"
    script = str(Path(__file__).resolve())
    proc = subprocess.run([sys.executable, script, "--env-child"], env=child_env, capture_output=True, text=True,
                          check=True)
    env = json.loads(proc.stdout.strip().splitlines()[-1])
    rows: list[dict[str, Any]] = []
    skipped: dict[str, str] = {}
    for s in sizes:
        for backend in backends:
            for dtype in args.dtypes:
                for op in args.ops:
                    if backend in skipped:
                        continue
                    cmd = [sys.executable, script, "--child", backend, s.name, dtype, op,
                           "--torch-device", args.torch_device]
                    proc = subprocess.run(cmd, env=child_env, capture_output=True, text=True)
                    if proc.returncode != 0:
                        tail = proc.stderr.strip().splitlines()[-1:] or ["no output"]
                        rows.append({"backend": backend, "size": s.name, "dtype": dtype, "op": op,
                                     "error": f"exit {proc.returncode}: {tail[0]}"})
                        log(f"[{s.name} {backend} {dtype} {op}] FAILED: {tail[0]}")
                        continue
                    row = json.loads(proc.stdout.strip().splitlines()[-1])
                    if "skipped" in row:
                        skipped[backend] = row["skipped"]
                        log(f"skipping backend {backend!r}: {row['skipped']}")
                        continue
                    rows.append(row)
                    log(f"[{s.name} {backend} {dtype} {op}] peak {row['peak'] / MIB:,.0f} MiB (ru_maxrss), "
                        f"{row['hwm'] / MIB:,.0f} MiB (VmHWM)")
    env["parent_peak_rss"] = peak_rss()
    env["loadavg_end"] = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {"env": env, "options": {"sizes": [s.name for s in sizes],
                                    "backends": [b for b in backends if b not in skipped], "skipped": skipped,
                                    "dtypes": args.dtypes, "ops": args.ops}, "rows": rows}


def render(results: dict[str, Any]) -> str:
    """The markdown report."""
    out = ["# hfcore peak memory (RSS), one fresh process per figure", ""]
    out += header_lines(results["env"], [1])
    opts = results["options"]
    out.append(f"- backends: {', '.join(opts['backends'])}"
               + "".join(f"; skipped {k}: {v}" for k, v in opts["skipped"].items()))
    out.append("- RSS after model = after the imports, plugin loading and model construction; after data = once the "
               "batch exists; **peak = `resource.getrusage(RUSAGE_SELF).ru_maxrss`** at the end (the process's "
               "high-water mark), with `VmHWM` from `/proc/self/status` beside it (the same peak, but reset at exec, "
               "so it cannot inherit the parent's size); op = peak − after data (what the operation added at its "
               "peak)")
    parent = results["env"].get("parent_peak_rss")
    if parent:
        out.append(f"- the launching parent imports no backend library and peaked at {parent / MIB:,.0f} MiB: Linux "
                   "passes a parent's ru_maxrss on to its children, so no child's ru_maxrss can read below that")
    out.append("")
    for size in opts["sizes"]:
        s = SIZES[size]
        out.append(f"## {s.describe()}")
        out.append("")
        tbh = {dt: s.steps * s.batch * s.hidden * np.dtype(dt).itemsize / MIB for dt in opts["dtypes"]}
        out.append("One T×B×H array: " + ", ".join(f"{v:,.1f} MiB ({k})" for k, v in tbh.items()) + ".")
        out.append("")
        rows = []
        for r in results["rows"]:
            if r["size"] != size:
                continue
            if "error" in r:
                rows.append([r["backend"], r["dtype"], r["op"], "—", "—", "—", "—", "—", "—", r["error"]])
                continue
            op_bytes = r["peak"] - r["rss_data"]
            note = "" if abs(r["peak"] - r["hwm"]) <= 0.02 * r["peak"] else "ru_maxrss and VmHWM differ"
            rows.append([r["backend"], r["dtype"], r["op"], f"{r['rss_model'] / MIB:,.0f}",
                         f"{r['rss_data'] / MIB:,.0f}",
                         f"**{r['peak'] / MIB:,.0f}** ({r['peak'] / MIB / 1024:.2f} GiB)", f"{r['hwm'] / MIB:,.0f}",
                         f"{op_bytes / MIB:,.0f}", f"{op_bytes / MIB / tbh[r['dtype']]:.1f}", note])
        out.append(md_table(["backend", "dtype", "op", "RSS after model MiB", "RSS after data MiB",
                             "peak RSS MiB (ru_maxrss)", "VmHWM MiB", "op MiB (peak − data)", "op in T×B×H arrays",
                             "note"], rows))
        out.append("")
    limits = {"float64": 2.5, "float32": 1.3}
    rows = []
    for r in results["rows"]:
        if r["size"] == "h300" and "peak" in r and r["dtype"] in limits:
            gib = r["peak"] / MIB / 1024
            rows.append([r["backend"], r["dtype"], r["op"], f"<= {limits[r['dtype']]} GiB", f"{gib:.2f} GiB",
                         "met" if gib <= limits[r["dtype"]] else "**not met**"])
    if rows:
        out.append("## Targets (issue 9: peak memory at H=300, B=1000, T=200)")
        out.append("")
        out.append(md_table(["backend", "dtype", "op", "target", "peak RSS", "verdict"], rows))
        out.append("")
    out.append("No test asserts any of these figures.")
    out.append("")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    """Parent: spawn the children and report. Children: ``--child`` (one figure) or ``--env-child`` (the header)."""
    args = parse_args(argv)
    if args.env_child:
        print(json.dumps(environment(with_torch=True), default=str))
        return 0
    if args.child:
        backend, size, dtype, op = args.child
        print(json.dumps(child(backend, size, dtype, op, args.torch_device)))
        return 0
    results = run(args)
    report = render(results)
    emit(report, results, args.json, args.markdown, args.mlflow)
    return 0


if __name__ == "__main__":
    sys.exit(main())

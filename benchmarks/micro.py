"""Micro-benchmarks of every installed hfcore backend: forward, gradient, bind, Gv, CG and HF iterations.

For each size (``--sizes``), dtype and backend this times, with interleaved repeats
(loop order: repeat -> threads -> size -> dtype -> backend -> operation):

* ``forward``   ``model.loss`` (one forward pass),
* ``gradient``  ``model.loss_and_grad`` (forward + BPTT),
* ``bind``      ``model.curvature`` (the forward pass cached for Gv products),
* ``gv``        one ``CurvatureProduct.gv`` on a bound object that has already done one
  (untimed) product, so its work buffers exist, as in every CG iteration after the first,
* ``cg_iter``   one iteration of :class:`hfcore.cg.ConjugateGradient` (one Gv plus vector work),
* ``hf``        one :func:`hfcore.hf.hf_step` with ``ConjugateGradient(max_iters=20,
  progress_tol=1e-300)``: gradient, bind, 20 Gv, backtracking, rho, line search.

After the backends, in the same loop, the GEMM rate of numpy's BLAS (and torch's, when
torch is benchmarked) is measured at the Gv's dominant shapes, and a GEMM-only skeleton of
the Gv (the NumPy backend's matrix products, no elementwise work) is timed. Every figure is
min / median / max over the repeats; ratios are to the NumPy backend in the same process.
Primary figures use 1 thread; ``--threads 2`` adds 2-thread figures, marked load-sensitive.
``--kernel-check`` repeats the whole suite in a child process whose environment lacks
``OPENBLAS_CORETYPE`` and ``OPENBLAS_L2_SIZE`` and prints both side by side.

Run ``python benchmarks/micro.py --help``; see ``benchmarks/README.md``. No test asserts a time.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import (  # noqa: E402
    KERNEL_ENV_VARS,
    SIZES,
    FixedBatchTask,
    Size,
    Stats,
    add_mlflow_arg,
    build_model,
    emit,
    environment,
    fmt_ms,
    fmt_pct,
    fmt_ratio,
    gemm_shapes,
    gv_flops,
    header_lines,
    limit_threads,
    log,
    make_batch,
    md_table,
    numpy_blas,
    rel_diff,
    resolve_sizes,
    timed,
)

OPS = ("forward", "gradient", "bind", "gv", "cg_iter", "hf")
"""Operations timed for every backend, in this order."""

GEMM_OPS = ("skeleton", "rate:step", "rate:batched", "rate:dW")
"""Operations of the GEMM pseudo-backends ``gemm:numpy`` and ``gemm:torch``."""

REFERENCE = "numpy"
HF_CG_STEPS = 20
LAMBDA = 1.0
HF_SOLVER = f"ConjugateGradient(max_iters={HF_CG_STEPS}, min_iters={HF_CG_STEPS}, progress_tol=1e-300, residual_tol=0)"


# --------------------------------------------------------------------------- GEMM skeletons and rates
def skeleton_flops(s: Size) -> float:
    """Exact FLOPs of the skeleton (the NumPy backend's Gv products, biases folded into ``K = I + H + 2``)."""
    T, B, H, I, O = s.steps, s.batch, s.hidden, s.n_in, s.n_out  # noqa: E741
    K = I + H + 2
    TB = T * B
    forward = 2 * TB * K * H + 2 * (T - 1) * B * H * H + 2 * TB * (H + 1) * O + 2 * TB * H * O
    backward = 2 * TB * O * H + 2 * (T - 1) * B * H * H + 2 * H * TB * K + 2 * O * TB * (H + 1)
    return float(forward + backward)


class NumpySkeleton:
    """The matrix products of :meth:`hfcore_numpy.rnn.RNNCurvature.gv`, without any elementwise work.

    R-forward: ``[x, h_prev, 1, first] @ V_in'`` over all ``T*B`` rows, ``T-1`` recurrent
    ``(B x H) @ W_hh'`` products, ``[h, 1] @ V_out'`` and ``Rh @ W_yh'``. Backward: ``Rds @ W_yh``,
    ``T-1`` recurrent ``(B x H) @ W_hh`` products and the two accumulations ``dt' @ z_in``,
    ``Rds' @ z_out``. Buffers hold constants (BLAS speed does not depend on the values).
    """

    def __init__(self, s: Size, dtype: str) -> None:
        T, B, H, I, O = s.steps, s.batch, s.hidden, s.n_in, s.n_out  # noqa: E741
        K = I + H + 2
        full = np.full
        self.shape = (T, B, H)
        self.z_in = full((T * B, K), 0.5, dtype)
        self.z_out = full((T * B, H + 1), 0.5, dtype)
        self.rt = full((T, B, H), 0.25, dtype)
        self.rh = full((T, B, H), 0.25, dtype)
        self.tmp = full((B, H), 0.0, dtype)
        self.rs = full((T * B, O), 0.1, dtype)
        self.rs2 = full((T * B, O), 0.1, dtype)
        self.v_in = full((H, K), 0.01, dtype)
        self.v_out = full((O, H + 1), 0.01, dtype)
        self.w_hh = full((H, H), 0.01, dtype)
        self.w_yh = full((O, H), 0.01, dtype)
        self.g_in = np.empty((H, K), dtype)
        self.g_out = np.empty((O, H + 1), dtype)

    def __call__(self) -> None:
        T, B, H = self.shape
        mm = np.matmul
        rt2, rh2 = self.rt.reshape(T * B, H), self.rh.reshape(T * B, H)
        mm(self.z_in, self.v_in.T, out=rt2)
        w_hh_t = self.w_hh.T
        for i in range(1, T):
            mm(self.rh[i - 1], w_hh_t, out=self.tmp)
        mm(self.z_out, self.v_out.T, out=self.rs)
        mm(rh2, self.w_yh.T, out=self.rs2)
        mm(self.rs, self.w_yh, out=rt2)  # backward: the buffer for R(dt) is rt, as in the backend
        for i in range(T - 2, -1, -1):
            mm(self.rt[i + 1], self.w_hh, out=self.tmp)
        mm(rt2.T, self.z_in, out=self.g_in)
        mm(self.rs.T, self.z_out, out=self.g_out)


class TorchSkeleton:
    """The same products as :class:`NumpySkeleton` with ``torch.mm`` (the torch backend's Gv)."""

    def __init__(self, s: Size, dtype: str, device: str) -> None:
        import torch

        T, B, H, I, O = s.steps, s.batch, s.hidden, s.n_in, s.n_out  # noqa: E741
        K = I + H + 2
        dt = getattr(torch, dtype)

        def full(shape: tuple[int, ...], value: float) -> Any:
            return torch.full(shape, value, dtype=dt, device=device)

        self.torch = torch
        self.shape = (T, B, H)
        self.z_in = full((T * B, K), 0.5)
        self.z_out = full((T * B, H + 1), 0.5)
        self.rt = full((T, B, H), 0.25)
        self.rh = full((T, B, H), 0.25)
        self.tmp = full((B, H), 0.0)
        self.rs = full((T * B, O), 0.1)
        self.rs2 = full((T * B, O), 0.1)
        self.v_in = full((H, K), 0.01)
        self.v_out = full((O, H + 1), 0.01)
        self.w_hh = full((H, H), 0.01)
        self.w_yh = full((O, H), 0.01)
        self.g_in = full((H, K), 0.0)
        self.g_out = full((O, H + 1), 0.0)

    def __call__(self) -> None:
        T, B, H = self.shape
        mm = self.torch.mm
        rt2, rh2 = self.rt.view(T * B, H), self.rh.view(T * B, H)
        mm(self.z_in, self.v_in.T, out=rt2)
        w_hh_t = self.w_hh.T
        for i in range(1, T):
            mm(self.rh[i - 1], w_hh_t, out=self.tmp)
        mm(self.z_out, self.v_out.T, out=self.rs)
        mm(rh2, self.w_yh.T, out=self.rs2)
        mm(self.rs, self.w_yh, out=rt2)
        for i in range(T - 2, -1, -1):
            mm(self.rt[i + 1], self.w_hh, out=self.tmp)
        mm(rt2.T, self.z_in, out=self.g_in)
        mm(self.rs.T, self.z_out, out=self.g_out)


def gemm_seconds(provider: str, m: int, k: int, n: int, transposed_a: bool, dtype: str, target_s: float,
                 device: str = "cpu") -> float:
    """Seconds per ``(m x k) @ (k x n)`` product, from back-to-back calls lasting about ``target_s``.

    ``transposed_a``: A is the transpose of a C-contiguous ``(k x m)`` array (the dW layout).
    """
    if provider == "numpy":
        a = np.full((k, m) if transposed_a else (m, k), 0.5, dtype)
        a = a.T if transposed_a else a
        b = np.full((k, n), 0.25, dtype)
        c = np.empty((m, n), dtype)

        def call() -> None:
            np.matmul(a, b, out=c)

        sync: Callable[[], None] | None = None
    else:
        import torch

        dt = getattr(torch, dtype)
        ta = torch.full((k, m) if transposed_a else (m, k), 0.5, dtype=dt, device=device)
        ta = ta.T if transposed_a else ta
        tb = torch.full((k, n), 0.25, dtype=dt, device=device)
        tc = torch.empty((m, n), dtype=dt, device=device)

        def call() -> None:
            torch.mm(ta, tb, out=tc)

        sync = torch.cuda.synchronize if device.startswith("cuda") else None
    first, _ = timed(call, sync)  # also the warm-up
    reps = max(1, min(10_000, math.ceil(target_s / max(first, 1e-7))))

    def loop() -> None:
        for _ in range(reps):
            call()

    total, _ = timed(loop, sync)
    return total / reps


# --------------------------------------------------------------------------- the suite
class BackendCase:
    """One backend's model, parameters and vectors for one (size, dtype), built once per run."""

    def __init__(self, registry: Any, backend: str, s: Size, dtype: str, batch: Any, theta64: np.ndarray,
                 v64: np.ndarray, torch_device: str) -> None:
        from hfcore.cg import ConjugateGradient
        from hfcore.config import CGConfig, HFConfig, TikhonovConfig
        from hfcore.damping import LevenbergMarquardt
        from hfcore.hf import HessianFree, HFState
        from hfcore.state import RunState

        self.model = build_model(registry, backend, s, dtype, torch_device)
        self.batch = batch
        self.theta = self.model.from_numpy(theta64)
        self.v = self.model.from_numpy(v64)
        self.task = FixedBatchTask(s.spec, batch)
        self.damping = LevenbergMarquardt(TikhonovConfig(lambda0=LAMBDA))
        # min_iters = max_iters and progress_tol=1e-300 keep Martens' progress test from firing (in float32 at
        # tiny sizes phi stalls at rounding level, which that test reads as "no progress") and residual_tol=0
        # disables the residual stop, so CG spends exactly HF_CG_STEPS products at every size and dtype.
        self.solver = ConjugateGradient(CGConfig(max_iters=HF_CG_STEPS, min_iters=HF_CG_STEPS, progress_tol=1e-300,
                                                 residual_tol=0.0))
        self.one_step = ConjugateGradient(CGConfig(max_iters=1, progress_tol=1e-300, residual_tol=0.0))
        self.hf = HessianFree(self.damping, self.solver, HFConfig(gradient_batch=s.batch, curvature_batch=s.batch))
        self.state = RunState(iteration=0, theta=self.theta, optimizer=HFState(lam=LAMBDA, warm_start=self.theta * 0.0),
                              data_rng=np.random.default_rng(0).bit_generator.state)
        self.sync: Callable[[], None] | None = None
        if backend == "torch" and str(getattr(self.model, "device", "cpu")).startswith("cuda"):
            import torch

            self.sync = torch.cuda.synchronize


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options (see the module docstring)."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", nargs="+", default=["paper"],
                   help=f"size groups (small, paper, all) or names ({', '.join(SIZES)}); default: paper")
    p.add_argument("--repeats", type=int, default=3, help="interleaved repeats (default 3)")
    p.add_argument("--backends", nargs="+", default=None,
                   help="backends to time (default: every registered backend that builds); numpy is always "
                        "included as the baseline")
    p.add_argument("--dtypes", nargs="+", default=["float64", "float32"], choices=["float64", "float32"])
    p.add_argument("--threads", nargs="*", type=int, default=[],
                   help="extra thread counts beside the primary 1 (e.g. --threads 2); load-sensitive")
    p.add_argument("--ops", nargs="+", default=list(OPS) + ["gemm"], choices=list(OPS) + ["gemm"],
                   help="operations to time ('gemm': rates and the GEMM-only skeleton); default all")
    p.add_argument("--gemm-seconds", type=float, default=0.05,
                   help="duration of each GEMM-rate sample (default 0.05 s)")
    p.add_argument("--torch-device", default="cpu", help="device of the torch backend (default cpu)")
    p.add_argument("--json", type=Path, help="write every sample and the environment as JSON")
    p.add_argument("--markdown", type=Path, help="write the report as markdown")
    add_mlflow_arg(p)
    p.add_argument("--kernel-check", action="store_true",
                   help="also run the suite in a child without OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE and compare")
    p.add_argument("--from-json", type=Path, metavar="PATH",
                   help="measure nothing: render the report of an earlier --json file (e.g. after a format change)")
    args = p.parse_args(argv)
    if args.repeats < 1:
        p.error("--repeats must be >= 1")
    if any(t < 1 for t in args.threads):
        p.error("--threads needs counts >= 1")
    return args


def child_argv(args: argparse.Namespace, json_path: Path) -> list[str]:
    """The command line that reruns this suite with the same options (no kernel check) into ``json_path``."""
    argv = ["--sizes", *args.sizes, "--repeats", str(args.repeats), "--dtypes", *args.dtypes,
            "--ops", *args.ops, "--gemm-seconds", str(args.gemm_seconds), "--torch-device", args.torch_device,
            "--json", str(json_path)]
    if args.backends:
        argv += ["--backends", *args.backends]
    if args.threads:
        argv += ["--threads", *(str(t) for t in args.threads)]
    return argv


def available_backends(registry: Any, wanted: list[str] | None) -> tuple[list[str], dict[str, str]]:
    """Backends to time (numpy first) and, for those skipped, why."""
    names = registry.names("backend") if wanted is None else list(wanted)
    if REFERENCE not in names:
        names = [REFERENCE] + names
    names = [REFERENCE] + [n for n in names if n != REFERENCE]
    usable, skipped = [], {}
    probe = SIZES["small-linear"]
    for name in names:
        try:
            build_model(registry, name, probe, "float64")
        except ImportError as exc:
            skipped[name] = str(exc)
            continue
        except Exception as exc:  # an unknown name or a broken backend: report, do not crash the suite
            skipped[name] = f"{type(exc).__name__}: {exc}"
            continue
        usable.append(name)
    return usable, skipped


def run_suite(args: argparse.Namespace) -> dict[str, Any]:
    """Run every repeat and return the raw results (environment, samples, HF details, checks)."""
    from hfcore.registry import load_plugins
    from hfcore.training import advance as hf_step

    _, registry = load_plugins()
    backends, skipped = available_backends(registry, args.backends)
    with_torch = "torch" in backends
    env = environment(with_torch=with_torch)
    sizes = resolve_sizes(args.sizes)
    threads = [1] + [t for t in dict.fromkeys(args.threads) if t != 1]
    providers = ["numpy"] + (["torch"] if with_torch else [])
    results: dict[str, Any] = {
        "env": env,
        "options": {"sizes": [s.name for s in sizes], "repeats": args.repeats, "backends": backends,
                    "skipped_backends": skipped, "dtypes": args.dtypes, "threads": threads, "ops": args.ops,
                    "gemm_seconds": args.gemm_seconds, "torch_device": args.torch_device,
                    "hf_cg_steps": HF_CG_STEPS, "lambda": LAMBDA, "hf_solver": HF_SOLVER},
        "sizes": {s.name: vars(s) | {"gv_flops": gv_flops(s), "skeleton_flops": skeleton_flops(s)} for s in sizes},
        "samples": [],
        "hf": [],
        "checks": [],
    }
    for name, why in skipped.items():
        log(f"skipping backend {name!r}: {why}")

    try:
        _repeat_loop(args, results, registry, backends, sizes, threads, providers, hf_step)
    except (Exception, KeyboardInterrupt) as exc:  # keep what was measured; the report says it is partial
        results["error"] = f"{type(exc).__name__}: {exc}"
        log(f"suite stopped early: {results['error']}")
    env["loadavg_end"] = os.getloadavg() if hasattr(os, "getloadavg") else None
    return results


def _repeat_loop(args: argparse.Namespace, results: dict[str, Any], registry: Any, backends: list[str],
                 sizes: list[Size], threads: list[int], providers: list[str], hf_step: Callable[..., Any]) -> None:
    """The interleaved loops: repeat -> threads -> size -> dtype -> backend -> op, then the GEMM measurements."""
    batches: dict[tuple[str, str], Any] = {}
    vectors: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    cases: dict[tuple[str, str, str], BackendCase] = {}
    references: dict[tuple[str, str], dict[str, Any]] = {}
    ops = [op for op in OPS if op in args.ops]

    def record(th: int, s: Size, dtype: str, backend: str, op: str, rep: int, seconds: float) -> None:
        results["samples"].append({"threads": th, "size": s.name, "dtype": dtype, "backend": backend, "op": op,
                                   "repeat": rep, "seconds": seconds})

    for rep in range(args.repeats):
        for th in threads:
            with limit_threads(th):
                for s in sizes:
                    if s.name not in vectors:
                        ref_model = build_model(registry, REFERENCE, s, "float64")
                        theta64 = np.asarray(ref_model.init_params(np.random.default_rng(1)), dtype=np.float64)
                        v64 = np.random.default_rng(2).standard_normal(ref_model.n_params)
                        vectors[s.name] = (theta64, v64)
                    theta64, v64 = vectors[s.name]
                    for dtype in args.dtypes:
                        if (s.name, dtype) not in batches:
                            batches[(s.name, dtype)] = make_batch(s, dtype)
                        batch = batches[(s.name, dtype)]
                        for backend in backends:
                            key = (backend, s.name, dtype)
                            if key not in cases:
                                cases[key] = BackendCase(registry, backend, s, dtype, batch, theta64, v64,
                                                         args.torch_device)
                            case = cases[key]
                            tag = f"[rep {rep + 1}/{args.repeats} t={th} {s.name} {dtype} {backend}]"
                            out = _run_backend(case, ops, hf_step)
                            for op, seconds in out["times"].items():
                                record(th, s, dtype, backend, op, rep, seconds)
                            log(tag + " " + ", ".join(f"{op} {fmt_ms(t)} ms" for op, t in out["times"].items()))
                            if "hf_info" in out:
                                results["hf"].append({"threads": th, "size": s.name, "dtype": dtype,
                                                      "backend": backend, "repeat": rep, **out["hf_info"]})
                            if rep == 0 and th == threads[0]:
                                _check(results, references, case, backend, s, dtype, out)
                        if "gemm" in args.ops:
                            for provider in providers:
                                times = _run_gemm(provider, s, dtype, args.gemm_seconds, args.torch_device)
                                for op, seconds in times.items():
                                    record(th, s, dtype, f"gemm:{provider}", op, rep, seconds)
                                log(f"[rep {rep + 1}/{args.repeats} t={th} {s.name} {dtype} gemm:{provider}] "
                                    + ", ".join(f"{op} {fmt_ms(t)} ms" for op, t in times.items()))


def _run_backend(case: BackendCase, ops: list[str], hf_step: Callable[..., Any]) -> dict[str, Any]:
    """Time ``ops`` once on ``case``; returns the times and the outputs the checks compare."""
    m, sync = case.model, case.sync
    times: dict[str, float] = {}
    out: dict[str, Any] = {"times": times}
    if "forward" in ops:
        times["forward"], out["loss"] = timed(lambda: m.loss(case.theta, case.batch), sync)
    need_grad = any(op in ops for op in ("gradient", "cg_iter"))
    if need_grad:
        t, (f, g) = timed(lambda: m.loss_and_grad(case.theta, case.batch), sync)
        if "gradient" in ops:
            times["gradient"] = t
        out["loss_grad"], out["grad"] = f, g
    if any(op in ops for op in ("bind", "gv", "cg_iter")):
        t, curv = timed(lambda: m.curvature(case.theta, case.batch), sync)
        if "bind" in ops:
            times["bind"] = t
        if any(op in ops for op in ("gv", "cg_iter")):
            curv.gv(case.v)  # untimed: allocates the work buffers, as the first CG iteration does
        if "gv" in ops:
            times["gv"], out["gv"] = timed(lambda: curv.gv(case.v), sync)
        if "cg_iter" in ops:
            b = -out["grad"]

            def matvec(u: Any) -> Any:
                return curv.gv(u) + LAMBDA * u

            times["cg_iter"], _ = timed(lambda: case.one_step.solve(matvec, b, None), sync)
        curv = None  # free the bound forward pass before the HF step binds its own
    if "hf" in ops:
        t, (new_state, info) = timed(
            lambda: hf_step(case.state, m, case.task, case.hf), sync)
        times["hf"] = t
        c = info.counters
        out["hf_info"] = {"gv_products": c.gv_products, "forward_evals": c.forward_evals,
                          "gradient_evals": c.gradient_evals, "cg_iterations": info.cg_iterations,
                          "cg_reason": info.cg_reason, "accepted": info.accepted, "rho": info.rho}
        del new_state
    return out


def _check(results: dict[str, Any], references: dict[tuple[str, str], dict[str, Any]], case: BackendCase,
           backend: str, s: Size, dtype: str, out: dict[str, Any]) -> None:
    """Relative differences of loss, gradient and Gv to the NumPy backend (first repeat only)."""
    m = case.model
    mine: dict[str, Any] = {}
    if "loss" in out:
        mine["loss"] = float(out["loss"])
    if "grad" in out:
        mine["gradient"] = np.asarray(m.to_numpy(out["grad"]), dtype=np.float64)
    if "gv" in out:
        mine["gv"] = np.asarray(m.to_numpy(out["gv"]), dtype=np.float64)
    if backend == REFERENCE:
        references[(s.name, dtype)] = mine
        return
    ref = references.get((s.name, dtype), {})
    row: dict[str, Any] = {"size": s.name, "dtype": dtype, "backend": backend}
    for key, value in mine.items():
        if key in ref:
            row[key] = rel_diff(value, ref[key])
    results["checks"].append(row)


def _run_gemm(provider: str, s: Size, dtype: str, target_s: float, device: str) -> dict[str, float]:
    """GEMM rates at the dominant shapes and the GEMM-only skeleton, for numpy's BLAS or torch."""
    times: dict[str, float] = {}
    for name, (m, k, n, trans) in gemm_shapes(s).items():
        times[f"rate:{name}"] = gemm_seconds(provider, m, k, n, trans, dtype, target_s, device)
    if provider == "numpy":
        skeleton: Callable[[], None] = NumpySkeleton(s, dtype)
        sync = None
    else:
        import torch

        skeleton = TorchSkeleton(s, dtype, device)
        sync = torch.cuda.synchronize if device.startswith("cuda") else None
    times["skeleton"], _ = timed(skeleton, sync)
    del skeleton
    return times


# --------------------------------------------------------------------------- report
def summarize(results: dict[str, Any]) -> dict[tuple, Stats]:
    """``(threads, size, dtype, backend, op) -> Stats`` over the repeats."""
    groups: dict[tuple, list[float]] = defaultdict(list)
    for r in results["samples"]:
        groups[(r["threads"], r["size"], r["dtype"], r["backend"], r["op"])].append(r["seconds"])
    return {k: Stats.of(v) for k, v in groups.items()}


def _gemm_flops(results: dict[str, Any], size: str, shape: str) -> float:
    s = SIZES[size]
    m, k, n, _ = gemm_shapes(s)[shape]
    return 2.0 * m * k * n


def gv_rows(results: dict[str, Any], stats: dict[tuple, Stats], th: int) -> list[list[str]]:
    """Rows of the Gv-against-the-GEMM-floor table for thread count ``th``."""
    rows = []
    opts = results["options"]
    for size in opts["sizes"]:
        flops = results["sizes"][size]["gv_flops"]
        for dtype in opts["dtypes"]:
            ref = stats.get((th, size, dtype, REFERENCE, "gv"))
            for backend in opts["backends"]:
                st = stats.get((th, size, dtype, backend, "gv"))
                if st is None:
                    continue
                provider = "torch" if backend == "torch" else "numpy"
                rate_st = stats.get((th, size, dtype, f"gemm:{provider}", "rate:step"))
                skel = stats.get((th, size, dtype, f"gemm:{provider}", "skeleton"))
                bound = None
                rate = None
                if rate_st is not None:
                    rate = _gemm_flops(results, size, "step") / rate_st.median
                    bound = flops / rate
                rows.append([
                    size, dtype, backend,
                    f"{fmt_ms(st.min)} / {fmt_ms(st.median)} / {fmt_ms(st.max)}",
                    fmt_ratio(st.median / ref.median) if ref else "—",
                    f"{flops / 1e9:.3g}",
                    f"{rate / 1e9:.0f} ({provider})" if rate else "—",
                    fmt_ms(bound),
                    fmt_pct(bound / st.min) if bound else "—",
                    fmt_pct(bound / st.median) if bound else "—",
                    f"{fmt_ms(skel.min)} / {fmt_ms(skel.median)}" if skel else "—",
                    fmt_ratio(st.min / skel.min) if skel else "—",
                ])
    return rows


GV_HEADERS = ["size", "dtype", "backend", "Gv ms min / median / max", "ratio to numpy (median)", "GFLOP",
              "GEMM GF/s at step shape", "GEMM-only bound ms", "% of bound (min)", "% of bound (median)",
              "skeleton ms min / median", "Gv ÷ skeleton (min)"]

OPS_HEADERS = ["op", "backend", "min ms", "median ms", "max ms", "ratio to numpy (median)", "ratio to numpy (min)"]


def ops_table(results: dict[str, Any], stats: dict[tuple, Stats], th: int, size: str, dtype: str) -> str:
    """All operations for one (threads, size, dtype)."""
    rows = []
    for op in OPS:
        ref = stats.get((th, size, dtype, REFERENCE, op))
        for backend in results["options"]["backends"]:
            st = stats.get((th, size, dtype, backend, op))
            if st is None:
                continue
            rows.append([op, backend, fmt_ms(st.min), fmt_ms(st.median), fmt_ms(st.max),
                         fmt_ratio(st.median / ref.median) if ref else "—",
                         fmt_ratio(st.min / ref.min) if ref else "—"])
    return md_table(OPS_HEADERS, rows)


TARGETS_NOTE = ("Targets from issue 9 (benchmark output, never timed tests), at 1 thread; % of bound uses the min "
                "Gv time, ratios the medians.")


def target_rows(results: dict[str, Any], stats: dict[tuple, Stats]) -> list[list[str]]:
    """Issue 9's Gv targets at the paper sizes, each with its measured figure and met / not met."""
    th = results["options"]["threads"][0]
    rows: list[list[str]] = []

    def verdict(ok: bool) -> str:
        return "met" if ok else "**not met**"

    floors = {"h100": 0.75, "h300": 0.85}
    for size in results["options"]["sizes"]:
        if size not in floors:
            continue
        gv = stats.get((th, size, "float64", REFERENCE, "gv"))
        rate = stats.get((th, size, "float64", "gemm:numpy", "rate:step"))
        if gv and rate:
            bound = results["sizes"][size]["gv_flops"] / (_gemm_flops(results, size, "step") / rate.median)
            pct = bound / gv.min
            rows.append([size, f"numpy float64 Gv >= {floors[size]:.0%} of the GEMM-only bound", fmt_pct(pct),
                         verdict(pct >= floors[size])])
        g64 = stats.get((th, size, "float64", REFERENCE, "gv"))
        g32 = stats.get((th, size, "float32", REFERENCE, "gv"))
        if g64 and g32:
            r = g64.median / g32.median
            rows.append([size, "numpy float32 Gv >= 1.8x faster than float64", fmt_ratio(r), verdict(r >= 1.8)])
        for backend, limit in (("torch", 1.2), ("autograd", 2.5)):
            for dtype in results["options"]["dtypes"]:
                a = stats.get((th, size, dtype, backend, "gv"))
                b = stats.get((th, size, dtype, REFERENCE, "gv"))
                if a and b:
                    r = a.median / b.median
                    rows.append([size, f"{backend} {dtype} Gv within {limit}x of numpy", fmt_ratio(r),
                                 verdict(r <= limit)])
    return rows


def render_markdown(results: dict[str, Any], title: str = "hfcore micro-benchmarks") -> str:
    """The full report."""
    stats = summarize(results)
    opts = results["options"]
    threads = opts["threads"]
    out = [f"# {title}", ""]
    if results.get("error"):
        out += [f"**PARTIAL RESULTS: the suite stopped early ({results['error']}).**", ""]
    out += header_lines(results["env"], threads)
    out.append(f"- repeats: {opts['repeats']}, interleaved (repeat -> threads -> size -> dtype -> backend -> op); "
               f"every figure is min / median / max over them; **ratio to numpy = backend time ÷ NumPy-backend "
               f"time measured in the same process** (>1: slower than numpy)")
    out.append(f"- backends: {', '.join(opts['backends'])}"
               + "".join(f"; skipped {k}: {v}" for k, v in opts["skipped_backends"].items()))
    out.append(f"- torch device: {opts['torch_device']}")
    out.append("")
    out.append("Sizes:")
    out.append("")
    for size in opts["sizes"]:
        s = SIZES[size]
        out.append(f"- {s.describe()}; Gv {gv_flops(s) / 1e9:.3g} GFLOP (perf-anchors formula "
                   f"T·2B·(4H²+4HO+2HI)), skeleton {results['sizes'][size]['skeleton_flops'] / 1e9:.3g} GFLOP")
    out.append("")
    targets = target_rows(results, stats)
    if targets:
        out.append("## Targets")
        out.append("")
        out.append(TARGETS_NOTE)
        out.append("")
        out.append(md_table(["size", "target", "measured", "verdict"], targets))
        out.append("")
    for th in threads:
        mark = "" if th == threads[0] else " — LOAD-SENSITIVE (other tenants share the cores)"
        out.append(f"## Gv against the GEMM floor, {th} thread{'s' if th > 1 else ''}{mark}")
        out.append("")
        out.append("GEMM-only bound = Gv FLOPs ÷ the median GEMM rate measured in this run at the step shape "
                   "(B×H)@(H×H) (perf-anchors sec. 2); numpy and autograd use numpy's BLAS rate, torch uses "
                   "torch.mm's. % of bound = bound ÷ Gv time. The skeleton is the same matrix products with no "
                   "elementwise work.")
        out.append("")
        out.append(md_table(GV_HEADERS, gv_rows(results, stats, th)))
        out.append("")
        out.append(f"## All operations, {th} thread{'s' if th > 1 else ''}{mark}")
        out.append("")
        for size in opts["sizes"]:
            for dtype in opts["dtypes"]:
                out.append(f"### {SIZES[size].describe()} — {dtype}")
                out.append("")
                out.append(ops_table(results, stats, th, size, dtype))
                out.append("")
        out.append(f"## float32 speed-up (float64 median ÷ float32 median), {th} thread{'s' if th > 1 else ''}"
                   f"{mark}")
        out.append("")
        if {"float32", "float64"} <= set(opts["dtypes"]):
            rows = []
            for size in opts["sizes"]:
                for backend in opts["backends"] + [f"gemm:{p}" for p in ("numpy", "torch")]:
                    cells = []
                    for op in OPS + ("skeleton",):
                        a = stats.get((th, size, "float64", backend, op))
                        b = stats.get((th, size, "float32", backend, op))
                        cells.append(fmt_ratio(a.median / b.median) if a and b else "—")
                    if any(c != "—" for c in cells):
                        rows.append([size, backend, *cells])
            out.append(md_table(["size", "backend", *OPS, "skeleton"], rows))
        else:
            out.append("(needs both dtypes)")
        out.append("")
        out.append(f"## GEMM rates measured in this run, {th} thread{'s' if th > 1 else ''}{mark}")
        out.append("")
        rows = []
        for size in opts["sizes"]:
            shapes = gemm_shapes(SIZES[size])
            for dtype in opts["dtypes"]:
                for provider in ("numpy", "torch"):
                    for shape, (m, k, n, trans) in shapes.items():
                        st = stats.get((th, size, dtype, f"gemm:{provider}", f"rate:{shape}"))
                        if st is None:
                            continue
                        fl = 2.0 * m * k * n
                        desc = f"({m}×{k})@({k}×{n})" + (" Aᵀ" if trans else "")
                        rows.append([size, dtype, provider, shape, desc, f"{fl / st.max / 1e9:.1f}",
                                     f"{fl / st.median / 1e9:.1f}", f"{fl / st.min / 1e9:.1f}"])
        out.append(md_table(["size", "dtype", "BLAS", "shape", "product", "GF/s min", "GF/s median", "GF/s max"],
                            rows))
        out.append("")
    if results["hf"]:
        out.append("## What one HF iteration contained")
        out.append("")
        seen = {}
        for r in results["hf"]:
            key = (r["size"], r["dtype"], r["backend"])
            seen.setdefault(key, r)
        rows = [[k[0], k[1], k[2], r["gv_products"], r["gradient_evals"], r["forward_evals"], r["cg_iterations"],
                 r["cg_reason"], r["accepted"]] for k, r in seen.items()]
        out.append(md_table(["size", "dtype", "backend", "Gv products", "gradients", "forward passes",
                             "CG iterations", "CG stop", "step accepted"], rows))
        out.append("")
        solver = opts.get("hf_solver", "ConjugateGradient(CGConfig(max_iters=20, progress_tol=1e-300, residual_tol=0))")
        out.append(f"`hf_step` with `{solver}`, "
                   f"`LevenbergMarquardt(lambda0={LAMBDA})` (no structural damping), gradient batch = curvature "
                   "batch = B, zero warm start (so CG's first residual needs no product).")
        out.append("")
    if results["checks"]:
        out.append("## Agreement with the NumPy backend (first repeat, primary threads)")
        out.append("")
        rows = [[c["size"], c["dtype"], c["backend"], *(f"{c[k]:.1e}" if k in c else "—"
                                                        for k in ("loss", "gradient", "gv"))]
                for c in results["checks"]]
        out.append(md_table(["size", "dtype", "backend", "loss rel. diff", "gradient rel. diff", "Gv rel. diff"],
                            rows))
        out.append("")
    out.append("Times are wall-clock (`time.perf_counter`) of one call each. No test asserts any of them.")
    out.append("")
    return "\n".join(out)


def render_kernel_check(as_is: dict[str, Any], stripped: dict[str, Any]) -> str:
    """Side-by-side medians of the as-is run and the run without the kernel variables."""
    sa, sb = summarize(as_is), summarize(stripped)

    def arch(res: dict[str, Any]) -> str:
        lib = numpy_blas(res["env"]["blas"])
        return str(lib["architecture"]) if lib else "unknown"

    kenv = ", ".join(f"`{k}`={v}" for k, v in as_is["env"]["kernel_env"].items())
    out = ["## Kernel check", "",
           f"- as the environment is ({kenv}): numpy's OpenBLAS kernel **`{arch(as_is)}`**",
           f"- child process with {', '.join(f'`{k}`' for k in KERNEL_ENV_VARS)} removed from its environment "
           f"only: kernel **`{arch(stripped)}`**",
           "- the two runs are separate processes, one after the other, so other load can differ between them; "
           "ratio = as-is median ÷ stripped median (>1: the environment's kernel is slower)", ""]
    if arch(as_is) == arch(stripped):
        out.append(f"Both runs used the same kernel (`{arch(as_is)}`): the environment does not change the "
                   "kernel here, so the ratios below only show run-to-run noise.")
        out.append("")
    rows = []
    for key in sorted(sa, key=lambda k: (k[0], list(SIZES).index(k[1]), k[2], k[3], k[4])):
        if key not in sb:
            continue
        th, size, dtype, backend, op = key
        a, b = sa[key], sb[key]
        if op.startswith("rate:"):
            fl = _gemm_flops(as_is, size, op.split(":", 1)[1])
            rows.append([th, size, dtype, backend, op, f"{fl / a.median / 1e9:.1f} GF/s",
                         f"{fl / b.median / 1e9:.1f} GF/s", fmt_ratio(a.median / b.median)])
        else:
            rows.append([th, size, dtype, backend, op, f"{fmt_ms(a.median)} ms", f"{fmt_ms(b.median)} ms",
                         fmt_ratio(a.median / b.median)])
    out.append(md_table(["threads", "size", "dtype", "backend", "op", f"as is ({arch(as_is)})",
                         f"stripped ({arch(stripped)})", "ratio as-is ÷ stripped"], rows))
    out.append("")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    """Run the suite, print the report, write ``--json`` / ``--markdown``."""
    args = parse_args(argv)
    if args.from_json:
        saved = json.loads(args.from_json.read_text())
        if "as_is" in saved:
            report = (render_markdown(saved["as_is"]) + "\n" + render_kernel_check(saved["as_is"], saved["stripped"])
                      + "\n" + render_markdown(saved["stripped"], title="Child run without the kernel variables"))
        else:
            report = render_markdown(saved)
        print(report)
        if args.markdown:
            args.markdown.parent.mkdir(parents=True, exist_ok=True)
            args.markdown.write_text(report)
        return 0
    results = run_suite(args)
    report = render_markdown(results)
    payload: dict[str, Any] = results
    if args.kernel_check:
        env = {k: v for k, v in os.environ.items() if k not in KERNEL_ENV_VARS}
        with tempfile.TemporaryDirectory() as tmp:
            child_json = Path(tmp) / "stripped.json"
            cmd = [sys.executable, str(Path(__file__).resolve()), *child_argv(args, child_json)]
            log("kernel check: rerunning in a child without " + ", ".join(KERNEL_ENV_VARS))
            subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL)
            stripped = json.loads(child_json.read_text())
        report += "\n" + render_kernel_check(results, stripped)
        report += "\n" + render_markdown(stripped, title="Child run without the kernel variables")
        payload = {"as_is": results, "stripped": stripped}
    emit(report, payload, args.json, args.markdown, args.mlflow)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Strong scaling of one HF iteration: one process against 2 (or more) ranks on MPI and on gloo.

The iteration is the paper's pathological size: 100 tanh units, T = 100, 1000 sequences for the gradient
and the curvature, CG run for exactly 20 steps (the stopping rules are switched off so that every
configuration does the same work). Every configuration runs in its own worker processes, started by this
script with the launcher a user would use (``mpiexec -n P python -m mpi4py``, ``torchrun``). The
configurations are interleaved round by round, so that load drift on a shared machine spreads evenly
over them. Reported per configuration: min / median / max seconds per iteration (measured on rank 0
between barriers, so the slowest rank counts), the share of it spent in the gather of the partial sums,
and the speed-up against the one-process baseline of the same run::

    python benchmarks/scaling.py                          # 1 vs 2 ranks, MPI and gloo
    python benchmarks/scaling.py --ranks 2 4 --rounds 5   # more ranks, more repeats
    python benchmarks/scaling.py --json out.json --markdown out.md

The workers pin BLAS to one thread each, so P ranks use P cores.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import (  # noqa: E402
    SIZES,
    FixedBatchTask,
    Stats,
    add_mlflow_arg,
    build_model,
    emit,
    environment,
    fmt_ms,
    fmt_pct,
    fmt_ratio,
    header_lines,
    log,
    md_table,
)

CG_STEPS = 20
LAUNCH_ATTEMPTS = 2
"""A launch that fails is tried once more: a rendezvous or a gloo connection can fail on a loaded machine."""


# --------------------------------------------------------------------------- worker (one rank)
class TimedComm:
    """Wraps a communicator and adds up the seconds spent in its gathers; everything else passes through."""

    def __init__(self, comm: Any) -> None:
        self.comm = comm
        self.seconds = 0.0
        self.calls = 0

    def __getattr__(self, name: str) -> Any:  # rank, size, name, barrier, abort
        return getattr(self.comm, name)

    def allgather_rows(self, rows: np.ndarray, counts: list[int]) -> np.ndarray:
        start = time.perf_counter()
        out = self.comm.allgather_rows(rows, counts)
        self.seconds += time.perf_counter() - start
        self.calls += 1
        return out


def make_comm(kind: str) -> Any:
    """The worker's communicator."""
    from hfcore.parallel import SerialComm

    if kind == "serial":
        return SerialComm()
    if kind == "mpi":
        from hfcore_mpi.plugin import MPIParallelConfig
        from hfcore_mpi.plugin import make_comm as make_mpi

        return make_mpi(MPIParallelConfig())
    from hfcore_torch.plugin import TorchParallelConfig
    from hfcore_torch.plugin import make_comm as make_torch

    return make_torch(TorchParallelConfig(backend="gloo"))


def worker(args: argparse.Namespace) -> None:
    """Time ``args.iters`` HF iterations after one warm-up; rank 0 writes the figures to ``args.out``."""
    from threadpoolctl import threadpool_limits

    from hfcore.cg import ConjugateGradient
    from hfcore.config import CGConfig, HFConfig, TikhonovConfig
    from hfcore.damping import LevenbergMarquardt
    from hfcore.hf import HessianFree, HFState
    from hfcore.parallel import ShardedModel
    from hfcore.registry import load_plugins
    from hfcore.state import RunState
    from hfcore.training import advance

    threadpool_limits(1, user_api="blas")
    comm = TimedComm(make_comm(args.comm))
    size = SIZES[args.size]
    _, registry = load_plugins()
    from benchlib import make_batch

    batch = make_batch(size, "float64")
    model = build_model(registry, "numpy", size, "float64")
    if args.shards > 1:
        model = ShardedModel(model, comm, args.shards, "targets")
    theta = model.init_params(np.random.default_rng(0))
    task = FixedBatchTask(size.spec, batch)
    # Exactly CG_STEPS products: no progress or residual test may stop CG early.
    solver = ConjugateGradient(CGConfig(max_iters=CG_STEPS, min_iters=CG_STEPS, residual_tol=0.0))
    damping = LevenbergMarquardt(TikhonovConfig(lambda0=1.0))
    hf = HessianFree(damping, solver, HFConfig(gradient_batch=size.batch, curvature_batch=size.batch))
    times, comm_seconds, gvs = [], [], []
    for i in range(1 + args.iters):
        state = RunState(iteration=0, theta=theta, optimizer=HFState(lam=1.0, warm_start=theta * 0.0),
                         data_rng=np.random.default_rng(1).bit_generator.state)
        comm.barrier()
        comm.seconds = 0.0
        start = time.perf_counter()
        _, info = advance(state, model, task, hf)
        comm.barrier()
        if i > 0:  # the first iteration warms caches and allocators
            times.append(time.perf_counter() - start)
            comm_seconds.append(comm.seconds)
            gvs.append(info.counters.gv_products)
    if comm.rank == 0:
        Path(args.out).write_text(json.dumps({"times": times, "comm": comm_seconds, "gv": gvs,
                                              "gathers_per_iteration": comm.calls / (1 + args.iters)}))


# --------------------------------------------------------------------------- parent
def failure_reason(stderr: str) -> str:
    """The line of a failed launch's output that says why: a rank's own error before the launcher's summary."""
    lines = [ln.strip() for ln in stderr.strip().splitlines() if ln.strip()]
    launcher = ("ChildFailedError", "Abort(", "APPLICATION TIMED OUT")
    errors = [ln for ln in lines if ("Error" in ln or "Exception" in ln) and not ln.startswith("File ")]
    own = [ln for ln in errors if not any(tag in ln for tag in launcher)]
    return ((own or errors or lines or ["?"])[-1])[:300]


def command(comm: str, ranks: int, shards: int, iters: int, size: str, out: Path) -> list[str]:
    """The launch line of one configuration."""
    me = [str(Path(__file__).resolve()), "--worker", "--comm", comm, "--shards", str(shards),
          "--iters", str(iters), "--size", size, "--out", str(out)]
    if comm == "mpi":
        mpiexec = shutil.which("mpiexec", path=str(Path(sys.executable).parent)) or "mpiexec"
        return [mpiexec, "-n", str(ranks), sys.executable, "-m", "mpi4py", *me]
    if comm == "torch":
        torchrun = shutil.which("torchrun", path=str(Path(sys.executable).parent)) or "torchrun"
        # --standalone: the rendezvous store binds a free port itself (no pick-then-bind race between launches).
        return [torchrun, "--standalone", f"--nproc-per-node={ranks}", *me]
    return [sys.executable, *me]


def configurations(ranks: list[int], comms: list[str]) -> list[dict[str, Any]]:
    """The baseline, the sharding overhead alone, then each communicator at each rank count."""
    out = [{"label": "1 process (baseline)", "comm": "serial", "ranks": 1, "shards": 1}]
    for p in ranks:
        out.append({"label": f"1 process, {p} shards", "comm": "serial", "ranks": 1, "shards": p})
        for comm in comms:
            out.append({"label": f"{'MPI' if comm == 'mpi' else 'gloo'}, {p} ranks", "comm": comm, "ranks": p,
                        "shards": p})
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ranks", nargs="+", type=int, default=[2])
    parser.add_argument("--comms", nargs="+", choices=("mpi", "torch"), default=None,
                        help="communicators to compare (default: mpi, and torch's gloo when torch is installed)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (one worker launch each)")
    parser.add_argument("--iters", type=int, default=2, help="timed iterations per launch, after one warm-up")
    parser.add_argument("--size", choices=sorted(SIZES), default="h100",
                        help="h100 is the issue's size; small-linear is for smoke tests")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--markdown", type=Path)
    add_mlflow_arg(parser)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--comm", default="serial", help=argparse.SUPPRESS)
    parser.add_argument("--shards", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(args)
        return
    torchrun = shutil.which("torchrun", path=str(Path(sys.executable).parent))
    if args.comms is None:
        args.comms = ["mpi", "torch"] if torchrun else ["mpi"]
        if not torchrun:
            log("torch is not installed: comparing MPI only (pip install 'hfcore[torch]' adds gloo)")
    elif "torch" in args.comms and not torchrun:
        parser.error("--comms torch needs torch and its torchrun: pip install 'hfcore[torch]'")

    env = environment(with_torch="torch" in args.comms)
    child_env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
                 "MPIEXEC_TIMEOUT": "600"}
    configs = configurations(args.ranks, args.comms)
    results: dict[str, dict[str, list[float]]] = {c["label"]: {"times": [], "comm": [], "gv": []} for c in configs}
    failures: dict[str, list[str]] = {}
    retried: dict[str, list[str]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            for c in configs:
                out = Path(tmp) / "result.json"
                log(f"round {r + 1}/{args.rounds}: {c['label']}")
                reason, worked = None, False
                for attempt in range(1, LAUNCH_ATTEMPTS + 1):
                    out.unlink(missing_ok=True)
                    done = subprocess.run(command(c["comm"], c["ranks"], c["shards"], args.iters, args.size, out),
                                          env=child_env, capture_output=True, text=True, timeout=900)
                    worked = done.returncode == 0 and out.exists()
                    if worked:
                        break
                    reason = failure_reason(done.stderr)
                    log(f"  launch {attempt}/{LAUNCH_ATTEMPTS} failed: {reason}")
                if reason is not None:
                    # Reported either way; a launch that failed and then worked is a retry, not a failure.
                    (retried if worked else failures).setdefault(c["label"], []).append(f"round {r + 1}: {reason}")
                if not worked:
                    continue
                got = json.loads(out.read_text())
                for key in ("times", "comm", "gv"):
                    results[c["label"]][key] += got[key]
    env["loadavg_end"] = os.getloadavg()

    base = Stats.of(results[configs[0]["label"]]["times"]).median if results[configs[0]["label"]]["times"] else None
    rows = []
    for c in configs:
        res = results[c["label"]]
        if not res["times"]:
            rows.append([c["label"], "—", "—", "—", "—", "—", f"failed: {failures.get(c['label'], ['?'])[-1]}"])
            continue
        st = Stats.of(res["times"])
        share = float(np.median(np.array(res["comm"]) / np.array(res["times"])))
        rows.append([c["label"], fmt_ms(st.min), fmt_ms(st.median), fmt_ms(st.max), fmt_pct(share),
                     fmt_ratio(base / st.median if base else None),
                     f"{st.n} iterations, {int(res['gv'][0])} Gv"
                     + (f"; {len(failures[c['label']])} failed round(s): {failures[c['label']][0]}"
                        if c["label"] in failures else "")
                     + (f"; {len(retried[c['label']])} launch(es) worked on retry: {retried[c['label']][0]}"
                        if c["label"] in retried else "")])
    report = "\n".join([
        "# Strong scaling of one HF iteration",
        "",
        f"{SIZES[args.size].describe()}; the whole batch is used for the gradient and the curvature; CG fixed "
        f"at {CG_STEPS} steps; float64, NumPy backend, 1 BLAS thread per rank; times in ms per iteration on "
        "rank 0 between barriers.",
        f"{args.rounds} interleaved rounds x {args.iters} timed iterations (after 1 warm-up) per configuration.",
        "",
        *header_lines(env, [1]),
        "",
        md_table(["configuration", "min", "median", "max", "in gathers, incl. waiting (median)",
                  "speed-up vs baseline median", "notes"], rows),
        "",
    ])
    emit(report, {"environment": env, "configurations": configs, "results": results, "failures": failures,
                  "retried": retried},
         args.json, args.markdown, args.mlflow)


if __name__ == "__main__":
    main()

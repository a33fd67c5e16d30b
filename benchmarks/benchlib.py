"""Shared pieces of the hfcore benchmark scripts (not part of the installed package).

Sizes, synthetic data, model construction through the plugin registry, the FLOP
formulas of ``shared/reference/perf-anchors.md`` sec. 2, the environment header
(BLAS, kernel, threads, CPU, versions), thread pinning, summary statistics and
markdown tables. The scripts in this folder import it as a sibling module.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import importlib.metadata
import json
import math
import os
import platform
import re
import statistics
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hfcore.types import Batch, ModelSpec

KERNEL_ENV_VARS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
"""The variables that pick OpenBLAS's kernel; ``--kernel-check`` removes them in a child."""

THREAD_ENV_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


# --------------------------------------------------------------------------- sizes
@dataclass(frozen=True)
class Size:
    """One benchmark configuration: a tanh RNN and a batch.

    Parameters
    ----------
    name : str
        Short key used on the command line and in the tables.
    hidden, batch, steps, n_in, n_out : int
        H, B, T, input and output width.
    output : str
        Output/loss pair (``linear`` or ``logistic``).
    """

    name: str
    hidden: int
    batch: int
    steps: int
    n_in: int
    n_out: int
    output: str

    @property
    def spec(self) -> ModelSpec:
        """The model spec a task would give for this size."""
        return ModelSpec(self.n_in, self.n_out, self.output)

    def describe(self) -> str:
        """One-line human description."""
        return (f"{self.name}: H={self.hidden}, B={self.batch}, T={self.steps}, "
                f"{self.n_in} in / {self.n_out} out, {self.output}")


SIZES: dict[str, Size] = {
    s.name: s
    for s in (
        Size("small-linear", 16, 40, 12, 2, 1, "linear"),
        Size("small-logistic", 24, 32, 10, 6, 6, "logistic"),
        Size("h100", 100, 1000, 100, 2, 1, "linear"),
        Size("h300", 300, 1000, 200, 128, 128, "logistic"),
    )
}
"""Every known size. ``h100`` and ``h300`` are the paper's (M&S 2011 pathological and music)."""

SIZE_GROUPS: dict[str, tuple[str, ...]] = {
    "small": ("small-linear", "small-logistic"),
    "paper": ("h100", "h300"),
    "all": ("small-linear", "small-logistic", "h100", "h300"),
}


def resolve_sizes(names: Sequence[str]) -> list[Size]:
    """Sizes from group names (``small``, ``paper``, ``all``) and/or size names, in order, deduplicated."""
    out: list[Size] = []
    for name in names:
        keys = SIZE_GROUPS.get(name, (name,))
        for key in keys:
            if key not in SIZES:
                known = ", ".join(list(SIZE_GROUPS) + list(SIZES))
                raise SystemExit(f"unknown size {key!r}; known: {known}")
            if SIZES[key] not in out:
                out.append(SIZES[key])
    return out


# --------------------------------------------------------------------------- FLOPs (perf-anchors sec. 2)
def gv_flops(s: Size) -> float:
    """FLOPs of one Gv: ``T * 2B * (4H^2 + 4HO + 2HI)`` (perf-anchors sec. 2)."""
    H, O, I = s.hidden, s.n_out, s.n_in  # noqa: E741
    return float(s.steps * 2 * s.batch * (4 * H * H + 4 * H * O + 2 * H * I))


def forward_flops(s: Size) -> float:
    """FLOPs of one forward pass: ``T * 2B * (H^2 + HO + HI)``."""
    H, O, I = s.hidden, s.n_out, s.n_in  # noqa: E741
    return float(s.steps * 2 * s.batch * (H * H + H * O + H * I))


def gemm_shapes(s: Size) -> dict[str, tuple[int, int, int, bool]]:
    """The dominant matrix-product shapes of a Gv as ``name -> (m, k, n, transposed_a)``.

    ``step`` is the per-time-step ``(B x H) @ (H x H)`` recurrent product; the GEMM-only
    bound divides :func:`gv_flops` by its rate, as perf-anchors sec. 2 does. ``batched`` is
    the all-steps R-forward product ``(M x K) @ (K x H)`` with ``K = I + H + 2`` (inputs,
    previous state and both biases in one GEMM) and ``dW`` its transposed-A accumulation
    ``(H x M) @ (M x K)``; both are measured on ``M = min(T, 20) * B`` rows, which keeps
    the timing short while staying in the large-M regime of the real ``T * B`` rows.
    """
    K = s.n_in + s.hidden + 2
    M = min(s.steps, 20) * s.batch
    return {
        "step": (s.batch, s.hidden, s.hidden, False),
        "batched": (M, K, s.hidden, False),
        "dW": (s.hidden, M, K, True),
    }


# --------------------------------------------------------------------------- data and models
def make_batch(s: Size, dtype: str, seed: int = 0) -> Batch:
    """A full-length synthetic batch: every step carries a target.

    ``linear``: standard normal inputs and targets. ``logistic``: Bernoulli(0.1)
    inputs and targets (piano-roll-like). Drawn in float64 one time step at a time from
    ``seed`` and cast into arrays of ``dtype``, so float32 and float64 runs see the same
    numbers and no full-size float64 temporary raises the peak memory of a float32 run.
    """
    rng = np.random.default_rng(seed)
    T, B = s.steps, s.batch
    x = np.empty((T, B, s.n_in), dtype=dtype)
    y = np.empty((T, B, s.n_out), dtype=dtype)
    for arr, width in ((x, s.n_in), (y, s.n_out)):
        for t in range(T):
            if s.output == "linear":
                arr[t] = rng.standard_normal((B, width))
            else:
                arr[t] = rng.random((B, width)) < 0.1
    return Batch(x, y, np.ones((T, B), dtype=dtype), np.full(B, T))


def model_config(s: Size, **overrides: Any) -> Any:
    """``hfcore.config.RNNConfig`` (``model=rnn_tanh``) for size ``s`` (IS11 sparse init by default)."""
    from hfcore.config import RNNConfig

    return RNNConfig(hidden=s.hidden, **overrides)


def build_model(registry: Any, backend: str, s: Size, dtype: str, torch_device: str = "cpu",
                **model_overrides: Any) -> Any:
    """Backend ``backend``'s model for size ``s`` from its registered config, with ``dtype``.

    Raises ``ImportError`` (with the backend's one-line message) when its extra is missing.
    """
    component = registry.get("backend", backend)
    cfg = component.config
    changes: dict[str, Any] = {"dtype": dtype}
    if hasattr(cfg, "device"):
        changes["device"] = torch_device
    if dataclasses.is_dataclass(cfg):
        backend_cfg = dataclasses.replace(cfg, **{k: v for k, v in changes.items() if hasattr(cfg, k)})
    else:
        from types import SimpleNamespace

        backend_cfg = SimpleNamespace(name=backend, **changes)
    model_cfg = model_config(s, **model_overrides)
    definition = registry.get("model", model_cfg.name).factory(s.spec, model_cfg)
    return component.factory(definition, model_cfg, backend_cfg)


class FixedBatchTask:
    """A :class:`hfcore.interfaces.Task` that always hands out the same batch.

    Used to time :func:`hfcore.hf.hf_step` on exactly the data the other operations
    see; sampling costs nothing, so the HF time is the engine's alone.
    """

    name = "benchmark"

    def __init__(self, spec: ModelSpec, batch: Batch) -> None:
        self.spec = spec
        self.batch = batch

    def sample(self, rng: np.random.Generator, n: int) -> Batch:
        """The fixed batch (its first ``n`` sequences)."""
        return self.batch if n >= self.batch.size else self.batch.subset(0, n)

    def test_batch(self) -> Batch:
        """The fixed batch."""
        return self.batch

    def error(self, outputs: np.ndarray, batch: Batch) -> float:
        """Not used by the benchmarks."""
        return float("nan")

    def solved(self, test_error: float) -> bool:
        """Never solved."""
        return False


def rel_diff(got: Any, ref: Any) -> float:
    """``||got - ref|| / ||ref||`` in float64 (absolute when ``ref`` is 0)."""
    g = np.asarray(got, dtype=np.float64)
    r = np.asarray(ref, dtype=np.float64)
    scale = float(np.linalg.norm(r))
    diff = float(np.linalg.norm(g - r))
    return diff / scale if scale > 0 else diff


def full_mask_batch(rng: np.random.Generator, steps: int, size: int, n_in: int, n_out: int) -> Batch:
    """Standard normal inputs, then targets, drawn from ``rng`` (in that order); every step carries a target."""
    return Batch(rng.standard_normal((steps, size, n_in)), rng.standard_normal((steps, size, n_out)),
                 np.ones((steps, size)), np.full(size, steps))


# --------------------------------------------------------------------------- the gated models' Gv scripts
def add_gated_size_args(p: argparse.ArgumentParser, hidden_help: str, cells_help: str, threads_help: str) -> None:
    """The options ``lstm_gv.py`` and ``gv_torch.py`` share: sizes, dtype, threads, repeats, structural weight.

    Parameters
    ----------
    p : argparse.ArgumentParser
        The script's parser; ``--H``, ``--cells-per-block``, ``--B``, ``--T``, ``--inputs``, ``--outputs``,
        ``--dtype``, ``--threads``, ``--repeats`` and ``--structural-weight`` are added in that order.
    hidden_help, cells_help, threads_help : str
        The help of ``--H``, ``--cells-per-block`` and ``--threads`` (what they mean differs by script).
    """
    p.add_argument("--H", type=int, default=100, help=hidden_help)
    p.add_argument("--cells-per-block", type=int, default=10, help=cells_help)
    p.add_argument("--B", type=int, default=1000, help="sequences in the batch (default 1000)")
    p.add_argument("--T", type=int, default=100, help="steps per sequence (default 100)")
    p.add_argument("--inputs", type=int, default=2, help="input size (default 2, as the addition task)")
    p.add_argument("--outputs", type=int, default=1, help="output size (default 1, linear output)")
    p.add_argument("--dtype", default="float64", choices=["float64", "float32"])
    p.add_argument("--threads", type=int, default=1, help=threads_help)
    p.add_argument("--repeats", type=int, default=5, help="interleaved repeats (default 5)")
    p.add_argument("--structural-weight", type=float, default=0.3, help="w of gv(v, w) (default 0.3)")


def parse_gated_args(p: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    """Add ``--json``, ``--markdown`` and ``--mlflow`` to ``p``, parse ``argv`` and check the sizes.

    Raises
    ------
    SystemExit
        Through ``p.error`` (exit 2) when a size of :func:`add_gated_size_args`, ``--threads`` or
        ``--repeats`` is below 1.
    """
    p.add_argument("--json", type=Path, help="write every sample and the environment as JSON")
    p.add_argument("--markdown", type=Path, help="write the report as markdown")
    add_mlflow_arg(p)
    args = p.parse_args(argv)
    if min(args.H, args.cells_per_block, args.B, args.T, args.inputs, args.outputs, args.threads,
           args.repeats) < 1:
        p.error("sizes, --threads and --repeats must be >= 1")
    return args


# --------------------------------------------------------------------------- environment
def _cpu_info() -> dict[str, str]:
    info: dict[str, str] = {}
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if ":" not in line:
                    if info:
                        break  # first processor block only
                    continue
                key, value = (part.strip() for part in line.split(":", 1))
                if key in ("model name", "cpu family", "model", "cache size") and key not in info:
                    info[key] = value
                elif key == "flags":
                    flags = set(value.split())
                    info["avx512f"] = "yes" if "avx512f" in flags else "no"
                    info["avx2"] = "yes" if "avx2" in flags else "no"
    except OSError:
        pass
    if "model name" not in info:
        info["model name"] = platform.processor() or "unknown"
    return info


def blas_info() -> list[dict[str, Any]]:
    """threadpoolctl's view of the BLAS libraries loaded in this process."""
    from threadpoolctl import threadpool_info

    rows = []
    for lib in threadpool_info():
        if lib.get("user_api") != "blas":
            continue
        path = str(lib.get("filepath", ""))
        owner = os.path.basename(os.path.dirname(path)).removesuffix(".libs") or "?"
        rows.append({
            "owner": owner,
            "internal_api": lib.get("internal_api"),
            "version": lib.get("version"),
            "architecture": lib.get("architecture"),
            "threading_layer": lib.get("threading_layer"),
            "default_threads": lib.get("num_threads"),
            "file": os.path.basename(str(lib.get("filepath", ""))),
        })
    return rows


def numpy_blas(libs: list[dict[str, Any]]) -> dict[str, Any] | None:
    """numpy's own BLAS among ``libs`` (the one shipped in ``numpy.libs``, else the first)."""
    for lib in libs:
        if lib.get("owner") == "numpy":
            return lib
    return libs[0] if libs else None


def torch_info() -> dict[str, Any] | None:
    """Version, MKL line, CPU capability and default threads of torch, or None when not importable."""
    try:
        import torch
    except ImportError:
        return None
    mkl = next((line.strip(" -") for line in torch.__config__.show().splitlines() if "Math Kernel" in line), "")
    try:
        capability = torch.backends.cpu.get_cpu_capability()
    except AttributeError:
        capability = "unknown"
    return {
        "version": torch.__version__,
        "mkl": mkl or ("available" if torch.backends.mkl.is_available() else "not available"),
        "cpu_capability": capability,
        "default_threads": torch.get_num_threads(),
        "cuda": torch.cuda.is_available(),
    }


def _dist_version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def environment(with_torch: bool = True) -> dict[str, Any]:
    """Everything the report header names: CPU, cores, versions, BLAS and kernel, thread settings, load."""
    import hfcore

    env = {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "host": platform.node(),
        "cpu": _cpu_info(),
        "logical_cpus": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "numpy": np.__version__,
        "hfcore": hfcore.__version__,
        "autograd": _dist_version("autograd"),
        "blas": blas_info(),
        "kernel_env": {k: os.environ.get(k, "unset") for k in KERNEL_ENV_VARS},
        "thread_env": {k: os.environ.get(k, "unset") for k in THREAD_ENV_VARS},
        "loadavg_start": os.getloadavg() if hasattr(os, "getloadavg") else None,
    }
    env["torch"] = torch_info() if with_torch else None
    return env


def header_lines(env: dict[str, Any], threads: Sequence[int]) -> list[str]:
    """Markdown bullet lines naming the machine, BLAS/kernel, threads and versions."""
    cpu = env["cpu"]
    lines = [
        f"- date: {env['date']}, host `{env['host']}`",
        (f"- CPU: {cpu.get('model name')} (family {cpu.get('cpu family', '?')}, model {cpu.get('model', '?')}, "
         f"AVX-512 {cpu.get('avx512f', '?')}), {env['usable_cpus']} usable of {env['logical_cpus']} logical CPUs"),
        f"- python {env['python']}, numpy {env['numpy']}, hfcore {env['hfcore']}, autograd {env['autograd']}, "
        + (f"torch {env['torch']['version']}" if env.get("torch") else "torch not installed"),
    ]
    mine = numpy_blas(env["blas"])
    for lib in env["blas"]:
        who = "numpy BLAS" if lib is mine else f"other BLAS in the process (from {lib.get('owner', '?')})"
        lines.append(
            f"- {who}: **{lib['internal_api']} {lib['version']}, kernel `{lib['architecture']}`** "
            f"({lib['threading_layer']}, default {lib['default_threads']} threads, `{lib['file']}`)"
        )
    if not env["blas"]:
        lines.append("- numpy BLAS: not visible to threadpoolctl")
    kenv = ", ".join(f"`{k}`={v}" for k, v in env["kernel_env"].items())
    tenv = ", ".join(f"`{k}`={v}" for k, v in env["thread_env"].items())
    lines.append(f"- kernel environment: {kenv}; thread environment: {tenv}")
    if env.get("torch"):
        t = env["torch"]
        lines.append(f"- torch: {t['mkl']}; CPU capability {t['cpu_capability']}; "
                     f"default {t['default_threads']} threads; CUDA available: {t['cuda']}")
    primary = ", ".join(str(n) for n in threads)
    lines.append(f"- threads: **{threads[0]} (primary)**" + (
        f"; also {primary.split(', ', 1)[1]} (**load-sensitive**: other tenants share these cores)"
        if len(threads) > 1 else "")
        + " — pinned with threadpoolctl `threadpool_limits(n, user_api='blas')` and `torch.set_num_threads(n)`")
    la = env.get("loadavg_start")
    le = env.get("loadavg_end")
    if la:
        end = f", at end {tuple(round(x, 2) for x in le)}" if le else ""
        lines.append(f"- load average (1, 5, 15 min) at start {tuple(round(x, 2) for x in la)}{end}")
    return lines


# --------------------------------------------------------------------------- threads and timing
@contextmanager
def limit_threads(n: int) -> Iterator[None]:
    """Pin numpy's BLAS (threadpoolctl) and, when torch is imported, torch's intra-op pool to ``n`` threads."""
    from threadpoolctl import threadpool_limits

    torch = sys.modules.get("torch")
    old = torch.get_num_threads() if torch is not None else None
    with threadpool_limits(limits=n, user_api="blas"):
        if torch is not None:
            torch.set_num_threads(n)
        try:
            yield
        finally:
            if torch is not None and old is not None:
                torch.set_num_threads(old)


def timed(fn: Callable[[], Any], sync: Callable[[], None] | None = None) -> tuple[float, Any]:
    """Seconds one call of ``fn`` took (``time.perf_counter``), and its result."""
    if sync is not None:
        sync()
    start = time.perf_counter()
    out = fn()
    if sync is not None:
        sync()
    return time.perf_counter() - start, out


@dataclass(frozen=True)
class Stats:
    """min / median / max of repeated timings (seconds)."""

    n: int
    min: float
    median: float
    max: float

    @classmethod
    def of(cls, values: Sequence[float]) -> Stats:
        """Summary of ``values`` (non-empty)."""
        vals = sorted(float(v) for v in values)
        return cls(len(vals), vals[0], statistics.median(vals), vals[-1])


# --------------------------------------------------------------------------- formatting
def fmt_ms(seconds: float | None) -> str:
    """Milliseconds with about three significant digits."""
    if seconds is None or not math.isfinite(seconds):
        return "—"
    ms = seconds * 1e3
    if ms >= 100:
        return f"{ms:,.0f}"
    if ms >= 10:
        return f"{ms:.1f}"
    if ms >= 1:
        return f"{ms:.2f}"
    return f"{ms:.3f}"


def fmt_ratio(x: float | None) -> str:
    """A ratio like ``1.23x``."""
    if x is None or not math.isfinite(x):
        return "—"
    return f"{x:.2f}x"


def fmt_pct(x: float | None) -> str:
    """A fraction as a percentage."""
    if x is None or not math.isfinite(x):
        return "—"
    return f"{100 * x:.0f} %"


def md_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A GitHub-flavoured markdown table."""
    out = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(out)


def log(message: str) -> None:
    """Progress line on stderr (stdout carries the report)."""
    print(message, file=sys.stderr, flush=True)


BENCHMARK_EXPERIMENT = "benchmarks"
"""MLflow experiment that benchmark runs are logged to (``--mlflow``)."""


def add_mlflow_arg(parser: Any) -> None:
    """The ``--mlflow [URI]`` option every benchmark script shares."""
    parser.add_argument("--mlflow", nargs="?", const="", default=None, metavar="URI",
                        help=f"also log a run with the figures to MLflow (experiment '{BENCHMARK_EXPERIMENT}'); "
                             "URI defaults to $MLFLOW_TRACKING_URI, else sqlite:///mlflow.db here")


def _metric_key(key: str) -> str:
    """``key`` with the characters MLflow refuses in metric names replaced by ``_`` (at most 250 long)."""
    return "".join(c if c.isascii() and (c.isalnum() or c in "_-. /") else "_" for c in key)[:250]


_NUMBER_CELL = re.compile(r"^(?P<n>[-−]?[\d,]*\.?\d+(?:e[-+]?\d+)?)\s*(?:ms|µs|s|GF/s|%|×|x|GiB|MiB)?$")


_ID_COLUMNS = frozenset({"T", "seed", "threads", "ranks", "hidden", "batch", "H", "B"})
"""Numeric columns that name a row (part of its label), not a measurement of it."""
_RESULT_COLUMNS = frozenset({"solved", "verdict", "stopped by", "notes", "reason"})
"""Text columns that are outcomes: left out of the label, so a row keeps its name from run to run."""


def table_figures(report: str) -> dict[str, float]:
    """Every measured number of the report's Markdown tables, named ``heading/row label/column``.

    A cell is a number when it is one, with at most a unit (``12.3 ms``, ``1.24×``, ``65 %``,
    ``1,582``; bold allowed). A row's label is made of its cells before its first measured number:
    text and identifying numbers (columns such as ``T`` or ``seed``), but not outcome columns such
    as ``solved``. A name met twice keeps its first value.
    """
    out: dict[str, float] = {}
    heading, header = "report", None
    for line in report.splitlines():
        text = line.strip()
        if text.startswith("#"):
            heading, header = text.lstrip("#").strip(), None
            continue
        if not text.startswith("|"):
            header = None
            continue
        cells = [c.strip().replace("**", "").strip() for c in text.strip("|").split("|")]
        if header is None:
            header = cells
            continue
        if all(set(c) <= set("-: ") for c in cells):
            continue
        label, values = [], []
        for column, cell in zip(header, cells, strict=False):
            number = _NUMBER_CELL.match(cell)
            if number and column not in _ID_COLUMNS:
                values.append((column, float(number.group("n").replace(",", "").replace("−", "-"))))
            elif cell and not values and column not in _RESULT_COLUMNS:
                label.append(f"{column} {cell}" if number else cell)
        for column, value in values:
            out.setdefault(_metric_key(f"{heading}/{' '.join(label) or 'row'}/{column}"), value)
    return out


def log_mlflow(name: str, report: str, payload: Any, uri: str) -> str:
    """Log one benchmark run: the environment as params, :func:`table_figures` as metrics, report and JSON as files.

    Returns the run id. The run ends FINISHED, or FAILED if logging raised.
    """
    from hfcore.tracking import MlflowTracker, default_tracking_uri, flatten

    tracker = MlflowTracker(uri or default_tracking_uri(), BENCHMARK_EXPERIMENT, run_name=name)
    env = (payload.get("environment") or payload.get("env") or {}) if isinstance(payload, dict) else {}
    status = "FAILED"
    try:  # a run created but not completed is closed FAILED, never left RUNNING
        tracker.start({k: v for k, v in flatten(env).items() if v is not None}, {"benchmark": name})
        items = list(table_figures(report).items())
        for i in range(0, len(items), 1000):  # MLflow's limit per log_batch
            tracker.log_metrics(0, dict(items[i:i + 1000]))
        tracker.log_text(report, f"{name}.md")
        tracker.log_text(json.dumps(payload, indent=1, default=str), f"{name}.json")
        status = "FINISHED"
    finally:
        tracker.finish(status)
    return str(tracker.run_id)


def emit(report: str, payload: Any, json_path: Path | None, markdown_path: Path | None,
         mlflow_uri: str | None = None, name: str | None = None) -> None:
    """Print the Markdown report and write it, and the raw figures as JSON, where asked.

    With ``mlflow_uri`` (``""`` for the default store) the run is also logged to MLflow
    under ``name`` (default: the script's name).
    """
    print(report)
    if mlflow_uri is not None:
        run_name = name or Path(sys.argv[0]).stem
        log(f"MLflow run {log_mlflow(run_name, report, payload, mlflow_uri)} "
            f"(experiment '{BENCHMARK_EXPERIMENT}')")
    if json_path:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(payload, indent=1, default=str))
    if markdown_path:
        markdown_path.parent.mkdir(parents=True, exist_ok=True)
        markdown_path.write_text(report)

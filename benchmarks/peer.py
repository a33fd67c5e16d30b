"""Peer comparison: hfcore's NumPy backend against PyPI ``hessianfree`` 0.4.0, in one process.

The same tanh RNN (linear output, squared error, loss summed over time and averaged
over the batch) is built in ``hessianfree`` with its own initialisation (sparse
feed-forward weights, and a scaled Gaussian recurrent init ``coeff = 1.1 / sqrt(H)``:
its default sparse recurrent init with coeff 1 overflows at T=100), and the very same
weights are copied into hfcore's layout. Then:

* **equality**: loss, gradient and Gv (at the same random vector) from both, with the
  max relative differences printed;
* **timing**, interleaved in the same process (repeat -> dtype -> peer ops, our ops):
  the peer's ``cache_minibatch`` (forward with derivatives), ``calc_grad``, ``calc_G``
  and one ``HessianFree(CG_iter=20).compute_update()``, beside hfcore's ``loss``,
  ``loss_and_grad``, ``curvature`` (bind), ``gv`` and one ``hf_step`` with
  ``ConjugateGradient(max_iters=20)``.

``hessianfree`` (and ``matplotlib``, which it imports without declaring it) must be
installed in a *separate benchmark environment*, never as a dependency of hfcore::

    python3 -m venv /tmp/benchvenv
    /tmp/benchvenv/bin/pip install -e . hessianfree==0.4.0 matplotlib threadpoolctl
    /tmp/benchvenv/bin/python benchmarks/peer.py --sizes h100

Without it the script prints these instructions and exits with status 0.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import (  # noqa: E402
    FixedBatchTask,
    Size,
    Stats,
    add_mlflow_arg,
    build_model,
    emit,
    environment,
    fmt_ms,
    fmt_ratio,
    header_lines,
    limit_threads,
    log,
    make_batch,
    md_table,
    rel_diff,
    resolve_sizes,
    timed,
)

PEER_VERSION = "0.4.0"
INSTALL_HINT = (
    "hessianfree is not importable here. Install it ONLY into a separate benchmark environment "
    "(never as a dependency of hfcore):\n"
    "    python3 -m venv /tmp/benchvenv\n"
    f"    /tmp/benchvenv/bin/pip install -e . hessianfree=={PEER_VERSION} matplotlib threadpoolctl\n"
    "    /tmp/benchvenv/bin/python benchmarks/peer.py --sizes h100\n"
    "(matplotlib is needed because hessianfree imports it without declaring it.)"
)
CG_STEPS = 20
LAMBDA = 1.0
PEER_OPS = ("cache_minibatch", "calc_grad", "calc_G", "compute_update")
OUR_OPS = ("forward", "gradient", "bind", "gv", "hf")


def import_peer() -> tuple[Any, str | None]:
    """``(hessianfree module, None)`` or ``(None, reason)``."""
    try:
        import hessianfree

        return hessianfree, None
    except Exception as exc:  # ImportError, or matplotlib missing inside it
        return None, f"{type(exc).__name__}: {exc}"


# --------------------------------------------------------------------------- layouts
def peer_to_ours(net: Any, w: np.ndarray) -> np.ndarray:
    """A peer parameter vector in hfcore's flat layout ``[W_hx, W_hh, W_yh, b_h, b_y, b_init]``.

    The peer stores each block as ``(pre, post)`` weights with the bias as an extra last
    row: ``(0, 1)`` input->hidden (``W_hx'`` and ``b_h``), ``(1, 2)`` hidden->output
    (``W_yh'`` and ``b_y``) and ``(1, 1)`` recurrent (``W_hh'``, and a bias that enters
    only at the first step, i.e. ``b_init``).
    """
    w_in, b_in = net.get_weights(w, (0, 1))
    w_out, b_out = net.get_weights(w, (1, 2))
    w_rec, b_rec = net.get_weights(w, (1, 1))
    return np.concatenate([w_in.T.ravel(), w_rec.T.ravel(), w_out.T.ravel(), b_in, b_out, b_rec]).astype(np.float64)


def ours_to_peer(net: Any, theta: np.ndarray, s: Size, dtype: Any) -> np.ndarray:
    """hfcore's flat vector in the peer's layout (the inverse of :func:`peer_to_ours`)."""
    H, I, O = s.hidden, s.n_in, s.n_out  # noqa: E741
    sizes = [H * I, H * H, O * H, H, O, H]
    parts = np.split(np.asarray(theta, dtype=np.float64), np.cumsum(sizes)[:-1])
    w_hx, w_hh, w_yh = parts[0].reshape(H, I), parts[1].reshape(H, H), parts[2].reshape(O, H)
    out = np.zeros(net.W.size, dtype=dtype)
    w_in, b_in = net.get_weights(out, (0, 1))
    w_out, b_out = net.get_weights(out, (1, 2))
    w_rec, b_rec = net.get_weights(out, (1, 1))
    w_in[...], b_in[...] = w_hx.T, parts[3]
    w_rec[...], b_rec[...] = w_hh.T, parts[5]
    w_out[...], b_out[...] = w_yh.T, parts[4]
    return out


BLOCKS = ("W_hx", "W_hh", "W_yh", "b_h", "b_y", "b_init")


def block_diffs(got: np.ndarray, ref: np.ndarray, s: Size) -> dict[str, float]:
    """Max-abs relative difference per parameter block (relative to the block's max-abs value)."""
    H, I, O = s.hidden, s.n_in, s.n_out  # noqa: E741
    sizes = [H * I, H * H, O * H, H, O, H]
    out = {}
    for name, a, b in zip(BLOCKS, np.split(got, np.cumsum(sizes)[:-1]), np.split(ref, np.cumsum(sizes)[:-1]),
                          strict=True):
        scale = float(np.max(np.abs(b))) if b.size else 0.0
        out[name] = float(np.max(np.abs(a - b))) / scale if scale > 0 else float(np.max(np.abs(a - b)))
    return out


def max_rel(got: np.ndarray, ref: np.ndarray) -> float:
    """``max|got - ref| / max|ref|``."""
    scale = float(np.max(np.abs(ref)))
    diff = float(np.max(np.abs(np.asarray(got, np.float64) - np.asarray(ref, np.float64))))
    return diff / scale if scale > 0 else diff


# --------------------------------------------------------------------------- the peer network
class Counter:
    """Wraps a bound method and counts its calls."""

    def __init__(self, fn: Callable[..., Any]) -> None:
        self.fn = fn
        self.calls = 0

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        return self.fn(*args, **kwargs)


class PeerCase:
    """The peer net, its optimiser and data for one (size, dtype), with hfcore's twin."""

    def __init__(self, hf: Any, registry: Any, s: Size, dtype: str, w64: np.ndarray | None, seed: int) -> None:
        from hfcore.cg import ConjugateGradient
        from hfcore.config import CGConfig, HFConfig, TikhonovConfig
        from hfcore.damping import LevenbergMarquardt
        from hfcore.hf import HessianFree, HFState
        from hfcore.state import RunState

        np_dtype = np.dtype(dtype).type
        layers = [hf.nl.Linear(), hf.nl.Tanh(), hf.nl.Linear()]
        common = dict(layers=layers, loss_type=hf.loss_funcs.SquaredError(), dtype=np_dtype)
        if w64 is None:
            # The peer's own initialisation, with the scaled recurrent init (its default overflows at T=100).
            self.net = hf.RNNet([s.n_in, s.hidden, s.n_out], rng=np.random.RandomState(seed),
                                W_rec_params=dict(init_type="gaussian", coeff=1.1 / np.sqrt(s.hidden)), **common)
        else:
            self.net = hf.RNNet([s.n_in, s.hidden, s.n_out], load_weights=w64.astype(np_dtype), **common)
        self.opt = hf.opt.HessianFree(CG_iter=CG_STEPS, init_damping=LAMBDA, plotting=False)
        self.net.optimizer = self.opt
        self.calc_G = Counter(self.net.calc_G)
        self.forward = Counter(self.net.forward)
        self.net.calc_G = self.calc_G  # instance attributes shadow the methods, so every call is counted
        self.net.forward = self.forward

        batch = make_batch(s, dtype)
        self.batch = batch
        self.x = np.ascontiguousarray(batch.inputs.transpose(1, 0, 2))  # the peer is batch-major (B, T, dim)
        self.y = np.ascontiguousarray(batch.targets.transpose(1, 0, 2))
        self.theta64 = peer_to_ours(self.net, self.net.W)

        # hfcore's twin: same weights, the peer's objective (sum over time, mean over the batch, no L2).
        self.model = build_model(registry, "numpy", s, dtype, l2=0.0, normaliser="sequences")
        self.theta = self.model.from_numpy(self.theta64)
        self.task = FixedBatchTask(s.spec, batch)
        self.damping = LevenbergMarquardt(TikhonovConfig(lambda0=LAMBDA))
        self.solver = ConjugateGradient(CGConfig(max_iters=CG_STEPS, min_iters=CG_STEPS, progress_tol=1e-300,
                                                 residual_tol=0.0))
        self.hf = HessianFree(self.damping, self.solver, HFConfig(gradient_batch=s.batch, curvature_batch=s.batch))
        self.state = RunState(iteration=0, theta=self.theta, optimizer=HFState(lam=LAMBDA, warm_start=self.theta * 0.0),
                              data_rng=np.random.default_rng(0).bit_generator.state)

    def reset_optimizer(self) -> None:
        """Forget the warm start and damping, so every ``compute_update`` does the same work."""
        self.opt.init_delta = None
        self.opt.damping = LAMBDA


def check_equal(case: PeerCase, s: Size, v64: np.ndarray) -> dict[str, Any]:
    """Loss, gradient and Gv of both implementations at the same weights and vector."""
    net, model = case.net, case.model
    net.cache_minibatch(case.x, case.y)
    peer_loss = float(net.error())
    peer_grad = peer_to_ours(net, net.calc_grad())
    peer_gv = peer_to_ours(net, net.calc_G(ours_to_peer(net, v64, s, net.dtype), damping=0.0))
    loss, grad = model.loss_and_grad(case.theta, case.batch)
    gv = model.curvature(case.theta, case.batch).gv(model.from_numpy(v64))
    grad64, gv64 = np.asarray(grad, np.float64), np.asarray(gv, np.float64)
    return {
        "loss_ours": float(loss), "loss_peer": peer_loss,
        "loss_rel": abs(peer_loss - float(loss)) / abs(float(loss)),
        "grad_max_rel": max_rel(peer_grad, grad64), "grad_norm_rel": rel_diff(peer_grad, grad64),
        "gv_max_rel": max_rel(peer_gv, gv64), "gv_norm_rel": rel_diff(peer_gv, gv64),
        "grad_blocks": block_diffs(peer_grad, grad64, s), "gv_blocks": block_diffs(peer_gv, gv64, s),
    }


# --------------------------------------------------------------------------- the run
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", nargs="+", default=["h100"],
                   help="linear-output sizes (the peer has no logistic/cross-entropy twin); default h100")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--dtypes", nargs="+", default=["float64", "float32"], choices=["float64", "float32"])
    p.add_argument("--threads", nargs="*", type=int, default=[],
                   help="extra thread counts beside the primary 1; load-sensitive")
    p.add_argument("--seed", type=int, default=0, help="seed of the peer's weight initialisation")
    p.add_argument("--json", type=Path)
    p.add_argument("--markdown", type=Path)
    add_mlflow_arg(p)
    return p.parse_args(argv)


def run(args: argparse.Namespace, hf: Any) -> dict[str, Any]:
    """Equality checks, then interleaved timing; returns the raw results."""
    from hfcore.registry import load_plugins
    from hfcore.training import advance as hf_step

    _, registry = load_plugins()
    sizes = [s for s in resolve_sizes(args.sizes) if s.output == "linear"]
    skipped = [s.name for s in resolve_sizes(args.sizes) if s.output != "linear"]
    threads = [1] + [t for t in dict.fromkeys(args.threads) if t != 1]
    env = environment(with_torch=False)
    env["hessianfree"] = getattr(hf, "__version__", None) or _dist("hessianfree")
    env["matplotlib"] = _dist("matplotlib")
    results: dict[str, Any] = {"env": env, "options": {"sizes": [s.name for s in sizes], "skipped_sizes": skipped,
                                                       "repeats": args.repeats, "dtypes": args.dtypes,
                                                       "threads": threads, "seed": args.seed},
                               "checks": [], "samples": [], "counts": []}
    cases: dict[tuple[str, str], PeerCase] = {}
    with limit_threads(threads[0]):
        for s in sizes:
            w64 = None
            for dtype in args.dtypes:
                case = PeerCase(hf, registry, s, dtype, w64, args.seed)
                if w64 is None:
                    w64 = case.net.W.astype(np.float64)
                cases[(s.name, dtype)] = case
                v64 = np.random.default_rng(2).standard_normal(case.model.n_params)
                check = check_equal(case, s, v64)
                results["checks"].append({"size": s.name, "dtype": dtype, **check})
                log(f"[check {s.name} {dtype}] loss {check['loss_rel']:.1e}, gradient {check['grad_max_rel']:.1e}, "
                    f"Gv {check['gv_max_rel']:.1e} (max relative differences)")
    for rep in range(args.repeats):
        for th in threads:
            with limit_threads(th):
                for s in sizes:
                    for dtype in args.dtypes:
                        case = cases[(s.name, dtype)]
                        times, counts = _time_once(case, s, hf_step)
                        for (who, op), seconds in times.items():
                            results["samples"].append({"threads": th, "size": s.name, "dtype": dtype, "who": who,
                                                       "op": op, "repeat": rep, "seconds": seconds})
                        results["counts"].append({"threads": th, "size": s.name, "dtype": dtype, "repeat": rep,
                                                  **counts})
                        log(f"[rep {rep + 1}/{args.repeats} t={th} {s.name} {dtype}] "
                            + ", ".join(f"{who}.{op} {fmt_ms(t)} ms" for (who, op), t in times.items()))
    env["loadavg_end"] = os.getloadavg() if hasattr(os, "getloadavg") else None
    return results


def _dist(name: str) -> str:
    import importlib.metadata

    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _time_once(case: PeerCase, s: Size, hf_step: Callable[..., Any]) -> tuple[dict[tuple[str, str], float],
                                                                              dict[str, Any]]:
    """One interleaved pass: the peer's operations, then ours, on the same weights and data."""
    net, model = case.net, case.model
    times: dict[tuple[str, str], float] = {}
    v_peer = ours_to_peer(net, np.random.default_rng(3).standard_normal(model.n_params), s, net.dtype)
    times[("peer", "cache_minibatch")], _ = timed(lambda: net.cache_minibatch(case.x, case.y))
    times[("peer", "calc_grad")], _ = timed(net.calc_grad)
    net.calc_G(v_peer, damping=0.0)  # untimed, like our warm Gv
    times[("peer", "calc_G")], _ = timed(lambda: net.calc_G(v_peer, damping=0.0))
    case.reset_optimizer()
    g0, f0 = case.calc_G.calls, case.forward.calls
    times[("peer", "compute_update")], step = timed(lambda: case.opt.compute_update(False))
    counts = {"peer_calc_G": case.calc_G.calls - g0, "peer_forward": case.forward.calls - f0,
              "peer_step_norm": float(np.linalg.norm(step))}

    v = model.from_numpy(np.random.default_rng(3).standard_normal(model.n_params))
    times[("ours", "forward")], _ = timed(lambda: model.loss(case.theta, case.batch))
    times[("ours", "gradient")], _ = timed(lambda: model.loss_and_grad(case.theta, case.batch))
    times[("ours", "bind")], curv = timed(lambda: model.curvature(case.theta, case.batch))
    curv.gv(v)
    times[("ours", "gv")], _ = timed(lambda: curv.gv(v))
    curv = None  # free the bound forward pass before the HF step binds its own
    times[("ours", "hf")], (new_state, info) = timed(
        lambda: hf_step(case.state, model, case.task, case.hf))
    counts.update(ours_gv=info.counters.gv_products, ours_forward=info.counters.forward_evals,
                  ours_cg=info.cg_iterations, ours_step_norm=info.delta_norm, ours_accepted=info.accepted)
    del new_state
    return times, counts


# --------------------------------------------------------------------------- report
PAIRS = (
    ("Gv", ("peer", "calc_G"), ("ours", "gv")),
    ("HF iteration, 20 CG steps", ("peer", "compute_update"), ("ours", "hf")),
    ("HF iteration incl. its forward pass", ("peer", "cache_minibatch+compute_update"), ("ours", "hf")),
    ("forward with derivatives vs bind", ("peer", "cache_minibatch"), ("ours", "bind")),
    ("forward + gradient", ("peer", "cache_minibatch+calc_grad"), ("ours", "gradient")),
)


def summarize(results: dict[str, Any]) -> dict[tuple, Stats]:
    """``(threads, size, dtype, who, op) -> Stats``, with per-repeat sums for the composite peer figures."""
    groups: dict[tuple, list[float]] = defaultdict(list)
    per_rep: dict[tuple, dict[str, float]] = defaultdict(dict)
    for r in results["samples"]:
        groups[(r["threads"], r["size"], r["dtype"], r["who"], r["op"])].append(r["seconds"])
        if r["who"] == "peer":
            per_rep[(r["threads"], r["size"], r["dtype"], r["repeat"])][r["op"]] = r["seconds"]
    for (th, size, dtype, _), ops in per_rep.items():
        for a, b in (("cache_minibatch", "compute_update"), ("cache_minibatch", "calc_grad")):
            if a in ops and b in ops:
                groups[(th, size, dtype, "peer", f"{a}+{b}")].append(ops[a] + ops[b])
    return {k: Stats.of(v) for k, v in groups.items()}


def render(results: dict[str, Any]) -> str:
    """The markdown report."""
    stats = summarize(results)
    opts = results["options"]
    env = results["env"]
    out = ["# hfcore vs hessianfree (PyPI) — same RNN, same weights, same process", ""]
    out += header_lines(env, opts["threads"])
    out.append(f"- peer: hessianfree {env['hessianfree']} (matplotlib {env['matplotlib']}), installed only in a "
               "separate benchmark venv; ours: the NumPy backend")
    out.append(f"- repeats: {opts['repeats']}, interleaved (repeat -> threads -> size -> dtype -> peer ops, our ops); "
               "**speed-up = peer time ÷ our time** from the same process (>1: hfcore is faster)")
    if opts["skipped_sizes"]:
        out.append(f"- skipped (no linear output, no twin in the peer): {', '.join(opts['skipped_sizes'])}")
    out.append("")
    out.append("The peer net is `RNNet([I, H, O], layers=[Linear, Tanh, Linear], loss_type=SquaredError())` with its "
               "own sparse init for the feed-forward blocks and `W_rec_params=dict(init_type='gaussian', "
               "coeff=1.1/sqrt(H))` (its default recurrent init overflows at T=100); the float32 net loads the "
               "float64 net's weights. hfcore's twin gets the same weights (batch-major -> time-major, each bias "
               "taken from the last row of its block; the recurrent block's bias is `b_init`) and the peer's "
               "objective: `normaliser='sequences'` (sum over time, mean over the batch), `l2=0`.")
    out.append("")
    out.append("## Equality (max relative difference = max|peer − ours| ÷ max|ours|)")
    out.append("")
    rows = []
    for c in results["checks"]:
        worst_g = max(c["grad_blocks"], key=c["grad_blocks"].get)
        worst_v = max(c["gv_blocks"], key=c["gv_blocks"].get)
        rows.append([c["size"], c["dtype"], f"{c['loss_ours']:.6g}", f"{c['loss_rel']:.1e}",
                     f"{c['grad_max_rel']:.1e}", f"{c['gv_max_rel']:.1e}",
                     f"{worst_g} {c['grad_blocks'][worst_g]:.1e} / {worst_v} {c['gv_blocks'][worst_v]:.1e}"])
    out.append(md_table(["size", "dtype", "loss", "loss rel. diff", "gradient max rel. diff", "Gv max rel. diff",
                         "worst block (gradient / Gv)"], rows))
    out.append("")
    th0 = opts["threads"][0]
    rows = []
    for size in opts["sizes"]:
        if size != "h100":
            continue
        for label, peer_key, our_key, floor in (("Gv >= 1.4x faster than `calc_G`", ("peer", "calc_G"), ("ours", "gv"),
                                                 1.4),
                                                ("HF iteration (20 CG) >= 1.5x faster than `compute_update`",
                                                 ("peer", "compute_update"), ("ours", "hf"), 1.5)):
            a = stats.get((th0, size, "float64", *peer_key))
            b = stats.get((th0, size, "float64", *our_key))
            if a and b:
                r = a.median / b.median
                rows.append([size, "float64", label, fmt_ratio(r), "met" if r >= floor else "**not met**"])
    if rows:
        out.append("## Targets (issue 9; 1 thread, float64, medians from the same run)")
        out.append("")
        out.append(md_table(["size", "dtype", "target", "measured speed-up", "verdict"], rows))
        out.append("")
    for th in opts["threads"]:
        mark = "" if th == opts["threads"][0] else " — LOAD-SENSITIVE"
        out.append(f"## Timing, {th} thread{'s' if th > 1 else ''}{mark}")
        out.append("")
        rows = []
        for size in opts["sizes"]:
            for dtype in opts["dtypes"]:
                for label, peer_key, our_key in PAIRS:
                    a = stats.get((th, size, dtype, *peer_key))
                    b = stats.get((th, size, dtype, *our_key))
                    if a is None or b is None:
                        continue
                    rows.append([size, dtype, label, f"`{peer_key[1]}`",
                                 f"{fmt_ms(a.min)} / {fmt_ms(a.median)} / {fmt_ms(a.max)}", f"`{our_key[1]}`",
                                 f"{fmt_ms(b.min)} / {fmt_ms(b.median)} / {fmt_ms(b.max)}",
                                 fmt_ratio(a.median / b.median), fmt_ratio(a.min / b.min)])
        out.append(md_table(["size", "dtype", "what", "peer op", "peer ms min / median / max", "our op",
                             "our ms min / median / max", "speed-up (median)", "speed-up (min)"], rows))
        out.append("")
        rows = []
        for size in opts["sizes"]:
            for dtype in opts["dtypes"]:
                a = stats.get((th, size, dtype, "ours", "forward"))
                if a:
                    rows.append([size, dtype, "ours", "forward (`loss`)",
                                 f"{fmt_ms(a.min)} / {fmt_ms(a.median)} / {fmt_ms(a.max)}"])
                a = stats.get((th, size, dtype, "peer", "calc_grad"))
                if a:
                    rows.append([size, dtype, "peer", "`calc_grad` (backward only, activations cached)",
                                 f"{fmt_ms(a.min)} / {fmt_ms(a.median)} / {fmt_ms(a.max)}"])
        out.append(md_table(["size", "dtype", "who", "op", "ms min / median / max"], rows))
        out.append("")
    out.append("## What one HF iteration contained (first repeat)")
    out.append("")
    rows = []
    seen = set()
    for c in results["counts"]:
        key = (c["threads"], c["size"], c["dtype"])
        if key in seen:
            continue
        seen.add(key)
        rows.append([c["threads"], c["size"], c["dtype"], c["peer_calc_G"], c["peer_forward"], c["ours_gv"],
                     c["ours_forward"], c["ours_cg"], f"{c['peer_step_norm']:.3g} / {c['ours_step_norm']:.3g}"])
    out.append(md_table(["threads", "size", "dtype", "peer calc_G calls", "peer forward calls", "our Gv products",
                         "our forward passes (besides the gradient's)", "our CG iterations",
                         "step norm peer / ours"], rows))
    out.append("")
    out.append("The peer's `compute_update` assumes `cache_minibatch` has already run the forward pass with "
               "derivatives; our `hf_step` includes its own gradient forward pass and binds the curvature with "
               "another. Hence the extra row 'incl. its forward pass' (per-repeat sum of the two peer calls). "
               "The peer spends a product on CG's initial residual even from a zero start and one more for its "
               "damping ratio; ours spends neither (zero start; rho from CG's own phi).")
    out.append("")
    out.append("Times are wall-clock (`time.perf_counter`) of one call each. No test asserts any of them.")
    out.append("")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    """Run the comparison, or print how to install the peer."""
    args = parse_args(argv)
    hf, why = import_peer()
    if hf is None:
        message = f"# hfcore vs hessianfree\n\n{why}\n\n{INSTALL_HINT}\n"
        print(message)
        if args.markdown:
            args.markdown.parent.mkdir(parents=True, exist_ok=True)
            args.markdown.write_text(message)
        return 0
    results = run(args, hf)
    report = render(results)
    emit(report, results, args.json, args.markdown, args.mlflow)
    return 0


if __name__ == "__main__":
    sys.exit(main())

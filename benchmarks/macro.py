"""Macro benchmark: time to success on a pathological problem, the number users feel.

For each problem, T and seed it runs ``hf-train experiment=ms2011_<problem> task.T=T seed=S``
(the paper's settings: 100 tanh units, 10,000 / 1,000 gradient / curvature
sequences, structural damping, IS11's success criterion on 10,000 fixed test
sequences, a 50,000-minibatch budget) plus the profile's overrides, one
subprocess per run, and records whether it succeeded, its HF iterations, Gv
products, minibatches (paper units of 1000 sequences), wall time and CPU time.
Medians are over the seeds that succeeded; failures are counted, never dropped.

With ``--peer`` it also trains PyPI ``hessianfree`` 0.4.0's RNN with its own HF
optimiser on the same problem: same initial weights (ours, copied into its
layout), fresh batches from our generator every iteration, and our success
criterion on our test set, checked after every iteration, within a CPU-time
budget (``--peer-budget-seconds``). Install it only in a benchmark environment
(see ``peer.py``).

Each run's CPU seconds are what to compare on a shared machine: waiting for a
core does not count. Wall time is reported beside it.

Examples::

    python benchmarks/macro.py --T 50 --seeds 0 1 2 --jobs 2 --out macro-t50
    python benchmarks/macro.py --T 50 --seeds 0 1 2 --peer --jobs 2 --out macro-t50   # + the peer
    python benchmarks/macro.py --T 100 --profile float32 --seeds 0 1 2 --out macro-t100-f32
    python benchmarks/macro.py --problem temporal_order multiplication --T 50 --profile precond --out ttS
    python benchmarks/macro.py --report-only --out macro-t50 --markdown benchmarks/results/DATE-macro.md
    python benchmarks/macro.py --report-only --out ttS --compare paper precond   # paired-seed table
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hfcore_reports.store import FINISHED, state_of_exit

sys.path.insert(0, str(Path(__file__).resolve().parent))

import sweeps  # noqa: E402 (benchmarks/sweeps.py)
from benchlib import (  # noqa: E402
    Size,
    add_mlflow_arg,
    emit,
    environment,
    header_lines,
    limit_threads,
    log,
    md_table,
)

PROGRAM = "macro.py"
PROFILES = {
    "paper": (),
    "float32": ("backend.dtype=float32",),
}
"""Overrides on top of ``experiment=ms2011_<problem>`` (the paper's settings); ``--override`` adds more
under a profile name of its own (``--profile-name``)."""

PROBLEMS = ("addition", "multiplication", "temporal_order", "temporal_order_3bit", "xor", "random_permutation",
            "memorization_5bit", "memorization_20bit")

FIELDS = ("solver", "problem", "T", "profile", "seed", "solved", "iterations", "gv_products", "minibatches",
          "wall_seconds", "cpu_seconds", "process_seconds", "test_error", "returncode", "overrides")


@dataclass(frozen=True)
class Cell:
    """One time-to-success run: ``solver`` is ``hfcore`` or ``peer``."""

    solver: str
    problem: str
    T: int
    profile: str
    seed: int

    @property
    def key(self) -> tuple[str, str, int, str, int]:
        return (self.solver, self.problem, self.T, self.profile, self.seed)

    @property
    def name(self) -> str:
        return f"{self.solver}-{self.problem}-T{self.T}-{self.profile}-s{self.seed}"


def experiment_overrides(T: int, seed: int, profile: str, problem: str = "addition") -> list[str]:
    """The hf-train overrides that define a run of ours (and the problem the peer gets)."""
    return [f"experiment=ms2011_{problem}", f"task.T={T}", f"seed={seed}", *PROFILES.get(profile, ())]


# ----------------------------------------------------------------------------------------------- our runs


def run_ours(cell: Cell, out: Path, extra: list[str]) -> dict[str, Any]:
    """One hf-train run to success or budget; resumes from its checkpoint when stopped part-way."""
    run_dir = out / "runs" / cell.name
    command = sweeps.hf_train_command(experiment_overrides(cell.T, cell.seed, cell.profile, cell.problem), run_dir,
                                      out.name, None, ("tracking=none", "blas_threads=1", *extra))
    return _row(cell, *sweeps.run_hf_train(command, run_dir), overrides=extra)


def _row(cell: Cell, rc: int, summary: dict[str, Any], seconds: float, overrides: list[str] = ()) -> dict[str, Any]:
    """A ``runs.csv`` row from a run's exit status, its ``summary.json`` and its process wall time."""
    return {"solver": cell.solver, "problem": cell.problem, "T": cell.T, "profile": cell.profile, "seed": cell.seed,
            "solved": summary.get("solved", False), "iterations": summary.get("iterations", 0),
            "gv_products": summary.get("gv_products", ""), "minibatches": summary.get("minibatches", math.nan),
            "wall_seconds": summary.get("wall_seconds", math.nan), "cpu_seconds": summary.get("cpu_seconds", math.nan),
            "process_seconds": round(seconds, 1), "test_error": summary.get("test_error", math.nan),
            "returncode": rc, "overrides": " ".join([*PROFILES.get(cell.profile, ()), *overrides])}


# ----------------------------------------------------------------------------------------------- the peer


def run_peer(cell: Cell, out: Path, budget: float, batch: int, cg_iters: int, extra: list[str]) -> dict[str, Any]:
    """The peer's run in a child process of this script (``--peer-child``), so runs can go side by side."""
    run_dir = out / "runs" / cell.name
    summary = run_dir / "summary.json"
    summary.unlink(missing_ok=True)  # a failed child must not be read as an earlier attempt's result
    command = [sys.executable, __file__, "--peer-child", str(summary), "--T", str(cell.T), "--seeds", str(cell.seed),
               "--profile", cell.profile, "--peer-budget-seconds", str(budget), "--peer-batch", str(batch),
               "--peer-cg-iters", str(cg_iters)] + (["--override", *extra] if extra else [])
    return _row(cell, *sweeps.run_hf_train(command, run_dir))


def peer_child(result: Path, T: int, seed: int, profile: str, budget: float, batch_size: int, cg_iters: int,
               extra: list[str]) -> None:
    """Train the peer until our success criterion holds or ``budget`` CPU seconds are spent; write ``result``.

    ``result`` is a ``summary.json`` with hf-train's keys, so both solvers' runs are read alike.

    ``extra`` are our runs' overrides; those of the problem (``task.*``, ``model.hidden``) apply here too.
    """
    import hessianfree as hf
    from hydra import compose, initialize_config_module
    from peer import ours_to_peer

    from hfcore.build import build_run
    from hfcore.cli import register_configs
    from hfcore.registry import load_plugins
    from hfcore.training import initial_state

    _, registry = load_plugins()
    register_configs(registry)
    with initialize_config_module("hfcore.conf", version_base="1.3"):
        cfg = compose("config", overrides=[*experiment_overrides(T, seed, profile), "tracking=none", *extra])
    parts = build_run(cfg, registry)
    model, task = parts.model, parts.task
    dtype = np.float32 if cfg.backend.dtype == "float32" else np.float64
    spec_in, spec_out = int(task.spec.n_in), int(task.spec.n_out)
    net = hf.RNNet([spec_in, cfg.model.hidden, spec_out],
                   layers=[hf.nl.Linear(), hf.nl.Tanh(), hf.nl.Linear()],
                   loss_type=hf.loss_funcs.SquaredError(), dtype=dtype, rng=np.random.RandomState(seed))
    state = initial_state(model, seed, parts.optimizer)
    size = Size("addition", cfg.model.hidden, batch_size, T, spec_in, spec_out, "linear")
    net.W = ours_to_peer(net, model.to_numpy(state.theta), size, dtype)
    optimizer = hf.opt.HessianFree(CG_iter=cg_iters, init_damping=parts.lambda0, plotting=False)
    net.optimizer = optimizer
    calls = {"G": 0}
    calc_G = net.calc_G

    def counted_G(*args: Any, **kwargs: Any) -> Any:
        calls["G"] += 1
        return calc_G(*args, **kwargs)

    net.calc_G = counted_G
    rng = state.data_generator()
    test = task.test_batch()
    test_x, _ = to_peer(test, dtype)
    iterations, sequences, error, solved = 0, 0, math.nan, False
    cpu0, wall0 = time.process_time(), time.perf_counter()
    while time.process_time() - cpu0 < budget and not solved:
        x, y = to_peer(task.sample(rng, batch_size), dtype)
        net.cache_minibatch(x, y)
        net.W += optimizer.compute_update()
        iterations += 1
        sequences += batch_size
        outputs = net.forward(test_x, net.W)[-1].transpose(1, 0, 2)  # back to time-major (T, B, out)
        error = float(task.error(outputs.astype(np.float64), test))
        solved = task.solved(error)
        print(f"iter {iterations}  test_err {error:.4g}  cg {calls['G']}  damping {optimizer.damping:.3g}  "
              f"cpu {time.process_time() - cpu0:.0f}s", flush=True)
    result.write_text(json.dumps({
        "solved": solved, "iterations": iterations, "gv_products": calls["G"],
        "minibatches": sequences / 1000.0, "wall_seconds": time.perf_counter() - wall0,
        "cpu_seconds": time.process_time() - cpu0, "test_error": error}))


def to_peer(batch: Any, dtype: Any) -> tuple[np.ndarray, np.ndarray]:
    """A time-major hfcore batch as the peer's batch-major arrays; NaN targets where there is no loss term.

    Sequences are right-padded, so the steps after a sequence's end cannot
    change its outputs before the end, and NaN targets there add nothing to the
    peer's loss: the two problems are the same.
    """
    x = np.ascontiguousarray(batch.inputs.transpose(1, 0, 2), dtype=dtype)
    y = np.where(batch.mask[..., None] > 0, batch.targets, np.nan).transpose(1, 0, 2)
    return x, np.ascontiguousarray(y, dtype=dtype)


# ----------------------------------------------------------------------------------------------- report


def summarize(rows: list[dict[str, str]]) -> list[list[Any]]:
    """One line per (solver, problem, T, profile): successes and the medians over successful seeds."""
    groups: dict[tuple[str, str, int, str], list[dict[str, str]]] = {}
    for r in rows:
        groups.setdefault((r["solver"], _problem(r), int(r["T"]), r["profile"]), []).append(r)
    lines = []
    for (solver, problem, T, profile), runs in sorted(groups.items(), key=lambda kv: (kv[0][1], kv[0][2], kv[0][0],
                                                                                      kv[0][3])):
        ok = [r for r in runs if r["solved"] == "True"]

        def med(col: str, ok: list[dict[str, str]] = ok) -> str:
            values = [sweeps.as_float(r[col]) for r in ok]
            values = [v for v in values if not math.isnan(v)]
            return f"{statistics.median(values):,.0f}" if values else "-"

        lines.append([solver, problem, T, profile, f"{len(ok)}/{len(runs)}", med("cpu_seconds"), med("wall_seconds"),
                      med("iterations"), med("gv_products"), med("minibatches")])
    return lines


def _cell(field: str, value: Any) -> str:
    """A runs-table entry, rounded for reading (runs.csv keeps the full values)."""
    number = sweeps.as_float(value)
    if field.endswith("_seconds") and not math.isnan(number):
        return f"{number:.1f}"
    if field == "test_error" and not math.isnan(number):
        return f"{number:.4g}"
    return str(value)


def render(rows: list[dict[str, str]], settings: dict[str, Any], env: dict[str, Any] | None) -> str:
    out = ["# Time to success (macro benchmark)", ""]
    if env:
        out += header_lines(env, [1]) + [""]
    out += [f"Settings: {json.dumps(settings)}", "",
            "Medians over the seeds that succeeded; CPU seconds are the run's own compute (iterations and test "
            "evaluations), wall seconds include waiting for a core on a shared machine.", "",
            md_table(["solver", "problem", "T", "profile", "solved", "median CPU s", "median wall s",
                      "median HF iterations", "median Gv products", "median minibatches"], summarize(rows)), "",
            "## Runs", "",
            md_table(list(FIELDS), [[_cell(f, r.get(f, "")) for f in FIELDS] for r in rows])]
    return "\n".join(out) + "\n"


def compare(rows: list[dict[str, str]], base: str, other: str) -> str:
    """Paired seeds: ``other``'s runs against ``base``'s, per problem, T and seed, with the ratio of medians.

    Ratios are ``other / base``; medians are over the seeds both solved (a failure is listed, never dropped).
    """
    runs = {(_problem(r), int(r["T"]), r["profile"], int(r["seed"])): r for r in rows if r["solver"] == "hfcore"}
    cells = sorted({(p, T, s) for (p, T, prof, s) in runs if prof == other and (p, T, base, s) in runs})
    if not cells:
        return f"No paired runs of profiles '{base}' and '{other}'.\n"

    def show(r: dict[str, str]) -> str:
        if r["solved"] != "True":
            # stopped by a signal (a rerun resumes it) or crashed: the same rule as hf-report's
            state = state_of_exit(int(r["returncode"]))
            verdict = "not solved" if state == FINISHED else state
            return f"**{verdict}** ({sweeps.as_float(r['cpu_seconds']):,.0f} CPU s, {r['iterations']} it.)"
        return (f"{sweeps.as_float(r['cpu_seconds']):,.0f} / {int(sweeps.as_float(r['gv_products'])):,} / "
                f"{sweeps.as_float(r['minibatches']):,.0f}")

    lines, per_group = [], {}
    for p, T, s in cells:
        b, o = runs[(p, T, base, s)], runs[(p, T, other, s)]
        both = b["solved"] == "True" and o["solved"] == "True"
        ratio = (f"{sweeps.as_float(o['cpu_seconds']) / sweeps.as_float(b['cpu_seconds']):.2f}" if both else "-")
        lines.append([p, T, s, show(b), show(o), ratio])
        per_group.setdefault((p, T), []).append((b, o))
    summary = []
    for (p, T), pairs in per_group.items():
        solved_b = sum(b["solved"] == "True" for b, _ in pairs)
        solved_o = sum(o["solved"] == "True" for _, o in pairs)
        both = [(b, o) for b, o in pairs if b["solved"] == "True" and o["solved"] == "True"]

        def med(col: str, i: int, both: list = both) -> float:
            return statistics.median(sweeps.as_float(pair[i][col]) for pair in both) if both else math.nan

        cells_ = [p, T, f"{solved_b}/{len(pairs)}", f"{solved_o}/{len(pairs)}"]
        for col in ("cpu_seconds", "gv_products", "minibatches"):
            mb, mo = med(col, 0), med(col, 1)
            cells_.append(f"{mb:,.0f} → {mo:,.0f} ({mo / mb:.2f}x)" if both else "-")
        summary.append(cells_)
    return "\n".join([
        f"## `{other}` against `{base}` (paired seeds)", "",
        md_table(["problem", "T", f"solved, {base}", f"solved, {other}", "median CPU s", "median Gv products",
                  "median minibatches"], summary), "",
        "Per seed: CPU s / Gv products / minibatches.", "",
        md_table(["problem", "T", "seed", base, other, "CPU ratio"], lines)]) + "\n"


# ----------------------------------------------------------------------------------------------- entry point


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=PROGRAM, description=__doc__.splitlines()[0])
    parser.add_argument("--T", nargs="+", type=int, default=[50])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--problem", nargs="+", choices=PROBLEMS, default=["addition"])
    parser.add_argument("--profile", default="paper",
                        help=f"a name for the runs' settings: one of {sorted(PROFILES)} (their overrides), or any "
                             "name for the settings --override gives (e.g. --profile precond --override "
                             "hf.preconditioner=fisher_diagonal)")
    parser.add_argument("--jobs", type=int, default=1, help="runs side by side (one BLAS thread each)")
    parser.add_argument("--out", default="macro", help="output folder; a rerun skips the runs recorded there")
    parser.add_argument("--override", nargs="+", default=[], metavar="KEY=VALUE",
                        help="extra hf-train overrides for our runs, e.g. solver.max_iters=100")
    parser.add_argument("--peer", action="store_true", help="also time hessianfree 0.4.0 (benchmark env only)")
    parser.add_argument("--no-ours", action="store_true", help="only the peer")
    parser.add_argument("--peer-budget-seconds", type=float, default=3600.0,
                        help="CPU-second budget of each peer run (default 3600)")
    parser.add_argument("--peer-batch", type=int, default=1000,
                        help="sequences per peer iteration, for its gradient and its curvature (default 1000)")
    parser.add_argument("--peer-cg-iters", type=int, default=250, help="the peer's CG_iter (default 250, ours)")
    parser.add_argument("--report-only", action="store_true")
    parser.add_argument("--compare", nargs=2, metavar=("BASE", "OTHER"),
                        help="also report profile OTHER against BASE on paired seeds (with --report-only: only that)")
    parser.add_argument("--markdown", type=Path, help="also write the report here")
    add_mlflow_arg(parser)
    parser.add_argument("--peer-child", type=Path, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.peer_child:
        with limit_threads(1):
            peer_child(args.peer_child, args.T[0], args.seeds[0], args.profile, args.peer_budget_seconds,
                       args.peer_batch, args.peer_cg_iters, args.override)
        return 0
    for name, value in (("--jobs", args.jobs), ("--peer-batch", args.peer_batch), ("--peer-cg-iters",
                                                                                   args.peer_cg_iters)):
        if value < 1:
            sweeps.fail(PROGRAM, f"{name} must be >= 1, got {value}")
    if not args.peer_budget_seconds > 0:
        sweeps.fail(PROGRAM, f"--peer-budget-seconds must be > 0, got {args.peer_budget_seconds:g}")
    if args.peer and args.problem != ["addition"]:
        sweeps.fail(PROGRAM, "--peer times the addition problem only (--problem addition)")
    if args.peer:
        try:
            import hessianfree  # noqa: F401
        except ImportError as exc:
            sweeps.fail(PROGRAM, f"--peer needs hessianfree==0.4.0 and matplotlib in this environment ({exc}); "
                                 "see benchmarks/peer.py")
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    results = out / "runs.csv"
    settings = {"profile": args.profile, "overrides": args.override, "peer_budget_cpu_seconds":
                args.peer_budget_seconds, "peer_batch": args.peer_batch, "peer_cg_iters": args.peer_cg_iters}
    if not args.report_only:
        solvers = ([] if args.no_ours else ["hfcore"]) + (["peer"] if args.peer else [])
        cells = [Cell(s, problem, T, args.profile, seed) for problem in args.problem for T in args.T
                 for seed in args.seeds for s in solvers]
        todo, done = sweeps.still_to_do(cells, sweeps.read_done(results, _key), key=lambda c: c.key)
        log(f"{len(todo)} runs to do, {len(done)} already recorded in {results}")

        def run_one(cell: Cell) -> dict[str, Any]:
            if cell.solver == "peer":
                return run_peer(cell, out, args.peer_budget_seconds, args.peer_batch, args.peer_cg_iters,
                                args.override)
            return run_ours(cell, out, args.override)

        def record(i: int, cell: Cell, row: dict[str, Any]) -> None:
            sweeps.append_row(results, row, FIELDS)
            verdict = "solved" if row["solved"] else f"not solved (exit {row['returncode']})"
            log(f"[{i}/{len(todo)}] {cell.name}: {verdict}, {row['iterations']} iterations, "
                f"{sweeps.as_float(row['cpu_seconds']):.0f} CPU s, {sweeps.as_float(row['wall_seconds']):.0f} wall s")

        sweeps.run_all(todo, args.jobs, run_one, record)
    rows = list(sweeps.read_done(results, _key).values())
    if args.compare:
        table = compare(rows, *args.compare)
        print(table)
        if args.report_only:
            if args.markdown:
                args.markdown.write_text(table)
            return 0
    env = None if args.report_only else environment(with_torch=False)
    report = render(rows, settings, env)
    (out / "macro.md").write_text(report)
    emit(report, {"environment": env, "settings": settings, "runs": rows}, None, args.markdown, args.mlflow,
         name="macro")
    return 0


def _problem(row: dict[str, str]) -> str:
    """The row's problem; tables written before the column existed timed addition only."""
    return row.get("problem") or "addition"


def _key(row: dict[str, str]) -> tuple[str, str, int, str, int]:
    return (row["solver"], _problem(row), int(row["T"]), row["profile"], int(row["seed"]))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""``hf-table1``: the M&S 2011 Table 1 comparison on the natural tasks, reproduced offline.

For each natural task (``bouncing_balls``, ``music``, ``speech``) it trains the
paper's 300-unit tanh RNN with HF and an LSTM of about the same size (30
memory blocks x 10 cells) with SGD + momentum + clipping, every run under the
same time budget (``hf.budget_seconds``), over seeds, one ``hf-train``
subprocess per run. Each run's final test metrics go to ``<out>/runs.csv``; a
rerun skips the runs recorded there, so an interrupted sweep resumes. At the
end it writes ``table1.md`` (our two methods side by side, whether HF won, the
wall time, the paper's numbers for reference) and ``table1.csv``, copies one
predictions picture per task and method to ``<out>/predictions/``, and logs
them to an MLflow parent run whose children are the runs.

The budget counts wall-clock seconds by default, as the paper compares equal
training time. ``--budget-clock cpu`` (``hf.budget_clock=cpu``) counts the CPU
seconds of each run's process instead: on a machine shared with other jobs, or
with more jobs than cores, every run then still gets the same compute (the
CPU clock does not see GPU work, so keep ``wall`` for GPU runs).

Examples::

    hf-table1 --profile quick --jobs 2
    hf-table1 --profile full --jobs 8 --out table1-full
    hf-table1 --tasks bouncing_balls --seeds 0 1 --budget-seconds 300
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import shutil
import statistics
import sys
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from hfcore.experiments import sweeps

PROGRAM = "hf-table1"
TASKS = ("bouncing_balls", "music", "speech")

METHODS = {
    # The paper's RNN: 300 tanh units, trained with HF (structural damping, the hf group's settings).
    "hf": ("model=rnn_tanh", "model.hidden=300"),
    # The paper's LSTM: 30 memory blocks x 10 cells (slightly more parameters), first-order training.
    "lstm": ("model=lstm", "model.hidden=300", "optimizer=sgd"),
}
LABELS = {"hf": "RNN + HF", "lstm": "LSTM + SGD"}
CLOCK_WORDS = {"cpu": "CPU seconds of the run's process", "wall": "wall-clock seconds"}

UNLIMITED = ("hf.max_iterations=null", "hf.budget_minibatches=1e18")
"""Only the time budget ends a run (the natural tasks have no success criterion either)."""

FIELDS = ("task", "method", "seed", "budget_seconds", "budget_clock", "iterations", "minibatches", "wall_seconds",
          "cpu_seconds", "process_seconds", "test_error", "test_loss", "log_likelihood_per_sequence",
          "log_likelihood_per_step", "n_params", "run_id", "returncode")


@dataclass(frozen=True)
class Metric:
    """One row of the table: a ``runs.csv`` column, how to read it, and the paper's value."""

    column: str
    label: str
    higher_is_better: bool
    paper: tuple[float, float] | None = None  # (RNN + HF, LSTM) in M&S 2011 Table 1


METRICS = {
    "bouncing_balls": (Metric("test_error", "squared error per frame", False, (22, 35)),),
    # The paper reports a log-likelihood per sequence; ours is per test window of T=200 steps.
    "music": (Metric("log_likelihood_per_sequence", "log-likelihood per sequence (window)", True, (-569, -683)),
              Metric("log_likelihood_per_step", "log-likelihood per time step", True)),
    "speech": (Metric("test_error", "squared error per frame", False, (22, 41)),),
}


@dataclass(frozen=True)
class Profile:
    """A Table 1 sweep: tasks, seeds, the budget of every run and each method's overrides."""

    tasks: tuple[str, ...]
    seeds: tuple[int, ...]
    budget_seconds: float
    description: str
    overrides: tuple[str, ...] = ()
    method_overrides: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    task_method_overrides: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # key "<task>/<method>"

    def overrides_for(self, task: str, method: str) -> tuple[str, ...]:
        """Every override of the profile that applies to runs of ``method`` on ``task``."""
        return (*self.overrides, *self.method_overrides.get(method, ()),
                *self.task_method_overrides.get(f"{task}/{method}", ()))


# Estimates from per-window timings on a shared 2-core machine (one BLAS thread per run); see
# docs/natural-tasks.md. Both profiles use the full data sets and the tasks' window lengths (30 / 200 / 100).
PROFILES = {
    "quick": Profile(
        tasks=TASKS,
        seeds=(0,),
        budget_seconds=900.0,
        description=("quick: HF batches cut to 1,000 gradient / 200 curvature windows (music 500 / 100) and CG "
                     "to 50 iterations; test sets capped at 500 windows; the LSTM evaluated every 100 steps and "
                     "logged every 10"),
        overrides=("task.test_size=500",),
        method_overrides={"hf": ("hf.gradient_batch=1000", "hf.curvature_batch=200", "solver.max_iters=50"),
                          "lstm": ("hf.eval_every=100", "tracking.log_every=10")},
        task_method_overrides={"music/hf": ("hf.gradient_batch=500", "hf.curvature_batch=100")},
    ),
    "full": Profile(
        tasks=TASKS,
        seeds=(0, 1, 2),
        budget_seconds=14400.0,
        description=("full: HF with the ms2011 batches (10,000 / 1,000 windows, CG up to 250 iterations; music "
                     "2,000 / 500, as its training split has only about 280 pieces); whole test sets; the LSTM "
                     "evaluated every 500 steps and logged every 50"),
        method_overrides={"lstm": ("hf.eval_every=500", "tracking.log_every=50")},
        task_method_overrides={"music/hf": ("hf.gradient_batch=2000", "hf.curvature_batch=500")},
    ),
}


@dataclass(frozen=True)
class Cell:
    """One run of the sweep."""

    task: str
    method: str  # hf | lstm
    seed: int
    overrides: tuple[str, ...] = field(default=(), compare=False)

    @property
    def key(self) -> tuple[str, str, int]:
        return (self.task, self.method, self.seed)

    @property
    def name(self) -> str:
        return f"{self.task}-{self.method}-s{self.seed}"


def cells(profile: Profile, extra: Mapping[str, tuple[str, ...]] | None = None) -> list[Cell]:
    """Every run of ``profile``; a seed's two methods are adjacent, so ``--jobs 2`` runs them side by side.

    ``extra`` maps a method to overrides appended to its runs (tracking, ``--override`` and the like).
    """
    extra = extra or {}
    return [Cell(task, method, seed, (*profile.overrides_for(task, method), *extra.get(method, ())))
            for task in profile.tasks for seed in profile.seeds for method in METHODS]


@dataclass(frozen=True)
class Budget:
    """Every run's time budget: ``seconds`` on ``clock`` (``wall`` or ``cpu``; :class:`hfcore.training.StopRule`)."""

    seconds: float
    clock: str = "wall"

    @property
    def overrides(self) -> tuple[str, ...]:
        return (f"hf.budget_seconds={self.seconds}", f"hf.budget_clock={self.clock}")


def command(cell: Cell, out: Path, parent_run_id: str | None, budget: Budget, more: Iterable[str] = ()) -> list[str]:
    """The hf-train command line of one cell (``more``: overrides after all others)."""
    identity = [f"task={cell.task}", *METHODS[cell.method], f"seed={cell.seed}", *budget.overrides, *UNLIMITED]
    return sweeps.hf_train_command(identity, out / "runs" / cell.name, out.name, parent_run_id,
                                   (*cell.overrides, *more))


def read_done(path: Path) -> dict[tuple[str, str, int], dict]:
    """Rows already recorded (the resume set)."""
    return sweeps.read_done(path, lambda r: (r["task"], r["method"], int(r["seed"])))


def run_cell(cell: Cell, out: Path, parent_run_id: str | None, budget: Budget) -> dict:
    """Run one cell to completion and return its result row."""
    rc, summary, seconds = sweeps.run_hf_train(command(cell, out, parent_run_id, budget), out / "runs" / cell.name)
    test = summary.get("test_metrics", {})
    return {
        "task": cell.task, "method": cell.method, "seed": cell.seed, "budget_seconds": budget.seconds,
        "budget_clock": budget.clock,
        "iterations": summary.get("iterations", 0), "minibatches": summary.get("minibatches", math.nan),
        "wall_seconds": summary.get("wall_seconds", math.nan), "cpu_seconds": summary.get("cpu_seconds", math.nan),
        "process_seconds": round(seconds, 1),
        "test_error": test.get("test.error", summary.get("test_error", math.nan)),
        "test_loss": test.get("test.loss", math.nan),
        "log_likelihood_per_sequence": test.get("test.log_likelihood_per_sequence", ""),
        "log_likelihood_per_step": test.get("test.log_likelihood_per_step", ""),
        "n_params": summary.get("n_params", ""), "run_id": summary.get("run_id", ""), "returncode": rc,
    }


def prepare(todo: list[Cell], out: Path, budget: Budget) -> None:
    """Before any run: build each task's data once and check each (task, method)'s settings.

    One ``hf.max_iterations=1`` hf-train per pair (hf-train refuses 0), one at a time, so
    parallel runs never build the same data set together, and a bad override stops the
    sweep with hf-train's one-line error before any budget is spent.
    """
    seen: set[tuple[str, str]] = set()
    for cell in todo:
        if (cell.task, cell.method) in seen:
            continue
        seen.add((cell.task, cell.method))
        run_dir = out / "prepare" / f"{cell.task}-{cell.method}"
        shutil.rmtree(run_dir, ignore_errors=True)  # its old checkpoint must not be resumed with new settings
        print(f"{PROGRAM}: preparing {cell.task} ({LABELS[cell.method]})", flush=True)
        rc, _, _ = sweeps.run_hf_train(command(cell, out, None, budget, ("hf.max_iterations=1", "tracking=none")),
                                       run_dir)
        if rc != 0:
            reason = error_line((run_dir / "stderr.log").read_text()) or f"hf-train exited with {rc}"
            sweeps.fail(PROGRAM, f"{cell.task} with {LABELS[cell.method]}: {reason} (log: {run_dir / 'stderr.log'})")


def error_line(stderr: str) -> str:
    """The line of a failed hf-train's stderr that says why: its own one-line error, else Hydra's first line."""
    lines = [x.strip() for x in stderr.splitlines() if x.strip()]
    ours = [x for x in lines if x.startswith("hf-train: error:")]
    if ours:
        return ours[-1].removeprefix("hf-train: error:").strip()
    return next((x for x in lines if "warning" not in x.lower()), "")


# ------------------------------------------------------------------ reports


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else math.nan


def _stats(values: list[float]) -> tuple[float, float]:
    return _mean(values), statistics.stdev(values) if len(values) > 1 else math.nan


def aggregate(rows: Iterable[dict]) -> list[dict]:
    """One entry per task and metric: both methods' mean and spread over seeds, wins, wall time, sizes."""
    finished = [r for r in rows if str(r["returncode"]) == "0"]
    out = []
    for task in [t for t in TASKS if any(r["task"] == t for r in finished)]:
        by_method = {m: {int(r["seed"]): r for r in finished if r["task"] == task and r["method"] == m}
                     for m in METHODS}
        for metric in METRICS[task]:
            values = {m: {s: sweeps.as_float(r[metric.column]) for s, r in runs.items()}
                      for m, runs in by_method.items()}
            paired = sorted(set(values["hf"]) & set(values["lstm"]))
            sign = 1.0 if metric.higher_is_better else -1.0
            entry = {"task": task, "metric": metric.label, "higher_is_better": metric.higher_is_better,
                     "paired_seeds": len(paired),
                     "hf_wins": sum(sign * (values["hf"][s] - values["lstm"][s]) > 0 for s in paired),
                     "paper_hf": metric.paper[0] if metric.paper else math.nan,
                     "paper_lstm": metric.paper[1] if metric.paper else math.nan}
            for m, runs in by_method.items():
                entry[f"{m}_mean"], entry[f"{m}_sd"] = _stats(list(values[m].values()))
                entry[f"{m}_runs"] = len(runs)
                entry[f"{m}_wall_seconds"] = _mean([sweeps.as_float(r["wall_seconds"]) for r in runs.values()])
                entry[f"{m}_cpu_seconds"] = _mean([sweeps.as_float(r.get("cpu_seconds")) for r in runs.values()])
                entry[f"{m}_iterations"] = _mean([sweeps.as_float(r["iterations"]) for r in runs.values()])
                entry[f"{m}_params"] = next((r["n_params"] for r in runs.values() if r["n_params"]), "")
            out.append(entry)
    return out


def _value(mean: float, sd: float, runs: int) -> str:
    if not runs:
        return "-"
    if math.isnan(mean):
        return "nan"  # a run that diverged
    return f"{mean:.4g}" + (f" ± {sd:.2g}" if not math.isnan(sd) else "")


def _whole(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.0f}"


def _verdict(entry: dict) -> str:
    hf, lstm = entry["hf_mean"], entry["lstm_mean"]
    if math.isnan(hf) or math.isnan(lstm):
        return "-"
    return "yes" if (hf > lstm) == entry["higher_is_better"] and hf != lstm else "no"


def _hours(seconds: float) -> str:
    return "-" if math.isnan(seconds) else f"{seconds / 3600:.2f}"


def _count(value: str | int) -> str:
    return f"{int(value):,}" if str(value).strip() else "-"


def _paper(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:g}"


def markdown(summary: list[dict], settings: dict | None = None, pictures: Iterable[str] = (),
             total: tuple[int, float, float] | None = None) -> str:
    """``table1.md``: the table, the budget and profile, how to read it, and links to the pictures.

    ``total`` is (finished runs, their training CPU seconds summed, their training wall seconds summed).
    """
    lines = ["# M&S 2011 Table 1, reproduced offline", ""]
    if settings:
        clock = settings.get("budget_clock", "wall")
        lines += [f"Profile {settings['description']}. Every run: `hf.budget_seconds={settings['budget_seconds']:g}` "
                  f"`hf.budget_clock={clock}` ({CLOCK_WORDS[clock]} in iterations and test evaluations).", ""]
    lines += ["| task | test metric | RNN + HF (ours) | LSTM + SGD (ours) | HF better? | HF better, by seed "
              "| CPU per run (s), HF / LSTM | wall per run (s), HF / LSTM | iterations per run, HF / LSTM "
              "| parameters, RNN / LSTM "
              "| paper: RNN + HF | paper: LSTM |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for s in summary:
        better = "higher" if s["higher_is_better"] else "lower"
        lines.append(
            f"| {s['task']} | {s['metric']} ({better} is better) | {_value(s['hf_mean'], s['hf_sd'], s['hf_runs'])} "
            f"| {_value(s['lstm_mean'], s['lstm_sd'], s['lstm_runs'])} | {_verdict(s)} "
            f"| {s['hf_wins']}/{s['paired_seeds']} "
            f"| {_whole(s['hf_cpu_seconds'])} / {_whole(s['lstm_cpu_seconds'])} "
            f"| {_whole(s['hf_wall_seconds'])} / {_whole(s['lstm_wall_seconds'])} "
            f"| {_whole(s['hf_iterations'])} / {_whole(s['lstm_iterations'])} "
            f"| {_count(s['hf_params'])} / {_count(s['lstm_params'])} "
            f"| {_paper(s['paper_hf'])} | {_paper(s['paper_lstm'])} |")
    lines += [
        "",
        "Values are means ± standard deviation over seeds (finished runs only); \"HF better, by seed\" counts the "
        "seeds on which the RNN + HF run beat the LSTM + SGD run of the same seed. CPU and wall time are each "
        "run's `time.cpu` and `time.elapsed`: iterations and test evaluations, without start-up and logging; "
        "wall time above CPU time is time the run waited for a core."
        + (f" In all: {total[0]} runs, {_hours(total[1])} CPU-hours and {_hours(total[2])} hours of wall time in "
           "training." if total else ""),
        "",
        "**Our data sets are offline stand-ins for the paper's**: bouncing balls from our own simulator, Bach "
        "chorales from music21's corpus on an eighth-note grid instead of the paper's MIDI collection, speech "
        "synthesised with espeak-ng instead of TIMIT (docs/natural-tasks.md). The paper's normalisation of Table 1 "
        "is not known either. So the absolute numbers are not comparable with the paper's, which are shown for "
        "reference only; compare our two columns with each other.",
    ]
    pictures = list(pictures)
    if pictures:
        lines += ["", "Predictions of the final parameters on the first test window (lowest seed): "
                  + ", ".join(f"[{Path(p).stem}]({p})" for p in pictures) + "."]
    return "\n".join(lines)


def collect_pictures(out: Path, rows: Iterable[dict]) -> list[Path]:
    """Copy each (task, method)'s picture of its lowest seed to ``<out>/predictions/<task>-<method>.png``."""
    found: dict[tuple[str, str], Path] = {}
    for r in sorted(rows, key=lambda r: int(r["seed"])):
        source = out / "runs" / Cell(r["task"], r["method"], int(r["seed"])).name / "predictions.png"
        if source.exists():
            found.setdefault((r["task"], r["method"]), source)
    copies = []
    for (task, method), source in sorted(found.items()):
        target = out / "predictions" / f"{task}-{method}.png"
        target.parent.mkdir(exist_ok=True)
        shutil.copyfile(source, target)
        copies.append(target)
    return copies


def write_reports(out: Path) -> list[Path]:
    """table1.md, table1.csv and the pictures from ``out/runs.csv`` (the table is printed too)."""
    rows = list(read_done(out / "runs.csv").values())
    if not rows:
        print(f"{PROGRAM}: no runs recorded in {out / 'runs.csv'}")
        return []
    summary = aggregate(rows)
    settings_path = out / "settings.json"
    settings = json.loads(settings_path.read_text()) if settings_path.exists() else None
    finished = [r for r in rows if r["returncode"] == "0"]
    pictures = collect_pictures(out, finished)
    total = (len(finished), sum(sweeps.as_float(r.get("cpu_seconds")) for r in finished),
             sum(sweeps.as_float(r["wall_seconds"]) for r in finished))
    text = markdown(summary, settings, [p.relative_to(out).as_posix() for p in pictures], total)
    (out / "table1.md").write_text(text + "\n")
    if summary:
        with (out / "table1.csv").open("w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(summary[0]))
            writer.writeheader()
            writer.writerows(summary)
    print(text)
    return [out / "runs.csv", out / "table1.md", out / "table1.csv", settings_path, *pictures]


# ------------------------------------------------------------------ entry point


def warn_shared_cores(jobs: int) -> None:
    """Warn when wall-clock budgets would buy unequal compute: more jobs than cores, or cores already busy."""
    cores = os.cpu_count() or 1
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    if jobs > cores:
        why = f"--jobs {jobs} on {cores} cores: runs share cores"
    elif load + jobs > cores + 0.5:
        why = f"the machine is busy (load average {load:.1f} on {cores} cores): runs will wait for cores"
    else:
        return
    print(f"{PROGRAM}: warning: {why}, so equal wall-clock budgets buy unequal compute; "
          "--budget-clock cpu gives every run the same CPU time", file=sys.stderr)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    parser = argparse.ArgumentParser(prog=PROGRAM, description=__doc__.splitlines()[0])
    sweeps.add_common_arguments(parser, PROFILES, experiment="hfcore-table1")
    parser.add_argument("--tasks", nargs="+", choices=TASKS)
    parser.add_argument("--budget-seconds", type=float, help="time budget of every run (default: profile's)")
    parser.add_argument("--budget-clock", choices=sorted(CLOCK_WORDS), default="wall",
                        help="what the budget counts: wall (the default) or cpu (each run's CPU seconds, "
                             "for shared machines)")
    parser.add_argument("--hf-override", nargs="+", default=[], metavar="KEY=VALUE",
                        help="extra hf-train overrides for the RNN + HF runs only, e.g. solver.max_iters=100")
    parser.add_argument("--lstm-override", nargs="+", default=[], metavar="KEY=VALUE",
                        help="extra hf-train overrides for the LSTM + SGD runs only, e.g. optimizer.learning_rate=0.05")
    args = parser.parse_args(argv)

    profile = PROFILES[args.profile]
    profile = replace(profile, **{k: tuple(v) for k, v in (("tasks", args.tasks), ("seeds", args.seeds)) if v})
    if args.budget_seconds is not None:
        if not args.budget_seconds > 0:
            sweeps.fail(PROGRAM, f"--budget-seconds must be > 0, got {args.budget_seconds:g}")
        profile = replace(profile, budget_seconds=args.budget_seconds)
    out = sweeps.output_folder(args, PROGRAM)
    results = out / "runs.csv"
    if args.report_only:
        write_reports(out)
        return
    budget = Budget(profile.budget_seconds, args.budget_clock)
    user = {"hf": (*args.override, *args.hf_override), "lstm": (*args.override, *args.lstm_override)}
    todo, done = sweeps.still_to_do(cells(profile, user), read_done(results), key=lambda c: c.key)
    other = sorted({(float(r["budget_seconds"]), r.get("budget_clock") or "wall") for r in done.values()}
                   - {(budget.seconds, budget.clock)})
    if other:
        held = ", ".join(f"{b:g} s ({clock})" for b, clock in other)
        sweeps.fail(PROGRAM, f"{results} holds runs with a budget of {held}, not {budget.seconds:g} s "
                             f"({budget.clock}); use the same budget to resume, or another --out")
    if budget.clock == "wall":
        warn_shared_cores(args.jobs)
    settings = {"profile": args.profile, "description": profile.description, "budget_seconds": budget.seconds,
                "budget_clock": budget.clock,
                "extra_overrides": args.override, "hf_overrides": args.hf_override,
                "lstm_overrides": args.lstm_override}
    (out / "settings.json").write_text(json.dumps(settings, indent=1) + "\n")
    prepare(todo, out, budget)  # before the parent run exists: a bad override leaves nothing behind
    uri, parent, tracking = sweeps.open_tracking(args, "table1_sweep", out.name, {**asdict(profile), **settings})
    print(f"{PROGRAM}: {len(todo)} runs to do, {len(done)} already recorded in {results}", flush=True)
    todo = [replace(c, overrides=(*profile.overrides_for(c.task, c.method), *tracking, *user[c.method]))
            for c in todo]

    def record(i: int, cell: Cell, row: dict) -> None:
        sweeps.append_row(results, row, FIELDS)
        verdict = sweeps.exit_outcome(row["returncode"]) or f"test error {row['test_error']:.4g}"
        print(f"[{i}/{len(todo)}] {cell.name}: {verdict}, {row['iterations']} iterations, "
              f"{row['wall_seconds']:.0f} s", flush=True)

    with sweeps.parent_session(out, uri, parent, lambda: write_reports(out)):
        sweeps.run_all(todo, args.jobs, lambda c: run_cell(c, out, parent, budget), record)


if __name__ == "__main__":
    main(sys.argv[1:])

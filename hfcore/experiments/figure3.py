"""``hf-figure3``: the M&S 2011 Figure 3 sweep over the pathological problems.

Runs problems x T x {structural, tikhonov} x seeds with ``hf-train`` (plus the
first-order baseline), one subprocess per run, and records for each run the
minibatches processed until success (paper units: 1000 sequences; a run past
50,000 is a failure) and its wall time. Results go to ``<out>/runs.csv``; a
rerun skips every run already recorded there, so an interrupted sweep resumes,
and a run that was stopped part-way (SIGTERM, a time limit) goes on from its
last checkpoint.
At the end it writes the Figure-3-style plot, a CSV summary and a Markdown
table, and logs them to an MLflow parent run whose children are the runs.

Examples::

    hf-figure3 --profile quick --out figure3-quick
    hf-figure3 --profile full --jobs 8 --out figure3-full
    hf-figure3 --profile quick --problems addition --T 30 --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import math
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

from hfcore.experiments import sweeps
from hfcore_reports.figure3 import REPORT_FILES, aggregate, markdown, plot, write_summary  # noqa: F401 (API)

PROBLEMS = ("addition", "multiplication", "xor", "temporal_order", "temporal_order_3bit", "random_permutation",
            "memorization_5bit", "memorization_20bit")
FIELDS = ("problem", "T", "method", "seed", "solved", "minibatches", "iterations", "wall_seconds", "test_error",
          "run_id", "returncode")


@dataclass(frozen=True)
class Profile:
    """A sweep: which cells to run and with which extra overrides."""

    problems: tuple[str, ...]
    lengths: tuple[int, ...]
    seeds: tuple[int, ...]
    methods: tuple[str, ...] = ("structural", "tikhonov")
    baseline_seeds: tuple[int, ...] = (0,)
    overrides: tuple[str, ...] = ()
    baseline_overrides: tuple[str, ...] = ()
    budget_minibatches: float = 50000.0


# The quick profile trades the release's batch sizes and budget for time (see docs/results.md); it is sized
# for about an hour on 2 quiet cores. The full profile uses the ms2011 presets unchanged.
PROFILES = {
    "quick": Profile(
        problems=("addition", "temporal_order"),
        lengths=(30, 50),
        seeds=(0, 1),
        overrides=("hf.gradient_batch=2000", "hf.curvature_batch=500", "task.test_size=2000"),
        baseline_overrides=("optimizer.batch_size=100", "hf.eval_every=200",
                            "task.test_size=2000", "tracking.log_every=20"),
        budget_minibatches=2000.0,
    ),
    "full": Profile(
        problems=PROBLEMS,
        lengths=(30, 50, 100, 200),
        seeds=(0, 1, 2, 3, 4),
        baseline_seeds=(0, 1),
        # An SGD step is short: its metrics every 50 steps keep the store small (about 10,000 points per metric).
        baseline_overrides=("optimizer.batch_size=100", "hf.eval_every=500",
                            "tracking.log_every=50"),
    ),
}


@dataclass(frozen=True)
class Cell:
    """One run of the sweep."""

    problem: str
    T: int
    method: str  # structural | tikhonov | sgd
    seed: int
    overrides: tuple[str, ...] = field(default=(), compare=False)

    @property
    def key(self) -> tuple[str, int, str, int]:
        return (self.problem, self.T, self.method, self.seed)

    @property
    def name(self) -> str:
        return f"{self.problem}-T{self.T}-{self.method}-s{self.seed}"


def cells(profile: Profile) -> list[Cell]:
    """Every run of ``profile``: HF with both dampings, then the baseline."""
    out = []
    for problem in profile.problems:
        for T in profile.lengths:
            for method in profile.methods:
                out += [Cell(problem, T, method, s, profile.overrides) for s in profile.seeds]
            out += [Cell(problem, T, "sgd", s, profile.baseline_overrides) for s in profile.baseline_seeds]
    return out


def command(cell: Cell, out: Path, parent_run_id: str | None, budget: float) -> list[str]:
    """The hf-train command line of one cell."""
    method = "optimizer=sgd" if cell.method == "sgd" else f"damping={cell.method}"
    overrides = [f"experiment=ms2011_{cell.problem}", f"task.T={cell.T}", f"seed={cell.seed}",
                 f"hf.budget_minibatches={budget}", method]
    return sweeps.hf_train_command(overrides, out / "runs" / cell.name, out.name, parent_run_id, cell.overrides)


def read_done(path: Path) -> dict[tuple[str, int, str, int], dict]:
    """Rows already recorded (the resume set)."""
    return sweeps.read_done(path, lambda r: (r["problem"], int(r["T"]), r["method"], int(r["seed"])))


def run_cell(cell: Cell, out: Path, parent_run_id: str | None, budget: float) -> dict:
    """Run one cell to completion and return its result row."""
    rc, summary, seconds = sweeps.run_hf_train(command(cell, out, parent_run_id, budget), out / "runs" / cell.name)
    return {
        "problem": cell.problem, "T": cell.T, "method": cell.method, "seed": cell.seed,
        # M&S Fig. 3: a run using more than the budget is a failure, even if its last iteration solved the task.
        "solved": bool(summary.get("solved", False)) and summary.get("minibatches", math.inf) <= budget,
        "minibatches": summary.get("minibatches", math.nan),
        "iterations": summary.get("iterations", 0),
        "wall_seconds": summary.get("wall_seconds", seconds),
        "test_error": summary.get("test_error", math.nan),
        "run_id": summary.get("run_id", ""),
        "returncode": rc,
    }


def write_reports(out: Path) -> list[Path]:
    """summary.md, summary.csv and figure3.png from ``out/runs.csv`` (printed too); returns the report files."""
    files = [out / name for name in ("runs.csv", *REPORT_FILES[1:])]
    rows = list(read_done(out / "runs.csv").values())
    if not rows:
        print(f"hf-figure3: no runs recorded in {out / 'runs.csv'}")
        return files
    print(markdown(write_summary(rows, out)))
    return files


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    parser = argparse.ArgumentParser(prog="hf-figure3", description=__doc__.splitlines()[0])
    sweeps.add_common_arguments(parser, PROFILES, experiment="hfcore-figure3")
    parser.add_argument("--problems", nargs="+", choices=PROBLEMS)
    parser.add_argument("--T", nargs="+", type=int, dest="lengths")
    parser.add_argument("--methods", nargs="+", choices=("structural", "tikhonov"),
                        help="HF damping types to run (default: both)")
    parser.add_argument("--no-baseline", action="store_true", help="skip the first-order baseline")
    args = parser.parse_args(argv)

    profile = PROFILES[args.profile]
    changes = {k: tuple(v) for k, v in (("problems", args.problems), ("lengths", args.lengths),
                                        ("seeds", args.seeds), ("methods", args.methods)) if v}
    if args.no_baseline:
        changes["baseline_seeds"] = ()
    profile = Profile(**{**asdict(profile), **changes})
    out = sweeps.output_folder(args, "hf-figure3")
    results = out / "runs.csv"
    if args.report_only:
        write_reports(out)
        return
    todo, done = sweeps.still_to_do(cells(profile), read_done(results), key=lambda c: c.key)
    uri, parent, extra = sweeps.open_tracking(args, "figure3_sweep", out.name,
                                              {"profile": args.profile, **asdict(profile),
                                               "extra_overrides": args.override})
    print(f"hf-figure3: {len(todo)} runs to do, {len(done)} already recorded in {results}", flush=True)
    todo = [Cell(c.problem, c.T, c.method, c.seed, (*c.overrides, *extra, *args.override)) for c in todo]

    def record(i: int, cell: Cell, row: dict) -> None:
        sweeps.append_row(results, row, FIELDS)
        verdict = sweeps.exit_outcome(row["returncode"]) or ("solved" if row["solved"] else "not solved")
        progress = f"{row['minibatches']:.0f} minibatches, " if math.isfinite(row["minibatches"]) else ""
        print(f"[{i}/{len(todo)}] {cell.name}: {verdict}, {progress}{row['wall_seconds']:.0f} s", flush=True)

    with sweeps.parent_session(out, uri, parent, lambda: write_reports(out)):
        sweeps.run_all(todo, args.jobs, lambda c: run_cell(c, out, parent, profile.budget_minibatches), record)


if __name__ == "__main__":
    main(sys.argv[1:])

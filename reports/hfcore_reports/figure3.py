"""The Figure 3 report (M&S 2011): minibatches to success and failure rate against T, per problem and method.

Rows are runs (``problem, T, method, seed, solved, minibatches, wall_seconds, ...``), read from the MLflow
store (:func:`rows_from_store`, for ``hf-report figure3``) or from ``hf-figure3``'s ``runs.csv``;
:func:`write_summary` turns them into ``summary.csv``, ``summary.md`` and ``figure3.png``.
"""

from __future__ import annotations

import csv
import math
import statistics
from collections.abc import Iterable
from pathlib import Path
from typing import Any

REPORT_FILES = ("runs.csv", "summary.csv", "summary.md", "figure3.png")
RUN_FIELDS = ("problem", "T", "method", "seed", "solved", "minibatches", "iterations", "wall_seconds", "test_error",
              "run_id")


class ReportError(Exception):
    """The store cannot be read, or the filter cannot be parsed (one line)."""


def run_row(tags: dict[str, str], params: dict[str, str], metrics: dict[str, float], run_id: str) -> dict[str, Any]:
    """One run of a Figure 3 grid as a report row, from its MLflow tags, params and final metrics.

    The problem is the ``ms2011_*`` preset's name (tag ``experiment``), the method the damping for HF and the
    solver otherwise. M&S Fig. 3: a run using more than its budget (``hf.budget_minibatches``) is a failure,
    even if its last iteration solved the task.
    """
    experiment = tags.get("experiment", "none")
    minibatches = metrics.get("cost.minibatches", math.nan)
    budget = float(params.get("hf.budget_minibatches", "inf") or "inf")
    return {
        "problem": experiment.removeprefix("ms2011_") if experiment != "none" else tags.get("task", ""),
        "T": int(tags["T"]),
        "method": tags["damping"] if tags.get("solver", "cg") == "cg" else tags["solver"],
        "seed": int(tags["seed"]),
        "solved": bool(metrics.get("task.solved", 0.0)) and minibatches <= budget,
        "minibatches": minibatches,
        "iterations": int(metrics.get("cost.gradient_evals", 0)),
        "wall_seconds": metrics.get("time.elapsed", math.nan),
        "test_error": metrics.get("test.error", math.nan),
        "run_id": run_id,
    }


def rows_from_store(uri: str, experiment: str, filter_string: str) -> list[dict[str, Any]]:
    """The FINISHED runs of ``experiment`` that ``filter_string`` selects, one row each (:func:`run_row`).

    A run that is still going, failed or was stopped is left out (its sweep resumes it); of two finished
    runs of the same problem, T, method and seed the later one counts.

    Raises
    ------
    ReportError
        No store at a local ``uri`` (none is created), a store that cannot be read, no such experiment,
        or a filter MLflow cannot parse.
    """
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    from hfcore.tracking import describe_store_error, probe_settings, sqlite_path

    path = sqlite_path(uri)
    if path is not None and not path.exists():  # MLflow would create an empty store here
        raise ReportError(f"no MLflow store {path}; run where hf-train ran, or pass --uri")
    try:
        with probe_settings():
            client = MlflowClient(tracking_uri=uri)
            exp = client.get_experiment_by_name(experiment)
    except Exception as exc:
        raise ReportError(describe_store_error(uri, exc, cli=False)) from None
    if exp is None:
        raise ReportError(f"no experiment '{experiment}' in {uri}")
    query = " and ".join(c for c in (filter_string, "attributes.status = 'FINISHED'") if c)
    try:
        runs = client.search_runs([exp.experiment_id], filter_string=query, order_by=["start_time ASC"],
                                  max_results=50000)
    except MlflowException as exc:
        first = exc.message.strip().splitlines()[0] if exc.message.strip() else type(exc).__name__
        raise ReportError(f"filter {filter_string!r}: {first}") from None
    rows: dict[tuple, dict[str, Any]] = {}
    for run in runs:
        if not {"T", "seed", "damping"} <= set(run.data.tags):  # not an hf-train run
            continue
        row = run_row(run.data.tags, run.data.params, run.data.metrics, run.info.run_id)
        rows[(row["problem"], row["T"], row["method"], row["seed"])] = row
    return sorted(rows.values(), key=lambda r: (r["problem"], r["T"], r["method"], r["seed"]))


def write_summary(rows: list[dict[str, Any]], out: Path) -> list[dict[str, Any]]:
    """``summary.md``, ``summary.csv`` and ``figure3.png`` in ``out`` from ``rows``; returns the summary."""
    summary = aggregate(rows)
    (out / "summary.md").write_text(markdown(summary) + "\n")
    with (out / "summary.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(summary[0]))
        writer.writeheader()
        writer.writerows(summary)
    plot(summary, out / "figure3.png")
    return summary


def write_report(rows: list[dict[str, Any]], out: Path) -> list[dict[str, Any]]:
    """``runs.csv`` (the rows) and :func:`write_summary`'s files in ``out``; prints the table."""
    with (out / "runs.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(RUN_FIELDS))
        writer.writeheader()
        writer.writerows({k: r[k] for k in RUN_FIELDS} for r in rows)
    summary = write_summary(rows, out)
    print(markdown(summary))
    return summary


def aggregate(rows: Iterable[dict]) -> list[dict]:
    """Per (problem, T, method): successes/runs, median/mean/min/max minibatches over successes, wall."""
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault((r["problem"], int(r["T"]), r["method"]), []).append(r)
    out = []
    for (problem, T, method), rs in sorted(groups.items()):
        ok = [float(r["minibatches"]) for r in rs if str(r["solved"]) == "True"]
        walls = [float(r["wall_seconds"]) for r in rs]
        out.append({
            "problem": problem, "T": T, "method": method, "successes": len(ok), "runs": len(rs),
            "median_minibatches": statistics.median(ok) if ok else math.nan,
            "mean_minibatches": sum(ok) / len(ok) if ok else math.nan,
            "min_minibatches": min(ok) if ok else math.nan,
            "max_minibatches": max(ok) if ok else math.nan,
            "median_wall_seconds": statistics.median(walls),
        })
    return out


def markdown(summary: list[dict]) -> str:
    """The results table: successes/seeds and median minibatches, per problem x T x method."""
    head = "| problem | T | method | solved / runs | median minibatches to success | min-max | median wall (s) |"
    lines = [head, "|---|---|---|---|---|---|---|"]
    for s in summary:
        rng = (f"{s['min_minibatches']:.0f}-{s['max_minibatches']:.0f}" if s["successes"] else "-")
        med = f"{s['median_minibatches']:.0f}" if s["successes"] else "-"
        lines.append(f"| {s['problem']} | {s['T']} | {s['method']} | {s['successes']}/{s['runs']} | {med} | {rng} "
                     f"| {s['median_wall_seconds']:.0f} |")
    return "\n".join(lines)


def plot(summary: list[dict], path: Path) -> None:
    """Figure 3 style: minibatches to success (mean, min/max bars) and failure rate vs T, per problem."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    problems = sorted({s["problem"] for s in summary})
    fig, axes = plt.subplots(2, len(problems), figsize=(4 * len(problems), 6.5), squeeze=False,
                             layout="constrained")
    styles = {"structural": ("C0", "o"), "tikhonov": ("C1", "s"), "sgd": ("C2", "^")}
    for col, problem in enumerate(problems):
        top, bottom = axes[0, col], axes[1, col]
        for method, (color, marker) in styles.items():
            rows = sorted((s for s in summary if s["problem"] == problem and s["method"] == method),
                          key=lambda s: s["T"])
            if not rows:
                continue
            label = {"structural": "HF, structural damping", "tikhonov": "HF, Tikhonov only",
                     "sgd": "SGD + momentum + clipping"}[method]
            solved = [s for s in rows if s["successes"]]
            if solved:
                xs = [s["T"] for s in solved]
                mean = [s["mean_minibatches"] for s in solved]
                err = [[m - s["min_minibatches"] for m, s in zip(mean, solved, strict=True)],
                       [s["max_minibatches"] - m for m, s in zip(mean, solved, strict=True)]]
                top.errorbar(xs, mean, yerr=err, color=color, marker=marker, capsize=3, label=label)
            bottom.plot([s["T"] for s in rows], [1 - s["successes"] / s["runs"] for s in rows], color=color,
                        marker=marker, label=label)
        top.set_title(problem)
        top.set_yscale("log")
        top.set_ylabel("minibatches to success")
        bottom.set_ylabel("failure rate")
        bottom.set_ylim(-0.05, 1.05)
        for ax in (top, bottom):
            ax.set_xlabel("T")
            ax.grid(alpha=0.3)
    axes[1, 0].legend(fontsize=8)  # the failure-rate panel has every method, solved or not
    fig.savefig(path, dpi=110)
    plt.close(fig)



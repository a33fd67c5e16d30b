"""``hf-summary``: a Markdown table of the runs in an MLflow experiment.

Example::

    hf-summary --experiment hfcore --filter "tags.task = 'addition'"
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from typing import Any

COLUMNS = ("run", "task", "T", "solver", "damping", "seed", "status", "solved", "iterations", "minibatches",
           "test error", "wall (s)")


def collect(uri: str, experiment: str, filter_string: str = "") -> list[dict[str, Any]]:
    """One row per run: tags, status and the final value of the key metrics."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name(experiment)
    if exp is None:
        raise SystemExit(f"hf-summary: error: no experiment '{experiment}' in {uri}")
    rows = []
    for run in client.search_runs([exp.experiment_id], filter_string=filter_string, order_by=["start_time ASC"]):
        m, t = run.data.metrics, run.data.tags
        rows.append({
            "run": run.info.run_name,
            "task": t.get("task", ""),
            "T": t.get("T", ""),
            "solver": t.get("solver", ""),
            "damping": t.get("damping", "") if t.get("solver", "cg") == "cg" else "-",
            "seed": t.get("seed", ""),
            "status": run.info.status,
            "solved": bool(m.get("task.solved", 0.0)),
            "iterations": int(m.get("cost.gradient_evals", 0)),
            "minibatches": m.get("cost.minibatches", float("nan")),
            "test error": m.get("test.error", float("nan")),
            "wall (s)": m.get("time.elapsed", float("nan")),
        })
    return rows


def to_markdown(rows: list[dict[str, Any]]) -> str:
    """Rows as a Markdown table, with a median line over solved runs."""
    def fmt(v: Any) -> str:
        if isinstance(v, float):
            return f"{v:.4g}" if abs(v) < 1e4 else f"{v:.0f}"
        return str(v)

    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(fmt(r[c]) for c in COLUMNS) + " |" for r in rows]
    solved = [r for r in rows if r["solved"]]
    if solved:
        med = {c: statistics.median(r[c] for r in solved) for c in ("iterations", "minibatches", "wall (s)")}
        lines.append(f"\n{len(solved)}/{len(rows)} solved; median over solved runs: "
                     f"{med['iterations']:.0f} HF iterations, {med['minibatches']:.0f} minibatches, "
                     f"{med['wall (s)']:.0f} s.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    from hfcore.tracking import default_tracking_uri

    parser = argparse.ArgumentParser(prog="hf-summary", description=__doc__.splitlines()[0])
    parser.add_argument("--uri", default=None, help="tracking URI (default: $MLFLOW_TRACKING_URI or ./mlflow.db)")
    parser.add_argument("--experiment", default="hfcore")
    parser.add_argument("--filter", default="", help="MLflow search filter, e.g. \"tags.T = '30'\"")
    args = parser.parse_args(argv)
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    print(to_markdown(collect(args.uri or default_tracking_uri(), args.experiment, args.filter)))


if __name__ == "__main__":
    main(sys.argv[1:])

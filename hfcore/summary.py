"""``hf-summary``: a Markdown table of the runs in an MLflow experiment.

Example::

    hf-summary --experiment hfcore --filter "tags.task = 'addition'"
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from typing import Any

COLUMNS = ("run", "task", "T", "solver", "damping", "seed", "status", "solved", "iterations", "minibatches",
           "test error", "wall (s)")


STALE_SECONDS = 1800.0
"""A RUNNING run whose heartbeat (``hfcore.heartbeat``, written at start and at each metrics flush) is older
than this shows as STALE: its process died on another host, or hangs, or its iterations take longer."""


def run_status(status: str, tags: dict[str, str], now: float | None = None, host: str | None = None,
               stale_seconds: float = STALE_SECONDS) -> str:
    """MLflow's status of a run, or ``DIED``/``STALE`` for a RUNNING run whose process is gone or silent.

    ``DIED``: the run was started on this host (tag ``hfcore.host``) and its process (``hfcore.pid``)
    no longer exists. ``STALE``: its last heartbeat (``hfcore.heartbeat``, epoch seconds) is more than
    ``stale_seconds`` old. Runs without these tags (older hf-train, other tools) keep their status.
    """
    if status != "RUNNING":
        return status
    from hfcore.tracking import process_died

    if process_died(tags, host):
        return "DIED"
    try:
        beat = float(tags["hfcore.heartbeat"])
    except (KeyError, ValueError):
        return status
    return "STALE" if (time.time() if now is None else now) - beat > stale_seconds else status


def collect(uri: str, experiment: str, filter_string: str = "",
            stale_seconds: float = STALE_SECONDS) -> list[dict[str, Any]]:
    """One row per run: tags, status and the final value of the key metrics.

    Raises
    ------
    SystemExit
        With one line: no store at a local ``uri`` (none is created), a store or server that cannot
        be read, no such experiment, or a filter MLflow cannot parse.
    """
    from mlflow.exceptions import MlflowException

    from hfcore.tracking import existing_experiment

    client, exp = existing_experiment(uri, experiment, "hf-summary")
    try:
        runs = client.search_runs([exp.experiment_id], filter_string=filter_string, order_by=["start_time ASC"])
    except MlflowException as exc:
        first = exc.message.strip().splitlines()[0] if exc.message.strip() else type(exc).__name__
        raise SystemExit(f"hf-summary: error: --filter {filter_string!r}: {first}") from None
    rows = []
    now = time.time()
    for run in runs:
        m, t = run.data.metrics, run.data.tags
        rows.append({
            "run": run.info.run_name,
            "task": t.get("task", ""),
            "T": t.get("T", ""),
            "solver": t.get("solver", ""),
            "damping": t.get("damping", "") if t.get("solver", "cg") == "cg" else "-",
            "seed": t.get("seed", ""),
            "status": run_status(run.info.status, t, now, stale_seconds=stale_seconds),
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
    parser.add_argument("--stale-after", type=float, default=STALE_SECONDS, metavar="SECONDS",
                        help="show a RUNNING run as STALE when its last heartbeat is older (default: %(default).0f)")
    args = parser.parse_args(argv)
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    print(to_markdown(collect(args.uri or default_tracking_uri(), args.experiment, args.filter, args.stale_after)))


if __name__ == "__main__":
    main(sys.argv[1:])

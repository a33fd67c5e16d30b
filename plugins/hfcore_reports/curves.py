"""Learning curves of a grid's runs, drawn from the metrics they logged: to look at the runs that stalled or failed
(a run's Figure 3 result is one number; its curve tells a bad local minimum from a run still improving).

:func:`write_curves` draws each selected run's curve (train and test objective, test error, and lambda or the
step length, against paper minibatches: :func:`hfcore.reporting.learning_curve`) to
``<problem>-T<T>-<method>-s<seed>.png`` and writes an index, ``curves.md``, with each run's state and last figures.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from hfcore_reports.figure3 import method_label
from hfcore_reports.store import FINISHED

INDEX = "curves.md"


def picture_name(row: dict[str, Any]) -> str:
    """The file of a report row's curve: ``memorization_20bit-T50-structural-s0.png``."""
    return f"{row['problem']}-T{row['T']}-{row['method']}-s{row['seed']}.png"


def title(row: dict[str, Any]) -> str:
    """The curve's title: problem, T, method, seed and what became of the run."""
    outcome = "solved" if row["solved"] else ("not solved" if row["state"] == FINISHED else row["state"])
    return f"{row['problem']} T={row['T']}, {method_label(row['method'])}, seed {row['seed']}: {outcome}"


def draw(row: dict[str, Any], client: Any, out: Path) -> Path:
    """Draw one run's curve from its store (``client``) into ``out``; returns the picture's path."""
    from hfcore.reporting import CURVE_METRICS, learning_curve
    from hfcore.tracking import metric_history

    path = out / picture_name(row)
    figure = learning_curve(metric_history(client, row["run_id"], CURVE_METRICS), title(row))
    figure.savefig(path, dpi=90)
    return path


def index(rows: list[dict[str, Any]]) -> str:
    """``curves.md``: one line per run (state, iterations, minibatches, last test error) with its picture."""
    lines = ["| problem | T | method | seed | state | solved | iterations | minibatches | last test error | curve |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        error = "-" if math.isnan(r["test_error"]) else f"{r['test_error']:.4g}"
        minibatches = "-" if math.isnan(r["minibatches"]) else f"{r['minibatches']:,.0f}"
        lines.append(f"| {r['problem']} | {r['T']} | {method_label(r['method'])} | {r['seed']} | {r['state']} "
                     f"| {'yes' if r['solved'] else 'no'} | {r['iterations']} | {minibatches} | {error} "
                     f"| [{picture_name(r)}]({picture_name(r)}) |")
    return "\n".join(lines) + "\n"


def write_curves(rows: list[dict[str, Any]], out: Path) -> Path:
    """Draw the curve of every row (a :func:`hfcore_reports.figure3.rows_from_store` row, which names its store
    in ``source``) into ``out``, then write the index; returns the index's path."""
    from mlflow.tracking import MlflowClient

    out.mkdir(parents=True, exist_ok=True)
    clients: dict[str, Any] = {}
    for row in rows:
        client = clients.setdefault(row["source"], MlflowClient(tracking_uri=row["source"]))
        draw(row, client, out)
    path = out / INDEX
    path.write_text(index(rows))
    return path

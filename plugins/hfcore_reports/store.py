"""Reading hf-train's runs back from an MLflow tracking store, for the reports (read only: nothing is written)."""

from __future__ import annotations

import signal
from typing import Any

FINISHED = "finished"
STOPPED_EXITS = (130, 143, -signal.SIGINT, -signal.SIGTERM)
"""Exit codes of a run stopped by Ctrl-C or SIGTERM: it kept its checkpoint and resumes on the next call."""


class ReportError(Exception):
    """A source that cannot be read, or a filter that cannot be parsed (one line)."""


def runs_of(uri: str, experiment: str, filter_string: str, finished_only: bool = True) -> list[Any]:
    """The MLflow runs of ``experiment`` in the store at ``uri`` that ``filter_string`` selects, oldest first.

    ``finished_only``: only runs with status FINISHED. Only hf-train's runs are returned (tags T, seed,
    damping); the store is not changed.

    Raises
    ------
    ReportError
        No store at a local ``uri`` (none is created, where MLflow would create an empty one), a store that
        cannot be read, no such experiment, or a filter MLflow cannot parse.
    """
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    from hfcore.tracking import describe_store_error, probe_settings, sqlite_path

    path = sqlite_path(uri)
    if path is not None and not path.exists():
        raise ReportError(f"no MLflow store {path}; run where hf-train ran, or pass --uri")
    try:
        with probe_settings():
            client = MlflowClient(tracking_uri=uri)
            exp = client.get_experiment_by_name(experiment)
    except Exception as exc:
        raise ReportError(describe_store_error(uri, exc, cli=False)) from None
    if exp is None:
        raise ReportError(f"no experiment '{experiment}' in {uri}")
    status = "attributes.status = 'FINISHED'" if finished_only else ""
    query = " and ".join(c for c in (filter_string, status) if c)
    try:
        runs = client.search_runs([exp.experiment_id], filter_string=query, order_by=["start_time ASC"],
                                  max_results=50000)
    except MlflowException as exc:
        first = exc.message.strip().splitlines()[0] if exc.message.strip() else type(exc).__name__
        raise ReportError(f"filter {filter_string!r}: {first}") from None
    return [r for r in runs if {"T", "seed", "damping"} <= set(r.data.tags)]


def state_of(run: Any) -> str:
    """``finished``, ``running``, ``stopped`` or ``failed``: what became of an MLflow run.

    A run marked RUNNING whose process is gone (its machine rebooted, it was killed hard) is ``stopped``:
    like a run stopped by SIGTERM, its sweep resumes it from its checkpoint. Whether the process is gone is
    known only on the machine that ran it; elsewhere such a run reads ``running``.
    """
    from hfcore.tracking import process_died

    status = run.info.status
    if status == "FINISHED":
        return FINISHED
    if status == "RUNNING":
        return "stopped" if process_died(run.data.tags) else "running"
    return "stopped" if status == "KILLED" else "failed"


def state_of_exit(returncode: int) -> str:
    """The state of a run an earlier harness recorded by its exit code (its ``runs.csv`` ``returncode``)."""
    if returncode == 0:
        return FINISHED
    return "stopped" if returncode in STOPPED_EXITS else "failed"


def sweep_filter(sweep: str | None, filter_string: str) -> str:
    """The MLflow filter of ``--sweep`` (tag ``sweep``) ANDed with ``--filter``."""
    clauses = [f"tags.sweep = '{sweep}'"] if sweep else []
    if filter_string:
        clauses.append(filter_string)
    return " and ".join(clauses)

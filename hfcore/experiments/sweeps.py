"""Pieces shared by the experiment harnesses (``hf-figure3``, ``hf-table1``).

A harness runs each cell of its sweep as an ``hf-train`` subprocess in
``<out>/runs/<name>/``, appends one row per finished run to ``<out>/runs.csv``
(a rerun skips the rows already there, so an interrupted sweep resumes, and a
run stopped part-way goes on from its checkpoint),
writes its reports from that file, and files the runs as MLflow children of
one parent run that holds the reports.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import math
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Any, TypeVar

Cell = TypeVar("Cell")


def add_common_arguments(parser: argparse.ArgumentParser, profiles: Iterable[str], experiment: str) -> None:
    """The options every harness has: profile, output folder, seeds, jobs, MLflow, report-only, overrides."""
    names = sorted(profiles)
    parser.add_argument("--profile", choices=names, default="quick")
    parser.add_argument("--out", default=None, help=f"output folder (default: {parser.prog.removeprefix('hf-')}"
                                                    f"-<profile>)")
    parser.add_argument("--seeds", nargs="+", type=int)
    parser.add_argument("--jobs", type=int, default=1,
                        help="runs in parallel (each uses blas_threads=1 threads unless overridden)")
    parser.add_argument("--experiment", default=experiment, help="MLflow experiment")
    parser.add_argument("--no-mlflow", action="store_true")
    parser.add_argument("--report-only", action="store_true",
                        help="rewrite the reports from runs.csv without running anything")
    parser.add_argument("--override", nargs="+", default=[], metavar="KEY=VALUE",
                        help="extra hf-train overrides for every run, e.g. model.hidden=50")


def fail(program: str, message: str) -> None:
    """Print a one-line error and exit with status 2 (bad input, nothing started)."""
    print(f"{program}: error: {message}", file=sys.stderr)
    raise SystemExit(2)


def output_folder(args: argparse.Namespace, program: str) -> Path:
    """``--out`` (default ``<program>-<profile>``), resolved and created; also checks ``--jobs``."""
    if args.jobs < 1:
        fail(program, "--jobs must be >= 1")
    out = Path(args.out or f"{program.removeprefix('hf-')}-{args.profile}").resolve()
    out.mkdir(parents=True, exist_ok=True)
    return out


def hf_train_command(cell_overrides: Sequence[str], run_dir: Path, sweep: str, parent_run_id: str | None,
                     overrides: Sequence[str] = ()) -> list[str]:
    """The ``hf-train`` command line of one run.

    Parameters
    ----------
    cell_overrides : sequence of str
        What makes the cell (task, method, seed, ...).
    run_dir : Path
        Hydra's run folder; ``summary.json`` lands there. If it holds a
        checkpoint (a run stopped part-way), the run resumes from it.
    sweep : str
        Tag ``sweep`` of the MLflow child run (the output folder's name).
    parent_run_id : str or None
        The MLflow parent run, if any.
    overrides : sequence of str
        Profile and user overrides; they come last, so they win.
    """
    fixed = ["progress=false", f"hydra.run.dir={run_dir}", f"+tracking.tags.sweep={sweep}"]
    if parent_run_id:
        fixed.append(f"tracking.parent_run_id={parent_run_id}")
    checkpoint = run_dir / "checkpoints" / "state.npz"
    if checkpoint.exists():  # an interrupted run (SIGTERM, a time limit) goes on from its last finished iteration
        fixed.append(f"checkpoint.resume={checkpoint}")
    # -P: a sweep started inside a source checkout must import the installed hfcore, not ./hfcore.
    return [sys.executable, "-P", "-m", "hfcore.cli", *cell_overrides, *fixed, *overrides]


def run_hf_train(command: Sequence[str], run_dir: Path) -> tuple[int, dict[str, Any], float]:
    """Run one ``hf-train`` command, its output in ``run_dir/stdout.log`` and ``stderr.log``.

    Returns
    -------
    returncode : int
    summary : dict
        The run's ``summary.json`` (empty if it wrote none).
    seconds : float
        Wall time of the whole process, start-up included.
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    with (run_dir / "stdout.log").open("w") as log_out, (run_dir / "stderr.log").open("w") as log_err:
        rc = subprocess.run(list(command), stdout=log_out, stderr=log_err).returncode
    summary_path = run_dir / "summary.json"
    summary = json.loads(summary_path.read_text()) if summary_path.exists() else {}
    return rc, summary, time.perf_counter() - started


def exit_outcome(returncode: int) -> str | None:
    """How a non-zero ``hf-train`` exit reads in a sweep's log; ``None`` for a clean exit.

    A run stopped by SIGTERM or Ctrl-C (exit 143 / 130, or killed by the signal) kept its checkpoint
    and resumes on the next call, so it is "stopped", not "FAILED".
    """
    if returncode == 0:
        return None
    if returncode in (130, 143, -signal.SIGINT, -signal.SIGTERM):
        return f"stopped by a signal (exit {returncode}; resumes from its checkpoint)"
    return f"FAILED (exit {returncode})"


def as_float(value: Any) -> float:
    """A ``runs.csv`` cell as a number; NaN when it is empty or not a number."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def read_done(path: Path, key: Callable[[dict[str, str]], Hashable]) -> dict[Hashable, dict[str, str]]:
    """Rows already recorded in ``path`` by ``key`` (the resume set; a later row wins)."""
    if not path.exists():
        return {}
    with path.open() as fh:
        return {key(r): r for r in csv.DictReader(fh)}


def append_row(path: Path, row: dict[str, Any], fields: Sequence[str]) -> None:
    """Append ``row``'s ``fields`` to the CSV at ``path`` (header first when the file is new)."""
    new = not path.exists()
    with path.open("a", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(fields))
        if new:
            writer.writeheader()
        writer.writerow({k: row[k] for k in fields})


def still_to_do(cells: Iterable[Cell], done: dict[Hashable, dict[str, str]], key: Callable[[Cell], Hashable]
                ) -> tuple[list[Cell], dict[Hashable, dict[str, str]]]:
    """Cells without a finished row, and the finished rows.

    A run that crashed (non-zero exit) is run again; a finished one is kept,
    whatever its result.
    """
    todo = [c for c in cells if key(c) not in done or done[key(c)]["returncode"] != "0"]
    return todo, {k: v for k, v in done.items() if v["returncode"] == "0"}


def start_parent(uri: str, experiment: str, tag: str, name: str, params: dict[str, Any]) -> str:
    """The sweep's MLflow parent run, found by tag ``tag = name`` (reused on resume) or created.

    Creating it also creates the store and the experiment, which must happen
    before parallel children start (concurrent first use of a sqlite store
    races on its schema migration; see :func:`hfcore.tracking.ensure_experiment`).
    """
    from mlflow.entities import Param
    from mlflow.tracking import MlflowClient

    from hfcore.tracking import ensure_experiment

    exp_id = ensure_experiment(uri, experiment)  # under the store's lock: the first client migrates the schema
    client = MlflowClient(tracking_uri=uri)
    found = client.search_runs([exp_id], filter_string=f"tags.{tag} = '{name}'")
    if found:
        client.update_run(found[0].info.run_id, status="RUNNING")
        return found[0].info.run_id
    run = client.create_run(exp_id, run_name=f"{tag.removesuffix('_sweep')}-{name}", tags={tag: name})
    client.log_batch(run.info.run_id, params=[Param(k, str(v)[:6000]) for k, v in params.items()])
    return run.info.run_id


def open_tracking(args: argparse.Namespace, tag: str, name: str, params: dict[str, Any]
                  ) -> tuple[str | None, str | None, list[str]]:
    """MLflow for a sweep: ``(uri, parent run id, overrides for the children)``; Nones with ``--no-mlflow``."""
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    if args.no_mlflow:
        return None, None, ["tracking=none"]
    from hfcore.tracking import default_tracking_uri

    uri = default_tracking_uri()
    os.environ["MLFLOW_TRACKING_URI"] = uri  # the children log to the same store
    return uri, start_parent(uri, args.experiment, tag, name, params), [f"tracking.experiment={args.experiment}"]


@contextlib.contextmanager
def parent_session(out: Path, uri: str | None, parent: str | None,
                   write_reports: Callable[[], Iterable[Path]]) -> Iterator[None]:
    """Run the body, then always write the reports and close the parent run with the body's outcome.

    ``write_reports`` returns the files (under ``out``) to log to the parent
    run, each at its path relative to ``out``.
    """
    status = "FAILED"
    try:
        yield
        status = "FINISHED"
    except KeyboardInterrupt:
        status = "KILLED"
        raise
    finally:
        artifacts = [p for p in write_reports() if p.exists()]
        if parent:
            from mlflow.tracking import MlflowClient

            client = MlflowClient(tracking_uri=uri)
            for path in artifacts:
                folder = path.parent.relative_to(out).as_posix()
                client.log_artifact(parent, str(path), None if folder == "." else folder)
            client.set_terminated(parent, status)


def run_all(cells: Sequence[Cell], jobs: int, run_one: Callable[[Cell], dict[str, Any]],
            record: Callable[[int, Cell, dict[str, Any]], None]) -> None:
    """``run_one`` every cell, ``jobs`` at a time; ``record(i, cell, row)`` as each one ends (in this thread)."""
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = {pool.submit(run_one, c): c for c in cells}
        for i, future in enumerate(as_completed(futures), 1):
            record(i, futures[future], future.result())

"""Subprocess runs with a CSV resume set, for ``macro.py``'s time-to-success sweep.

Each cell runs as an ``hf-train`` subprocess in ``<out>/runs/<name>/``, and one row per finished run is
appended to ``<out>/runs.csv``; a rerun skips the rows already there, so an interrupted sweep resumes, and a
run stopped part-way goes on from its checkpoint. (The paper's grids, Figure 3 and Table 1, are Hydra sweeps
now: ``conf/sweep/``.)
"""

from __future__ import annotations

import csv
import json
import math
import subprocess
import sys
import time
from collections.abc import Callable, Hashable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Any, TypeVar

Cell = TypeVar("Cell")


def fail(program: str, message: str) -> None:
    """Print a one-line error and exit with status 2 (bad input, nothing started)."""
    print(f"{program}: error: {message}", file=sys.stderr)
    raise SystemExit(2)


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
        The run's ``summary.json``; for a run stopped part-way, which writes none, the counters of its last
        checkpoint (:func:`stopped_summary`); empty if it wrote neither.
    seconds : float
        Wall time of the whole process, start-up included.
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    with (run_dir / "stdout.log").open("w") as log_out, (run_dir / "stderr.log").open("w") as log_err:
        rc = subprocess.run(list(command), stdout=log_out, stderr=log_err).returncode
    summary_path = run_dir / "summary.json"
    summary = json.loads(summary_path.read_text()) if summary_path.exists() else stopped_summary(run_dir)
    return rc, summary, time.perf_counter() - started


def stopped_summary(run_dir: Path) -> dict[str, Any]:
    """What a run stopped part-way had done, read from its checkpoint (``checkpoints/state.npz``) in the
    layout of ``summary.json``, ``solved`` False; empty when there is no checkpoint.

    A signal (SIGTERM, Ctrl-C) ends a run before ``summary.json`` is written; the checkpoint holds the
    counters up to its last finished iteration, which is where a rerun resumes. The layout is
    :meth:`hfcore.run.RunResult.summary`'s, with no test metrics beyond the last error.
    """
    from hfcore.checkpoint import load_checkpoint
    from hfcore.run import RunResult

    checkpoint = run_dir / "checkpoints" / "state.npz"
    if not checkpoint.exists():
        return {}
    state, extra = load_checkpoint(checkpoint)
    return RunResult(state, "", extra.get("n_params", 0), {}, checkpoint, extra.get("mlflow_run_id")).summary()


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


def run_all(cells: Sequence[Cell], jobs: int, run_one: Callable[[Cell], dict[str, Any]],
            record: Callable[[int, Cell, dict[str, Any]], None]) -> None:
    """``run_one`` every cell, ``jobs`` at a time; ``record(i, cell, row)`` as each one ends (in this thread)."""
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = {pool.submit(run_one, c): c for c in cells}
        for i, future in enumerate(as_completed(futures), 1):
            record(i, futures[future], future.result())

"""The Table 1 report (M&S 2011): RNN + HF against LSTM + SGD on the natural tasks, under equal time budgets, and
any other model and optimiser the runs used (LSTM + HF, LSTM + Adam, LSTM + SGD (Nesterov), GRU + ...).

The runs are those of the ``table1_*`` grids (``conf/sweep/``), read from the MLflow store
(:func:`rows_from_store`); :func:`write_report` writes ``runs.csv``, ``table1.csv``, ``table1.md`` (the methods
side by side per task and test metric, which won, per seed too, the time each run had, and the paper's
numbers for reference) and one predictions picture per task and method (the lowest seed's, from its run's
artifacts) under ``predictions/``.
"""

from __future__ import annotations

import csv
import math
import shutil
import statistics
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hfcore_reports.methods import (
    VARIANT,
    Training,
    apply_variants,
    order,
    parse_key,
    run_settings,
    training_of,
    variant_words,
)
from hfcore_reports.store import ReportError, runs_of

TASKS = ("bouncing_balls", "music", "speech")
LABELS = {"hf": "RNN + HF", "lstm": "LSTM + SGD"}
"""The paper's two methods, by the keys their rows have always had: the RNN trained with HF, the LSTM with SGD
(classical momentum). Every other model and optimiser is keyed ``<model>-<optimizer>`` (:func:`method_of`)."""
PAPER_KEYS = {"rnn-hf": "hf", "lstm-sgd": "lstm"}


def method_of(training: Training) -> str:
    """The key of a run's method in the table: ``hf`` and ``lstm`` for the paper's two, else the
    :attr:`~hfcore_reports.methods.Training.key` (``lstm-adam``, ``lstm-hf``, ``lstm-sgd-nesterov``)."""
    return PAPER_KEYS.get(training.key, training.key)


def label_of(method: str) -> str:
    """A method's words in the table: ``RNN + HF``, ``LSTM + SGD``, ``LSTM + Adam``, ``LSTM + SGD (Nesterov)``;
    a variant after it in brackets (``LSTM + Adam (forget_bias=3.0)``)."""
    base = method.partition(VARIANT)[0]
    return (LABELS.get(base) or parse_key(base).label) + variant_words(method)


def _training(method: str) -> Training:
    base = method.partition(VARIANT)[0]
    return parse_key({v: k for k, v in PAPER_KEYS.items()}.get(base, base))


def methods_in(rows: Iterable[dict[str, Any]]) -> list[str]:
    """The methods of ``rows`` in the table's order: the RNN's, the LSTM's, the GRU's, others'; within a model
    HF, SGD, SGD (Nesterov), Adam, others; variants of one method by their key."""
    return sorted({r["method"] for r in rows}, key=lambda m: (order(_training(m)), m))

CLOCK_WORDS = {"cpu": "CPU seconds of the run's process", "wall": "wall-clock seconds"}
RUN_FIELDS = ("task", "method", "seed", "budget_seconds", "budget_clock", "iterations", "minibatches",
              "wall_seconds", "cpu_seconds", "test_error", "test_loss", "log_likelihood_per_sequence",
              "log_likelihood_per_step", "n_params", "run_id")


@dataclass(frozen=True)
class Metric:
    """One row of the table: a run row's column, how to read it, and the paper's value."""

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


def as_float(value: Any) -> float:
    """A cell as a number; NaN when it is empty or not a number."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def run_row(tags: dict[str, str], params: dict[str, str], metrics: dict[str, float], run_id: str
            ) -> dict[str, Any]:
    """One finished run of a Table 1 grid as a report row, from its MLflow tags, params and latest metrics."""
    return {
        "task": tags["task"], "method": method_of(training_of(params, tags) or Training("rnn", "hf")),
        "seed": int(tags["seed"]),
        "budget_seconds": as_float(params.get("hf.budget_seconds")), "budget_clock": params.get("hf.budget_clock"),
        "iterations": int(metrics.get("cost.gradient_evals", 0)),  # one gradient per HF iteration or SGD step
        "minibatches": metrics.get("cost.minibatches", math.nan),
        "wall_seconds": metrics.get("time.elapsed", math.nan), "cpu_seconds": metrics.get("time.cpu", math.nan),
        "test_error": metrics.get("test.error", math.nan), "test_loss": metrics.get("test.loss", math.nan),
        "log_likelihood_per_sequence": metrics.get("test.log_likelihood_per_sequence", math.nan),
        "log_likelihood_per_step": metrics.get("test.log_likelihood_per_step", math.nan),
        "n_params": "", "run_id": run_id,
    }


def rows_from_store(uri: str, experiment: str, filter_string: str) -> list[dict[str, Any]]:
    """The FINISHED runs of the natural tasks that ``filter_string`` selects, one row each (:func:`run_row`).

    Of two finished runs of the same task, method, seed and budget the later one counts. Runs of one method on one
    task that differ in a setting (:func:`hfcore_reports.methods.run_settings`: a model setting, the HF preset)
    are methods of their own, their keys marked with it (``lstm-adam@forget_bias=3.0``). Each row's ``n_params``
    is the length of its checkpoint's parameter vector (its ``checkpoint/state.npz`` artifact; empty without one).

    Raises
    ------
    ReportError
        See :func:`hfcore_reports.store.runs_of`; also when the runs were given different time budgets
        (a table compares equal budgets only).
    """
    from mlflow.tracking import MlflowClient

    found = []
    for run in runs_of(uri, experiment, filter_string):  # first: it refuses a store that does not exist
        if run.data.tags.get("task") in TASKS and training_of(run.data.params, run.data.tags) is not None:
            row = run_row(run.data.tags, run.data.params, run.data.metrics, run.info.run_id)
            found.append({**row, "settings": run_settings(run.data.params, run.data.tags)})
    apply_variants(found, lambda r: (r["task"], r["method"]), across=lambda r: r["method"])
    rows: dict[tuple, dict[str, Any]] = {}
    for row in found:
        del row["settings"]
        rows[row["task"], row["method"], row["seed"], row["budget_seconds"], row["budget_clock"]] = row
    budgets = sorted({(r["budget_seconds"], r["budget_clock"]) for r in rows.values()})
    if len(budgets) > 1:
        held = ", ".join(f"{b:g} s ({clock})" for b, clock in budgets)
        raise ReportError(f"the runs have different time budgets ({held}); choose one with --filter, e.g. "
                          f"\"params.`hf.budget_clock` = '{budgets[0][1]}'\"")
    client = MlflowClient(tracking_uri=uri)
    with tempfile.TemporaryDirectory() as tmp:
        for row in rows.values():
            row["n_params"] = _n_params(client, row["run_id"], Path(tmp))
    return sorted(rows.values(), key=lambda r: (TASKS.index(r["task"]), r["seed"], r["method"]))


def _n_params(client: Any, run_id: str, tmp: Path) -> int | str:
    """The length of the parameter vector in the run's checkpoint artifact ("" if it has none)."""
    import numpy as np

    try:
        path = client.download_artifacts(run_id, "checkpoint/state.npz", str(tmp))
    except Exception:  # no checkpoint logged (a run that saved none): the column shows "-"
        return ""
    with np.load(path) as saved:
        return int(saved["theta"].size)


def _mean(values: list[float]) -> float:
    values = [v for v in values if not math.isnan(v)]
    return sum(values) / len(values) if values else math.nan


def _stats(values: list[float]) -> tuple[float, float]:
    """Mean and standard deviation of the values that are numbers (a run that logged no value, or NaN, has
    none); the deviation is NaN below two."""
    values = [v for v in values if not math.isnan(v)]
    return _mean(values), statistics.stdev(values) if len(values) > 1 else math.nan


def aggregate(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """One entry per task and metric: each method's mean and spread over seeds, the best method, wins, time, sizes.

    The methods are those of ``rows`` (:func:`methods_in`), every entry has each one's columns
    (``<method>_mean``, ``_sd``, ``_runs``, ``_wins``, ...). ``paired_seeds`` are the seeds that every method
    with runs of the task ran; a method's ``_wins`` counts those on which it beat all the others.
    """
    rows = list(rows)
    methods = methods_in(rows)
    out = []
    for task in [t for t in TASKS if any(r["task"] == t for r in rows)]:
        by_method = {m: {int(r["seed"]): r for r in rows if r["task"] == task and r["method"] == m} for m in methods}
        ran = [m for m in methods if by_method[m]]
        for metric in METRICS[task]:
            values = {m: {s: as_float(r[metric.column]) for s, r in runs.items()} for m, runs in by_method.items()}
            paired = sorted(set.intersection(*(set(values[m]) for m in ran))) if len(ran) > 1 else []
            sign = 1.0 if metric.higher_is_better else -1.0
            entry = {"task": task, "metric": metric.label, "higher_is_better": metric.higher_is_better,
                     "paired_seeds": len(paired), "best": _best(values, ran, sign),
                     "paper_hf": metric.paper[0] if metric.paper else math.nan,
                     "paper_lstm": metric.paper[1] if metric.paper else math.nan}
            for m, runs in by_method.items():
                entry[f"{m}_mean"], entry[f"{m}_sd"] = _stats(list(values[m].values()))
                entry[f"{m}_runs"] = len(runs)
                entry[f"{m}_wins"] = sum(all(sign * (values[m][s] - values[o][s]) > 0 for o in ran if o != m)
                                         for s in paired) if m in ran else 0
                entry[f"{m}_wall_seconds"] = _mean([as_float(r["wall_seconds"]) for r in runs.values()])
                entry[f"{m}_cpu_seconds"] = _mean([as_float(r.get("cpu_seconds")) for r in runs.values()])
                entry[f"{m}_iterations"] = _mean([as_float(r["iterations"]) for r in runs.values()])
                entry[f"{m}_params"] = next((r["n_params"] for r in runs.values() if str(r["n_params"])), "")
            out.append(entry)
    return out


def _best(values: dict[str, dict[int, float]], ran: list[str], sign: float) -> str:
    """The method whose mean over seeds is best, ``-`` with fewer than two methods to compare or a tie (a method
    whose every run diverged, a mean of NaN, is not in the race)."""
    means = {m: _mean(list(values[m].values())) for m in ran}
    means = {m: v for m, v in means.items() if not math.isnan(v)}
    if len(ran) < 2 or not means:
        return "-"
    top = max(sign * v for v in means.values())
    leaders = [m for m, v in means.items() if sign * v == top]
    return leaders[0] if len(leaders) == 1 else "-"


def _value(mean: float, sd: float, runs: int) -> str:
    if not runs:
        return "-"
    if math.isnan(mean):
        return "nan"  # a run that diverged
    return f"{mean:.4g}" + (f" ± {sd:.2g}" if not math.isnan(sd) else "")


def _whole(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.0f}"


def _by_seed(entry: dict[str, Any], methods: list[str]) -> str:
    """``RNN + HF 2/3, LSTM + Adam 1/3``: the paired seeds each method won (those that won any)."""
    paired = entry["paired_seeds"]
    wins = [f"{label_of(m)} {entry[f'{m}_wins']}/{paired}" for m in methods if entry[f"{m}_wins"]]
    return ", ".join(wins) if wins else ("-" if not paired else f"none of {paired}")


def _each(entry: dict[str, Any], methods: list[str], column: str, show: Any) -> str:
    return " / ".join(show(entry[f"{m}_{column}"]) for m in methods)


def _hours(seconds: float) -> str:
    return "-" if math.isnan(seconds) else f"{seconds / 3600:.2f}"


def _count(value: str | int) -> str:
    return f"{int(value):,}" if str(value).strip() else "-"


def _paper(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:g}"


def markdown(summary: list[dict[str, Any]], settings: dict[str, Any] | None = None, pictures: Iterable[str] = (),
             total: tuple[int, float, float] | None = None) -> str:
    """``table1.md``: the table, the sweep and its budget, how to read it, and links to the pictures.

    ``settings`` holds ``sweep``, ``budget_seconds`` and ``budget_clock``; ``total`` is (finished runs, their
    training CPU seconds summed, their training wall seconds summed).
    """
    methods = [k.removesuffix("_runs") for k in summary[0] if k.endswith("_runs")] if summary else []
    labels = [label_of(m) for m in methods]
    lines = ["# M&S 2011 Table 1, reproduced offline", ""]
    if settings:
        clock = settings["budget_clock"]
        lines += [f"Sweep `{settings['sweep']}`. Every run: `hf.budget_seconds={settings['budget_seconds']:g}` "
                  f"`hf.budget_clock={clock}` ({CLOCK_WORDS.get(clock, clock)} in iterations and test "
                  "evaluations).", ""]
    each = " / ".join(labels)
    lines += ["| task | test metric | " + " | ".join(f"{label} (ours)" for label in labels) + " | best | best, by seed "
              f"| CPU per run (s), {each} | wall per run (s), {each} | iterations per run, {each} "
              f"| parameters, {each} | paper: RNN + HF | paper: LSTM |",
              "|---|---|" + "---|" * len(methods) + "---|---|---|---|---|---|---|---|"]
    for s in summary:
        better = "higher" if s["higher_is_better"] else "lower"
        values = " | ".join(_value(s[f"{m}_mean"], s[f"{m}_sd"], s[f"{m}_runs"]) for m in methods)
        lines.append(
            f"| {s['task']} | {s['metric']} ({better} is better) | {values} "
            f"| {label_of(s['best']) if s['best'] != '-' else '-'} | {_by_seed(s, methods)} "
            f"| {_each(s, methods, 'cpu_seconds', _whole)} | {_each(s, methods, 'wall_seconds', _whole)} "
            f"| {_each(s, methods, 'iterations', _whole)} | {_each(s, methods, 'params', _count)} "
            f"| {_paper(s['paper_hf'])} | {_paper(s['paper_lstm'])} |")
    lines += [
        "",
        "Values are means ± standard deviation over seeds (finished runs only); \"best\" is the method with the "
        "best mean, \"best, by seed\" counts the seeds (of those every method ran) on which a method's run beat "
        "every other method's run of the same seed. CPU and wall time are each "
        "run's `time.cpu` and `time.elapsed`: iterations and test evaluations, without start-up and logging; "
        "wall time above CPU time is time the run waited for a core."
        + (f" In all: {total[0]} runs, {_hours(total[1])} CPU-hours and {_hours(total[2])} hours of wall time in "
           "training." if total else ""),
        "",
        "**Our data sets are offline stand-ins for the paper's**: bouncing balls from our own simulator, Bach "
        "chorales from music21's corpus on an eighth-note grid instead of the paper's MIDI collection, speech "
        "synthesised with espeak-ng instead of TIMIT (docs/natural-tasks.md). The paper's normalisation of Table 1 "
        "is not known either. So the absolute numbers are not comparable with the paper's, which are shown for "
        "reference only; compare our columns with each other.",
    ]
    pictures = list(pictures)
    if pictures:
        lines += ["", "Predictions of the final parameters on the first test window (lowest seed): "
                  + ", ".join(f"[{Path(p).stem}]({p})" for p in pictures) + "."]
    return "\n".join(lines)


def fetch_pictures(uri: str, rows: Iterable[dict[str, Any]], out: Path) -> list[Path]:
    """Each (task, method)'s predictions picture of its lowest seed (artifact ``plots/predictions.png``), copied
    to ``<out>/predictions/<task>-<method>.png``; a run without the picture is passed over."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    found: dict[tuple[str, str], Path] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for r in sorted(rows, key=lambda r: int(r["seed"])):
            if (r["task"], r["method"]) in found:
                continue
            try:
                source = client.download_artifacts(r["run_id"], "plots/predictions.png", f"{tmp}/{r['run_id']}")
            except Exception:  # no picture (a task that draws none, a run that ended before any)
                continue
            target = out / "predictions" / f"{r['task']}-{r['method']}.png"
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
            found[r["task"], r["method"]] = target
    return sorted(found.values())


def write_report(rows: list[dict[str, Any]], out: Path, sweep: str, pictures: Iterable[Path] = ()) -> str:
    """``runs.csv``, ``table1.csv`` and ``table1.md`` in ``out`` from ``rows`` (the runs of one budget);
    returns the Markdown (``pictures``: files under ``out`` that it links to)."""
    out.mkdir(parents=True, exist_ok=True)
    with (out / "runs.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(RUN_FIELDS))
        writer.writeheader()
        writer.writerows({k: r[k] for k in RUN_FIELDS} for r in rows)
    summary = aggregate(rows)
    settings = {"sweep": sweep, "budget_seconds": rows[0]["budget_seconds"], "budget_clock": rows[0]["budget_clock"]}
    total = (len(rows), sum(as_float(r["cpu_seconds"]) for r in rows), sum(as_float(r["wall_seconds"]) for r in rows))
    text = markdown(summary, settings, [p.relative_to(out).as_posix() for p in pictures], total)
    (out / "table1.md").write_text(text + "\n")
    if summary:
        with (out / "table1.csv").open("w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(summary[0]))
            writer.writeheader()
            writer.writerows(summary)
    return text

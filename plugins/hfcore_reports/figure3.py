"""The Figure 3 report (M&S 2011): minibatches to success and failure rate against T, per problem and method.

Rows are runs (``problem, T, method, seed, state, solved, minibatches, iterations, wall_seconds, ...``), read
from one or more MLflow stores (:func:`rows_from_store`) and from the ``runs.csv`` tables that the earlier
``hf-figure3`` harness wrote (:func:`rows_from_csv`); :func:`combine` merges the sources, and
:func:`write_report` turns the rows into ``runs.csv``, ``summary.csv``, ``summary.md`` and ``figure3.png``.
A run that has not finished (still running, or stopped part-way and waiting to be resumed) is listed with its
last iteration and is not counted, as a success or as a failure.
"""

from __future__ import annotations

import csv
import math
import statistics
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from hfcore_reports.methods import (
    VARIANT,
    Training,
    apply_variants,
    model_label,
    order,
    run_settings,
    split_variant,
    training_of,
    variant_words,
)
from hfcore_reports.store import FINISHED, ReportError, runs_of, state_of, state_of_exit

REPORT_FILES = ("runs.csv", "summary.csv", "summary.md", "figure3.png")
RUN_FIELDS = ("problem", "T", "method", "seed", "state", "solved", "minibatches", "iterations", "wall_seconds",
              "cpu_seconds", "test_error", "run_id", "source", "hf")
"""The columns of this report's ``runs.csv``; ``hf`` is an HF run's preset where known (tag ``hf``), so that a
table read back keeps runs of another preset apart."""
CSV_FIELDS = ("problem", "T", "method", "seed", "solved", "minibatches", "iterations", "wall_seconds", "returncode")
"""The columns a ``runs.csv`` of the earlier harness must have (``test_error`` and ``run_id`` are read if there)."""
REPORT_CSV_FIELDS = ("problem", "T", "method", "seed", "state", "solved", "minibatches", "iterations", "wall_seconds")
"""The columns of this report's own ``runs.csv`` (:data:`RUN_FIELDS`) that a table read back must have."""
STATES = (FINISHED, "running", "stopped", "failed")
"""A run's states (:func:`hfcore_reports.store.state_of`), as this report's ``runs.csv`` records them."""

PROBLEMS = ("addition", "multiplication", "xor", "temporal_order", "temporal_order_3bit", "random_permutation",
            "memorization_5bit", "memorization_20bit")
"""The paper's seven problems in its order, memorization in its 5- and 20-bit variants."""
METHODS = {"structural": ("HF, structural damping", "C0", "o"), "tikhonov": ("HF, Tikhonov damping only", "C3", "s"),
           "sgd": ("SGD + momentum", "C2", "^"), "sgd-nesterov": ("SGD (Nesterov)", "C4", "v"),
           "adam": ("Adam", "C1", "D")}
"""Words, colour and marker of each method of training (the paper's colours: blue structural, red Tikhonov), for
any model; HF by its damping."""
SHORT_WORDS = {"structural": "structural", "tikhonov": "Tikhonov", "sgd": "SGD", "sgd-nesterov": "SGD (Nesterov)",
               "adam": "Adam"}
"""A method of training in a cell of :func:`grid_markdown`, where the problem and T are the row and column."""
LINESTYLES = {"rnn": "-", "lstm": "--", "gru": ":"}
"""The line of each model (another model's is dash-dotted)."""


def method_key(tags: dict[str, str], params: dict[str, str]) -> str:
    """A run's method: HF's damping or the optimiser (``sgd``, ``sgd-nesterov``, ``adam``), after the model for
    a model other than the paper's tanh RNN (``lstm-structural``, ``lstm-adam``, ``gru-sgd-nesterov``)."""
    training = training_of(params, tags) or Training("rnn", "hf")
    hf = tags.get("solver", "cg") == "cg" and training.optimizer == "hf"
    base = tags["damping"] if hf else training.optimizer
    return base if training.model == "rnn" else f"{training.model}-{base}"


def split_key(method: str) -> tuple[str, str]:
    """(model, method of training) of a :func:`method_key`: ``lstm-sgd-nesterov`` is (``lstm``,
    ``sgd-nesterov``), ``tikhonov`` (``rnn``, ``tikhonov``); a variant (``lstm-structural@forget_bias=3.0``)
    is left out."""
    method = method.partition(VARIANT)[0]
    if method in METHODS or "-" not in method:
        return "rnn", method
    model, _, base = method.partition("-")
    return model, base


def method_label(method: str) -> str:
    """What the legend and the tables call a :func:`method_key`: ``RNN + HF, structural damping``, ``LSTM +
    Adam``, ``LSTM + SGD (Nesterov)``; an unknown method of training by its own name; a variant after it in
    brackets: ``LSTM + HF, structural damping (forget_bias=3.0)``."""
    model, base = split_key(method)
    words = METHODS[base][0] if base in METHODS else base
    return f"{model_label(model)} + {words}{variant_words(method)}"


def method_short(method: str) -> str:
    """A :func:`method_key` in few words, for a table cell: ``structural``, ``LSTM Adam``, ``SGD``; a variant
    after it in brackets."""
    model, base = split_key(method)
    words = SHORT_WORDS.get(base, base)
    return (words if model == "rnn" else f"{model_label(model)} {words}") + variant_words(method)


VARIANT_MARKERS = ("P", "X", "*", "h", "d", "p")
"""The markers of a method's variants, in their order (:func:`method_styles`)."""


def method_style(method: str) -> tuple[str, str, str]:
    """(colour, marker, line style) of a method in the plot: colour and marker by the method of training, line
    style by the model."""
    model, base = split_key(method)
    colour, marker = METHODS[base][1:] if base in METHODS else ("C7", "x")
    return colour, marker, LINESTYLES.get(model, "-.")


def method_styles(methods: Iterable[str]) -> dict[str, tuple[str, str, str]]:
    """:func:`method_style` of each method, except that the variants of one method (``structural@hf=is11``,
    ``structural@hf=ms2011``) keep its colour and line but take a marker each from :data:`VARIANT_MARKERS`, in
    their order, so that they can be told apart."""
    styles = {m: method_style(m) for m in methods}
    variants: dict[str, list[str]] = {}
    for method in sorted(m for m in styles if VARIANT in m):
        variants.setdefault(method.partition(VARIANT)[0], []).append(method)
    for members in variants.values():
        for i, method in enumerate(members):
            colour, _, line = styles[method]
            styles[method] = (colour, VARIANT_MARKERS[i % len(VARIANT_MARKERS)], line)
    return styles


def run_row(tags: dict[str, str], params: dict[str, str], metrics: dict[str, float], run_id: str,
            state: str = FINISHED) -> dict[str, Any]:
    """One run of a Figure 3 grid as a report row, from its MLflow tags, params and latest metrics.

    The problem is the ``ms2011_*`` preset's name (tag ``experiment``), the method its :func:`method_key` (the
    damping for HF, the optimiser otherwise, after the model unless the RNN). M&S Fig. 3: a run using more than
    its budget (``hf.budget_minibatches``) is a failure, even if its last iteration solved the task. A run that
    has not finished is not solved (yet).
    """
    experiment = tags.get("experiment", "none")
    minibatches = metrics.get("cost.minibatches", math.nan)
    budget = float(params.get("hf.budget_minibatches", "inf") or "inf")
    return {
        "problem": experiment.removeprefix("ms2011_") if experiment != "none" else tags.get("task", ""),
        "T": int(tags["T"]),
        "method": method_key(tags, params),
        "seed": int(tags["seed"]),
        "state": state,
        "solved": state == FINISHED and bool(metrics.get("task.solved", 0.0)) and minibatches <= budget,
        "minibatches": minibatches,
        # one gradient per HF iteration or SGD step, counted across resumes
        "iterations": int(metrics.get("cost.gradient_evals", 0)),
        "wall_seconds": metrics.get("time.elapsed", math.nan),
        "cpu_seconds": metrics.get("time.cpu", math.nan),  # the process's CPU time, across resumes
        "test_error": metrics.get("test.error", math.nan),
        "run_id": run_id,
    }


def rows_from_store(uri: str, experiment: str, filter_string: str,
                    extra: Callable[[dict[str, str]], dict[str, Any] | None] | None = None) -> list[dict[str, Any]]:
    """Every hf-train run of ``experiment`` in the store at ``uri`` that ``filter_string`` selects, one row each.

    Finished runs and runs still going or stopped part-way alike (:func:`hfcore_reports.store.state_of`), in
    the order they started; tagged with the source ``uri`` and with the run's ``settings``
    (:func:`hfcore_reports.methods.run_settings`). ``extra``, given a run's params, returns more columns
    for its row, or None to leave the run out. Raises :class:`ReportError` (see
    :func:`hfcore_reports.store.runs_of`).
    """
    rows = []
    for run in runs_of(uri, experiment, filter_string, finished_only=False):
        params = run.data.params
        more = extra(params) if extra is not None else {}
        if more is None:
            continue
        row = run_row(run.data.tags, params, run.data.metrics, run.info.run_id, state_of(run))
        rows.append({**row, "source": uri, "settings": run_settings(params, run.data.tags), **more})
    return rows


def rows_from_csv(path: Path) -> list[dict[str, Any]]:
    """The runs recorded in a ``runs.csv``, one row each: one that this report wrote (:func:`write_report`), or
    one of the earlier harness (``hf-figure3``).

    The report's table records each run's state and source, which are kept: a run still running when the
    table was written is listed so again, not counted. In the harness's, a row with a non-zero ``returncode``
    is a run that did not finish (stopped by a signal, or crashed), and the source is ``path``. A row's
    ``settings`` are those its method's variant names (``structural@hf=is11``, see
    :func:`~hfcore_reports.methods.split_variant`; the method keeps its base key) and the table's ``hf`` column,
    where it has one and the cell is not empty (the run's HF preset), so that :func:`combine` marks variants
    afresh among all the sources' runs.

    Raises
    ------
    ReportError
        The file cannot be read, lacks a column of :data:`REPORT_CSV_FIELDS` (a table with a ``state`` column)
        or :data:`CSV_FIELDS`, or holds a value that is not a number or a state.
    """
    try:
        with path.open(newline="") as fh:
            reader = csv.DictReader(fh)
            own = "state" in (reader.fieldnames or ())  # the report's own table, else the harness's
            missing = [c for c in (REPORT_CSV_FIELDS if own else CSV_FIELDS) if c not in (reader.fieldnames or ())]
            if missing:
                raise ReportError(f"{path}: not a Figure 3 runs.csv (no column {', '.join(missing)})")
            rows = []
            for line, r in enumerate(reader, start=2):
                try:
                    rows.append(_csv_row(r, path, own))
                except ValueError as exc:
                    raise ReportError(f"{path}, line {line}: {exc}") from None
            return rows
    except OSError as exc:
        raise ReportError(f"cannot read {path}: {exc.strerror or exc}") from None


def _csv_row(r: dict[str, str], path: Path, own: bool) -> dict[str, Any]:
    """One report row from a line of a ``runs.csv`` (``own``: the report's table, else the harness's)."""
    if own:
        state = r["state"]
        if state not in STATES:
            raise ValueError(f"state {state!r} is not one of {', '.join(STATES)}")
    else:
        state = state_of_exit(int(r["returncode"]))
    # The variant the table's report gave the run is its settings again, to be compared with other sources' runs.
    method, settings = split_variant(r["method"])
    if r.get("hf"):
        settings["hf"] = r["hf"]
    return {
        "problem": r["problem"], "T": int(r["T"]), "method": method, "seed": int(r["seed"]),
        "state": state, "solved": state == FINISHED and r["solved"] == "True",
        "minibatches": float(r["minibatches"] or "nan"),
        "iterations": int(float(r["iterations"] or 0)),
        "wall_seconds": float(r["wall_seconds"] or "nan"),
        "cpu_seconds": float(r.get("cpu_seconds") or "nan"),  # not in the harness's tables
        "test_error": float(r.get("test_error") or "nan"), "run_id": r.get("run_id") or "",
        "source": (r.get("source") or str(path)) if own else str(path),
        **({"settings": settings} if settings else {})}


def combine(sources: Iterable[Sequence[dict[str, Any]]]) -> list[dict[str, Any]]:
    """One row per problem, T, method and seed from several sources' rows, in the order given.

    A finished run is never replaced by one that has not finished; otherwise the later row wins (a later
    source, or a later run of the same store), so list the sources from the oldest to the newest. Runs of one
    method on one problem whose settings differ (a store's rows record them; :func:`~hfcore_reports.methods.
    run_settings`) are methods of their own, their keys marked with the settings that differ:
    ``lstm-structural@forget_bias=1.0`` and ``lstm-structural@forget_bias=3.0``, ``structural@hf=ms2011`` and
    ``structural@hf=is11``. They are compared across T too, so that a line of the plot is one setting, and a
    setting that splits a method on one problem is named on every problem's runs of it that logged it, so that
    the legend shows one method under one label.
    """
    every = [dict(row) for rows in sources for row in rows]
    apply_variants(every, lambda r: (r["problem"], r["method"]), across=lambda r: r["method"])
    merged: dict[tuple, dict[str, Any]] = {}
    for row in every:
        key = (row["problem"], row["T"], row["method"], row["seed"])
        held = merged.get(key)
        if held is None or row["state"] == FINISHED or held["state"] != FINISHED:
            merged[key] = row
    return sorted(merged.values(), key=_order)


def _order(row: dict[str, Any]) -> tuple:
    problem = row["problem"]
    rank = PROBLEMS.index(problem) if problem in PROBLEMS else len(PROBLEMS)
    return (rank, problem, row["T"], _method_order(row["method"]), row["seed"])


def _method_order(method: str) -> tuple:
    """The RNN's methods first, then the LSTM's, the GRU's, others'; within a model HF (structural, then
    Tikhonov), SGD, SGD with Nesterov momentum, Adam, others."""
    model, base = split_key(method)
    rank = list(METHODS).index(base) if base in METHODS else len(METHODS)
    return (order(Training(model, "")), rank, method)


def aggregate(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per (problem, T, method): successes / finished runs, minibatches to success over the successes
    (median, mean, min, max), median CPU seconds to success, median wall time of the finished runs, and how many
    runs have not finished."""
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for r in sorted(rows, key=_order):
        groups.setdefault((r["problem"], int(r["T"]), r["method"]), []).append(r)
    out = []
    for (problem, T, method), rs in groups.items():
        done = [r for r in rs if r["state"] == FINISHED]
        ok = [float(r["minibatches"]) for r in done if r["solved"]]
        walls = [float(r["wall_seconds"]) for r in done if not math.isnan(float(r["wall_seconds"]))]
        cpus = [float(r["cpu_seconds"]) for r in done if r["solved"] and not math.isnan(float(r["cpu_seconds"]))]
        out.append({
            "problem": problem, "T": T, "method": method, "label": method_label(method), "successes": len(ok),
            "runs": len(done),
            "not_finished": len(rs) - len(done),
            "median_minibatches": statistics.median(ok) if ok else math.nan,
            "mean_minibatches": sum(ok) / len(ok) if ok else math.nan,
            "min_minibatches": min(ok) if ok else math.nan,
            "max_minibatches": max(ok) if ok else math.nan,
            "median_cpu_seconds": statistics.median(cpus) if cpus else math.nan,
            "median_wall_seconds": statistics.median(walls) if walls else math.nan,
        })
    return out


def _number(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:,.0f}"


def markdown(summary: list[dict[str, Any]], rows: Sequence[dict[str, Any]] = ()) -> str:
    """The results table (per problem x T x method: solved / finished runs, median and range of minibatches to
    success, median CPU seconds to success), then the runs of ``rows`` that have not finished, with their last
    iteration."""
    lines = ["| problem | T | method | solved / finished runs | median minibatches to success | min-max "
             "| median CPU s to success | not finished | median wall (s) |", "|---|---|---|---|---|---|---|---|---|"]
    for s in summary:
        span = f"{_number(s['min_minibatches'])}-{_number(s['max_minibatches'])}" if s["successes"] else "-"
        lines.append(f"| {s['problem']} | {s['T']} | {method_label(s['method'])} | {s['successes']}/{s['runs']} "
                     f"| {_number(s['median_minibatches'])} | {span} | {_number(s['median_cpu_seconds'])} "
                     f"| {s['not_finished'] or '-'} "
                     f"| {_number(s['median_wall_seconds'])} |")
    waiting = [r for r in rows if r["state"] != FINISHED]
    if waiting:
        lines += ["", "Runs not finished, not counted above: still running, or stopped part-way (a rerun of their "
                  "sweep resumes them from their checkpoints):", "",
                  "| problem | T | method | seed | state | last iteration | minibatches so far | source |",
                  "|---|---|---|---|---|---|---|---|"]
        lines += [f"| {r['problem']} | {r['T']} | {method_label(r['method'])} | {r['seed']} | {r['state']} "
                  f"| {r['iterations']} "
                  f"| {_number(float(r['minibatches']))} | {r['source']} |" for r in waiting]
    return "\n".join(lines)


def grid_markdown(summary: list[dict[str, Any]]) -> str:
    """The results as a grid: a row per problem, a column per T, and in each cell every method run there with
    its successes / finished runs and median minibatches to success (``structural 2/2 · 1,602``), and the runs
    not finished; ``-`` where nothing ran. What is missing from a grid shows at a glance."""
    lengths = sorted({s["T"] for s in summary})
    cells: dict[tuple[str, int], list[str]] = {}
    for s in summary:  # in the paper's order, methods in their order (aggregate sorts its rows)
        text = f"{method_short(s['method'])} {s['successes']}/{s['runs']}"
        if s["successes"]:
            text += f" · {_number(s['median_minibatches'])}"
        if s["not_finished"]:
            text += f" (+{s['not_finished']} not finished)"
        cells.setdefault((s["problem"], s["T"]), []).append(text)
    lines = ["| problem | " + " | ".join(f"T = {t}" for t in lengths) + " |", "|---" * (len(lengths) + 1) + "|"]
    for problem in dict.fromkeys(s["problem"] for s in summary):
        lines.append(f"| {problem.replace('_', ' ')} | "
                     + " | ".join("<br>".join(cells.get((problem, t), ["-"])) for t in lengths) + " |")
    return "\n".join(lines)


def write_report(rows: list[dict[str, Any]], out: Path) -> list[dict[str, Any]]:
    """``runs.csv`` (the rows), ``summary.csv``, ``summary.md`` and ``figure3.png`` in ``out``; prints the
    table and returns the summary."""
    out.mkdir(parents=True, exist_ok=True)
    with (out / "runs.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(RUN_FIELDS))
        writer.writeheader()
        writer.writerows({k: r.get("settings", {}).get("hf", "") if k == "hf" else r.get(k, "") for k in RUN_FIELDS}
                         for r in rows)
    summary = aggregate(rows)
    with (out / "summary.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(summary[0]))
        writer.writeheader()
        writer.writerows(summary)
    text = (f"{grid_markdown(summary)}\n\nEach cell: successes / finished runs and the median minibatches to "
            f"success, per method.\n\n{markdown(summary, rows)}")
    (out / "summary.md").write_text(text + "\n")
    plot(summary, out / "figure3.png")
    print(text)
    return summary



def _two_and_five(value: float, _position: int) -> str:
    """A minor tick's label on a log axis: only at 2 and 5 times a power of ten (20, 50, 200, ...)."""
    lead = round(value / 10 ** math.floor(math.log10(value)))
    return f"{value:,.0f}" if lead in (2, 5) else ""

def plot(summary: list[dict[str, Any]], path: Path) -> None:
    """Figure 3 style, one panel pair per problem (four to a row): minibatches to success against T (median,
    min/max bars; log scales) above the failure rate of the finished runs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, NullLocator

    problems = list(dict.fromkeys(s["problem"] for s in summary))  # summary is in the paper's order
    cols = min(4, len(problems))
    rows = math.ceil(len(problems) / cols)
    fig = plt.figure(figsize=(3.6 * cols, 4.6 * rows), layout="constrained")
    outer = fig.add_gridspec(rows, cols)
    lengths = sorted({s["T"] for s in summary})
    methods = sorted({s["method"] for s in summary}, key=_method_order)
    styles = method_styles(methods)
    for i, problem in enumerate(problems):
        inner = outer[i // cols, i % cols].subgridspec(2, 1, height_ratios=(2.2, 1), hspace=0.05)
        top = fig.add_subplot(inner[0])
        bottom = fig.add_subplot(inner[1], sharex=top)
        mine = [s for s in summary if s["problem"] == problem]
        for method in methods:
            cells = [s for s in mine if s["method"] == method and s["runs"]]
            _draw_method(top, bottom, cells, method, styles[method])
        waiting = sum(s["not_finished"] for s in mine)
        if waiting:
            # Above the axes, not in them, where it would cover the tick labels or a point.
            top.set_title(f"{waiting} run{'s' * (waiting > 1)} not finished", loc="right", fontsize=7, color="0.4")
        top.set_title(problem.replace("_", " "), loc="left", fontsize=10)
        top.set_yscale("log")
        top.set_xscale("log")  # T = 30, 50, 100, 200 evenly apart, as in the paper
        top.set_xlim(lengths[0] / 1.3, lengths[-1] * 1.3)  # the same T axis in every panel
        top.set_xticks(lengths, [str(t) for t in lengths])
        top.xaxis.set_minor_locator(NullLocator())
        plain = FuncFormatter(lambda v, _: f"{v:,.0f}")  # 3,000 rather than 3 x 10^3
        top.yaxis.set_major_formatter(plain)
        low, high = top.get_ylim()
        # Label every minor tick on a short axis; on a longer one only 2s and 5s, or the labels pile up.
        top.yaxis.set_minor_formatter(plain if high < 3 * low else FuncFormatter(_two_and_five))
        top.tick_params(labelbottom=False)
        bottom.set_ylim(-0.05, 1.05)
        bottom.set_xlabel("T")
        if i % cols == 0:
            top.set_ylabel("minibatches to success")
            bottom.set_ylabel("failure rate")
        for ax in (top, bottom):
            ax.grid(alpha=0.3)
    handles = [plt.Line2D([], [], color=c, marker=m, linestyle=ls, label=label)
               for label, (c, m, ls) in legend(summary)]
    fig.legend(handles=handles, loc="outside lower center", ncols=min(len(handles), 3), fontsize=8)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def legend(summary: Iterable[dict[str, Any]]) -> list[tuple[str, tuple[str, str, str]]]:
    """The plot's legend: each method of ``summary`` in order (:func:`_method_order`), its label and its
    (colour, marker, line style)."""
    methods = sorted({s["method"] for s in summary}, key=_method_order)
    styles = method_styles(methods)
    return [(method_label(m), styles[m]) for m in methods]


def _draw_method(top: Any, bottom: Any, cells: list[dict[str, Any]], method: str,
                 style: tuple[str, str, str]) -> None:
    """One method's line in a problem's panels, drawn in ``style`` (colour, marker, line): its median minibatches
    (min/max bars) and its failure rate."""
    if not cells:
        return
    color, marker, linestyle = style
    label = method_label(method)
    solved = [s for s in cells if s["successes"]]
    if solved:
        median = [s["median_minibatches"] for s in solved]
        spread = [[m - s["min_minibatches"] for m, s in zip(median, solved, strict=True)],
                  [s["max_minibatches"] - m for m, s in zip(median, solved, strict=True)]]
        top.errorbar([s["T"] for s in solved], median, yerr=spread, color=color, marker=marker, linestyle=linestyle,
                     capsize=3, label=label)
    bottom.plot([s["T"] for s in cells], [1 - s["successes"] / s["runs"] for s in cells], color=color,
                marker=marker, linestyle=linestyle, label=label)

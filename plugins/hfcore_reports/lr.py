"""The learning-rate sweeps' report (``sweep=adam_lr``, ``sweep=adam_lr_natural``): which rate each baseline uses.

The rule (docs/configuration.md, "Choosing the baseline's learning rate"): of the rates tried for one problem, T
and model (its size and every other ``model.*`` setting in which the runs differ), the baseline uses the one
whose runs ended with the lowest error on held-out data; rates that solved the problem tie, and the tie goes to
the fewest minibatches to success. A rate at the edge of the grid is a sign to extend the grid. A choice made
while some of the grid's runs have not finished is provisional.

:func:`rows_from_store` reads the runs, :func:`choose` applies the rule to each group of runs, and
:func:`write_report` writes ``lr.md``, ``lr.csv`` and ``lr.png`` (held-out error against the learning rate).
"""

from __future__ import annotations

import csv
import math
import statistics
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hfcore_reports import figure3
from hfcore_reports.figure3 import method_label
from hfcore_reports.methods import mark_variants
from hfcore_reports.store import FINISHED

REPORT_FILES = ("lr.md", "lr.csv", "lr.png")
CSV_FIELDS = ("problem", "T", "method", "hidden", "variant", "learning_rate", "seed", "state", "solved", "minibatches",
              "test_error", "run_id")


@dataclass(frozen=True)
class Rate:
    """The runs of one learning rate in one group (seeds), summed up."""

    learning_rate: float
    runs: int
    finished: int
    solved: int
    error: float
    """Median final held-out error of the finished runs (NaN if none finished)."""
    minibatches: float
    """Median minibatches of the finished runs (to success, where every one solved)."""

    @property
    def complete(self) -> bool:
        """Every run of this rate has finished."""
        return self.finished == self.runs

    @property
    def all_solved(self) -> bool:
        """Every run of this rate finished and solved the problem."""
        return self.runs > 0 and self.solved == self.runs


@dataclass(frozen=True)
class Choice:
    """The rate a group's baseline uses, and why."""

    problem: str
    T: int
    method: str
    hidden: str
    rates: list[Rate] = field(default_factory=list)
    chosen: Rate | None = None
    variant: str = ""
    """The model settings (other than the size) that set this group apart from the others of its problem, T,
    method and size, e.g. ``forget_bias=3.0``; empty where all their runs share them."""

    @property
    def label(self) -> str:
        """``addition T=100, LSTM + Adam (50 units, forget_bias=3.0)``."""
        model = ", ".join(x for x in (f"{self.hidden} units" if self.hidden else "", self.variant) if x)
        return f"{self.problem} T={self.T}, {method_label(self.method)}" + (f" ({model})" if model else "")

    @property
    def provisional(self) -> bool:
        """Some run of the grid has not finished: the choice may change when it does."""
        return not all(r.complete for r in self.rates)

    @property
    def edge(self) -> str:
        """``smallest`` or ``largest`` if the chosen rate is at that edge of the grid (of two or more), else ``''``."""
        if self.chosen is None or len(self.rates) < 2:
            return ""
        rates = [r.learning_rate for r in self.rates]
        if self.chosen.learning_rate == min(rates):
            return "smallest"
        return "largest" if self.chosen.learning_rate == max(rates) else ""

    def sentence(self) -> str:
        """One line: the chosen rate, the reason, and what is provisional or at the edge."""
        if self.chosen is None:
            return f"{self.label}: no rate yet (no run of the grid has finished)"
        c = self.chosen
        why = (f"solved in the fewest minibatches ({c.minibatches:,.0f}) of {sum(r.all_solved for r in self.rates)} "
               f"rate(s) that solved it" if c.all_solved else
               f"the lowest held-out error ({c.error:.4g}) of {sum(r.finished > 0 for r in self.rates)} rate(s)")
        notes = []
        if self.provisional:
            waiting = sum(not r.complete for r in self.rates)
            notes.append(f"provisional: {waiting} rate(s) have runs not finished")
        if self.edge:
            notes.append(f"the {self.edge} rate of the grid: extend the grid "
                         f"{'down' if self.edge == 'smallest' else 'up'}")
        return (f"{self.label}: optimizer.learning_rate={c.learning_rate:g}, {why}"
                + "".join(f"; {n}" for n in notes))


def _learning_rate(params: dict[str, str]) -> dict[str, Any] | None:
    rate = params.get("optimizer.learning_rate")
    if rate in (None, "", "None"):
        return None
    return {"learning_rate": float(rate), "hidden": params.get("model.hidden", "")}


def rows_from_store(uri: str, experiment: str, filter_string: str) -> list[dict[str, Any]]:
    """The sweep's runs in the store at ``uri`` (finished or not), one row each: a Figure 3 row
    (:func:`hfcore_reports.figure3.rows_from_store`, with the run's ``settings``) with its ``learning_rate``
    and ``hidden`` (model size).
    Runs that logged no learning rate (HF runs) are left out. Raises :class:`hfcore_reports.store.ReportError`."""
    return figure3.rows_from_store(uri, experiment, filter_string, extra=_learning_rate)


def _rate(learning_rate: float, runs: list[dict[str, Any]]) -> Rate:
    finished = [r for r in runs if r["state"] == FINISHED]
    errors = [r["test_error"] for r in finished if not math.isnan(r["test_error"])]
    counts = [r["minibatches"] for r in finished if not math.isnan(r["minibatches"])]
    return Rate(learning_rate, len(runs), len(finished), sum(bool(r["solved"]) for r in finished),
                statistics.median(errors) if errors else math.nan,
                statistics.median(counts) if counts else math.nan)


def pick(rates: list[Rate]) -> Rate | None:
    """The rule: of the rates with a finished run, those that solved every run tie and the fewest minibatches
    wins; if none solved, the lowest median held-out error wins. None if no rate has a finished run with an
    error."""
    solved = [r for r in rates if r.all_solved]
    if solved:
        return min(solved, key=lambda r: (r.minibatches, r.learning_rate))
    scored = [r for r in rates if r.finished and not math.isnan(r.error)]
    return min(scored, key=lambda r: (r.error, r.learning_rate)) if scored else None


def choose(rows: Iterable[dict[str, Any]]) -> list[Choice]:
    """One :class:`Choice` per problem, T, method and model (its size and each other ``model.*`` setting in
    which those runs differ: runs of another forget-gate bias are another model, not another seed), its rates
    pooled over seeds. Sets each row's ``variant`` (those settings, as in :attr:`Choice.variant`)."""
    rows = list(rows)
    mark_variants(rows, lambda r: (r["problem"], r["T"], r["method"], r["hidden"]))
    groups: dict[tuple, dict[float, list[dict[str, Any]]]] = {}
    for row in rows:
        key = (row["problem"], row["T"], row["method"], row["hidden"], row["variant"])
        groups.setdefault(key, {}).setdefault(row["learning_rate"], []).append(row)
    choices = []
    for (problem, T, method, hidden, variant), by_rate in sorted(groups.items()):
        rates = [_rate(lr, runs) for lr, runs in sorted(by_rate.items())]
        choices.append(Choice(problem, T, method, hidden, rates, pick(rates), variant))
    return choices


def markdown(choices: list[Choice]) -> str:
    """``lr.md``: per group, the choice in a sentence and the table of its rates."""
    lines = ["# Learning-rate sweeps", "",
             "Rule: the lowest final error on held-out data; rates that solved the problem tie, and the fewest "
             "minibatches to success wins (docs/configuration.md, \"Choosing the baseline's learning rate\").", ""]
    for choice in choices:
        lines += [f"## {choice.label}", "", choice.sentence(), "",
                  "| learning rate | runs | finished | solved | held-out error (median) | minibatches (median) "
                  "| chosen |", "|---|---|---|---|---|---|---|"]
        for r in choice.rates:
            error = "-" if math.isnan(r.error) else f"{r.error:.4g}"
            counts = "-" if math.isnan(r.minibatches) else f"{r.minibatches:,.0f}"
            mark = "**yes**" if r is choice.chosen else ""
            lines.append(f"| {r.learning_rate:g} | {r.runs} | {r.finished} | {r.solved} | {error} | {counts} "
                         f"| {mark} |")
        lines.append("")
    return "\n".join(lines)


def plot(choices: list[Choice], path: Path) -> None:
    """``lr.png``: median final held-out error against the learning rate (log scale), a line per group; a
    filled marker where every run of the rate solved the problem, a ring around the chosen rate."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for i, choice in enumerate(choices):
        colour = f"C{i % 10}"
        shown = [r for r in choice.rates if not math.isnan(r.error)]
        ax.plot([r.learning_rate for r in shown], [r.error for r in shown], "-", color=colour, label=choice.label)
        for r in shown:
            ax.plot(r.learning_rate, r.error, "o", color=colour,
                    markerfacecolor=colour if r.all_solved else "white")
        if choice.chosen is not None and not math.isnan(choice.chosen.error):
            ax.plot(choice.chosen.learning_rate, choice.chosen.error, "o", markersize=14, markerfacecolor="none",
                    color=colour)
    ax.set_xscale("log")
    tried = sorted({r.learning_rate for c in choices for r in c.rates})
    ax.set_xticks(tried, [f"{r:g}" for r in tried])
    ax.minorticks_off()
    ax.set_xlabel("learning rate")
    ax.set_ylabel("final held-out error (median over seeds)")
    ax.margins(x=0.08, y=0.08)
    ax.set_title("Learning-rate sweeps (filled: solved; ringed: chosen)")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write_report(rows: list[dict[str, Any]], out: Path) -> list[Choice]:
    """Write ``lr.md``, ``lr.csv`` (one line per run) and ``lr.png`` to ``out``; returns the choices."""
    out.mkdir(parents=True, exist_ok=True)
    choices = choose(rows)
    (out / "lr.md").write_text(markdown(choices))
    with (out / "lr.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=CSV_FIELDS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(sorted(rows, key=lambda r: (r["problem"], r["T"], r["method"], r["hidden"],
                                                     r["variant"], r["learning_rate"], r["seed"])))
    plot(choices, out / "lr.png")
    return choices

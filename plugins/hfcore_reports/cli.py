"""``hf-report``: the paper's figures and tables, read back from the MLflow store.

The runs are those of the grids in ``conf/sweep/`` (and, for Figure 3, ``runs.csv`` tables may be added: the
earlier harness's, or one this report wrote). Nothing is written to a store.

Examples::

    hf-report figure3 --sweep figure3_quick --out figure3-quick
    hf-report figure3 --filter "tags.sweep = 'figure3_full' and tags.T = '100'" --out figure3-t100
    hf-report figure3 --sweep figure3_full --uri sqlite:///a.db sqlite:///b.db \\
        --csv docs/results/figure3-t100/runs.csv --out figure3-all
    hf-report table1 --sweep table1_quick --out table1-quick
    hf-report curves --sweep figure3_full --unsolved --out figure3-curves
    hf-report lr --sweep adam_lr --out adam-lr
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn, TypeVar

T = TypeVar("T")

PROG = "hf-report"


def fail(message: str) -> NoReturn:
    """One line on stderr and exit status 2 (bad input; nothing is written)."""
    print(f"{PROG}: error: {message}", file=sys.stderr)
    raise SystemExit(2)


def _selection(parser: argparse.ArgumentParser, experiment: str) -> None:
    parser.add_argument("--sweep", help="the grid's sweep tag (tracking.tags.sweep), e.g. figure3_quick")
    parser.add_argument("--filter", default="", help="an MLflow search filter, ANDed with --sweep's")
    parser.add_argument("--experiment", default=experiment, help="MLflow experiment (default: %(default)s)")


def _stores_and_out(parser: argparse.ArgumentParser, out_default: str) -> None:
    parser.add_argument("--uri", nargs="+", default=[], metavar="URI",
                        help="tracking stores to read (default: $MLFLOW_TRACKING_URI or ./mlflow.db)")
    parser.add_argument("--out", type=Path, default=None, help=f"output folder (default: {out_default})")


def parse(argv: list[str] | None) -> argparse.Namespace:
    """The command line: a subcommand per report."""
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0].split(": ", 1)[1],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__[__doc__.index("Examples"):].replace("::", ":"))
    sub = parser.add_subparsers(dest="report", required=True)
    fig3 = sub.add_parser(
        "figure3", help="M&S 2011 Figure 3: plot and table of the runs of the Figure 3 grids",
        description="Writes runs.csv, summary.csv, summary.md and figure3.png to --out from the runs of one or "
                    "more MLflow stores (--uri; those the filter selects) and runs.csv tables (--csv). One row per "
                    "problem, T, method and seed: a finished run wins over one not finished, else the later "
                    "source (stores after tables, each in the order given). Runs not finished are listed with "
                    "their last iteration and not counted.")
    _selection(fig3, "hfcore-figure3")
    fig3.add_argument("--uri", nargs="+", default=[], metavar="URI",
                      help="tracking stores to read (default: $MLFLOW_TRACKING_URI or ./mlflow.db, unless --csv "
                           "is given alone)")
    fig3.add_argument("--csv", nargs="+", default=[], type=Path, metavar="RUNS_CSV",
                      help="runs.csv tables: of the earlier hf-figure3 harness, or written by this report "
                           "(docs/results/figure3-*/runs.csv)")
    fig3.add_argument("--out", type=Path, default=None, help="output folder (default: the sweep name, or "
                                                             "figure3-report)")
    t1 = sub.add_parser("table1", help="M&S 2011 Table 1: RNN + HF against LSTM + SGD (and any other model and "
                        "optimiser of the runs) on the natural tasks",
                        description="Writes runs.csv, table1.csv, table1.md and predictions/ to --out from the "
                                    "FINISHED runs the filter selects (the latest run of each task, method and "
                                    "seed), all of one time budget.")
    _selection(t1, "hfcore-table1")
    t1.add_argument("--uri", default=None, help="tracking URI (default: $MLFLOW_TRACKING_URI or ./mlflow.db)")
    t1.add_argument("--out", type=Path, default=None, help="output folder (default: the sweep name, or "
                                                           "table1-report)")
    curves = sub.add_parser("curves", help="the learning curve of each run of a grid, drawn from its metrics",
                            description="Writes one picture per run (train and test objective, test error, and "
                                        "lambda or the step length, against paper minibatches) and an index, "
                                        "curves.md, to --out, for the runs the filter selects in one or more "
                                        "stores, finished or not (a run stopped part-way, or still running, up to "
                                        "its last logged iteration).")
    _selection(curves, "hfcore-figure3")
    _stores_and_out(curves, "the sweep name + '-curves', or curves-report")
    curves.add_argument("--unsolved", action="store_true",
                        help="only the runs that have not solved their task: failures, stalls, runs still going")
    lr = sub.add_parser("lr", help="the learning-rate sweeps: the rate each first-order baseline uses",
                        description="Applies the rule of docs/configuration.md (\"Choosing the baseline's learning "
                                    "rate\") to each problem, T and model of the runs the filter selects: the "
                                    "lowest final held-out error wins, rates that solved tie and the fewest "
                                    "minibatches wins. Prints the choices and writes lr.md, lr.csv and lr.png "
                                    "to --out. Runs not finished are listed; a choice made without them is "
                                    "marked provisional.")
    _selection(lr, "hfcore-lr-sweep")
    _stores_and_out(lr, "the sweep name, or lr-report")
    return parser.parse_args(argv)


def _query(args: argparse.Namespace, report: str, which: str) -> str:
    """The MLflow filter of ``--sweep`` and ``--filter``; fails if neither says ``which`` runs to read."""
    from hfcore_reports.store import sweep_filter

    query = sweep_filter(args.sweep, args.filter)
    if not query:
        fail(f"{report}: give --sweep or --filter ({which})")
    return query


def _read(read: Callable[[], T]) -> T:
    """``read()``, with a source that cannot be read (:class:`ReportError`) as the one-line failure."""
    from hfcore_reports.store import ReportError

    try:
        return read()
    except ReportError as exc:
        fail(str(exc))


def _out(args: argparse.Namespace, fallback: str, suffix: str = "") -> Path:
    """``--out``, else the sweep's name (``-`` for ``_``) and ``suffix``, else ``fallback``."""
    if args.out:
        return args.out
    return Path(args.sweep.replace("_", "-") + suffix if args.sweep else fallback)


def _stores(uris: list[str]) -> list[str]:
    """The stores given, else the default one ($MLFLOW_TRACKING_URI or ./mlflow.db)."""
    from hfcore.tracking import default_tracking_uri

    return uris or [default_tracking_uri()]


def lr(args: argparse.Namespace) -> None:
    """``hf-report lr``: the chosen learning rate of each group of a learning-rate sweep."""
    from hfcore_reports import lr as report

    query = _query(args, "lr", "which runs make the sweep, e.g. --sweep adam_lr")
    rows = _read(lambda: [row for uri in _stores(args.uri)
                          for row in report.rows_from_store(uri, args.experiment, query)])
    if not rows:
        fail(f"lr: no first-order runs in experiment '{args.experiment}' match {query!r}")
    out = _out(args, "lr-report")
    for choice in report.write_report(rows, out):
        print(choice.sentence())
    print(f"{PROG}: {len(rows)} runs; wrote {', '.join(str(out / n) for n in report.REPORT_FILES)}")


def curves(args: argparse.Namespace) -> None:
    """``hf-report curves``: one learning curve per selected run, and their index."""
    from hfcore_reports import figure3
    from hfcore_reports.curves import write_curves

    query = _query(args, "curves", "which runs to draw")
    rows = _read(lambda: figure3.combine(figure3.rows_from_store(uri, args.experiment, query)
                                         for uri in _stores(args.uri)))
    if args.unsolved:
        rows = [r for r in rows if not r["solved"]]
    if not rows:
        fail(f"curves: no {'unsolved ' if args.unsolved else ''}runs in experiment '{args.experiment}' match "
             f"{query!r}")
    out = _out(args, "curves-report", "-curves")
    index = write_curves(rows, out)
    print(f"{PROG}: {len(rows)} learning curves in {out}; index {index}")


def figure3(args: argparse.Namespace) -> None:
    """``hf-report figure3``: combine the sources, write the report."""
    from hfcore_reports import figure3 as report

    uris = _stores(args.uri) if args.uri or not args.csv else []
    query = _query(args, "figure3", "which runs of the store make the figure") if uris else args.filter
    sources = _read(lambda: [report.rows_from_csv(path) for path in args.csv]
                    + [report.rows_from_store(uri, args.experiment, query) for uri in uris])
    rows = report.combine(sources)
    if not rows:
        fail(f"figure3: no runs in experiment '{args.experiment}' match {query!r}" if uris else
             "figure3: the tables hold no runs")
    out = _out(args, "figure3-report")
    report.write_report(rows, out)
    waiting = sum(r["state"] != "finished" for r in rows)
    print(f"{PROG}: {len(rows)} runs ({waiting} not finished) from {len(sources)} source(s); wrote "
          f"{', '.join(str(out / n) for n in report.REPORT_FILES)}")


def table1(args: argparse.Namespace) -> None:
    """``hf-report table1``: the finished runs of one budget, the table and the pictures."""
    from hfcore_reports import table1 as report

    query = _query(args, "table1", "which runs make the table")
    (uri,) = _stores([args.uri] if args.uri else [])
    rows = _read(lambda: report.rows_from_store(uri, args.experiment, query))
    if not rows:
        fail(f"table1: no FINISHED runs of the natural tasks in experiment '{args.experiment}' match {query!r}")
    out = _out(args, "table1-report")
    pictures = report.fetch_pictures(uri, rows, out)
    print(report.write_report(rows, out, args.sweep or query, pictures))
    print(f"{PROG}: {len(rows)} runs; wrote {out / 'table1.md'}, {out / 'table1.csv'}, {out / 'runs.csv'}"
          + (f" and {len(pictures)} pictures in {out / 'predictions'}" if pictures else ""))


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # stderr is for errors
    args = parse(argv)
    {"figure3": figure3, "table1": table1, "curves": curves, "lr": lr}[args.report](args)


if __name__ == "__main__":
    main(sys.argv[1:])

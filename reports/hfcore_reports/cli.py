"""``hf-report``: the reports of a sweep, read from the MLflow store.

Examples::

    hf-report figure3 --sweep figure3_quick --out figure3-quick
    hf-report figure3 --filter "tags.sweep = 'figure3_full' and tags.T = '100'" --out figure3-t100
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

PROG = "hf-report"


def fail(message: str) -> None:
    """One line on stderr and exit status 2 (bad input; nothing is written)."""
    print(f"{PROG}: error: {message}", file=sys.stderr)
    raise SystemExit(2)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="report", required=True)
    fig3 = sub.add_parser("figure3", help="M&S 2011 Figure 3: plot and table of the runs of a Figure 3 grid",
                          description="Writes runs.csv, summary.csv, summary.md and figure3.png to --out from the "
                                      "FINISHED runs the filter selects (the latest run of each problem, T, method "
                                      "and seed).")
    fig3.add_argument("--sweep", help="the grid's sweep tag (tracking.tags.sweep), e.g. figure3_quick")
    fig3.add_argument("--filter", default="", help="an MLflow search filter, ANDed with --sweep's")
    fig3.add_argument("--experiment", default="hfcore-figure3", help="MLflow experiment (default: %(default)s)")
    fig3.add_argument("--uri", default=None, help="tracking URI (default: $MLFLOW_TRACKING_URI or ./mlflow.db)")
    fig3.add_argument("--out", default=None, help="output folder (default: the sweep name, or figure3-report)")
    args = parser.parse_args(argv)

    from hfcore.tracking import default_tracking_uri
    from hfcore_reports import figure3

    if not args.sweep and not args.filter:
        fail("figure3: give --sweep or --filter (which runs make the figure)")
    clauses = [f"tags.sweep = '{args.sweep}'"] if args.sweep else []
    if args.filter:
        clauses.append(args.filter)
    out = Path(args.out or (args.sweep.replace("_", "-") if args.sweep else "figure3-report"))
    try:
        rows = figure3.rows_from_store(args.uri or default_tracking_uri(), args.experiment, " and ".join(clauses))
    except figure3.ReportError as exc:
        fail(str(exc))
    if not rows:
        fail(f"figure3: no FINISHED runs in experiment '{args.experiment}' match {' and '.join(clauses)!r}")
    out.mkdir(parents=True, exist_ok=True)
    figure3.write_report(rows, out)
    print(f"{PROG}: {len(rows)} runs; wrote {', '.join(str(out / n) for n in figure3.REPORT_FILES)}")


if __name__ == "__main__":
    main(sys.argv[1:])

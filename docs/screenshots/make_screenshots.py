"""Screenshots of the MLflow UI for docs/tracking.md, taken from two real hf-train runs.

    .venv/bin/python docs/screenshots/make_screenshots.py

Trains two small runs (addition, T = 10, seeds 0 and 1; about 10 s each) into a new store in a
temporary folder, starts ``mlflow ui`` on it, opens it in headless Chromium and writes

- ``docs/images/mlflow-runs-table.png``: the runs table with their names and final test error;
- ``docs/images/mlflow-run-charts.png``: one run's metric charts, training loss among them.

Needs Chromium (``apt-get install chromium``, or ``HFCORE_CHROMIUM=/path/to/chrome``) and Playwright
(``pip install -e '.[ui-test]'``).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from hfcore.testing import mlflow_ui as ui

IMAGES = Path(__file__).resolve().parents[1] / "images"
RUN = ["task=addition", "task.T=10", "model.hidden=16", "hf=small", "hf.max_iterations=100", "progress=false"]
"""Two runs that solve the task in a few seconds each, so the curves go somewhere."""
TABLE_METRICS = ["test.error", "task.solved", "cost.minibatches", "train.loss"]
HIDDEN_COLUMNS = ["Dataset", "Source", "Models"]  # empty for hf-train runs; they push the metrics off-screen
CHARTS = r"^(train\.loss|test\.loss|test\.error|hf\.lambda|hf\.rho|cg\.iters)$"
"""The run page's chart search (a regular expression): training and test curves, damping, CG effort."""


def take(store: Path, out: Path, log_file: Path) -> list[Path]:
    """Train the runs into ``store``, photograph the UI, and return the files written in ``out``."""
    from mlflow.tracking import MlflowClient

    with ui.chromium() as browser:  # first: no training when there is no browser
        uri = ui.make_runs(store, seeds=(0, 1), overrides=RUN)
        client = MlflowClient(tracking_uri=uri)
        experiment_id = client.get_experiment_by_name("hfcore").experiment_id
        runs = client.search_runs([experiment_id], order_by=["attributes.start_time ASC"])
        out.mkdir(parents=True, exist_ok=True)
        table, charts = out / "mlflow-runs-table.png", out / "mlflow-run-charts.png"
        with ui.mlflow_ui(uri, log_file) as base:
            # hf-train's run names say what differs from the preset: their column is fitted to show them
            # whole, and the page widened by about as much, so that the metric columns stay in the picture.
            extra = min(7 * max(max(len(r.info.run_name) for r in runs) - 26, 0), 600)
            page = browser.new_page(viewport={"width": 1400 + extra, "height": 420})
            page.set_default_timeout(ui.TIMEOUT_MS)
            ui.open_runs_table(page, base, experiment_id, [r.info.run_name for r in runs])
            ui.choose_columns(page, show=TABLE_METRICS, hide=HIDDEN_COLUMNS)
            ui.fit_column(page, "attributes.`Run Name`")
            page.mouse.move(0, 0)  # no hover highlight or tooltip in the picture
            page.screenshot(path=table)

            page.set_viewport_size({"width": 1400, "height": 1010})
            ui.open_metric_charts(page, base, experiment_id, runs[0].info.run_id, CHARTS)
            ui.plotted_points(ui.chart_card(page, "train.loss"))  # waits until the charts are drawn
            page.mouse.move(0, 0)  # Plotly's toolbar shows while the mouse is over a chart
            page.screenshot(path=charts)
    return [table, charts]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=IMAGES, help=f"folder for the PNGs (default {IMAGES})")
    parser.add_argument("--keep", type=Path, help="build the store in this folder and keep it (default: a "
                        "temporary folder, removed afterwards)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="hfcore-screenshots-") as tmp:
        store = args.keep or Path(tmp) / "store"
        try:
            written = take(store, args.out, Path(tmp) / "mlflow-ui.log")
        except RuntimeError as exc:  # UIUnavailable, or hf-train failed (the message ends with its stderr)
            print(f"make_screenshots: error: {exc}", file=sys.stderr)
            return 1
    for path in written:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The MLflow UI in a real browser: two finished hf-train runs, as a user sees them in ``mlflow ui``.

Headless Chromium (Debian package ``chromium``) driven by Playwright (``pip install 'hfcore[ui-test]'``).
Skipped when either is missing, or when Chromium or ``mlflow ui`` does not start. Run names and values are
read back from the store, so the test follows whatever hf-train logs.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import pytest

from hfcore.testing import mlflow_ui as ui

pytestmark = pytest.mark.extra("browser")  # skipped without Chromium or Playwright (tests/extras.py)
LEARNING_CURVE = "plots/learning_curve.png"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    # Checked first: without a browser, no runs are trained and no server is started.
    try:
        with ui.chromium() as launched:
            yield launched
    except ui.UIUnavailable as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="module")
def store(browser: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Two tiny hf-train runs (seeds 0 and 1), as the store holds them."""
    from mlflow.tracking import MlflowClient

    folder = tmp_path_factory.mktemp("ui-store")
    uri = ui.make_runs(folder)
    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("hfcore")
    runs = client.search_runs([experiment.experiment_id])
    assert len(runs) == 2 and all(r.info.status == "FINISHED" for r in runs)
    return {"uri": uri, "folder": folder, "client": client, "experiment_id": experiment.experiment_id,
            "runs": runs}


@pytest.fixture(scope="module")
def server(store: dict[str, Any]) -> Iterator[str]:
    try:
        with ui.mlflow_ui(store["uri"], store["folder"] / "mlflow-ui.log") as base:
            yield base
    except ui.UIUnavailable as exc:
        pytest.skip(str(exc))


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    # A fresh context per test: no column choice or UI mode carried over in the browser's storage.
    context = browser.new_context(viewport={"width": 1600, "height": 900})
    context.set_default_timeout(ui.TIMEOUT_MS)
    yield context.new_page()
    context.close()


def test_runs_table_lists_both_runs_with_final_test_error(page: Any, store: dict[str, Any], server: str) -> None:
    runs = store["runs"]
    ui.open_runs_table(page, server, store["experiment_id"], [r.info.run_name for r in runs])
    ui.choose_columns(page, show=["test.error"])
    for run in runs:
        assert run.info.run_name in ui.run_row_text(page, run.info.run_id)
        shown = ui.metric_cell(page, run.info.run_id, "test.error").inner_text().strip()
        # The table shows the latest value; the UI may round it.
        assert math.isclose(float(shown), run.data.metrics["test.error"], rel_tol=1e-3), (run.info.run_name, shown)


def test_run_page_draws_the_training_loss_chart(page: Any, store: dict[str, Any], server: str) -> None:
    run = store["runs"][0]
    logged = store["client"].get_metric_history(run.info.run_id, "train.loss")
    assert len(logged) >= 2
    ui.open_metric_charts(page, server, store["experiment_id"], run.info.run_id, "train.loss")
    assert ui.plotted_points(ui.chart_card(page, "train.loss")) == len(logged)


def test_learning_curve_artifact_loads(page: Any, store: dict[str, Any], server: str) -> None:
    run = store["runs"][0]
    assert LEARNING_CURVE in [f.path for f in store["client"].list_artifacts(run.info.run_id, "plots")]
    width, height = ui.artifact_image(page, server, store["experiment_id"], run.info.run_id, LEARNING_CURVE)
    assert width > 200 and height > 100  # the decoded PNG, not a broken-image placeholder

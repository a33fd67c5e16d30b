"""Drive the MLflow UI in headless Chromium: a store of hf-train runs, ``mlflow ui`` on it, and page helpers.

Used by ``tests/test_mlflow_ui_browser.py`` and ``docs/screenshots/make_screenshots.py``. Needs a Chromium
binary (Debian: ``apt-get install chromium``) and the ``playwright`` Python package (``pip install
'hfcore[ui-test]'``); Playwright drives the system Chromium, so ``playwright install`` is never needed.

The page helpers find things the way a user does (button names, placeholders, column titles), plus the
``row-id``/``col-id`` attributes of the runs table's grid, which are the run id and the column key.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
"""Chromium flags for a container without network: without the background-networking ones it stalls on
requests that cannot be answered; ``--no-sandbox`` because containers often run as root."""

TINY_RUN = ["task=addition", "task.T=10", "model.hidden=8", "hf=small", "hf.max_iterations=5",
            "task.test_size=100", "progress=false"]
"""hf-train overrides of a run of a few seconds that still logs every metric and the learning curve."""

TIMEOUT_MS = 60_000
"""How long a page helper waits for the UI (a loaded 2-core machine needs tens of seconds)."""


class UIUnavailable(RuntimeError):
    """No browser, or no ``mlflow ui``: the caller skips (tests) or stops with this message (scripts)."""


def find_chromium() -> str | None:
    """The Chromium binary: ``$HFCORE_CHROMIUM``, else ``chromium``/``chromium-browser`` on the PATH."""
    explicit = os.environ.get("HFCORE_CHROMIUM")
    if explicit:
        return explicit if Path(explicit).is_file() else None
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return None


def make_runs(folder: Path, seeds: Sequence[int] = (0, 1), overrides: Sequence[str] = TINY_RUN,
              experiment: str = "hfcore", timeout: float = 600.0) -> str:
    """Train one hf-train run per seed (one ``--multirun`` process) into ``folder/mlflow.db``.

    Returns the store's URI. The runs are real hf-train runs: their names, metrics and artifacts are
    whatever hf-train logs.

    Raises
    ------
    RuntimeError
        When hf-train fails; the message ends with its stderr.
    """
    folder.mkdir(parents=True, exist_ok=True)
    uri = f"sqlite:///{folder.resolve() / 'mlflow.db'}"
    cmd = [sys.executable, "-m", "hfcore.cli", "--multirun", *overrides, f"tracking.uri={uri}",
           f"tracking.experiment={experiment}", "seed=" + ",".join(str(s) for s in seeds)]
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"}
    proc = subprocess.run(cmd, cwd=folder, env=env, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"hf-train exited with {proc.returncode}:\n{proc.stderr[-3000:]}")
    return uri


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def mlflow_ui(uri: str, log_file: Path, timeout: float = 180.0) -> Iterator[str]:
    """Run ``mlflow ui`` on the store ``uri`` at a free local port; yield its base URL.

    One worker and no job runner: a page needs neither, and each costs seconds of start-up on a small
    machine. The server's output goes to ``log_file``. The server (its whole process group) is stopped
    on exit.

    Raises
    ------
    UIUnavailable
        When the server exits or does not answer ``/health`` within ``timeout`` seconds.
    """
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    cmd = [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", uri, "--host", "127.0.0.1",
           "--port", str(port), "--workers", "1"]
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    with open(log_file, "w") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise UIUnavailable(f"mlflow ui exited with {proc.returncode}: {_tail(log_file)}")
            with contextlib.suppress(OSError):
                with urllib.request.urlopen(base + "/health", timeout=5) as answer:
                    if answer.status == 200:
                        break
            if time.monotonic() > deadline:
                raise UIUnavailable(f"mlflow ui did not answer within {timeout:.0f} s: {_tail(log_file)}")
            time.sleep(0.5)
        yield base
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)  # its own session: the server and the workers it started
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def _tail(log_file: Path, lines: int = 5) -> str:
    text = log_file.read_text(errors="replace").strip().splitlines() if log_file.exists() else []
    return " | ".join(text[-lines:]) or "(no output)"


@contextlib.contextmanager
def chromium(executable: str | None = None) -> Iterator[Any]:
    """A headless Chromium driven by Playwright (a ``playwright.sync_api.Browser``).

    Raises
    ------
    UIUnavailable
        When Playwright is not installed, no Chromium is found, or it does not start.
    """
    try:
        from playwright.sync_api import Error, sync_playwright
    except ImportError:
        raise UIUnavailable("the playwright package is not installed (pip install 'hfcore[ui-test]')") from None
    executable = executable or find_chromium()
    if executable is None:
        explicit = os.environ.get("HFCORE_CHROMIUM")
        raise UIUnavailable(f"HFCORE_CHROMIUM={explicit} is not a file" if explicit else
                            "no Chromium found (apt-get install chromium, or set HFCORE_CHROMIUM)")
    with sync_playwright() as pw:
        try:
            browser = pw.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        except Error as exc:
            raise UIUnavailable(f"Chromium ({executable}) did not start: {str(exc).splitlines()[0]}") from None
        try:
            yield browser
        finally:
            browser.close()


def training_runs_url(base: str, experiment_id: str) -> str:
    """The experiment's runs table on the UI's model-training pages (a fresh browser opens GenAI pages)."""
    return f"{base}/#/experiments/{experiment_id}/runs?workflowType=machine_learning"


def run_url(base: str, experiment_id: str, run_id: str, tab: str = "") -> str:
    """A run's page; ``tab`` is e.g. ``model-metrics`` or ``artifacts/plots/learning_curve.png``."""
    path = f"/{tab}" if tab else ""
    return f"{base}/#/experiments/{experiment_id}/runs/{run_id}{path}?workflowType=machine_learning"


def close_assistant(page: Any) -> None:
    """Close the "MLflow Assistant" side panel if it is open: it takes a third of the width, and the runs
    table draws only the columns that fit."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    prompt = page.get_by_placeholder("Ask a question").first
    try:  # it opens with the page, maybe a moment after the content; other MLflow versions may have none
        prompt.wait_for(state="visible", timeout=5_000)
    except PlaywrightTimeout:
        return
    page.get_by_role("button", name="Close", exact=True).first.click()
    prompt.wait_for(state="hidden", timeout=TIMEOUT_MS)


def open_runs_table(page: Any, base: str, experiment_id: str, run_names: Sequence[str]) -> None:
    """Open the runs table and wait until every name in ``run_names`` is listed."""
    page.goto(training_runs_url(base, experiment_id))
    for name in run_names:
        page.get_by_role("link", name=name, exact=True).first.wait_for(timeout=TIMEOUT_MS)
    close_assistant(page)


def choose_columns(page: Any, show: Sequence[str] = (), hide: Sequence[str] = ()) -> None:
    """Tick the columns ``show`` and untick ``hide`` in the runs table's "Columns" menu, by their titles there.

    A metric's title is its key (``test.error``); attributes are e.g. ``Dataset``, ``Source``, ``Models``.
    Columns already in the wanted state are left alone (a click toggles).
    """
    page.get_by_role("button", name="Columns").click()
    search = page.get_by_placeholder("Search columns")
    for title, wanted in [(t, True) for t in show] + [(t, False) for t in hide]:
        search.fill(title)
        # The whole node text, not a part: the menu highlights the match, so "train.loss_after" holds a
        # "train.loss" element too.
        node = page.locator("[class*=tree-treenode]", has_text=re.compile(rf"^\s*{re.escape(title)}\s*$")).last
        box = node.locator("[class*=tree-checkbox]").first
        box.wait_for(timeout=TIMEOUT_MS)
        if ("checkbox-checked" in (box.get_attribute("class") or "")) != wanted:
            box.click()
    page.keyboard.press("Escape")
    search.wait_for(state="hidden", timeout=TIMEOUT_MS)


def fit_column(page: Any, col_id: str) -> None:
    """Size the runs table's column ``col_id`` (e.g. ``attributes.`Run Name```) to its content.

    A double click on the header's right edge, the grid's own "autosize" gesture (dragging the edge does
    not take in headless Chromium).
    """
    page.locator(f'[role=columnheader][col-id="{col_id}"] .ag-header-cell-resize').first.dblclick()


def metric_cell(page: Any, run_id: str | None, key: str) -> Any:
    """The runs table's cell of metric ``key`` in the row of ``run_id`` (its header cell when None)."""
    col = page.locator(f'[col-id="metrics.`{key}`"]')
    if run_id is None:
        return col.and_(page.locator("[role=columnheader]"))
    return page.locator(f'[role=row][row-id="{run_id}"]').locator(f'[col-id="metrics.`{key}`"]')


def run_row_text(page: Any, run_id: str) -> str:
    """All text of a run's row (the grid splits a row into a pinned part and a scrolling part)."""
    return " | ".join(page.locator(f'[role=row][row-id="{run_id}"]').all_inner_texts())


def open_metric_charts(page: Any, base: str, experiment_id: str, run_id: str, search: str) -> None:
    """Open a run's "Model metrics" tab showing only the charts whose names match ``search``."""
    page.goto(run_url(base, experiment_id, run_id, "model-metrics"))
    box = page.get_by_placeholder("Search metric charts")
    box.wait_for(timeout=TIMEOUT_MS)
    close_assistant(page)
    box.fill(search)


def chart_card(page: Any, key: str) -> Any:
    """The card of metric ``key``'s chart on a run's "Model metrics" tab."""
    title = page.get_by_text(key, exact=True)
    return page.locator("div", has=title).filter(has=page.locator(".js-plotly-plot")).last


def plotted_points(card: Any) -> int:
    """How many data points the Plotly chart in ``card`` has drawn (0 until it has rendered)."""
    card.locator(".js-plotly-plot path.js-line").first.wait_for(timeout=TIMEOUT_MS)
    return card.locator(".js-plotly-plot .point").count()


def artifact_image(page: Any, base: str, experiment_id: str, run_id: str, path: str) -> tuple[int, int]:
    """Open ``path`` in a run's "Artifacts" tab; return the displayed image's natural (width, height)."""
    page.goto(run_url(base, experiment_id, run_id, f"artifacts/{path}"))
    page.get_by_text(path, exact=True).first.wait_for(timeout=TIMEOUT_MS)
    close_assistant(page)
    # The preview is fetched into a blob: URL; the other images on the page are inline (data:) icons.
    image = page.locator("img[src^='blob:']").first
    image.wait_for(timeout=TIMEOUT_MS)
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=image.element_handle(),
                           timeout=TIMEOUT_MS)
    return tuple(image.evaluate("img => [img.naturalWidth, img.naturalHeight]"))

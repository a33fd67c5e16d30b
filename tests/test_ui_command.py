"""``hf-ui``: the link to the training runs of an existing store, and one-line errors otherwise."""

from __future__ import annotations

import os
import subprocess
import sys

from hfcore.tracking import VIEW_KEY, open_store


def hf_ui(cwd, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    return subprocess.run([sys.executable, "-m", "hfcore.ui", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120)


def test_link_opens_the_training_runs_in_the_saved_view(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    experiment_id = open_store(uri, "hfcore")
    out = hf_ui(tmp_path, "--dry-run", "--port", "5123")
    assert out.returncode == 0, out.stderr
    link, command = out.stdout.splitlines()
    assert link.endswith(f"http://127.0.0.1:5123/#/experiments/{experiment_id}/runs?workflowType=machine_learning"
                         f"&viewStateShareKey={VIEW_KEY}&compareRunsMode=CHART")
    assert command.endswith(f"-m mlflow ui --backend-store-uri {uri} --host 127.0.0.1 --port 5123")


def test_no_store_is_one_line_and_creates_none(tmp_path):
    out = hf_ui(tmp_path, "--dry-run")
    assert out.returncode == 1 and len(out.stderr.splitlines()) == 1
    assert out.stderr.startswith("hf-ui: error: no MLflow store ") and not (tmp_path / "mlflow.db").exists()


def test_unknown_experiment_is_one_line(tmp_path):
    open_store(f"sqlite:///{tmp_path / 'mlflow.db'}", "hfcore")
    out = hf_ui(tmp_path, "--dry-run", "--experiment", "nope")
    assert out.returncode == 1 and out.stderr.strip().endswith("no experiment 'nope' in "
                                                               f"sqlite:///{tmp_path / 'mlflow.db'}")

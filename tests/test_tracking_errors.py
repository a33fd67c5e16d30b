"""Tracking stores that cannot be used fail in one line before any iteration; hf-summary's errors and statuses."""

from __future__ import annotations

import math
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hfcore.summary import collect, run_status
from hfcore.tracking import (
    KEY_CURVES,
    LOSS_ROSE_METRIC,
    RHO_FLOOR,
    chartable,
    open_store,
    training_view_state,
    ui_links,
)
from tests.test_cli import TINY, hf_train


def dead_port() -> int:
    """A local port nothing listens on (bound, then closed)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def one_error_line(out: subprocess.CompletedProcess) -> str:
    """The run's only output line, an ``hf-train: error:`` line, after checking that no iteration ran."""
    lines = [line for line in (out.stdout + out.stderr).splitlines() if line.strip()]
    assert out.returncode == 2, out.stderr
    assert len(lines) == 1, out.stdout + out.stderr
    assert lines[0].startswith("hf-train: error:")
    assert "iter 1" not in out.stdout + out.stderr
    return lines[0]


def test_dead_server_fails_in_one_line_before_training(tmp_path):
    uri = f"http://127.0.0.1:{dead_port()}"
    # Before the probe: 7 retries with backoff (251 s) and 121 lines of tracebacks; the timeout only guards a hang.
    out = hf_train(tmp_path, *TINY, f"tracking.uri={uri}", "hydra.run.dir=run", timeout=150)
    line = one_error_line(out)
    assert uri in line and "no MLflow server answers" in line
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_dead_server_stops_a_sweep_before_its_jobs(tmp_path):
    uri = f"http://127.0.0.1:{dead_port()}"
    out = hf_train(tmp_path, "--multirun", *TINY, f"tracking.uri={uri}", "seed=0,1", "hydra.sweep.dir=sweep",
                   timeout=150)
    assert uri in one_error_line(out)
    assert not list((tmp_path / "sweep").glob("*/checkpoints"))


@pytest.mark.parametrize(
    "override, message",
    [("tracking.uri=foo://bar", "unsupported tracking URI 'foo://bar'"),
     ("tracking.experiment=''", "tracking.experiment is empty"),
     ("tracking.uri=sqlite:///{tmp}/a_file/mlflow.db", "cannot create the MLflow store sqlite:///{tmp}/a_file")],
)
def test_unusable_store_fails_in_one_line(tmp_path, override, message):
    (tmp_path / "a_file").write_text("a file where the store's folder should be")
    out = hf_train(tmp_path, *TINY, override.format(tmp=tmp_path), "hydra.run.dir=run")
    assert message.format(tmp=tmp_path) in one_error_line(out)
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_probe_restores_the_users_http_settings(monkeypatch):
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "3")
    monkeypatch.delenv("MLFLOW_HTTP_REQUEST_TIMEOUT", raising=False)
    from hfcore.tracking import TrackingError

    with pytest.raises(TrackingError):
        open_store(f"http://127.0.0.1:{dead_port()}", "hfcore")
    assert os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] == "3" and "MLFLOW_HTTP_REQUEST_TIMEOUT" not in os.environ


def test_first_use_says_the_store_is_being_created(tmp_path):
    out = hf_train(tmp_path, *TINY, "hydra.run.dir=run")
    assert out.returncode == 0, out.stderr
    first = out.stdout + out.stderr
    assert f"creating the MLflow store {tmp_path / 'mlflow.db'} (first use, a few seconds)" in first
    assert "workflowType=machine_learning" in first and "viewStateShareKey=hfcore-training" in first
    again = hf_train(tmp_path, *TINY, "hydra.run.dir=run2")
    assert again.returncode == 0 and "creating the MLflow store" not in again.stdout + again.stderr


def test_experiment_is_marked_for_training_and_has_the_view(tmp_path):
    import json

    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    exp_id = open_store(uri, "hfcore")
    tags = MlflowClient(uri).get_experiment(exp_id).tags
    assert tags["mlflow.experimentKind"] == "custom_model_development"
    envelope = json.loads(tags["mlflow.sharedViewState.hfcore-training"])
    state = json.loads(envelope["state"])
    assert state == training_view_state()
    keys = [c["metricKey"] for c in state["compareRunCharts"]]
    assert keys[:len(KEY_CURVES)] == list(KEY_CURVES) and keys[0] == "train.loss"
    assert open_store(uri, "hfcore") == exp_id  # a second open rewrites nothing
    assert MlflowClient(uri).get_experiment(exp_id).tags == tags


def test_ui_links_carry_the_training_mode():
    run, view = ui_links("sqlite:////x/mlflow.db", "3", "abc")
    assert "hf-ui --uri sqlite:////x/mlflow.db" in run
    assert run.endswith("http://127.0.0.1:5000/#/experiments/3/runs/abc?workflowType=machine_learning")
    assert view.endswith("#/experiments/3/runs?workflowType=machine_learning&viewStateShareKey=hfcore-training"
                         "&compareRunsMode=CHART")
    assert ui_links("http://mlflow.example:5000/", "3", "abc")[0].endswith(
        "this run http://mlflow.example:5000/#/experiments/3/runs/abc?workflowType=machine_learning")


def test_rho_minus_infinity_is_logged_as_a_floor_and_a_marker():
    rose = chartable({"hf.rho": -math.inf, "train.loss": 1.0})
    assert rose == {"hf.rho": RHO_FLOOR, LOSS_ROSE_METRIC: 1.0, "train.loss": 1.0}
    assert chartable({"hf.rho": 0.5}) == {"hf.rho": 0.5, LOSS_ROSE_METRIC: 0.0}
    assert chartable({"train.loss": 1.0}) == {"train.loss": 1.0}  # SGD logs no rho


def test_rho_floor_reaches_mlflow(tmp_path):
    from mlflow.tracking import MlflowClient

    from hfcore.tracking import MlflowTracker

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    tracker = MlflowTracker(uri, "hfcore", "r")
    tracker.start({}, {})
    tracker.log_metrics(1, {"hf.rho": -math.inf})
    tracker.finish("FINISHED")
    metrics = MlflowClient(uri).get_run(tracker.run_id).data.metrics
    assert metrics["hf.rho"] == RHO_FLOOR and metrics[LOSS_ROSE_METRIC] == 1.0


# hf-summary


def hf_summary(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    return subprocess.run([sys.executable, "-m", "hfcore.summary", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=150)


def test_summary_without_a_store_creates_none(tmp_path):
    out = hf_summary(tmp_path)
    assert out.returncode != 0 and out.stderr.strip().splitlines() == [
        f"hf-summary: error: no MLflow store {tmp_path / 'mlflow.db'}; run hf-summary where hf-train ran, "
        "or pass --uri"]
    assert not (tmp_path / "mlflow.db").exists()


def test_summary_bad_filter_is_one_line(tmp_path):
    open_store(f"sqlite:///{tmp_path / 'mlflow.db'}", "hfcore")
    out = hf_summary(tmp_path, "--filter", "tags.x ==")
    lines = out.stderr.strip().splitlines()
    assert out.returncode != 0 and len(lines) == 1 and lines[0].startswith("hf-summary: error: --filter 'tags.x =='")


def test_summary_dead_server_is_one_line(tmp_path):
    uri = f"http://127.0.0.1:{dead_port()}"
    out = hf_summary(tmp_path, "--uri", uri)
    lines = out.stderr.strip().splitlines()
    assert out.returncode != 0 and len(lines) == 1 and uri in lines[0]


def test_run_status_rules():
    host, now = "node1", 1_000_000.0
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = dead.stdout.strip()  # that process has exited
    alive = {"hfcore.host": host, "hfcore.pid": str(os.getppid()), "hfcore.heartbeat": str(now - 10)}
    assert run_status("RUNNING", alive, now, host) == "RUNNING"
    assert run_status("RUNNING", {**alive, "hfcore.pid": dead_pid}, now, host) == "DIED"
    assert run_status("RUNNING", {**alive, "hfcore.pid": dead_pid}, now, "node2") == "RUNNING"  # can't tell there
    assert run_status("RUNNING", {**alive, "hfcore.heartbeat": str(now - 3600)}, now, host) == "STALE"
    assert run_status("RUNNING", {**alive, "hfcore.heartbeat": str(now - 3600)}, now, host, 7200) == "RUNNING"
    assert run_status("FINISHED", {**alive, "hfcore.pid": dead_pid}, now, host) == "FINISHED"
    assert run_status("RUNNING", {}, now, host) == "RUNNING"  # runs without the tags keep their status


def test_summary_shows_dead_and_stale_runs(tmp_path):
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    exp_id = open_store(uri, "hfcore")
    client = MlflowClient(uri)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    here, now = socket.gethostname(), time.time()
    made = {
        "died": {"hfcore.host": here, "hfcore.pid": dead.stdout.strip(), "hfcore.heartbeat": str(now)},
        "stale": {"hfcore.host": "elsewhere", "hfcore.pid": "1", "hfcore.heartbeat": str(now - 7200)},
        "alive": {"hfcore.host": here, "hfcore.pid": str(os.getppid()), "hfcore.heartbeat": str(now)},
    }
    try:
        for name, tags in made.items():
            client.create_run(exp_id, run_name=name, tags=tags)  # left RUNNING, as a killed hf-train leaves it
        finished = client.create_run(exp_id, run_name="finished", tags=made["died"])
        client.set_terminated(finished.info.run_id, "FINISHED")
        status = {row["run"]: row["status"] for row in collect(uri, "hfcore")}
        assert status == {"died": "DIED", "stale": "STALE", "alive": "RUNNING", "finished": "FINISHED"}
    finally:
        for run in client.search_runs([exp_id], "attributes.status = 'RUNNING'"):  # leave no run RUNNING
            client.set_terminated(run.info.run_id, "KILLED")

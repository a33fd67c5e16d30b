"""Sweeps across runs on Hydra launchers: submitit (its local mode, as on SLURM) and a shared MLflow server."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

TINY = ["task.T=10", "model.hidden=8", "hf.gradient_batch=100", "hf.curvature_batch=20", "task.test_size=50",
        "solver.max_iters=10", "hf.max_iterations=2", "progress=false"]


def hf_train(cwd: Path, *args: str, uri: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri}
    return subprocess.run([sys.executable, "-m", "hfcore.cli", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)


def sweep_runs(uri: str) -> list:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    return client.search_runs([client.get_experiment_by_name("hfcore").experiment_id])


def test_submitit_local_launcher_sweep(tmp_path):
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    out = hf_train(tmp_path, "--multirun", "hydra/launcher=submitit_local", "seed=0,1", *TINY, uri=uri)
    assert out.returncode == 0, out.stderr[-3000:]
    found = sweep_runs(uri)
    assert sorted(r.data.tags["seed"] for r in found) == ["0", "1"]
    assert {r.info.status for r in found} == {"FINISHED"} and len({r.data.tags["sweep_id"] for r in found}) == 1
    assert list(tmp_path.glob("multirun/*/*/.submitit"))  # the jobs really went through submitit


@pytest.fixture
def mlflow_server(tmp_path):
    """A tracking server as a user would start it (``mlflow server``), on a free local port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mlflow = Path(sys.executable).with_name("mlflow")
    server = subprocess.Popen([str(mlflow), "server", "--backend-store-uri", f"sqlite:///{tmp_path / 'server.db'}",
                               "--default-artifact-root", str(tmp_path / "artifacts"), "--host", "127.0.0.1",
                               "--port", str(port), "--workers", "1"], cwd=tmp_path,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    uri = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                urllib.request.urlopen(f"{uri}/health", timeout=1)
                break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail("mlflow server did not come up in 60 s")
        yield uri
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=30)


def test_parallel_sweep_shares_one_tracking_server(tmp_path, mlflow_server):
    out = hf_train(tmp_path, "--multirun", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "seed=0,1",
                   f"tracking.uri={mlflow_server}", *TINY, uri="sqlite:///unused.db")
    assert out.returncode == 0, out.stderr[-3000:]
    found = sweep_runs(mlflow_server)
    assert sorted(r.data.tags["seed"] for r in found) == ["0", "1"]
    assert {r.info.status for r in found} == {"FINISHED"} and len({r.data.tags["sweep_id"] for r in found}) == 1


def test_sweeps_started_together_on_a_fresh_store_both_start(tmp_path):
    """Three processes preparing one new sqlite store at once (as sweeps started together do, through
    PrepareTrackingStore): the first MlflowClient migrates the schema, so it must be made under the store's lock."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    code = f"from hfcore.tracking import ensure_experiment\nensure_experiment({uri!r}, 'hfcore-figure3')"
    procs = [subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.PIPE, text=True) for _ in range(3)]
    errors = [p.communicate(timeout=300)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], "\n".join(errors)[-3000:]

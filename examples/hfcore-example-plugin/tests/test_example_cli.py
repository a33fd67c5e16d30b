"""End to end: the installed plugin's options reach hf-train, and a tiny run exits 0."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

TINY = [
    "task.T=10", "task.window=2", "task.test_size=100", "model.hidden=8", "hf.gradient_batch=100",
    "hf.curvature_batch=20", "hf.max_iterations=3", "solver.max_iters=10", "tracking=none", "progress=false",
]


def hf_train(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    # The console script installed next to this interpreter (the venv's bin/), else the one on PATH.
    script = Path(sys.executable).with_name("hf-train")
    command = str(script) if script.exists() else shutil.which("hf-train")
    if command is None:
        pytest.fail("hf-train is not installed")
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
           "MLFLOW_DISABLE_TELEMETRY": "true"}
    return subprocess.run([command, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_help_lists_the_plugin_options(tmp_path):
    out = hf_train("--help", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert re.search(r"task: .*\brecall\b", out.stdout) and re.search(r"damping: .*\bfixed\b", out.stdout)


def test_tiny_run_with_recall_and_fixed(tmp_path):
    out = hf_train("task=recall", "damping=fixed", "damping.lambda0=0.05", "damping.weight=0.01", *TINY,
                   f"hydra.run.dir={tmp_path / 'run'}", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "task=recall T=10" in out.stdout
    lambdas = re.findall(r"iter \d+ .* lambda (\S+)", out.stdout + out.stderr)
    assert lambdas == ["0.05"] * 3  # the fixed damping held lambda through every iteration
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["iterations"] == 3 and 0.0 <= summary["test_error"] <= 1.0


def test_bad_option_is_a_one_line_error(tmp_path):
    out = hf_train("task=recall", "task.T=10", "task.window=10", "tracking=none", f"hydra.run.dir={tmp_path}",
                   cwd=tmp_path)
    assert out.returncode == 2
    assert out.stderr.strip() == "hf-train: error: task 'recall': window=10 must be in [1, T-1] = [1, 9]"


def test_help_lists_the_mgu_and_its_typed_options(tmp_path):
    out = hf_train("model=mgu", "--help", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert re.search(r"model: .*\bmgu\b", out.stdout)
    assert "update_bias: -1.0" in out.stdout and "hidden: 32" in out.stdout


def test_tiny_mgu_run_makes_progress_and_options_are_typed(tmp_path):
    out = hf_train("model=mgu", "backend=autograd", "model.update_bias=-1", "task=addition", "task.T=10",
                   "model.hidden=8", "task.test_size=100", "hf=small", "hf.max_iterations=4", "tracking=none",
                   "progress=false", f"hydra.run.dir={tmp_path / 'run'}", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    losses = [float(v) for v in re.findall(r"iter \d+ +loss (\S+)", out.stdout + out.stderr)]
    assert len(losses) == 4 and losses[-1] < losses[0]
    bad = hf_train("model=mgu", "model.update_bias=abc", "tracking=none", f"hydra.run.dir={tmp_path}", cwd=tmp_path)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1
    assert bad.stderr.startswith("hf-train: error: bad value for model.update_bias")

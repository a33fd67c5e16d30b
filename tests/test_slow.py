"""Long experiments, outside the default run: ``pytest -m slow``."""

import os
import subprocess
import sys

import pytest


@pytest.mark.slow
def test_default_run_solves_addition_t30(tmp_path):
    """The README's main job: addition at T=30 reaches the M&S success criterion within budget."""
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}"}
    out = subprocess.run([sys.executable, "-m", "hfcore.cli", "task=addition", "task.T=30", "progress=false"],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=3600)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.splitlines()[-1].startswith("SOLVED"), out.stdout[-2000:]

"""Default run names: what distinguishes a run, within MLflow's length limit."""

from __future__ import annotations

from hfcore.run_naming import NAME_LIMIT, compose_name
from tests.test_cli import TINY, hf_train, runs


def test_compose_name_shortens_keys_unless_ambiguous():
    base = ["addition", "T30", "h100", "numpy", "structural"]
    assert compose_name(base, [], 0) == "addition-T30-h100-numpy-structural-s0"
    assert compose_name(base, [("hf.gradient_batch", "2000"), ("hf", "small")], 3) == (
        "addition-T30-h100-numpy-structural-gradient_batch=2000-hf=small-s3")
    assert compose_name(base, [("hf.max_iters", "5"), ("solver.max_iters", "9")], 0) == (
        "addition-T30-h100-numpy-structural-hf.max_iters=5-solver.max_iters=9-s0")


def test_compose_name_fits_mlflow_limit_and_keeps_the_seed():
    overrides = [(f"hf.option_{i}", "x" * 20) for i in range(30)]
    name = compose_name(["addition", "T30"], overrides, 7)
    assert len(name) <= NAME_LIMIT and name.endswith("-s7")
    shown = name.count("=")
    assert f"-+{30 - shown}-s7" in name  # the overrides left out are counted


def test_run_name_shows_what_differs(tmp_path):
    """Model size, backend and the overrides that differ from the preset are in the name; a value the preset
    already has (lambda0 = 0.01 in ms2011_addition) and the non-result settings (progress, tracking) are not."""
    out = hf_train(tmp_path, "experiment=ms2011_addition", *TINY, "damping.lambda0=0.01", "damping.mu=0.1",
                   "+tracking.tags.study=x", "hydra.run.dir=run")
    assert out.returncode == 0, out.stderr
    _, found = runs(tmp_path)
    name = found[0].info.run_name
    assert name.startswith("addition-T10-h8-numpy-structural-"), name
    assert "gradient_batch=100" in name and "mu=0.1" in name and name.endswith("-s0")
    assert "lambda0" not in name and "progress" not in name and "study" not in name and "experiment" not in name
    assert name in out.stdout + out.stderr  # the log line names the run

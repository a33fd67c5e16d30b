"""The Figure 3 harness: runs, records, resumes, summarises, and files child runs under a parent."""

import csv
import os
import subprocess
import sys

from hfcore.experiments.figure3 import PROFILES, aggregate, cells, markdown

TINY = ["model.hidden=8", "hf.gradient_batch=100", "hf.curvature_batch=20", "task.test_size=50",
        "hf.max_iterations=2"]


def harness(tmp_path, *args):
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}"}
    return subprocess.run([sys.executable, "-m", "hfcore.experiments.figure3", *args], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)


def test_profiles_cover_both_dampings_and_baseline():
    quick = cells(PROFILES["quick"])
    assert {c.method for c in quick} == {"structural", "tikhonov", "sgd"}
    assert {c.T for c in quick} == {30, 50}
    full = cells(PROFILES["full"])
    assert {c.T for c in full} == {30, 50, 100, 200} and len({c.problem for c in full}) == 8


def test_aggregate_and_markdown():
    rows = [
        {"problem": "addition", "T": "30", "method": "structural", "seed": "0", "solved": "True", "minibatches": "100",
         "wall_seconds": "5"},
        {"problem": "addition", "T": "30", "method": "structural", "seed": "1", "solved": "True", "minibatches": "300",
         "wall_seconds": "7"},
        {"problem": "addition", "T": "30", "method": "structural", "seed": "2", "solved": "False",
         "minibatches": "900", "wall_seconds": "9"},
    ]
    (s,) = aggregate(rows)
    assert (s["successes"], s["runs"], s["median_minibatches"], s["min_minibatches"], s["max_minibatches"]) == (
        2, 3, 200.0, 100.0, 300.0)
    assert "| addition | 30 | structural | 2/3 | 200 | 100-300 | 7 |" in markdown([s])


def test_sweep_runs_resumes_and_logs_parent(tmp_path):
    args = ["--profile", "quick", "--problems", "addition", "--T", "10", "--seeds", "0", "--out", "sweep",
            "--override", *TINY]
    first = harness(tmp_path, *args)
    assert first.returncode == 0, first.stderr[-3000:]
    assert "3 runs to do" in first.stdout
    with (tmp_path / "sweep" / "runs.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert sorted(r["method"] for r in rows) == ["sgd", "structural", "tikhonov"]
    assert all(r["returncode"] == "0" for r in rows)
    for name in ("summary.md", "summary.csv", "figure3.png"):
        assert (tmp_path / "sweep" / name).exists()

    again = harness(tmp_path, *args)
    assert again.returncode == 0 and "0 runs to do, 3 already recorded" in again.stdout

    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    exp = client.get_experiment_by_name("hfcore-figure3")
    runs = client.search_runs([exp.experiment_id])
    (parent,) = [r for r in runs if "figure3_sweep" in r.data.tags]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert len(children) == 3 and parent.info.status == "FINISHED"
    assert {a.path for a in client.list_artifacts(parent.info.run_id)} >= {"figure3.png", "summary.md", "runs.csv"}


def test_report_only_rebuilds_summary(tmp_path):
    out = tmp_path / "sweep"
    out.mkdir()
    (out / "runs.csv").write_text(
        "problem,T,method,seed,solved,minibatches,iterations,wall_seconds,test_error,run_id,returncode\n"
        "addition,30,structural,0,True,1156,31,315,0.0005,,0\n"
        "addition,30,tikhonov,0,False,2014,60,566,0.2,,0\n")
    done = harness(tmp_path, "--report-only", "--out", "sweep")
    assert done.returncode == 0, done.stderr
    assert "| addition | 30 | tikhonov | 0/1 | - | - | 566 |" in (out / "summary.md").read_text()
    assert (out / "figure3.png").stat().st_size > 0


def test_methods_and_no_baseline_narrow_the_sweep(tmp_path):
    done = harness(tmp_path, "--profile", "quick", "--problems", "temporal_order", "--T", "10", "--seeds", "0",
                   "--methods", "structural", "--no-baseline", "--no-mlflow", "--out", "one", "--override", *TINY)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "1 runs to do" in done.stdout
    with (tmp_path / "one" / "runs.csv").open() as fh:
        assert [r["method"] for r in csv.DictReader(fh)] == ["structural"]


def test_a_stopped_run_goes_on_from_its_checkpoint(tmp_path):
    args = ["--profile", "quick", "--problems", "temporal_order", "--T", "10", "--seeds", "0", "--methods",
            "structural", "--no-baseline", "--no-mlflow", "--out", "sweep"]
    first = harness(tmp_path, *args, "--override", *TINY, "checkpoint.every=1")
    assert first.returncode == 0, first.stderr[-3000:]
    # Mark the run as stopped part-way (as SIGTERM would leave it): the next sweep must resume it, not restart.
    rows = (tmp_path / "sweep" / "runs.csv").read_text().splitlines()
    (tmp_path / "sweep" / "runs.csv").write_text("\n".join([rows[0], rows[1].rsplit(",", 1)[0] + ",1"]) + "\n")
    again = harness(tmp_path, *args, "--override", *TINY[:-1], "hf.max_iterations=3", "checkpoint.every=1")
    assert again.returncode == 0, again.stderr[-3000:]
    run_dir = tmp_path / "sweep" / "runs" / "temporal_order-T10-structural-s0"
    log = (run_dir / "stdout.log").read_text() + (run_dir / "stderr.log").read_text()
    assert "resuming from" in log and "at iteration 2" in log
    with (tmp_path / "sweep" / "runs.csv").open() as fh:
        last = list(csv.DictReader(fh))[-1]
    assert last["returncode"] == "0" and last["iterations"] == "3"


def test_sweep_log_calls_a_signalled_run_stopped_not_failed():
    from hfcore.experiments.sweeps import exit_outcome

    assert exit_outcome(0) is None
    for rc in (143, 130, -15):
        assert exit_outcome(rc).startswith("stopped by a signal")
    assert exit_outcome(1) == "FAILED (exit 1)"


def test_committed_t100_checkpoint_reproduces_its_recorded_test_error():
    """The failure analysis beside the T = 100 results rebuilds the run from its checkpoint alone."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "docs" / "results" / "figure3-t100"
    script = subprocess.run([sys.executable, str(root / "analyse_failures.py"),
                             str(root / "checkpoints" / "multiplication-T100-structural-s1.npz")],
                            capture_output=True, text=True, timeout=300)
    assert script.returncode == 0, script.stderr
    with open(root / "runs.csv", newline="") as fh:
        (row,) = [r for r in csv.DictReader(fh)
                  if (r["problem"], r["method"], r["seed"]) == ("multiplication", "structural", "1")]
    wrong = round(float(row["test_error"]) * 10000)  # 0.0009 of the 10,000 test sequences
    assert f"iteration {row['iterations']}," in script.stdout and f" {wrong} of 10000 wrong" in script.stdout
    rows = [line for line in script.stdout.splitlines() if line.startswith(("| 0.", "| 1."))]  # value A first
    assert len(rows) == wrong  # one table row per wrong sequence

"""The Table 1 harness: cells, the table, end to end on tiny data (runs, resume, MLflow parent), bad input."""

import csv
import os
import subprocess
import sys

import pytest

from hfcore.experiments.table1 import PROFILES, aggregate, cells, error_line, markdown, read_done

# Tiny data and models; hf.max_iterations ends the runs long before the budget does.
TINY = ["task.size=tiny", "model.hidden=10", "task.test_size=4", "hf.max_iterations=3"]
TINY_HF = ["hf.gradient_batch=20", "hf.curvature_batch=10", "solver.max_iters=5"]


def harness(tmp_path, *args):
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}"}
    return subprocess.run([sys.executable, "-m", "hfcore.experiments.table1", *args], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)


def test_profiles_pair_the_methods_on_every_task():
    for profile in PROFILES.values():
        runs = cells(profile)
        assert {(c.task, c.method) for c in runs} == {(t, m) for t in ("bouncing_balls", "music", "speech")
                                                     for m in ("hf", "lstm")}
        for hf, lstm in zip(runs[::2], runs[1::2], strict=True):  # adjacent, so --jobs 2 runs a pair together
            assert (hf.method, lstm.method) == ("hf", "lstm") and (hf.task, hf.seed) == (lstm.task, lstm.seed)
            # CG and batch keys are read only by HF: the SGD runs leave them alone.
            assert not [o for o in lstm.overrides if o.startswith(("solver.max_iters", "hf.gradient_batch"))]
    quick = {c.key: c for c in cells(PROFILES["quick"])}
    assert "hf.gradient_batch=500" in quick["music", "hf", 0].overrides  # music's own cut comes after the HF one
    assert quick["music", "hf", 0].overrides.index("hf.gradient_batch=500") > quick["music", "hf", 0].overrides.index(
        "hf.gradient_batch=1000")


def _row(task, method, seed, error="", ll_seq="", ll_step="", wall="100", rc="0"):
    return {"task": task, "method": method, "seed": str(seed), "test_error": error, "wall_seconds": wall,
            "iterations": "10", "log_likelihood_per_sequence": ll_seq, "log_likelihood_per_step": ll_step,
            "n_params": "225825" if method == "hf" else "272865", "returncode": rc}


def test_aggregate_pairs_seeds_and_reads_each_metric_its_way():
    rows = [_row("bouncing_balls", "hf", 0, error="10"), _row("bouncing_balls", "hf", 1, error="14"),
            _row("bouncing_balls", "lstm", 0, error="12"), _row("bouncing_balls", "lstm", 1, error="11"),
            _row("bouncing_balls", "lstm", 2, error="0", rc="1"),  # crashed: left out
            _row("music", "hf", 0, error="3", ll_seq="-300", ll_step="-3"),
            _row("music", "lstm", 0, error="4", ll_seq="-400", ll_step="-4")]
    balls, music_seq, music_step = aggregate(rows)
    assert (balls["hf_mean"], balls["lstm_mean"], balls["lstm_runs"]) == (12.0, 11.5, 2)
    assert balls["hf_wins"] == 1 and balls["paired_seeds"] == 2  # seed 0: 10 < 12; seed 1: 14 > 11
    assert (balls["paper_hf"], balls["paper_lstm"]) == (22, 35)
    assert music_seq["hf_wins"] == 1 and music_seq["hf_mean"] == -300.0 and music_seq["paper_hf"] == -569
    assert music_step["lstm_mean"] == -4.0
    text = markdown([balls, music_seq, music_step])
    lines = text.splitlines()
    (balls_line,) = [x for x in lines if x.startswith("| bouncing_balls")]
    assert "| 12 ± 2.8 | 11.5 ± 0.71 | no | 1/2 |" in balls_line and "| 225,825 / 272,865 | 22 | 35 |" in balls_line
    (seq_line,) = [x for x in lines if "per sequence" in x]
    assert "(higher is better) | -300 | -400 | yes | 1/1 |" in seq_line and seq_line.endswith("| -569 | -683 |")
    assert "not comparable with the paper's" in text


def test_error_line_finds_the_reason():
    assert error_line("hf-train: warning: x\nhf-train: error: model.hidden must be > 0\n") == "model.hidden must be > 0"
    hydra = "Could not override 'solver.max_iters'.\nKey 'max_iters' not in 'SGDConfig'\nSet the environment ..."
    assert error_line(hydra) == "Could not override 'solver.max_iters'."


def test_sweep_runs_both_methods_resumes_and_logs_parent(tmp_path):
    args = ["--tasks", "bouncing_balls", "--out", "t1", "--budget-seconds", "30", "--budget-clock", "cpu",
            "--jobs", "2",
            "--override", *TINY, f"task.data_dir={tmp_path / 'data'}", "--hf-override", *TINY_HF]
    first = harness(tmp_path, *args)
    assert first.returncode == 0, first.stderr[-3000:]
    assert "preparing bouncing_balls (RNN + HF)" in first.stdout and "2 runs to do" in first.stdout
    out = tmp_path / "t1"
    with (out / "runs.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert sorted(r["method"] for r in rows) == ["hf", "lstm"]
    assert all(r["returncode"] == "0" and r["iterations"] == "3" and r["budget_seconds"] == "30.0" for r in rows)
    assert all(r["budget_clock"] == "cpu" and 0 < float(r["cpu_seconds"]) for r in rows)
    assert all(float(r["test_error"]) > 0 and int(r["n_params"]) > 0 for r in rows)
    table = (out / "table1.md").read_text()
    assert "| bouncing_balls | squared error per frame (lower is better) |" in table and "| 22 | 35 |" in table
    for method in ("hf", "lstm"):
        assert (out / "predictions" / f"bouncing_balls-{method}.png").stat().st_size > 0

    again = harness(tmp_path, *args)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "0 runs to do, 2 already recorded" in again.stdout and "preparing" not in again.stdout

    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    exp = client.get_experiment_by_name("hfcore-table1")
    found = client.search_runs([exp.experiment_id])
    (parent,) = [r for r in found if "table1_sweep" in r.data.tags]
    children = [r for r in found if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert sorted(r.data.tags["solver"] for r in children) == ["cg", "sgd"] and parent.info.status == "FINISHED"
    assert {r.data.params["hf.budget_seconds"] for r in children} == {"30.0"}
    assert {r.data.params["hf.budget_clock"] for r in children} == {"cpu"}
    assert {r.data.params["model.name"] for r in children} == {"rnn_tanh", "lstm"}
    assert {a.path for a in client.list_artifacts(parent.info.run_id)} >= {"table1.md", "runs.csv", "predictions"}
    assert {a.path for a in client.list_artifacts(parent.info.run_id, "predictions")} == {
        "predictions/bouncing_balls-hf.png", "predictions/bouncing_balls-lstm.png"}

    # A run stopped part-way (as SIGTERM leaves it: non-zero returncode) goes on from its checkpoint.
    lines = (out / "runs.csv").read_text().splitlines()
    (out / "runs.csv").write_text("\n".join(x[: x.rindex(",")] + ",143" if ",hf," in x else x for x in lines) + "\n")
    third = harness(tmp_path, *args, "hf.max_iterations=4")
    assert third.returncode == 0, third.stderr[-3000:]
    assert "1 runs to do, 1 already recorded" in third.stdout
    log = (out / "runs" / "bouncing_balls-hf-s0" / "stdout.log").read_text()
    assert "at iteration 3" in log and "resuming from" in log
    assert read_done(out / "runs.csv")["bouncing_balls", "hf", 0]["iterations"] == "4"


@pytest.mark.parametrize("args, message", [
    (["--budget-seconds", "0"], "--budget-seconds must be > 0, got 0"),
    (["--jobs", "0"], "--jobs must be >= 1"),
    (["--lstm-override", "optimizer.max_iters=5"],
     "bouncing_balls with LSTM + SGD: unknown key 'optimizer.max_iters'"),
])
def test_bad_input_stops_in_one_line_before_any_run(tmp_path, args, message):
    # --budget-clock cpu: no warning about a busy machine, whatever the load, so stderr is the error alone
    done = harness(tmp_path, "--tasks", "bouncing_balls", "--out", "bad", "--budget-clock", "cpu", "--override", *TINY,
                   f"task.data_dir={tmp_path / 'data'}", "--hf-override", *TINY_HF, *args)
    assert done.returncode == 2, done.stderr[-3000:]
    (line,) = [x for x in done.stderr.splitlines() if x.strip()]
    assert line.startswith("hf-table1: error:") and message in line
    assert not (tmp_path / "bad" / "runs.csv").exists() and not (tmp_path / "mlflow.db").exists()


@pytest.mark.parametrize("recorded, args, message", [
    # runs.csv from before the CPU clock: its runs were on the wall clock
    ("bouncing_balls,hf,0,600.0,0", ["--budget-seconds", "300"], "a budget of 600 s (wall), not 300 s (wall)"),
    ("bouncing_balls,hf,0,300.0,0", ["--budget-seconds", "300", "--budget-clock", "cpu"],
     "a budget of 300 s (wall), not 300 s (cpu)"),
    ("bouncing_balls,hf,0,300.0,0,cpu", ["--budget-seconds", "300"], "a budget of 300 s (cpu), not 300 s (wall)"),
])
def test_resuming_with_another_budget_is_refused(tmp_path, recorded, args, message):
    out = tmp_path / "t1"
    out.mkdir()
    (out / "runs.csv").write_text(",".join(["task", "method", "seed", "budget_seconds", "returncode", "budget_clock"])
                                  + "\n" + recorded + "\n")
    done = harness(tmp_path, "--tasks", "bouncing_balls", "--seeds", "0", "--out", "t1", "--no-mlflow", *args)
    assert done.returncode == 2
    assert f"holds runs with {message}" in done.stderr


def test_report_only_rebuilds_the_table(tmp_path):
    out = tmp_path / "t1"
    out.mkdir()
    fields = ["task", "method", "seed", "budget_seconds", "iterations", "minibatches", "wall_seconds",
              "process_seconds", "test_error", "test_loss", "log_likelihood_per_sequence", "log_likelihood_per_step",
              "n_params", "run_id", "returncode"]
    (out / "runs.csv").write_text(",".join(fields) + "\n"
                                  "speech,hf,0,900.0,40,30,905,920,20.5,10,,,114039,,0\n"
                                  "speech,lstm,0,900.0,700,70,902,915,25.5,12,,,144339,,0\n")
    done = harness(tmp_path, "--report-only", "--out", "t1")
    assert done.returncode == 0, done.stderr
    table = (out / "table1.md").read_text()
    # rows from before the CPU clock have no CPU time: shown as "-"
    assert "| speech | squared error per frame (lower is better) | 20.5 | 25.5 | yes | 1/1 | - / - | 905 / 902 " \
           "| 40 / 700 |" in table
    assert "In all: 2 runs, - CPU-hours and 0.50 hours of wall time in training." in table  # no CPU column yet


@pytest.mark.parametrize("jobs, load, warned", [(3, 0.0, "--jobs 3 on 2 cores"), (2, 1.5, "the machine is busy"),
                                                (2, 0.2, None), (1, 0.9, None)])
def test_wall_clock_budgets_on_shared_cores_are_flagged(monkeypatch, capsys, jobs, load, warned):
    from hfcore.experiments import table1

    monkeypatch.setattr(table1.os, "cpu_count", lambda: 2)
    monkeypatch.setattr(table1.os, "getloadavg", lambda: (load, load, load))
    table1.warn_shared_cores(jobs)
    err = capsys.readouterr().err
    if warned is None:
        assert err == ""
    else:
        assert warned in err and "--budget-clock cpu" in err

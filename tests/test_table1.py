"""Table 1 on Hydra's sweeps: the table1_* grids run by hf-train --multirun, and hf-report table1 reading them back."""

import csv
import math

import pytest

from hfcore_reports.table1 import aggregate, markdown
from tests.test_cli import hf_train
from tests.test_figure3 import hf_report

# Tiny data and models; hf.max_iterations ends the runs long before the budget does. A task's own key (task.size)
# needs the task on the command line: hf-train checks the overrides against the first job before the grid's.
TINY = ["task=bouncing_balls", "task.size=tiny", "model.hidden=10", "task.test_size=4", "hf.max_iterations=3",
        "hf.budget_clock=cpu"]
TINY_HF = ["hf.gradient_batch=20", "hf.curvature_batch=10", "solver.max_iters=5"]


def _row(task, method, seed, error="", ll_seq="", ll_step="", wall="100"):
    return {"task": task, "method": method, "seed": seed, "test_error": error, "wall_seconds": wall,
            "iterations": "10", "log_likelihood_per_sequence": ll_seq, "log_likelihood_per_step": ll_step,
            "n_params": 225825 if method == "hf" else 272865}


def test_aggregate_pairs_seeds_and_reads_each_metric_its_way():
    rows = [_row("bouncing_balls", "hf", 0, error="10"), _row("bouncing_balls", "hf", 1, error="14"),
            _row("bouncing_balls", "lstm", 0, error="12"), _row("bouncing_balls", "lstm", 1, error="11"),
            _row("music", "hf", 0, error="3", ll_seq="-300", ll_step="-3"),
            _row("music", "lstm", 0, error="4", ll_seq="-400", ll_step="-4")]
    balls, music_seq, music_step = aggregate(rows)
    assert (balls["hf_mean"], balls["lstm_mean"], balls["lstm_runs"]) == (12.0, 11.5, 2)
    assert balls["hf_wins"] == 1 and balls["paired_seeds"] == 2  # seed 0: 10 < 12; seed 1: 14 > 11
    assert (balls["paper_hf"], balls["paper_lstm"]) == (22, 35)
    assert music_seq["hf_wins"] == 1 and music_seq["hf_mean"] == -300.0 and music_seq["paper_hf"] == -569
    assert music_step["lstm_mean"] == -4.0
    text = markdown([balls, music_seq, music_step], {"sweep": "table1_quick", "budget_seconds": 900.0,
                                                     "budget_clock": "cpu"})
    lines = text.splitlines()
    assert "Sweep `table1_quick`. Every run: `hf.budget_seconds=900` `hf.budget_clock=cpu` (CPU seconds" in text
    (balls_line,) = [x for x in lines if x.startswith("| bouncing_balls")]
    assert "| 12 ± 2.8 | 11.5 ± 0.71 | LSTM + SGD | RNN + HF 1/2, LSTM + SGD 1/2 |" in balls_line
    assert "| 225,825 / 272,865 | 22 | 35 |" in balls_line
    (seq_line,) = [x for x in lines if "per sequence" in x]
    assert "(higher is better) | -300 | -400 | RNN + HF | RNN + HF 1/1 |" in seq_line
    assert seq_line.endswith("| -569 | -683 |")
    assert "| RNN + HF (ours) | LSTM + SGD (ours) | best | best, by seed | CPU per run (s), RNN + HF / LSTM + SGD " in (
        text)
    assert "not comparable with the paper's" in text


def fake_store(path, runs):
    """A store with hf-train-like FINISHED runs of experiment hfcore-table1: the tags, the params a run logs of its
    model, optimiser and budget, and its final metrics."""
    from mlflow.entities import Metric, Param
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{path}"
    client = MlflowClient(tracking_uri=uri)
    exp = client.create_experiment("hfcore-table1")
    for r in runs:
        optimizer = r.get("optimizer", "hf")
        tags = {"task": r["task"], "T": "200", "seed": str(r["seed"]), "damping": "structural",
                "solver": "cg" if optimizer == "hf" else optimizer, "optimizer": optimizer, "sweep": "t1"}
        run_id = client.create_run(exp, tags=tags).info.run_id
        params = {"model.name": r["model"], "optimizer.name": optimizer, "hf.budget_seconds": "900.0",
                  "hf.budget_clock": "cpu"}
        if optimizer == "sgd":
            params["optimizer.nesterov"] = str(r.get("nesterov", False))
        params.update(r.get("params", {}))
        metrics = {"test.error": r["error"], "time.cpu": r.get("cpu", 900.0), "time.elapsed": 950.0,
                   "cost.gradient_evals": 10}
        client.log_batch(run_id, metrics=[Metric(k, float(v), 0, 10) for k, v in metrics.items()],
                         params=[Param(k, v) for k, v in params.items()])
        client.set_terminated(run_id, "FINISHED")
    return uri


def test_report_gives_each_model_and_optimiser_a_column_and_names_the_best(tmp_path):
    """LSTM + HF, LSTM + Adam, LSTM + SGD (Nesterov) and GRU + Adam runs (by their logged params) are methods of
    their own beside the paper's two; the best mean wins the row, and each method's seed wins are counted."""
    balls = "bouncing_balls"
    runs = [{"task": balls, "model": "rnn_tanh", "seed": 0, "error": 10},
            {"task": balls, "model": "rnn_tanh", "seed": 1, "error": 14},
            {"task": balls, "model": "lstm", "optimizer": "sgd", "seed": 0, "error": 30},
            {"task": balls, "model": "lstm", "optimizer": "sgd", "seed": 1, "error": 31},
            {"task": balls, "model": "lstm", "optimizer": "sgd", "nesterov": True, "seed": 0, "error": 20},
            {"task": balls, "model": "lstm", "optimizer": "sgd", "nesterov": True, "seed": 1, "error": 21},
            {"task": balls, "model": "lstm", "optimizer": "adam", "seed": 0, "error": 11},
            {"task": balls, "model": "lstm", "optimizer": "adam", "seed": 1, "error": 9},
            {"task": balls, "model": "lstm", "seed": 0, "error": 8, "cpu": 890.0},
            {"task": balls, "model": "lstm", "seed": 1, "error": 15, "cpu": 880.0},
            {"task": balls, "model": "gru", "optimizer": "adam", "seed": 0, "error": 40}]
    fake_store(tmp_path / "mlflow.db", runs)
    done = hf_report(tmp_path, "table1", "--sweep", "t1", "--out", "t")
    assert done.returncode == 0, done.stderr
    with (tmp_path / "t" / "runs.csv").open() as fh:
        methods = [r["method"] for r in csv.DictReader(fh)]
    assert sorted(set(methods)) == ["gru-adam", "hf", "lstm", "lstm-adam", "lstm-hf", "lstm-sgd-nesterov"]
    lines = (tmp_path / "t" / "table1.md").read_text().splitlines()
    header = next(x for x in lines if x.startswith("| task"))
    assert header.startswith("| task | test metric | RNN + HF (ours) | LSTM + HF (ours) | LSTM + SGD (ours) "
                             "| LSTM + SGD (Nesterov) (ours) | LSTM + Adam (ours) | GRU + Adam (ours) | best "
                             "| best, by seed | CPU per run (s), RNN + HF / LSTM + HF / LSTM + SGD / ")
    (row,) = [x for x in lines if x.startswith(f"| {balls}")]
    # Means 12, 11.5, 30.5, 20.5, 10, 40: LSTM + Adam is best. The GRU ran seed 0 only, so seed 0 alone is
    # paired: LSTM + HF's 8 beat every other run of seed 0.
    assert "| 12 ± 2.8 | 11.5 ± 4.9 | 30.5 ± 0.71 | 20.5 ± 0.71 | 10 ± 1.4 | 40 | LSTM + Adam | LSTM + HF 1/1 |" in row
    assert "| 900 / 885 / 900 / 900 / 900 / 900 |" in row
    with (tmp_path / "t" / "table1.csv").open() as fh:
        (entry,) = list(csv.DictReader(fh))
    assert entry["best"] == "lstm-adam" and entry["lstm-hf_wins"] == "1" and entry["gru-adam_runs"] == "1"


def test_grids_run_both_methods_and_the_report_reads_them_back(tmp_path):
    data = f"task.data_dir={tmp_path / 'data'}"
    hf = hf_train(tmp_path, "--multirun", "sweep=table1_quick", *TINY, *TINY_HF, data, timeout=600)
    assert hf.returncode == 0, hf.stderr[-3000:]
    lstm = hf_train(tmp_path, "--multirun", "sweep=table1_quick_lstm", *TINY, data, timeout=600)
    assert lstm.returncode == 0, lstm.stderr[-3000:]
    folders = sorted(p.name for p in (tmp_path / "multirun" / "table1_quick").iterdir() if p.is_dir())
    assert folders == ["bouncing_balls-hf-s0", "bouncing_balls-lstm-s0"]

    done = hf_report(tmp_path, "table1", "--sweep", "table1_quick", "--out", "t1")
    assert done.returncode == 0, done.stderr
    out = tmp_path / "t1"
    with (out / "runs.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert sorted(r["method"] for r in rows) == ["hf", "lstm"]
    assert all(r["iterations"] == "3" and r["budget_seconds"] == "900.0" and r["budget_clock"] == "cpu" for r in rows)
    assert all(0 < float(r["cpu_seconds"]) and float(r["test_error"]) > 0 for r in rows)
    params = {r["method"]: int(r["n_params"]) for r in rows}
    assert params["lstm"] > params["hf"] > 0  # read from each run's checkpoint
    table = (out / "table1.md").read_text()
    assert "Sweep `table1_quick`. Every run: `hf.budget_seconds=900` `hf.budget_clock=cpu`" in table
    assert "| bouncing_balls | squared error per frame (lower is better) |" in table and "| 22 | 35 |" in table
    assert "[bouncing_balls-hf](predictions/bouncing_balls-hf.png)" in table
    for method in ("hf", "lstm"):
        assert (out / "predictions" / f"bouncing_balls-{method}.png").read_bytes()[:4] == b"\x89PNG"
    with (out / "table1.csv").open() as fh:
        assert not math.isnan(float(next(csv.DictReader(fh))["hf_mean"]))

    # The grids resume like Figure 3's: a rerun skips the finished jobs.
    again = hf_train(tmp_path, "--multirun", "sweep=table1_quick", *TINY, *TINY_HF, data, timeout=600)
    assert again.returncode == 0 and "skipped: run " in again.stdout + again.stderr

    # Another budget is another run (in a folder of its own: a job resumes any checkpoint in its folder), and a
    # table compares one budget only.
    wall = hf_train(tmp_path, "--multirun", "sweep=table1_quick_lstm", *TINY, data, "hf.budget_clock=wall",
                    "hydra.sweep.dir=multirun/table1_quick_wall", timeout=600)
    assert wall.returncode == 0 and "skipped" not in wall.stdout + wall.stderr
    mixed = hf_report(tmp_path, "table1", "--sweep", "table1_quick", "--out", "t2")
    lines = mixed.stderr.strip().splitlines()
    assert mixed.returncode == 2 and len(lines) == 1, mixed.stderr
    line = lines[0]
    assert line.startswith("hf-report: error: the runs have different time budgets")
    assert "900 s (cpu), 900 s (wall)" in line and not (tmp_path / "t2").exists()
    chosen = hf_report(tmp_path, "table1", "--sweep", "table1_quick", "--filter", "params.`hf.budget_clock` = 'cpu'",
                       "--out", "t3")
    assert chosen.returncode == 0, chosen.stderr
    assert "hf-report: 2 runs" in chosen.stdout


@pytest.mark.parametrize("args, message", [
    (["table1"], "give --sweep or --filter"),
    (["table1", "--sweep", "table1_quick"], "no MLflow store"),
])
def test_report_bad_input_is_one_line(tmp_path, args, message):
    done = hf_report(tmp_path, *args)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1, done.stderr
    assert lines[0].startswith("hf-report: error: ") and message in lines[0]
    assert not (tmp_path / "mlflow.db").exists()


def test_a_bad_override_stops_the_grid_in_one_line_before_any_run(tmp_path):
    done = hf_train(tmp_path, "--multirun", "sweep=table1_quick_lstm", "optimizer.max_iters=5")
    assert done.returncode == 2
    (line,) = [x for x in done.stderr.splitlines() if x.strip()]
    assert line.startswith("hf-train: error: unknown key 'optimizer.max_iters'")
    assert not (tmp_path / "multirun").exists() and not (tmp_path / "mlflow.db").exists()


def test_runs_of_another_model_setting_are_another_method(tmp_path):
    """LSTM + Adam at forget-gate bias +1 and +3, seeds 0 and 1 each: two columns, not four seeds of one (the
    later run of a seed would replace the earlier)."""
    runs = [{"task": "music", "model": "lstm", "optimizer": "adam", "seed": seed, "error": error,
             "params": {"model.forget_bias": bias}}
            for seed, error, bias in ((0, 5, "1.0"), (1, 6, "1.0"), (0, 3, "3.0"), (1, 4, "3.0"))]
    fake_store(tmp_path / "mlflow.db", runs)
    done = hf_report(tmp_path, "table1", "--sweep", "t1", "--out", "t")
    assert done.returncode == 0, done.stderr
    with (tmp_path / "t" / "runs.csv").open() as fh:
        assert sorted((r["method"], r["seed"]) for r in csv.DictReader(fh)) == [
            ("lstm-adam@forget_bias=1.0", "0"), ("lstm-adam@forget_bias=1.0", "1"),
            ("lstm-adam@forget_bias=3.0", "0"), ("lstm-adam@forget_bias=3.0", "1")]
    header = next(x for x in (tmp_path / "t" / "table1.md").read_text().splitlines() if x.startswith("| task"))
    assert "| LSTM + Adam (forget_bias=1.0) (ours) | LSTM + Adam (forget_bias=3.0) (ours) |" in header


def test_a_run_without_a_value_is_left_out_of_the_mean_and_spread():
    """A run that logged no value (empty) or NaN (a diverged run) counts in neither the mean nor the spread."""
    rows = [_row("bouncing_balls", "hf", 0, error="10"), _row("bouncing_balls", "hf", 1, error="14"),
            _row("bouncing_balls", "hf", 2, error="nan"), _row("bouncing_balls", "lstm", 0, error="12"),
            _row("bouncing_balls", "lstm", 1)]
    (balls,) = aggregate(rows)
    assert (balls["hf_mean"], round(balls["hf_sd"], 3), balls["hf_runs"]) == (12.0, 2.828, 3)
    assert balls["lstm_mean"] == 12.0 and math.isnan(balls["lstm_sd"])

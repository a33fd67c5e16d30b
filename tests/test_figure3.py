"""The Figure 3 report (hf-report figure3): one figure and table from several MLflow stores and runs.csv tables,
runs not finished listed apart; and the committed T = 100 checkpoint still reproducing its recorded result."""

import csv
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hfcore_reports.figure3 import _two_and_five, aggregate, combine, grid_markdown, legend, markdown, run_row

CSV_HEADER = "problem,T,method,seed,solved,minibatches,iterations,wall_seconds,test_error,run_id,returncode\n"


def hf_report(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    """Run ``hf-report`` in ``tmp_path``, its default store ``tmp_path/mlflow.db``."""
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}"}
    return subprocess.run([sys.executable, "-m", "hfcore_reports.cli", *args], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)


def fake_store(path: Path, runs: list[dict]) -> str:
    """A store with hf-train-like runs of experiment hfcore-figure3: tags, the budget param, the final metrics.

    A run's ``method`` is its damping (HF) or ``sgd``; with ``model`` it logs the model and optimiser params too
    (``optimizer``: a first-order one, ``sgd`` or ``adam``; ``nesterov``).
    """
    from mlflow.entities import Metric, Param
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{path}"
    client = MlflowClient(tracking_uri=uri)
    exp = client.create_experiment("hfcore-figure3")
    for r in runs:
        sgd = r["method"] == "sgd" or "optimizer" in r
        tags = {"experiment": f"ms2011_{r['problem']}", "task": r["problem"], "T": str(r["T"]), "seed": str(r["seed"]),
                "damping": "structural" if sgd else r["method"], "solver": r.get("optimizer", "sgd") if sgd else "cg",
                "sweep": r.get("sweep", "figure3_full")}
        if "hf" in r:
            tags["hf"] = r["hf"]
        if "pid" in r:
            tags.update({"hfcore.host": socket.gethostname(), "hfcore.pid": str(r["pid"])})
        run_id = client.create_run(exp, tags=tags).info.run_id
        step, now = r.get("iterations", 10), int(time.time() * 1000)
        metrics = {"cost.minibatches": r["minibatches"], "cost.gradient_evals": step, "time.elapsed": 60.0,
                   "time.cpu": r["minibatches"] / 10,
                   "task.solved": float(r.get("solved", False)), "test.error": 0.0005}
        params = {"hf.budget_minibatches": "50000.0"}
        if "model" in r:  # logged as hf-train logs them; without, a run of the days before models and optimisers
            params.update({"model.name": r["model"], "optimizer.name": r.get("optimizer", "hf"),
                           "optimizer.nesterov": str(r.get("nesterov", False))})
        client.log_batch(run_id, metrics=[Metric(k, float(v), now, step) for k, v in metrics.items()],
                         params=[Param(k, v) for k, v in params.items()])
        if r.get("status", "FINISHED") != "RUNNING":
            client.set_terminated(run_id, r.get("status", "FINISHED"))
    return uri


def test_report_names_each_model_and_optimiser_in_the_table_and_the_legend(tmp_path):
    """Runs of other models and optimisers (from their logged params) are methods of their own: a row each in
    the tables and a series each in the plot, LSTM + Adam apart from LSTM + SGD and LSTM + SGD (Nesterov)."""
    from hfcore_reports.figure3 import legend

    base = {"problem": "addition", "T": 30, "seed": 0, "solved": True}
    uri = fake_store(tmp_path / "m.db", [
        {**base, "method": "structural", "minibatches": 1000.0},  # logged no model: the paper's RNN
        {**base, "method": "structural", "model": "rnn_tanh", "minibatches": 1100.0, "seed": 1},
        {**base, "method": "structural", "model": "lstm", "minibatches": 800.0},
        {**base, "method": "adam", "model": "lstm", "optimizer": "adam", "minibatches": 3000.0},
        {**base, "method": "adam", "model": "lstm", "optimizer": "adam", "minibatches": 9.0, "seed": 1,
         "solved": False},
        {**base, "method": "sgd", "model": "lstm", "optimizer": "sgd", "nesterov": True, "minibatches": 5000.0},
        {**base, "method": "sgd", "model": "lstm", "optimizer": "sgd", "minibatches": 7000.0},
        {**base, "method": "adam", "model": "gru", "optimizer": "adam", "minibatches": 2000.0},
        {**base, "method": "adam", "model": "rnn_tanh", "optimizer": "adam", "minibatches": 4000.0}])
    done = hf_report(tmp_path, "figure3", "--sweep", "figure3_full", "--uri", uri, "--out", "m")
    assert done.returncode == 0, done.stderr
    text = (tmp_path / "m" / "summary.md").read_text()
    table = [line for line in text.splitlines() if line.startswith("| addition | 30 |")]
    assert table == [
        "| addition | 30 | RNN + HF, structural damping | 2/2 | 1,050 | 1,000-1,100 | 105 | - | 60 |",
        "| addition | 30 | RNN + Adam | 1/1 | 4,000 | 4,000-4,000 | 400 | - | 60 |",
        "| addition | 30 | LSTM + HF, structural damping | 1/1 | 800 | 800-800 | 80 | - | 60 |",
        "| addition | 30 | LSTM + SGD + momentum | 1/1 | 7,000 | 7,000-7,000 | 700 | - | 60 |",
        "| addition | 30 | LSTM + SGD (Nesterov) | 1/1 | 5,000 | 5,000-5,000 | 500 | - | 60 |",
        "| addition | 30 | LSTM + Adam | 1/2 | 3,000 | 3,000-3,000 | 300 | - | 60 |",  # not the failure's
        "| addition | 30 | GRU + Adam | 1/1 | 2,000 | 2,000-2,000 | 200 | - | 60 |"]
    assert ("| addition | structural 2/2 · 1,050<br>Adam 1/1 · 4,000<br>LSTM structural 1/1 · 800<br>LSTM SGD 1/1 · "
            "7,000<br>LSTM SGD (Nesterov) 1/1 · 5,000<br>LSTM Adam 1/2 · 3,000<br>GRU Adam 1/1 · 2,000 |") in text
    with (tmp_path / "m" / "runs.csv").open() as fh:
        methods = {r["method"] for r in csv.DictReader(fh)}
    assert methods == {"structural", "adam", "lstm-structural", "lstm-sgd", "lstm-sgd-nesterov", "lstm-adam",
                       "gru-adam"}
    with (tmp_path / "m" / "summary.csv").open() as fh:
        summary = list(csv.DictReader(fh))
    assert [r["label"] for r in summary][-2:] == ["LSTM + Adam", "GRU + Adam"]
    entries = legend(summary)
    assert [label for label, _ in entries] == [r["label"] for r in summary]
    assert len({style for _, style in entries}) == len(entries)  # each series drawn its own way
    assert (tmp_path / "m" / "figure3.png").read_bytes()[:4] == b"\x89PNG"


def test_run_row_reads_the_method_from_the_logged_params():
    tags = {"experiment": "ms2011_addition", "T": "30", "seed": "0", "damping": "structural", "solver": "sgd"}
    params = {"model.name": "lstm", "optimizer.name": "sgd", "optimizer.nesterov": "True"}
    assert run_row(tags, params, {}, "r")["method"] == "lstm-sgd-nesterov"
    assert run_row(tags, {**params, "optimizer.nesterov": "False"}, {}, "r")["method"] == "lstm-sgd"
    adam = {**tags, "solver": "adam"}
    assert run_row(adam, {"model.name": "gru", "optimizer.name": "adam"}, {}, "r")["method"] == "gru-adam"
    hf = {**tags, "solver": "cg", "damping": "tikhonov"}
    assert run_row(hf, {"model.name": "lstm", "optimizer.name": "hf"}, {}, "r")["method"] == "lstm-tikhonov"
    assert run_row(hf, {"model.kind": "rnn"}, {}, "r")["method"] == "tikhonov"  # runs before model components


def dead_pid() -> int:
    done = subprocess.Popen([sys.executable, "-c", "pass"])
    done.wait()
    return done.pid


def test_report_combines_stores_and_tables_into_one_figure(tmp_path):
    """Two stores and two runs.csv tables make one table and plot: the later source wins, a finished run is never
    replaced by one still going, and runs not finished are listed with their last iteration, not counted."""
    (tmp_path / "a.csv").write_text(CSV_HEADER + "xor,30,structural,0,True,700,12,70,0.0005,r1,0\n"
                                    "xor,30,structural,1,False,300,5,30,0.2,r2,143\n"  # stopped part-way
                                    "addition,100,structural,0,True,2638,34,2889,0.0009,r3,0\n")
    (tmp_path / "b.csv").write_text(CSV_HEADER + "addition,100,structural,0,True,3000,40,3000,0.0004,r4,0\n")
    one = fake_store(tmp_path / "one.db", [
        {"problem": "memorization_5bit", "T": 100, "method": "structural", "seed": 0, "status": "RUNNING",
         "pid": os.getpid(), "iterations": 239, "minibatches": 567.6},  # alive: this test's process
        {"problem": "memorization_5bit", "T": 100, "method": "tikhonov", "seed": 0, "solved": True,
         "minibatches": 50010.0},  # past the budget: a failure
        {"problem": "xor", "T": 30, "method": "structural", "seed": 1, "solved": True, "minibatches": 650.0},
        {"problem": "xor", "T": 30, "method": "tikhonov", "seed": 0, "solved": True, "minibatches": 10.0,
         "sweep": "other"}])
    two = fake_store(tmp_path / "two.db", [
        {"problem": "memorization_20bit", "T": 50, "method": "structural", "seed": 0, "status": "RUNNING",
         "pid": dead_pid(), "iterations": 7, "minibatches": 90.0},  # its process is gone: stopped
        {"problem": "memorization_20bit", "T": 50, "method": "structural", "seed": 1, "status": "KILLED",
         "iterations": 8, "minibatches": 95.0},
        {"problem": "addition", "T": 100, "method": "sgd", "seed": 0, "minibatches": 49000.0},
        {"problem": "addition", "T": 100, "method": "structural", "seed": 0, "status": "RUNNING", "pid": os.getpid(),
         "minibatches": 5.0}])
    done = hf_report(tmp_path, "figure3", "--sweep", "figure3_full", "--uri", one, two, "--csv", "a.csv", "b.csv",
                     "--out", "all")
    assert done.returncode == 0, done.stderr
    assert "8 runs (3 not finished) from 4 source(s)" in done.stdout
    text = (tmp_path / "all" / "summary.md").read_text()
    grid, _, tables = text.partition("per method.\n\n")  # the grid first, then the table per problem, T, method
    assert "| memorization 20bit | - | structural 0/0 (+2 not finished) | - |" in grid
    table = [line for line in tables.splitlines() if line.startswith("| ")]
    assert table[1:8] == [
        "| addition | 100 | RNN + HF, structural damping | 1/1 | 3,000 | 3,000-3,000 | - | - | 3,000 |",  # no CPU
        "| addition | 100 | RNN + SGD + momentum | 0/1 | - | - | - | - | 60 |",
        "| xor | 30 | RNN + HF, structural damping | 2/2 | 675 | 650-700 | 65 | - | 65 |",  # the store's run's
        "| memorization_5bit | 100 | RNN + HF, structural damping | 0/0 | - | - | - | 1 | - |",
        "| memorization_5bit | 100 | RNN + HF, Tikhonov damping only | 0/1 | - | - | - | - | 60 |",
        "| memorization_20bit | 50 | RNN + HF, structural damping | 0/0 | - | - | - | 2 | - |",
        "| problem | T | method | seed | state | last iteration | minibatches so far | source |"]
    assert table[8:] == [
        f"| memorization_5bit | 100 | RNN + HF, structural damping | 0 | running | 239 | 568 | {one} |",
        f"| memorization_20bit | 50 | RNN + HF, structural damping | 0 | stopped | 7 | 90 | {two} |",
        f"| memorization_20bit | 50 | RNN + HF, structural damping | 1 | stopped | 8 | 95 | {two} |"]
    with (tmp_path / "all" / "runs.csv").open() as fh:
        sources = {(r["problem"], r["seed"], r["method"]): r["source"] for r in csv.DictReader(fh)}
    assert sources["addition", "0", "structural"] == "b.csv" and sources["xor", "0", "structural"] == "a.csv"
    assert sources["xor", "1", "structural"] == one
    assert (tmp_path / "all" / "figure3.png").read_bytes()[:4] == b"\x89PNG"

    # The report's own runs.csv reads back as the same table: the runs still running or stopped stay so.
    again = hf_report(tmp_path, "figure3", "--csv", "all/runs.csv", "--out", "again")
    assert again.returncode == 0, again.stderr
    assert "8 runs (3 not finished) from 1 source(s)" in again.stdout
    for name in ("runs.csv", "summary.csv", "summary.md"):
        assert (tmp_path / "again" / name).read_text() == (tmp_path / "all" / name).read_text(), name


def test_report_of_tables_alone_reads_no_store(tmp_path):
    (tmp_path / "t.csv").write_text(CSV_HEADER + "addition,30,structural,0,True,1156,31,315,0.0005,,0\n"
                                    "addition,30,tikhonov,0,False,2014,60,566,0.2,,0\n")
    done = hf_report(tmp_path, "figure3", "--csv", "t.csv", "--out", "t")
    assert done.returncode == 0, done.stderr
    assert "| addition | 30 | RNN + HF, Tikhonov damping only | 0/1 | - | - | - | - | 566 |" in (
        tmp_path / "t" / "summary.md").read_text()
    assert not (tmp_path / "mlflow.db").exists()


@pytest.mark.parametrize("args, message", [
    (["figure3"], "give --sweep or --filter"),
    (["figure3", "--sweep", "figure3_quick"], "no MLflow store"),
    (["figure3", "--csv", "missing.csv"], "cannot read missing.csv"),
    (["figure3", "--csv", "table1.csv"], "table1.csv: not a Figure 3 runs.csv (no column problem, T"),
    (["figure3", "--csv", "bad.csv"], "bad.csv, line 2: invalid literal for int()"),
    (["figure3", "--csv", "own.csv"], "own.csv: not a Figure 3 runs.csv (no column wall_seconds)"),
    (["figure3", "--csv", "state.csv"], "state.csv, line 2: state 'done' is not one of finished, running, stopped"),
    (["figure3", "--uri", "sqlite:///a.db", "--filter", "tags.T ~ 3"], "no MLflow store"),
])
def test_report_bad_input_is_one_line(tmp_path, args, message):
    (tmp_path / "table1.csv").write_text("task,method,seed\nmusic,hf,0\n")
    (tmp_path / "bad.csv").write_text(CSV_HEADER + "xor,thirty,structural,0,True,700,12,70,0.0005,r1,0\n")
    own = "problem,T,method,seed,state,solved,minibatches,iterations"
    (tmp_path / "own.csv").write_text(f"{own}\nxor,30,structural,0,finished,True,700,12\n")
    (tmp_path / "state.csv").write_text(f"{own},wall_seconds\nxor,30,structural,0,done,True,700,12,70\n")
    done = hf_report(tmp_path, *args)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1, done.stderr
    assert lines[0].startswith("hf-report: error: ") and message in lines[0]
    assert not (tmp_path / "mlflow.db").exists() and not (tmp_path / "a.db").exists()


def test_report_run_row_fails_a_run_past_its_budget():
    tags = {"experiment": "ms2011_memorization_5bit", "T": "50", "seed": "1", "damping": "structural", "solver": "cg"}
    row = run_row(tags, {"hf.budget_minibatches": "2000.0"}, {"task.solved": 1.0, "cost.minibatches": 2100.0}, "r")
    assert (row["problem"], row["T"], row["method"], row["seed"], row["solved"]) == (
        "memorization_5bit", 50, "structural", 1, False)
    sgd = run_row({**tags, "solver": "sgd"}, {}, {"task.solved": 1.0, "cost.minibatches": 10.0}, "r")
    assert (sgd["method"], sgd["solved"]) == ("sgd", True)
    going = run_row(tags, {}, {"task.solved": 1.0, "cost.minibatches": 10.0}, "r", state="running")
    assert going["solved"] is False  # not finished: neither a success nor a failure yet


def _row(seed, solved, minibatches, wall, state="finished", T=30, method="structural", problem="addition"):
    return {"problem": problem, "T": T, "method": method, "seed": seed, "state": state, "solved": solved,
            "minibatches": minibatches, "iterations": 5, "wall_seconds": wall, "cpu_seconds": 2.0 * wall,
            "source": "s"}


def test_aggregate_counts_finished_runs_only_and_takes_the_median():
    rows = [_row(0, True, 100, 5), _row(1, True, 300, 7), _row(2, False, 900, 9), _row(3, False, 50, 1, "running"),
            _row(0, True, 10, 1, problem="xor")]
    xor, addition = aggregate(rows)[::-1]  # the paper's order: addition first
    assert (addition["successes"], addition["runs"], addition["not_finished"], addition["median_minibatches"],
            addition["min_minibatches"], addition["max_minibatches"], addition["median_wall_seconds"],
            addition["median_cpu_seconds"]) == (2, 3, 1, 200.0, 100.0, 300.0, 7.0, 12.0)  # CPU: the successes
    assert xor["problem"] == "xor"
    text = markdown(aggregate(rows), rows)
    assert "| addition | 30 | RNN + HF, structural damping | 2/3 | 200 | 100-300 | 12 | 1 | 7 |" in text
    assert "| addition | 30 | RNN + HF, structural damping | 3 | running | 5 | 50 | s |" in text


def test_combine_keeps_a_finished_run_over_a_later_unfinished_one():
    first = [_row(0, True, 100, 5), _row(1, False, 10, 1, "stopped")]
    later = [_row(0, False, 5, 1, "running"), _row(1, True, 200, 6)]
    assert [(r["seed"], r["minibatches"]) for r in combine([first, later])] == [(0, 100), (1, 200)]


def test_combine_keeps_runs_of_another_model_setting_apart_from_seeds_of_one():
    """HF-LSTM at forget-gate bias +1 (stopped) and +3 (solved), seed 0 each: one row per seed would drop the
    stopped run, and a summary per method would pool the two biases. A setting one run did not log (a key
    renamed since) and a row read from a table (no settings) make no variant."""
    def lstm(seed, solved, state, **model):
        return {**_row(seed, solved, 2228 if solved else 3895, 1, state), "T": 100, "method": "lstm-structural",
                "settings": {"hidden": "50", **model}}

    rows = combine([[lstm(0, False, "stopped", forget_bias="1.0"), lstm(0, True, "finished", forget_bias="3.0"),
                     lstm(1, True, "finished", forget_bias="3.0", kind="lstm")],
                    [{**_row(0, True, 100, 5), "T": 100}, {**_row(0, True, 100, 5), "T": 100, "settings": {}}]])
    assert [(r["method"], r["seed"], r["state"]) for r in rows] == [
        ("structural", 0, "finished"),
        ("lstm-structural@forget_bias=1.0", 0, "stopped"),
        ("lstm-structural@forget_bias=3.0", 0, "finished"), ("lstm-structural@forget_bias=3.0", 1, "finished")]
    assert [(s["label"], s["successes"], s["not_finished"]) for s in aggregate(rows)] == [
        ("RNN + HF, structural damping", 1, 0),
        ("LSTM + HF, structural damping (forget_bias=1.0)", 0, 1),
        ("LSTM + HF, structural damping (forget_bias=3.0)", 2, 0)]


def test_a_preset_that_splits_a_method_on_one_problem_is_named_on_every_problem():
    """5-bit memorization ran structural damping with hf=is11 and hf=ms2011, multiplication with hf=ms2011
    only: the multiplication runs are named ``(hf=ms2011)`` too, so the legend holds one label per preset, not
    a plain "structural damping" beside "structural damping (hf=ms2011)". A run that did not log the preset
    stays unmarked."""
    def run(problem, seed, preset=None):
        return {**_row(seed, True, 100, 5, problem=problem), "settings": {"hf": preset} if preset else {}}

    rows = combine([[run("memorization_5bit", 0, "is11"), run("memorization_5bit", 1, "ms2011"),
                     run("multiplication", 0, "ms2011"), run("multiplication", 1), run("xor", 0, "ms2011")]])
    assert [(r["problem"], r["seed"], r["method"]) for r in rows] == [
        ("multiplication", 1, "structural"), ("multiplication", 0, "structural@hf=ms2011"),
        ("xor", 0, "structural@hf=ms2011"),
        ("memorization_5bit", 0, "structural@hf=is11"), ("memorization_5bit", 1, "structural@hf=ms2011")]
    assert {label for label, _ in legend(aggregate(rows))} == {
        "RNN + HF, structural damping", "RNN + HF, structural damping (hf=is11)",
        "RNN + HF, structural damping (hf=ms2011)"}


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


def test_log_axis_minor_labels_only_at_two_and_five():
    """Across several decades only 20, 50, 200, 500, ... are labelled, so the labels do not pile up."""
    labels = {v: _two_and_five(v, 0) for v in (20.0, 30.0, 50.0, 200.0, 700.0, 2000.0, 5000.0, 9000.0)}
    assert labels == {20.0: "20", 30.0: "", 50.0: "50", 200.0: "200", 700.0: "", 2000.0: "2,000",
                      5000.0: "5,000", 9000.0: ""}


def test_curves_draws_each_unsolved_run_from_its_logged_metrics(tmp_path):
    """hf-report curves: one picture per run the filter selects (with --unsolved, the failures and the runs
    not finished), drawn from the run's whole metric history, and an index with each run's state."""
    from mlflow.entities import Metric
    from mlflow.tracking import MlflowClient

    uri = fake_store(tmp_path / "s.db", [
        {"problem": "xor", "T": 30, "method": "structural", "seed": 0, "solved": True, "minibatches": 650.0},
        {"problem": "memorization_20bit", "T": 50, "method": "structural", "seed": 0, "status": "KILLED",
         "iterations": 3, "minibatches": 90.0},
        {"problem": "temporal_order", "T": 30, "method": "sgd", "seed": 0, "iterations": 3, "minibatches": 50000.0}])
    client = MlflowClient(tracking_uri=uri)
    runs = {r.data.tags["task"]: r.info.run_id for r in client.search_runs(["1"])}
    history = {"memorization_20bit": ("hf.lambda", [10.0, 3.0]), "temporal_order": ("hf.delta_norm", [0.01, 0.02])}
    for task, (key, values) in history.items():  # the steps before the last one fake_store logged
        client.log_batch(runs[task], metrics=[
            m for step, v in enumerate(values, 1)
            for m in (Metric(key, v, 0, step), Metric("cost.minibatches", 10.0 * step, 0, step))])

    from hfcore.reporting import CURVE_METRICS
    from hfcore.tracking import metric_history

    drawn = metric_history(client, runs["memorization_20bit"], CURVE_METRICS)
    assert [h["cost.minibatches"] for h in drawn] == [10.0, 20.0, 90.0] and drawn[1]["hf.lambda"] == 3.0
    assert len(metric_history(client, runs["memorization_20bit"], CURVE_METRICS, until_step=2)) == 2

    done = hf_report(tmp_path, "curves", "--sweep", "figure3_full", "--uri", uri, "--unsolved", "--out", "c")
    assert done.returncode == 0, done.stderr
    assert "2 learning curves in c" in done.stdout
    pictures = sorted(p.name for p in (tmp_path / "c").glob("*.png"))
    assert pictures == ["memorization_20bit-T50-structural-s0.png", "temporal_order-T30-sgd-s0.png"]
    index = (tmp_path / "c" / "curves.md").read_text().splitlines()
    assert index[2] == ("| temporal_order | 30 | RNN + SGD + momentum | 0 | finished | no | 3 | 50,000 | 0.0005 "
                        "| [temporal_order-T30-sgd-s0.png](temporal_order-T30-sgd-s0.png) |")
    assert index[3].startswith("| memorization_20bit | 50 | RNN + HF, structural damping | 0 | stopped | no | 3 | 90 |")

    everything = hf_report(tmp_path, "curves", "--sweep", "figure3_full", "--uri", uri, "--out", "all")
    assert "3 learning curves in all" in everything.stdout


@pytest.mark.parametrize("args, message", [
    (["curves", "--uri", "URI"], "curves: give --sweep or --filter"),
    (["curves", "--sweep", "figure3_full", "--uri", "URI", "--unsolved"], "curves: no unsolved runs in experiment"),
    (["curves", "--sweep", "figure3_full", "--uri", "sqlite:///nothing.db"], "no MLflow store"),
])
def test_curves_bad_input_is_one_line(tmp_path, args, message):
    uri = fake_store(tmp_path / "s.db", [
        {"problem": "xor", "T": 30, "method": "structural", "seed": 0, "solved": True, "minibatches": 650.0}])
    done = hf_report(tmp_path, *[uri if a == "URI" else a for a in args])
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1, done.stderr
    assert lines[0].startswith("hf-report: error: ") and message in lines[0]


def test_grid_puts_each_problem_on_a_row_and_each_length_in_a_column():
    rows = [_row(0, True, 100, 5), _row(1, True, 300, 7), _row(0, False, 50_000, 9, method="sgd"),
            _row(0, True, 2000, 5, T=100), _row(1, False, 20, 1, "stopped", T=100, method="tikhonov"),
            _row(0, True, 10, 1, problem="xor", method="lstm-adam@learning_rate=0.003")]
    lines = grid_markdown(aggregate(rows)).splitlines()
    assert lines[0] == "| problem | T = 30 | T = 100 |"
    assert lines[2] == ("| addition | structural 2/2 · 200<br>SGD 0/1 "
                        "| structural 1/1 · 2,000<br>Tikhonov 0/0 (+1 not finished) |")
    assert lines[3] == "| xor | LSTM Adam (learning_rate=0.003) 1/1 · 10 | - |"
    assert len(lines) == 4


def test_combine_keeps_runs_of_another_hf_preset_apart_across_lengths():
    """Addition with structural damping under hf=ms2011 at T = 100 and hf=is11 at T = 200 (tag ``hf``): two lines,
    not one line whose last point changed its rules; a run that did not log its preset joins neither."""
    def run(T, seed, preset=None):
        return {**_row(seed, True, 1000 * seed + T, 1), "T": T,
                "settings": {"hidden": "100", **({"hf": preset} if preset else {})}}

    rows = combine([[run(100, 0, "ms2011"), run(100, 1, "ms2011"), run(200, 0, "is11")], [run(50, 0)]])
    assert [(r["T"], r["method"]) for r in rows] == [(50, "structural"), (100, "structural@hf=ms2011"),
                                                     (100, "structural@hf=ms2011"), (200, "structural@hf=is11")]
    assert [s["label"] for s in aggregate(rows)][1:] == ["RNN + HF, structural damping (hf=ms2011)",
                                                         "RNN + HF, structural damping (hf=is11)"]


def test_store_rows_carry_the_hf_preset_tag(tmp_path):
    from hfcore_reports.figure3 import rows_from_store

    uri = fake_store(tmp_path / "p.db", [{"problem": "addition", "T": 30, "seed": 0, "method": "structural",
                                          "minibatches": 10.0, "hf": "is11"},
                                         {"problem": "addition", "T": 30, "seed": 1, "method": "structural",
                                          "minibatches": 10.0}])
    rows = rows_from_store(uri, "hfcore-figure3", "")
    assert [r["settings"].get("hf") for r in rows] == ["is11", None]


def test_a_table_with_hf_presets_keeps_them_apart_and_reads_back_the_same(tmp_path):
    """A runs.csv whose ``hf`` column names each HF run's preset (the report writes it; older tables can be
    annotated): hf=ms2011 up to T = 100 and hf=is11 at T = 200 are two lines; the SGD run has none."""
    header = "problem,T,method,seed,state,solved,minibatches,iterations,wall_seconds,hf\n"
    (tmp_path / "p.csv").write_text(header + "addition,100,structural,0,finished,True,3000,30,9,ms2011\n"
                                    "addition,200,structural,0,finished,True,3081,49,9,is11\n"
                                    "addition,100,sgd,0,finished,False,50000,9,9,\n")
    done = hf_report(tmp_path, "figure3", "--csv", "p.csv", "--out", "p")
    assert done.returncode == 0, done.stderr
    grid = (tmp_path / "p" / "summary.md").read_text().splitlines()[2]
    assert grid == ("| addition | structural (hf=ms2011) 1/1 · 3,000<br>SGD 0/1 | structural (hf=is11) 1/1 · 3,081 |")
    with (tmp_path / "p" / "runs.csv").open() as fh:
        assert [(r["method"], r["hf"]) for r in csv.DictReader(fh)] == [
            ("structural@hf=ms2011", "ms2011"), ("sgd", ""), ("structural@hf=is11", "is11")]
    again = hf_report(tmp_path, "figure3", "--csv", "p/runs.csv", "--out", "again")
    assert again.returncode == 0, again.stderr
    for name in ("runs.csv", "summary.md"):
        assert (tmp_path / "again" / name).read_text() == (tmp_path / "p" / name).read_text(), name


def test_a_run_continued_in_another_store_replaces_its_row_of_a_table(tmp_path):
    """A report's table names a run's preset in its method (``structural@hf=is11``); the same run continued
    from its checkpoint into a new store is one row with it, the store's (the later source), not a second
    line "structural damping" beside it."""
    header = "problem,T,method,seed,state,solved,minibatches,iterations,wall_seconds,hf\n"
    (tmp_path / "p.csv").write_text(header + "memorization_5bit,100,structural@hf=ms2011,0,finished,True,3012,9,9,"
                                    "ms2011\nmemorization_5bit,200,structural@hf=is11,0,stopped,False,9086,9,9,is11\n")
    fake_store(tmp_path / "mlflow.db", [{"problem": "memorization_5bit", "T": 200, "seed": 0, "method": "structural",
                                         "minibatches": 10332.0, "hf": "is11", "solved": False}])
    done = hf_report(tmp_path, "figure3", "--csv", "p.csv", "--uri", "sqlite:///mlflow.db", "--out", "p",
                     "--filter", "tags.task = 'memorization_5bit'")
    assert done.returncode == 0, done.stderr
    with (tmp_path / "p" / "runs.csv").open() as fh:
        assert [(r["T"], r["method"], r["minibatches"]) for r in csv.DictReader(fh)] == [
            ("100", "structural@hf=ms2011", "3012.0"), ("200", "structural@hf=is11", "10332.0")]


def test_variants_of_one_method_are_drawn_with_markers_of_their_own():
    from hfcore_reports.figure3 import method_styles

    styles = method_styles(["structural", "structural@hf=ms2011", "structural@hf=is11", "tikhonov",
                            "lstm-structural@forget_bias=3.0"])
    assert styles["structural"] == ("C0", "o", "-") and styles["tikhonov"] == ("C3", "s", "-")
    assert styles["structural@hf=is11"] == ("C0", "P", "-") and styles["structural@hf=ms2011"] == ("C0", "X", "-")
    assert styles["lstm-structural@forget_bias=3.0"] == ("C0", "P", "--")

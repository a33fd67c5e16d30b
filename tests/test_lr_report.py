"""hf-report lr: the rule that picks a first-order baseline's learning rate from its sweep, and the report."""

import csv
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from hfcore_reports.lr import Rate, choose, pick


def _row(rate, seed=0, state="finished", solved=False, minibatches=5000.0, error=0.5, problem="addition", T=100,
         method="lstm-adam", hidden="50", **model):
    return {"problem": problem, "T": T, "method": method, "hidden": hidden, "learning_rate": rate, "seed": seed,
            "state": state, "solved": solved, "minibatches": minibatches, "test_error": error, "run_id": "",
            "settings": {"init": "dense", **model}}


def test_the_lowest_held_out_error_wins_when_no_rate_solves():
    (choice,) = choose([_row(3e-4, error=0.4), _row(1e-3, error=0.2), _row(3e-3, error=0.3), _row(1e-2, error=0.9)])
    assert choice.chosen.learning_rate == 1e-3 and not choice.provisional and choice.edge == ""
    assert "optimizer.learning_rate=0.001, the lowest held-out error (0.2) of 4 rate(s)" in choice.sentence()


def test_rates_that_solve_tie_and_the_fewest_minibatches_wins():
    """A solved run stops just under the threshold, so its error says nothing more: among rates that solved,
    the fewest minibatches to success wins, even against a lower final error."""
    (choice,) = choose([_row(1e-3, solved=True, minibatches=900.0, error=0.0009),
                        _row(3e-3, solved=True, minibatches=400.0, error=0.00095),
                        _row(1e-2, error=0.0)])
    assert choice.chosen.learning_rate == 3e-3
    assert "solved in the fewest minibatches (400) of 2 rate(s)" in choice.sentence()


def test_a_rate_solves_only_if_every_seed_solved_and_seeds_pool_by_median():
    rates = choose([_row(1e-3, seed=0, solved=True, minibatches=500.0, error=0.0009),
                    _row(1e-3, seed=1, error=0.3), _row(1e-3, seed=2, error=0.1),
                    _row(3e-3, seed=0, error=0.2), _row(3e-3, seed=1, error=0.2)])[0].rates
    assert rates[0] == Rate(1e-3, 3, 3, 1, 0.1, 5000.0)
    assert not rates[0].all_solved and pick(rates).learning_rate == 1e-3


def test_runs_not_finished_do_not_count_and_make_the_choice_provisional():
    (choice,) = choose([_row(1e-3, error=0.3), _row(3e-3, state="stopped", error=0.01),
                        _row(1e-2, state="running", error=0.02)])
    assert choice.chosen.learning_rate == 1e-3 and choice.provisional
    assert choice.edge == "smallest"
    assert choice.sentence().endswith("; provisional: 2 rate(s) have runs not finished; the smallest rate of the "
                                      "grid: extend the grid down")
    (none,) = choose([_row(1e-3, state="stopped")])
    assert none.chosen is None and "no rate yet" in none.sentence()


def test_each_problem_T_model_and_size_is_its_own_choice():
    choices = choose([_row(1e-3, error=0.1), _row(1e-2, error=0.2),
                      _row(1e-3, error=0.3, method="gru-adam"), _row(1e-2, error=0.1, method="gru-adam"),
                      _row(1e-3, error=0.3, hidden="300"), _row(1e-2, error=0.1, hidden="300"),
                      _row(1e-3, error=0.3, T=200), _row(1e-2, error=0.1, T=200)])
    picked = {(c.T, c.method, c.hidden): c.chosen.learning_rate for c in choices}
    assert picked == {(100, "lstm-adam", "50"): 1e-3, (100, "gru-adam", "50"): 1e-2,
                      (100, "lstm-adam", "300"): 1e-2, (200, "lstm-adam", "50"): 1e-2}
    assert [c.label for c in choices][:2] == ["addition T=100, GRU + Adam (50 units)",
                                              "addition T=100, LSTM + Adam (300 units)"]


def test_runs_of_another_model_setting_are_another_model_not_another_seed():
    """Two forget-gate biases, one seed each: pooled as seeds, the median would hide that +3 solved at 1e-3."""
    choices = choose([_row(1e-3, error=0.9, forget_bias="1.0"), _row(3e-3, error=0.5, forget_bias="1.0"),
                      _row(1e-3, solved=True, minibatches=4260.0, error=0.0009, forget_bias="3.0"),
                      _row(3e-3, error=0.2, forget_bias="3.0"),
                      _row(1e-3, error=0.1, method="gru-adam"), _row(3e-3, error=0.3, method="gru-adam")])
    picked = {c.label: (c.chosen.learning_rate, [r.runs for r in c.rates]) for c in choices}
    assert picked == {"addition T=100, GRU + Adam (50 units)": (1e-3, [1, 1]),
                      "addition T=100, LSTM + Adam (50 units, forget_bias=1.0)": (3e-3, [1, 1]),
                      "addition T=100, LSTM + Adam (50 units, forget_bias=3.0)": (1e-3, [1, 1])}


def test_a_run_logged_before_a_model_key_existed_has_its_default(tmp_path):
    """An LSTM run logged before ``model.forget_bias`` existed ran at +1 (``ADDED_KEYS``): it is the same model
    as a later run that logged +1, and another model than one at +3."""
    from mlflow.tracking import MlflowClient

    from hfcore_reports.lr import rows_from_store

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri)
    experiment = client.create_experiment("hfcore-lr-sweep")
    for rate, bias in (("0.001", None), ("0.003", "1.0"), ("0.001", "3.0")):
        run = client.create_run(experiment, tags={"sweep": "adam_lr", "experiment": "ms2011_addition", "T": "100",
                                                  "seed": "0", "damping": "none"})
        params = {"model.name": "lstm", "model.hidden": "50", "optimizer.name": "adam",
                  "optimizer.learning_rate": rate, "hf.budget_minibatches": "5000"}
        for key, value in {**params, **({"model.forget_bias": bias} if bias else {})}.items():
            client.log_param(run.info.run_id, key, value)
        client.log_metric(run.info.run_id, "test.error", 0.5)
        client.set_terminated(run.info.run_id)
    rows = rows_from_store(uri, "hfcore-lr-sweep", "tags.sweep = 'adam_lr'")
    assert sorted((r["learning_rate"], r["settings"]["forget_bias"]) for r in rows) == [
        (1e-3, "1.0"), (1e-3, "3.0"), (3e-3, "1.0")]
    assert [(c.variant, [r.learning_rate for r in c.rates]) for c in choose(rows)] == [
        ("forget_bias=1.0", [1e-3, 3e-3]), ("forget_bias=3.0", [1e-3])]


def _env(tmp_path: Path) -> dict:
    return {**os.environ, "OPENBLAS_NUM_THREADS": "1", "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}"}


def test_report_of_a_real_sweep_picks_the_rate_of_the_lowest_final_error(tmp_path):
    """A real (tiny) ``sweep=adam_lr`` by hf-train, read back: one line per run with the error hf-train printed
    at its end, and the choice is the rate of the lowest of them."""
    sweep = subprocess.run(
        [sys.executable, "-m", "hfcore.cli", "--multirun", "sweep=adam_lr", "experiment=ms2011_addition",
         "task.T=10", "optimizer.learning_rate=1e-3,3e-2", "hf.budget_minibatches=1", "hf.eval_every=5",
         "model.hidden=10", "task.test_size=50", "progress=false", "hydra.sweep.dir=m"],
        cwd=tmp_path, env=_env(tmp_path), capture_output=True, text=True, timeout=300)
    assert sweep.returncode == 0, sweep.stderr[-2000:]
    printed = [float(e) for e in re.findall(r"test_error=([0-9.]+)", sweep.stdout)]
    assert len(printed) == 2

    done = subprocess.run([sys.executable, "-m", "hfcore_reports.cli", "lr", "--sweep", "adam_lr", "--out", "r"],
                          cwd=tmp_path, env=_env(tmp_path), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    with (tmp_path / "r" / "lr.csv").open() as fh:
        runs = list(csv.DictReader(fh))
    assert [(float(r["learning_rate"]), r["state"], r["hidden"]) for r in runs] == [(1e-3, "finished", "10"),
                                                                                    (3e-2, "finished", "10")]
    errors = [float(r["test_error"]) for r in runs]
    assert all(math.isclose(a, b, abs_tol=1e-4) for a, b in zip(errors, printed, strict=True))
    best = [1e-3, 3e-2][errors.index(min(errors))] if errors[0] != errors[1] else 1e-3
    assert f"addition T=10, LSTM + Adam (10 units): optimizer.learning_rate={best:g}," in done.stdout
    assert (tmp_path / "r" / "lr.png").stat().st_size > 10_000
    assert "| **yes** |" in (tmp_path / "r" / "lr.md").read_text()


@pytest.mark.parametrize("args, message", [
    (["lr"], "lr: give --sweep or --filter"),
    (["lr", "--sweep", "adam_lr"], "no MLflow store"),
    (["lr", "--sweep", "adam_lr", "--filter", "tags.T = "], "filter"),
])
def test_lr_bad_input_is_one_line(tmp_path, args, message):
    if "--filter" in args:  # a store that exists, so that the filter is what fails
        from mlflow.tracking import MlflowClient
        MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}").create_experiment("hfcore-lr-sweep")
    done = subprocess.run([sys.executable, "-m", "hfcore_reports.cli", *args], cwd=tmp_path, env=_env(tmp_path),
                          capture_output=True, text=True, timeout=300)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1, done.stderr
    assert lines[0].startswith("hf-report: error: ") and message in lines[0]


def test_model_settings_join_a_list_and_fill_keys_added_since():
    """A list logged one param per index is one setting, so [h, c] and [h] differ; an LSTM run from before
    ``damped_signals`` existed ran with its default list, one that logged a list of its own keeps it whole."""
    from hfcore_reports.methods import model_settings

    assert model_settings({"model.name": "lstm", "model.hidden": "50", "model.damped_signals.1": "c",
                           "model.damped_signals.0": "h", "model.forget_bias": "3.0"}) == {
        "hidden": "50", "damped_signals": "h,c", "forget_bias": "3.0"}
    assert model_settings({"model.name": "lstm", "model.damped_signals.0": "h"})["damped_signals"] == "h"
    assert model_settings({"model.name": "lstm"}) == {"damped_signals": "cell_inputs,gates", "forget_bias": "1.0"}
    # a run that damped no signals logged its empty list as "[]" (hfcore.tracking.flatten): not the default's
    assert model_settings({"model.name": "lstm", "model.damped_signals": "[]"})["damped_signals"] == "[]"

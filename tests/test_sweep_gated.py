"""Issue 19's grids: gated_compare (HF / Adam / SGD on tanh RNN, LSTM, GRU, pathological problems) and table1_redo
(Table 1 with LSTM + HF and LSTM + Adam, equal CPU budgets), and the Adam learning-rate sweep on the GRU."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra import compose, initialize_config_module

from tests.test_cli import hf_train
from tests.test_sweep_grid import grid_jobs, job_config, old_table1_runs, what_runs

CONF = Path(__file__).resolve().parents[1] / "conf" / "sweep"
GATED = {  # method -> (model, optimizer, hidden, cells_per_block, nesterov)
    "hf_rnn": ("rnn_tanh", "hf", 100, None, None), "hf_lstm": ("lstm", "hf", 50, 1, None),
    "hf_gru": ("gru", "hf", 57, None, None), "sgd_lstm": ("lstm", "sgd", 50, 1, True),
    "adam_lstm": ("lstm", "adam", 50, 1, None), "adam_gru": ("gru", "adam", 57, None, None)}
TABLE1 = {  # method -> (model, optimizer, hidden)
    "hf": ("rnn_tanh", "hf", 300), "lstm_hf": ("lstm", "hf", 300), "lstm": ("lstm", "sgd", 300),
    "lstm_adam": ("lstm", "adam", 300)}
METHOD_KEY = {"gated_compare": "sweep/gated_method@gated_method", "table1_redo": "sweep/table1_method@table1_method"}


@pytest.fixture(scope="module", autouse=True)
def registry():
    from hfcore.cli import register_configs
    from hfcore.registry import load_plugins
    from hfcore.rundir import register_resolvers

    _, registry = load_plugins(strict=False)
    register_configs(registry)
    register_resolvers()
    return registry


def cells(grid: str) -> list[tuple[str, list[str]]]:
    """``grid``'s jobs in launch order, each with its method."""
    jobs, _ = grid_jobs(grid)
    return [(dict(o.split("=", 1) for o in job)[METHOD_KEY[grid]], job) for job in jobs]


def tuned_rate(method: str, problem: str) -> float:
    from omegaconf import OmegaConf

    return OmegaConf.load(CONF / "adam_tuned_lr" / f"{method}-{problem}.yaml").optimizer.learning_rate


def build(registry, grid: str, job: list[str], *extra: str):
    from hfcore.build import build_run

    with initialize_config_module("hfcore.conf", version_base="1.3"):
        cfg = compose("config", overrides=[f"sweep={grid}", *job, *extra])
    return cfg, build_run(cfg, registry)


def test_gated_compare_is_every_method_on_each_problem_and_seed_adam_last():
    got = cells("gated_compare")
    assert len(got) == 36 and len({tuple(j) for _, j in got}) == 36
    assert {m for m, _ in got} == set(GATED)
    # the Adam cells are launched last: until their rates are tuned they stop the grid, after every other cell ran
    assert {m for m, _ in got[-12:]} == {"adam_lstm", "adam_gru"}


def test_every_gated_compare_cell_composes_and_builds_as_its_method_says(registry):
    """Each cell passes hf-train's compose check and builds; the method sets the model, optimizer and sizes it
    claims; the problem keeps its ms2011 preset (test set, success rule, budget, damping); the models have about
    as many parameters as the preset's tanh RNN; an untuned Adam rate is refused in one line."""
    from hfcore.build import ConfigError
    from hfcore.compose_check import composition_error

    rnn_params = {}
    for method, job in cells("gated_compare"):
        model, optimizer, hidden, cpb, nesterov = GATED[method]
        problem = dict(o.split("=", 1) for o in job)["sweep/gated_problem@gated_problem"]
        extra = ["task.test_size=10"]
        untuned = optimizer == "adam" and tuned_rate(method, problem) == 0
        # a sweep of this one cell: an untuned one is refused by the check of the sweep's jobs, in one line
        refused = "optimizer 'adam': optimizer.learning_rate must be > 0, got 0.0" if untuned else None
        assert composition_error(["--multirun", "sweep=gated_compare", *job, *extra], registry) == refused, job
        if untuned:
            with pytest.raises(ConfigError, match="optimizer.learning_rate must be > 0, got 0.0"):
                build(registry, "gated_compare", job, *extra)
            extra.append("optimizer.learning_rate=0.003")
        cfg, parts = build(registry, "gated_compare", job, *extra)
        assert (cfg.model.name, cfg.optimizer.name, cfg.model.hidden) == (model, optimizer, hidden)
        assert cfg.model.get("cells_per_block") == cpb and cfg.optimizer.get("nesterov") == nesterov
        # every LSTM of the grid remembers long at first (+1 left HF and Adam at chance at T = 100)
        assert cfg.model.get("forget_bias") == (3.0 if model == "lstm" else None)
        # and every GRU (at -1 HF-GRU sat at chance on one seed of two)
        assert cfg.model.get("update_bias") == (-3.0 if model == "gru" else None)
        assert (cfg.task.name, cfg.task.T, cfg.task.test_seed, cfg.task.success_threshold) == (problem, 100, 12345,
                                                                                              0.001)
        assert (cfg.hf.budget_minibatches, cfg.hf.max_iterations, cfg.damping.name, cfg.damping.mu) == (
            50000.0, None, "structural", 0.03)
        assert cfg.tracking.tags.method == method and cfg.tracking.tags.sweep == "gated_compare"
        assert cfg.tracking.experiment == "hfcore-gated" and cfg.progress is False
        if optimizer == "hf":
            assert (cfg.hf.gradient_batch, cfg.hf.curvature_batch, cfg.hf.eval_every) == (10000, 1000, 1)
        else:  # as figure3_full_sgd: 100 sequences a step, evaluated every 500 steps, logged every 50
            assert (cfg.optimizer.batch_size, cfg.hf.eval_every, cfg.tracking.log_every) == (100, 500, 50)
        if method == "hf_rnn":
            rnn_params[problem] = parts.model.n_params
        assert abs(parts.model.n_params / rnn_params[problem] - 1) < 0.06, (method, problem, parts.model.n_params)
    assert rnn_params == {"addition": 10501, "multiplication": 10501, "temporal_order": 11404}


def test_the_tuned_rate_is_picked_by_method_and_problem(tmp_path):
    """gated_compare reads Adam's rate from adam_tuned_lr/<method>-<problem>.yaml (the table the lr sweep fills)."""
    conf = tmp_path / "conf" / "sweep"
    (conf / "gated_problem").mkdir(parents=True)
    (conf / "adam_tuned_lr").mkdir()
    (conf / "gated_problem" / "tiny.yaml").write_text(
        "# @package _global_\ndefaults:\n  - override /experiment: ms2011_addition\n")
    for method, rate in (("adam_lstm", 0.02), ("adam_gru", 0.005)):
        (conf / "adam_tuned_lr" / f"{method}-tiny.yaml").write_text(
            f"# @package _global_\noptimizer:\n  learning_rate: {rate}\n")
    for method, rate in (("adam_lstm", 0.02), ("adam_gru", 0.005)):
        with initialize_config_module("hfcore.conf", version_base="1.3"):
            cfg = compose("config", overrides=[f"hydra.searchpath=[file://{tmp_path / 'conf'}]", "sweep=gated_compare",
                                               "sweep/gated_problem@gated_problem=tiny",
                                               f"sweep/gated_method@gated_method={method}"])
        assert (cfg.optimizer.name, cfg.optimizer.learning_rate, cfg.task.name) == ("adam", rate, "addition")


def test_gated_compare_runs_every_method_once_and_a_rerun_skips_them_all(tmp_path):
    """A tiny gated_compare (T = 10, 8 units, 2 iterations, the rates from a tuned table) runs each of the six
    methods once, logging what tells them apart; the rerun skips all six."""
    conf = tmp_path / "conf" / "sweep"
    (conf / "gated_problem").mkdir(parents=True)
    (conf / "adam_tuned_lr").mkdir()
    (conf / "gated_problem" / "tiny.yaml").write_text(
        "# @package _global_\ndefaults:\n  - override /experiment: ms2011_addition\n")
    for method in ("adam_lstm", "adam_gru"):
        (conf / "adam_tuned_lr" / f"{method}-tiny.yaml").write_text(
            "# @package _global_\noptimizer:\n  learning_rate: 0.01\n")
    args = ["--config-dir", str(tmp_path / "conf"), "--multirun", "sweep=gated_compare",
            "sweep/gated_problem@gated_problem=tiny", "seed=0", "task.T=10", "model.hidden=8", "task.test_size=50",
            "hf.gradient_batch=100", "hf.curvature_batch=20", "solver.max_iters=5", "hf.max_iterations=2"]
    first = hf_train(tmp_path, *args, timeout=600)
    assert first.returncode == 0, first.stderr[-3000:]
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    exp = client.get_experiment_by_name("hfcore-gated")
    found = client.search_runs([exp.experiment_id])
    assert sorted(r.data.tags["method"] for r in found) == sorted(GATED)
    assert {r.info.status for r in found} == {"FINISHED"} and {r.data.tags["sweep"] for r in found} == {
        "gated_compare"}
    for r in found:  # the params and tags a report needs to tell the methods apart
        p, method = r.data.params, r.data.tags["method"]
        model, optimizer, _, _, nesterov = GATED[method]
        assert (p["model.name"], p["optimizer.name"], r.data.tags["optimizer"]) == (model, optimizer, optimizer)
        if optimizer == "adam":
            assert p["optimizer.learning_rate"] == "0.01"
        if optimizer == "sgd":
            assert p["optimizer.nesterov"] == "True" and p["optimizer.learning_rate"] == "0.01"
        assert r.data.metrics["cost.minibatches"] > 0
    folders = sorted(p.name for p in (tmp_path / "multirun" / "gated_compare").iterdir() if p.is_dir())
    assert folders == sorted(f"addition-T10-{m}-s0" for m in GATED)

    again = hf_train(tmp_path, *args, timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    assert (again.stdout + again.stderr).count("skipped: run ") == 6
    assert len(client.search_runs([exp.experiment_id])) == 6


def test_adam_learning_rate_sweep_covers_the_gated_models():
    """sweep=adam_lr tunes gated_compare's GRU and LSTM (sweep/lr_method@lr_method=...), in folders of their own;
    its default is still Table 1's LSTM, with the config its runs had before the option existed."""
    for option, (model, hidden) in {"adam_gru": ("gru", 57), "adam_lstm_gated": ("lstm", 50)}.items():
        cfg = job_config("adam_lr", ["experiment=ms2011_addition", "task.T=100", f"sweep/lr_method@lr_method={option}"])
        assert (cfg.model.name, cfg.model.hidden, cfg.optimizer.name, cfg.task.test_seed) == (model, hidden, "adam",
                                                                                              54321)
        assert (cfg.hf.budget_minibatches, cfg.hf.eval_every, cfg.tracking.tags.sweep) == (5000.0, 200, "adam_lr")
    before = ["experiment=ms2011_addition", "task.T=100", "model=lstm", "model.hidden=300", "optimizer=adam",
              "task.test_seed=54321", "task.test_size=2000", "hf.budget_minibatches=5000", "hf.eval_every=200"]
    assert what_runs(job_config("adam_lr", ["experiment=ms2011_addition", "task.T=100"])) == what_runs(
        job_config(None, before))
    _, cfg = grid_jobs("adam_lr", "experiment=ms2011_addition", "sweep/lr_method@lr_method=adam_gru")
    assert cfg.hydra.sweep.subdir == "addition-T30-gru57-lr0.001-s0"  # a folder of its own per model


def test_table1_redo_is_four_methods_on_three_tasks_and_three_seeds_adam_last():
    got = cells("table1_redo")
    assert len(got) == 36 and len({tuple(j) for _, j in got}) == 36 and {m for m, _ in got} == set(TABLE1)
    assert {m for m, _ in got[-9:]} == {"lstm_adam"}


@pytest.mark.parametrize("table1_task", ["bouncing_balls", "music",
                                         pytest.param("speech", marks=pytest.mark.extra("espeak"))])
def test_every_table1_redo_cell_composes_and_builds_as_its_method_says(registry, tmp_path, table1_task):
    """Equal CPU budgets for every method (4 CPU hours); the methods set what they claim; music's HF batches are
    table1_full_hf_music's. Built on the tasks' tiny data (the full sets take minutes to build; speech's needs
    espeak-ng)."""
    from hfcore.build import ConfigError
    from hfcore.compose_check import composition_error

    for method, job in cells("table1_redo"):
        task = dict(o.split("=", 1) for o in job)["sweep/table1_task@table1_task"]
        if task != table1_task:
            continue
        extra = ["task.size=tiny", f"task.data_dir={tmp_path}", "hf.gradient_batch=20", "hf.curvature_batch=10"]
        untuned = TABLE1[method][1] == "adam" and tuned_rate(method, task) == 0
        refused = "optimizer 'adam': optimizer.learning_rate must be > 0, got 0.0" if untuned else None
        assert composition_error(["--multirun", "sweep=table1_redo", *job, *extra], registry) == refused, job
        with initialize_config_module("hfcore.conf", version_base="1.3"):
            cfg = compose("config", overrides=["sweep=table1_redo", *job])
        model, optimizer, hidden = TABLE1[method]
        assert (cfg.model.name, cfg.optimizer.name, cfg.model.hidden, cfg.task.name) == (model, optimizer, hidden, task)
        assert (cfg.hf.budget_seconds, cfg.hf.budget_clock, cfg.hf.max_iterations, cfg.hf.budget_minibatches) == (
            14400, "cpu", None, 1e18)
        assert (cfg.tracking.experiment, cfg.tracking.tags.sweep, cfg.tracking.tags.method) == (
            "hfcore-table1", "table1_redo", {"hf": "rnn_hf", "lstm": "lstm_sgd"}.get(method, method))
        if model == "lstm":
            assert cfg.model.cells_per_block == 10
        if optimizer == "hf":
            assert cfg.hf.eval_every == 1 and cfg.damping.name == "structural"
            batches = (2000, 500) if task == "music" else (10000, 1000)
            assert (cfg.hf.gradient_batch, cfg.hf.curvature_batch) == batches
        else:
            assert (cfg.optimizer.batch_size, cfg.hf.eval_every, cfg.tracking.log_every) == (100, 500, 50)
        if optimizer == "adam" and tuned_rate(method, task) == 0:
            with pytest.raises(ConfigError, match="optimizer.learning_rate must be > 0, got 0.0"):
                build(registry, "table1_redo", job, *extra)
            extra.append("optimizer.learning_rate=0.001")
        build(registry, "table1_redo", job, *extra)


@pytest.mark.parametrize("grid, job, old_key", [
    ("table1_quick", ["task=speech", "seed=0"], ("speech", "hf", 0)),
    ("table1_full_lstm", ["task=music", "seed=2"], ("music", "lstm", 2)),
    ("table1_quick_lstm", ["task=bouncing_balls", "seed=0"], ("bouncing_balls", "lstm", 0)),
])
def test_finished_table1_runs_are_still_skipped(tmp_path, grid, job, old_key):
    """The Table 1 methods gained a tag (method) and first-order eval/log defaults the old grids override: a run
    the old grids finished (its params as hf-table1 logged them) is still found, so the rerun skips it."""
    from mlflow.tracking import MlflowClient

    from hfcore.build import solver_tag
    from hfcore.hydra_callbacks import find_finished_run, run_identity

    profile = "quick" if "quick" in grid else "full"
    old = job_config(None, old_table1_runs(profile)[old_key])
    cfg = job_config(grid, job)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri)
    run = client.create_run(client.create_experiment("hfcore-table1"), tags={
        "sweep": f"table1_{profile}", "experiment": "none", "task": old.task.name, "T": str(old.task.T),
        "seed": str(old.seed), "damping": old.damping.name, "solver": solver_tag(old)})
    for key, value in run_identity(old).items():
        client.log_param(run.info.run_id, key, value)
    client.set_terminated(run.info.run_id, "FINISHED")
    assert find_finished_run(uri, "hfcore-table1", cfg, f"table1_{profile}", "none") == run.info.run_id

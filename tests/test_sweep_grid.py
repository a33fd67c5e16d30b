"""The paper's grids as Hydra sweeps (issue 16): conf/sweep/, SkipFinishedRuns, and hf-report figure3 / table1."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pytest
from hydra import compose, initialize_config_module
from omegaconf import OmegaConf

from tests.test_cli import hf_train
from tests.test_figure3 import hf_report

TINY = ["model.hidden=8", "task.T=10", "hf.gradient_batch=200", "hf.curvature_batch=50", "task.test_size=100",
        "hf.max_iterations=2", "progress=false"]
# The quick grid cut to one problem and seed on the command line (a command-line sweep replaces the grid's).
TWO_JOBS = ["--multirun", "sweep=figure3_quick", "experiment=ms2011_addition", "seed=0", *TINY]

# ------------------------------------------------------------ the runs of the harnesses the grids replace
# hf-figure3 and hf-table1 (hfcore/experiments/, removed after 6ac9f66) made these runs: each profile's cells and
# the hf-train overrides they passed, frozen here so the grids can be held to them.

PROBLEMS = ("addition", "multiplication", "xor", "temporal_order", "temporal_order_3bit", "random_permutation",
            "memorization_5bit", "memorization_20bit")
OLD_FIGURE3 = {
    "quick": {"problems": ("addition", "temporal_order"), "lengths": (30, 50), "seeds": (0, 1), "sgd_seeds": (0,),
              "overrides": ("hf.gradient_batch=2000", "hf.curvature_batch=500", "task.test_size=2000"),
              "sgd_overrides": ("optimizer.batch_size=100", "hf.eval_every=200", "task.test_size=2000",
                                "tracking.log_every=20"),
              "budget": 2000.0},
    "full": {"problems": PROBLEMS, "lengths": (30, 50, 100, 200), "seeds": (0, 1, 2, 3, 4), "sgd_seeds": (0, 1),
             "overrides": (),
             "sgd_overrides": ("optimizer.batch_size=100", "hf.eval_every=500", "tracking.log_every=50"),
             "budget": 50000.0},
}


def old_figure3_runs(profile: str) -> dict[tuple, list[str]]:
    """hf-figure3's runs of ``profile``: (problem, T, method, seed) -> its hf-train overrides."""
    p = OLD_FIGURE3[profile]
    runs = {}
    for problem in p["problems"]:
        for T in p["lengths"]:
            cells = [(m, s, f"damping={m}", p["overrides"]) for m in ("structural", "tikhonov") for s in p["seeds"]]
            cells += [("sgd", s, "optimizer=sgd", p["sgd_overrides"]) for s in p["sgd_seeds"]]
            for method, seed, choice, overrides in cells:
                runs[problem, T, method, seed] = [f"experiment=ms2011_{problem}", f"task.T={T}", f"seed={seed}",
                                                  f"hf.budget_minibatches={p['budget']}", choice, *overrides]
    return runs


OLD_TABLE1 = {
    "quick": {"seeds": (0,), "budget": 900.0, "overrides": ("task.test_size=500",),
              "hf": ("hf.gradient_batch=1000", "hf.curvature_batch=200", "solver.max_iters=50"),
              "lstm": ("hf.eval_every=100", "tracking.log_every=10"),
              "music/hf": ("hf.gradient_batch=500", "hf.curvature_batch=100")},
    "full": {"seeds": (0, 1, 2), "budget": 14400.0, "overrides": (), "hf": (),
             "lstm": ("hf.eval_every=500", "tracking.log_every=50"),
             "music/hf": ("hf.gradient_batch=2000", "hf.curvature_batch=500")},
}
# hf=ms2011: the default when hf-table1 ran (its rules were the schema's until the eleventh session)
TABLE1_METHODS = {"hf": ("model=rnn_tanh", "model.hidden=300", "hf=ms2011"),
                  "lstm": ("model=lstm", "model.hidden=300", "optimizer=sgd", "hf=ms2011")}


def old_table1_runs(profile: str) -> dict[tuple, list[str]]:
    """hf-table1's runs of ``profile``: (task, method, seed) -> its hf-train overrides."""
    p = OLD_TABLE1[profile]
    return {(task, method, seed): [f"task={task}", *TABLE1_METHODS[method], f"seed={seed}",
                                   f"hf.budget_seconds={p['budget']}", "hf.budget_clock=wall", "hf.max_iterations=null",
                                   "hf.budget_minibatches=1e18", *p["overrides"], *p[method],
                                   *p.get(f"{task}/{method}", ())]
            for task in ("bouncing_balls", "music", "speech") for seed in p["seeds"] for method in ("hf", "lstm")}


@pytest.fixture(scope="module", autouse=True)
def registered():
    from hfcore.cli import register_configs
    from hfcore.registry import load_plugins
    from hfcore.rundir import register_resolvers

    _, registry = load_plugins(strict=False)
    register_configs(registry)
    register_resolvers()


def grid_jobs(grid: str, *overrides: str) -> tuple[list[list[str]], object]:
    """The jobs Hydra's basic sweeper makes of ``grid``'s ``hydra.sweeper.params``, and the grid's config."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.override_parser.overrides_parser import OverridesParser

    with initialize_config_module("hfcore.conf", version_base="1.3"):
        cfg = compose("config", overrides=[f"sweep={grid}", *overrides], return_hydra_config=True)
    params = [f"{k}={v}" for k, v in cfg.hydra.sweeper.params.items()]
    (batch,) = BasicSweeper.split_arguments(OverridesParser.create().parse_overrides(params), None)
    return batch, cfg


def job_config(grid: str | None, job: list[str]):
    with initialize_config_module("hfcore.conf", version_base="1.3"):
        return compose("config", overrides=[f"sweep={grid}"] * bool(grid) + list(job))


def what_runs(cfg) -> dict:
    """A composed config less what does not change what a run computes (where it logs, its progress bar)."""
    out = OmegaConf.to_container(cfg, resolve=True)
    for key in ("tracking", "progress"):
        out.pop(key)
    return out


def check_grids(grids: dict[str, str], old: dict[tuple, list[str]], key, sweep: str, experiment: str,
                every_job: bool = True) -> None:
    """``grids`` (grid -> method) make exactly the runs of ``old``: the same keys, each job's config the same as
    the old run's (every job, or the first and last of each grid), logged to ``experiment`` with tag ``sweep``."""
    got = []
    for grid, method in grids.items():
        jobs, _ = grid_jobs(grid)
        assert len(jobs) == len({tuple(j) for j in jobs})
        for i, job in enumerate(jobs):
            choice = dict(o.split("=") for o in job)
            got.append(key(choice, method))
            if every_job or i in (0, len(jobs) - 1):
                cfg = job_config(grid, job)
                assert (cfg.tracking.tags.sweep, cfg.tracking.experiment, cfg.progress) == (sweep, experiment, False)
                assert what_runs(cfg) == what_runs(job_config(None, old[got[-1]])), (grid, job)
    assert sorted(got) == sorted(old)


@pytest.mark.parametrize("profile", ["quick", "full"])
def test_figure3_grids_make_exactly_the_profiles_runs(profile):
    """The HF grid and the SGD grid together are hf-figure3's profile: the same runs, with the same settings."""
    def key(choice, method):
        method = method or choice["damping"]
        return (choice["experiment"].removeprefix("ms2011_"), int(choice["task.T"]), method, int(choice["seed"]))

    check_grids({f"figure3_{profile}": None, f"figure3_{profile}_sgd": "sgd"}, old_figure3_runs(profile), key,
                f"figure3_{profile}", "hfcore-figure3", every_job=profile == "quick")


@pytest.mark.parametrize("profile", ["quick", "full"])
def test_table1_grids_make_exactly_the_profiles_runs(profile):
    """The three Table 1 grids of a profile are hf-table1's profile: the same runs, with the same settings."""
    grids = {f"table1_{profile}": "hf", f"table1_{profile}_hf_music": "hf", f"table1_{profile}_lstm": "lstm"}
    check_grids(grids, old_table1_runs(profile), lambda choice, method: (choice["task"], method, int(choice["seed"])),
                f"table1_{profile}", "hfcore-table1")


def test_a_grid_job_gets_the_preset_and_its_damping():
    """A swept damping=tikhonov wins over the preset's structural default; the grid's batches over the preset's."""
    cfg = job_config("figure3_quick", ["experiment=ms2011_temporal_order", "task.T=50", "damping=tikhonov", "seed=1"])
    assert (cfg.task.name, cfg.task.T, cfg.damping.name, cfg.seed, cfg.optimizer.name) == (
        "temporal_order", 50, "tikhonov", 1, "hf")
    assert (cfg.hf.gradient_batch, cfg.hf.curvature_batch, cfg.task.test_size) == (2000, 500, 2000)
    sgd = job_config("figure3_quick_sgd", ["experiment=ms2011_addition", "task.T=30", "seed=0"])
    assert (sgd.optimizer.name, sgd.optimizer.batch_size, sgd.hf.eval_every, sgd.tracking.log_every) == (
        "sgd", 100, 200, 20)


def store_runs(tmp_path: Path):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    exp = client.get_experiment_by_name("hfcore-figure3")
    return client, client.search_runs([exp.experiment_id]) if exp else []


def job_logs(tmp_path: Path) -> str:
    """Every job's Hydra log file of the quick grid's sweep folder (the launcher's workers write them too)."""
    return "".join(p.read_text() for p in sorted((tmp_path / "multirun" / "figure3_quick").glob("*/*.log")))


def test_rerun_skips_finished_jobs_and_resumes_stopped_ones(tmp_path):
    first = hf_train(tmp_path, *TWO_JOBS)
    assert first.returncode == 0, first.stderr[-3000:]
    client, runs = store_runs(tmp_path)
    assert sorted(r.data.tags["damping"] for r in runs) == ["structural", "tikhonov"]
    assert {r.info.status for r in runs} == {"FINISHED"} and {r.data.tags["sweep"] for r in runs} == {"figure3_quick"}
    # The folders are named by the grid and the job, so a rerun finds its checkpoints there.
    folders = sorted(p.name for p in (tmp_path / "multirun" / "figure3_quick").iterdir() if p.is_dir())
    assert folders == ["ms2011_addition-T10-structural-s0", "ms2011_addition-T10-tikhonov-s0"]

    again = hf_train(tmp_path, *TWO_JOBS)
    assert again.returncode == 0, again.stderr[-3000:]
    _, runs_again = store_runs(tmp_path)
    assert {r.info.run_id for r in runs_again} == {r.info.run_id for r in runs}  # no new run
    assert [r.data.metrics["cost.minibatches"] for r in runs_again] == [r.data.metrics["cost.minibatches"]
                                                                         for r in runs]
    output = again.stdout + again.stderr
    assert output.count("skipped: run ") == 2 and "MLflow run" not in output and "iter 1" not in output
    assert job_logs(tmp_path).count("skipped: run ") == 2

    # A run stopped part-way (here: marked KILLED, as SIGTERM leaves it) goes on from its checkpoint, same run.
    stopped = next(r for r in runs if r.data.tags["damping"] == "tikhonov")
    client.set_terminated(stopped.info.run_id, "KILLED")
    third = hf_train(tmp_path, *TWO_JOBS)
    assert third.returncode == 0, third.stderr[-3000:]
    output = third.stdout + third.stderr
    assert output.count("skipped: run ") == 1 and "resuming the run stopped part-way" in output
    _, runs_third = store_runs(tmp_path)
    assert len(runs_third) == 2 and {r.info.status for r in runs_third} == {"FINISHED"}


def test_a_changed_grid_value_is_not_skipped(tmp_path):
    """The identity is the config, not only the tags: other batches make another run (here, in a new folder)."""
    assert hf_train(tmp_path, *TWO_JOBS, "damping=structural").returncode == 0
    other = hf_train(tmp_path, *TWO_JOBS, "damping=structural", "hf.curvature_batch=40",
                     "hydra.sweep.dir=multirun/figure3_quick_cb40")
    assert other.returncode == 0, other.stderr[-3000:]
    assert "skipped" not in other.stdout + other.stderr
    _, runs = store_runs(tmp_path)
    assert sorted(r.data.params["hf.curvature_batch"] for r in runs) == ["40", "50"]


@pytest.mark.parametrize("changes, shown", [
    (["hf.max_iterations=3"], "(hf.max_iterations: 2 -> 3)"),  # before: resumed, silently
    (["hf.max_iterations=3", "model.hidden=9"], "(model.hidden: 8 -> 9, hf.max_iterations: 2 -> 3)"),
])
def test_a_checkpoint_of_another_config_is_not_resumed(tmp_path, changes, shown):
    """A grid whose values changed but whose job folders did not: the job stops before any work, in one line,
    and leaves the folder's checkpoint and the store as they were (no run, none left RUNNING)."""
    job = [*TWO_JOBS, "damping=structural"]
    assert hf_train(tmp_path, *job).returncode == 0
    checkpoint = tmp_path / "multirun" / "figure3_quick" / "ms2011_addition-T10-structural-s0" / "checkpoints"
    before = (checkpoint / "state.npz").read_bytes()
    _, runs = store_runs(tmp_path)
    changed = hf_train(tmp_path, *job, *changes)
    assert changed.returncode == 2, changed.stderr[-3000:]
    line = changed.stderr.strip().splitlines()[-1]
    assert line.startswith("hf-train: error: ") and str(checkpoint.parent) in line
    assert shown in line and "hydra.sweep.dir" in line
    assert "iter 1" not in changed.stdout + changed.stderr
    assert (checkpoint / "state.npz").read_bytes() == before and sorted(p.name for p in checkpoint.iterdir()) == [
        "state.npz"]
    _, runs_after = store_runs(tmp_path)
    assert [(r.info.run_id, r.info.status) for r in runs_after] == [(r.info.run_id, r.info.status) for r in runs]


def test_a_checkpoint_of_the_same_config_is_resumed_without_tracking(tmp_path):
    """Without a tracking store a grid job has no finished run to find: its checkpoint, of this config (the
    progress bar aside), is resumed; one of another list value is not (lists compare whole)."""
    job = [*TWO_JOBS, "damping=structural", "tracking=none", "model=lstm", "model.cells_per_block=4"]
    assert hf_train(tmp_path, *job).returncode == 0
    again = hf_train(tmp_path, *job, "progress=true")
    assert again.returncode == 0, again.stderr[-3000:]
    assert "resuming the run stopped part-way" in again.stdout + again.stderr
    other = hf_train(tmp_path, *job, "model.damped_signals=[cell_inputs]")
    assert other.returncode == 2 and "model.damped_signals.1: gates -> None" in other.stderr, other.stderr[-3000:]


@pytest.mark.parametrize("name, overrides", [
    ("multiplication-T100-structural-s1", ["experiment=ms2011_multiplication", "seed=1", "damping=structural"]),
    ("addition-T100-tikhonov-s0", ["experiment=ms2011_addition", "seed=0", "damping=tikhonov"]),
])
def test_a_checkpoint_saved_before_keys_were_added_keeps_its_identity(name, overrides):
    """The committed T = 100 checkpoints (old layout: ``solver``, keys added since missing) are of the job that
    made them: its grid would resume them; another value is refused, named old -> new."""
    from hfcore.hydra_callbacks import checkpoint_mismatch

    results = Path(__file__).resolve().parents[1] / "docs" / "results"
    checkpoint = results / "figure3-t100" / "checkpoints" / f"{name}.npz"
    job = [*overrides, "task.T=100", "hf.budget_minibatches=50000", "hf.max_iterations=2000"]
    assert checkpoint_mismatch(checkpoint, job_config(None, job), Path("job")) is None
    refused = checkpoint_mismatch(checkpoint, job_config(None, [*job, "hf.budget_clock=cpu"]), Path("job"))
    assert refused.startswith(f"job holds the checkpoint {checkpoint} of a run with another config (hf.budget_clock: "
                              "wall -> cpu); ")


def test_plain_multirun_is_not_skipped(tmp_path):
    """Without a sweep tag (a plain --multirun, its folder named by the time) every job runs, as before."""
    args = ["--multirun", "experiment=ms2011_addition", *TINY]
    assert hf_train(tmp_path, *args).returncode == 0
    again = hf_train(tmp_path, *args)
    assert again.returncode == 0 and "skipped" not in again.stdout + again.stderr


def test_report_reads_the_store_and_writes_table_and_plot(tmp_path):
    assert hf_train(tmp_path, *TWO_JOBS).returncode == 0
    # A run of another sweep in the same experiment is not in the report.
    assert hf_train(tmp_path, *TWO_JOBS, "damping=structural", "tracking.tags.sweep=other",
                    "hydra.sweep.dir=multirun/other").returncode == 0
    done = hf_report(tmp_path, "figure3", "--sweep", "figure3_quick", "--out", "report")
    assert done.returncode == 0, done.stderr
    out = tmp_path / "report"
    with (out / "runs.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert sorted((r["problem"], r["T"], r["method"], r["seed"], r["state"], r["solved"]) for r in rows) == [
        ("addition", "10", "structural", "0", "finished", "False"),
        ("addition", "10", "tikhonov", "0", "finished", "False")]
    assert float(rows[0]["minibatches"]) > 0 and rows[0]["run_id"] and rows[0]["iterations"] == "2"
    assert not math.isnan(float(rows[0]["wall_seconds"]))
    assert "| addition | 10 | RNN + HF, structural damping | 0/1 | - | - | - |" in (out / "summary.md").read_text()
    with (out / "summary.csv").open() as fh:
        assert len(list(csv.DictReader(fh))) == 2
    assert (out / "figure3.png").read_bytes()[:4] == b"\x89PNG"


def test_skip_works_in_the_joblib_launchers_workers(tmp_path):
    """The callback runs where the job runs: a joblib rerun (worker processes) skips the finished jobs too."""
    assert hf_train(tmp_path, *TWO_JOBS).returncode == 0
    again = hf_train(tmp_path, *TWO_JOBS, "hydra/launcher=joblib", "hydra.launcher.n_jobs=2")
    assert again.returncode == 0, again.stderr[-3000:]
    assert job_logs(tmp_path).count("skipped: run ") == 2
    _, runs = store_runs(tmp_path)
    assert len(runs) == 2


def test_runs_logged_before_the_optimizer_group_keep_their_identity():
    """A finished run of the old layout (solver=sgd, solver.warm_start_decay) matches today's config keys."""
    from hfcore.hydra_callbacks import params_today

    sgd, unlogged = params_today({"solver.name": "sgd", "solver.batch_size": "100", "hf.eval_every": "200"})
    assert sgd == {"optimizer.name": "sgd", "optimizer.batch_size": "100", "hf.eval_every": "200"}
    assert "solver.max_iters".startswith(unlogged) and "hf.warm_start_decay".startswith(unlogged)
    hf, unlogged = params_today({"solver.name": "cg", "solver.warm_start_decay": "0.95"})
    assert hf == {"solver.name": "cg", "optimizer.name": "hf", "hf.warm_start_decay": "0.95"} and unlogged == ()
    today = {"optimizer.name": "sgd", "optimizer.batch_size": "100"}
    assert params_today(today) == (today, ())


@pytest.mark.parametrize("grid, changed, model", [
    ("figure3_quick_sgd", "optimizer.nesterov=true", []),
    ("figure3_quick", "hf.preconditioner=empirical_fisher", []),
    ("figure3_quick", "hf.float32_gv_above_lambda=0.009", []),
    ("figure3_quick", "hf.budget_clock=cpu", []),  # a time budget counted wall time before the key existed
    ("figure3_quick", "model.damped_signals=[cell_inputs,gates,cell]", ["model=lstm", "model.hidden=20"]),
    ("figure3_quick", "model.damped_signals=[update,reset,candidate,hidden]", ["model=gru", "model.hidden=20"]),
    ("figure3_quick", "model.damped_signals=[hidden]", ["model=gru", "model.hidden=20"]),
    ("figure3_quick", "model.forget_bias=3.0", ["model=lstm", "model.hidden=20"]),
])
def test_finished_runs_logged_before_a_key_was_added_keep_their_identity(tmp_path, grid, changed, model):
    """A run logged before the keys of ``ADDED_KEYS`` existed computed what their defaults compute (classical
    momentum, plain CG, float64 products, the LSTM's and the GRU's first damped signals): a grid job with the
    defaults is that run; one that sets a key is not."""
    from mlflow.tracking import MlflowClient

    from hfcore.build import solver_tag
    from hfcore.hydra_callbacks import ADDED_KEYS, find_finished_run, run_identity

    job = ["experiment=ms2011_addition", "task.T=30", "seed=0", *model]
    cfg = job_config(grid, job)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri)
    experiment = client.create_experiment("hfcore-figure3")
    tags = {"sweep": "figure3_quick", "experiment": "ms2011_addition", "task": "addition", "T": "30", "seed": "0",
            "damping": "structural", "solver": solver_tag(cfg)}
    run = client.create_run(experiment, tags=tags)
    identity = run_identity(cfg)
    assert any(k.startswith(changed.split("=")[0]) for k in identity)  # today's runs log the key (a list: .0, .1)
    for key, value in identity.items():
        if key not in ADDED_KEYS:
            client.log_param(run.info.run_id, key, value)
    client.set_terminated(run.info.run_id, "FINISHED")
    assert find_finished_run(uri, "hfcore-figure3", cfg, "figure3_quick", "ms2011_addition") == run.info.run_id
    other = job_config(grid, [*job, changed])
    assert find_finished_run(uri, "hfcore-figure3", other, "figure3_quick", "ms2011_addition") is None


def test_a_first_order_run_is_the_same_run_whatever_hf_settings_it_logged(tmp_path):
    """First-order runs logged every HF setting (and the default damping as a tag) before they logged only what
    they read: such a finished run is still found, under other HF settings too; another learning rate is not it."""
    from mlflow.tracking import MlflowClient

    from hfcore.hydra_callbacks import find_finished_run, run_identity

    job = ["experiment=ms2011_addition", "task.T=30", "seed=0"]
    cfg = job_config("figure3_quick_sgd", job)
    identity = run_identity(cfg)
    assert not [k for k in identity if k.startswith(("damping.", "solver."))]
    assert "hf.budget_minibatches" in identity and "hf.gradient_batch" not in identity
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri)
    tags = {"sweep": "figure3_quick_sgd", "experiment": "ms2011_addition", "task": "addition", "T": "30", "seed": "0",
            "damping": "structural", "solver": "sgd"}
    run = client.create_run(client.create_experiment("hfcore-figure3"), tags=tags)
    old_style = {**identity, "hf.gradient_batch": "10000", "damping.mu": "0.3", "solver.max_iters": "250"}
    for key, value in old_style.items():
        client.log_param(run.info.run_id, key, value)
    client.set_terminated(run.info.run_id, "FINISHED")
    for changed in ([], ["hf.gradient_batch=500", "damping=tikhonov", "hf=ms2011"]):
        found = find_finished_run(uri, "hfcore-figure3", job_config("figure3_quick_sgd", [*job, *changed]),
                                  "figure3_quick_sgd", "ms2011_addition")
        assert found == run.info.run_id, changed
    other = job_config("figure3_quick_sgd", [*job, "optimizer.learning_rate=0.5"])
    assert find_finished_run(uri, "hfcore-figure3", other, "figure3_quick_sgd", "ms2011_addition") is None


def test_an_empty_list_is_logged_under_its_own_key():
    """A run logs its config flattened (hfcore.tracking.flatten): one param per list item, and an empty list as
    ``[]`` under the list's key, so a run that damped no signals reads back as such, not as one from before
    the list existed."""
    from hfcore.tracking import flatten

    assert flatten({"model": {"damped_signals": [], "hidden": 20, "gates": ["a", "b"]}}) == {
        "model.damped_signals": "[]", "model.hidden": 20, "model.gates.0": "a", "model.gates.1": "b"}


def _signals(signals: list[str] | None) -> list[str]:
    return [] if signals is None else [f"model.damped_signals=[{','.join(signals)}]"]


@pytest.mark.parametrize("model, logged, job, skipped", [
    ("lstm", ["hidden", "cell"], ["hidden"], False),  # the job's list is the run's first items only
    ("lstm", ["hidden"], ["hidden", "cell"], False),
    ("lstm", ["cell_inputs", "gates"], [], False),
    ("lstm", [], None, False),  # a run with no damped signals is not the default's
    ("lstm", [], [], True),
    ("gru", [], ["hidden"], False),
    ("gru", None, ["update"], False),  # None: logged before damped_signals existed ([update, reset, candidate])
    ("gru", None, [], False),
    ("gru", None, None, True),
    ("lstm", None, ["cell_inputs", "gates"], True),
    ("lstm", ["hidden"], ["hidden"], True),  # the LSTM's default list is longer: not filled in for a logged list
    ("gru", ["hidden", "update"], ["hidden", "update"], True),
])
def test_list_values_match_whole(tmp_path, model, logged, job, skipped):
    """A list is logged one param per index: a finished run matches a job only with the same length and items,
    and a run logged before the list existed only the job with its default (ADDED_KEYS)."""
    from mlflow.tracking import MlflowClient

    from hfcore.build import solver_tag
    from hfcore.hydra_callbacks import find_finished_run, run_identity

    base = ["experiment=ms2011_addition", "task.T=30", "seed=0", f"model={model}", "model.hidden=20"]
    done = job_config("figure3_quick", base + _signals(logged))
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri)
    tags = {"sweep": "figure3_quick", "experiment": "ms2011_addition", "task": "addition", "T": "30", "seed": "0",
            "damping": "structural", "solver": solver_tag(done)}
    run = client.create_run(client.create_experiment("hfcore-figure3"), tags=tags)
    for key, value in run_identity(done).items():
        if logged is not None or not key.startswith("model.damped_signals"):
            client.log_param(run.info.run_id, key, value)
    client.set_terminated(run.info.run_id, "FINISHED")
    cfg = job_config("figure3_quick", base + _signals(job))
    found = find_finished_run(uri, "hfcore-figure3", cfg, "figure3_quick", "ms2011_addition")
    assert found == (run.info.run_id if skipped else None)


@pytest.mark.parametrize("grid, job, task, held_out", [
    ("adam_lr", ["experiment=ms2011_addition", "task.T=100"], ("addition", 100), {"test_seed": 54321}),
    ("adam_lr_natural", ["task=music"], ("music", 200), {"eval_split": "valid"}),
])
def test_adam_learning_rate_grids(grid, job, task, held_out):
    """Adam on the LSTM over four learning rates, on the task of the command line, scored on held-out data
    that is not the reported test set (another test seed, or the validation split)."""
    jobs, _ = grid_jobs(grid, *job)
    assert sorted(float(dict(o.split("=") for o in j)["optimizer.learning_rate"]) for j in jobs) == [
        3e-4, 1e-3, 3e-3, 1e-2]
    cfg = job_config(grid, [*jobs[0], *job])
    assert (cfg.model.name, cfg.model.hidden, cfg.optimizer.name) == ("lstm", 300, "adam")
    assert (cfg.task.name, cfg.task.T) == task
    assert {k: cfg.task[k] for k in held_out} == held_out
    assert cfg.tracking.tags.sweep == grid and cfg.tracking.experiment == "hfcore-lr-sweep"
    assert cfg.tracking.tags.learning_rate == str(cfg.optimizer.learning_rate)


def test_adam_learning_rate_sweep_runs_and_logs_each_rate(tmp_path):
    out = hf_train(tmp_path, "--multirun", "sweep=adam_lr", "experiment=ms2011_addition", "task.T=10",
                   "model.hidden=8", "model.cells_per_block=4", "task.test_size=50", "optimizer.batch_size=20",
                   "hf.max_iterations=3", "hf.eval_every=3", "optimizer.learning_rate=1e-3,1e-2")
    assert out.returncode == 0, out.stderr[-3000:]
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    found = client.search_runs([client.get_experiment_by_name("hfcore-lr-sweep").experiment_id])
    assert sorted(r.data.tags["learning_rate"] for r in found) == ["0.001", "0.01"]
    assert {r.info.status for r in found} == {"FINISHED"}
    assert {(r.data.params["model.name"], r.data.params["optimizer.name"], r.data.params["task.test_seed"],
             r.data.tags["sweep"]) for r in found} == {("lstm", "adam", "54321", "adam_lr")}
    assert all(math.isfinite(r.data.metrics["test.error"]) for r in found)

"""Hydra's composition errors reach the user as one line, exit 2, before anything is written."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from hfcore.cli import register_configs
from hfcore.compose_check import composition_error
from hfcore.registry import load_plugins
from tests.test_cli import hf_train


@pytest.fixture(scope="module")
def registry():
    _, registry = load_plugins(strict=False)
    register_configs(registry)
    return registry


@pytest.mark.parametrize("argv, expected", [
    (["model.hiddn=16"], "unknown key 'model.hiddn': model (RNNConfig) has no key 'hiddn'; "
                         "did you mean 'model.hidden'?"),
    (["tracking.tag.study=lr"], "did you mean 'tracking.tags'?"),
    (["optimizer=sgd", "optimizer.max_iters=3"], "did you mean 'solver.max_iters'?"),
    (["optimizer.learning_rate=0.1"], "it is an option of optimizer=sgd and optimizer=adam, not of optimizer=hf"),
    (["--multirun", "sweep=adam_lr_natural"], "In 'sweep/adam_lr_natural': Key 'eval_split' not in 'AdditionConfig'"),
    (["solver=sgd", "solver.learning_rate=0.1"], "solver=sgd is now optimizer=sgd (its options are optimizer.<key>"),
    (["task=nope"], "no task 'nope'; the options are addition, "),
    (["model=foo"], "gru, linear, lstm"),  # after "no model 'foo'; the options are" and any plugin's models
    (["task.T=abc"], "bad value for task.T: Value 'abc' of type 'str' could not be converted to Integer"),
    (["hf.gradient_batch=1.5"], "bad value for hf.gradient_batch:"),
    (["task.T==3"], "bad override: Error parsing override 'task.T==3'"),
    (["--multirun", "seed=0,1", "tracking.experimen=x"], "did you mean 'tracking.experiment'?"),
    # a sweep without --multirun: Hydra's report was five lines ("Ambiguous value ...", "... requires --multirun")
    (["seed=0,1"], "seed=0,1 is a sweep: add --multirun to run one job per value (a list is seed=[0,1])"),
    (["task.T=50", "seed=range(3)"], "seed=range(3) is a sweep: add --multirun to run one job per value"),
    # Hydra's own groups and keys: were left to Hydra (a 12-line report, or a traceback)
    (["hydra/launcher=nope"], "no hydra/launcher 'nope'; the options are basic, joblib, submitit_local, "
                              "submitit_slurm"),
    (["hydra/launcher=ray"], "(hydra/launcher=ray comes with pip install 'hydra-ray-launcher')"),
    (["hydra/launcher=joblib", "hydra.launcher.n_jobz=2"],
     "unknown key 'hydra.launcher.n_jobz': hydra.launcher (of hydra/launcher=joblib) has no key 'n_jobz'; "
     "did you mean 'hydra.launcher.n_jobs'?"),
    (["hydra.launcher.n_jobs=2"], "hydra.launcher (of hydra/launcher=basic) has no key 'n_jobs'; it is a key of "
                                  "hydra/launcher=joblib"),
    (["hydra.runn.dir=x"], "unknown key 'hydra.runn': hydra has no key 'runn'; did you mean 'hydra.run'?"),
    (["hydra.job.chdir=maybe"], "bad value for hydra.job.chdir: Value 'maybe' is not a valid bool"),
    (["--multirun", "hydra.verbose=true,false"], "hydra.verbose=true,false: Hydra's own settings take one value"),
    (["--multirun", "hydra.sweeper.params.seed=0"],
     "hydra.sweeper.params.seed=0 cannot be applied: hydra.sweeper.params is null here, so it has no key to set"),
])
def test_composition_errors_are_one_line(registry, argv, expected):
    message = composition_error(argv, registry)
    assert message is not None and expected in message
    assert "\n" not in message


@pytest.mark.parametrize("argv", [
    [], ["task=xor", "task.T=50", "seed=3"], ["--multirun", "seed=0,1,2", "damping=structural,tikhonov"],
    ["+tracking.tags.study=lr"], ["hydra.run.dir=somewhere", "hydra/launcher=basic"],
    ["--multirun", "seed=0,1", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2"],
    ["--cfg", "job", "model.hiddn=1"],  # Hydra's own commands are left to Hydra
])
def test_good_commands_pass(registry, argv):
    assert composition_error(argv, registry) is None


def test_cli_refuses_an_unknown_key_in_one_line_and_writes_nothing(tmp_path):
    out = hf_train(tmp_path, "model.hiddn=16")
    assert out.returncode == 2
    assert out.stderr.splitlines() == ["hf-train: error: unknown key 'model.hiddn': model (RNNConfig) has no key "
                                       "'hiddn'; did you mean 'model.hidden'?"]
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no outputs/ folder, no mlflow.db


# ------------------------------------------------------------------ every job of a --multirun sweep

TINY_GRID = ["hf.max_iterations=1", "model.hidden=4", "hf=small", "task.test_size=50", "progress=false"]


@pytest.mark.parametrize("argv, expected", [
    # a bad value of a later job: its composition, or the build checks a single run gets
    (["task.T=10,-5"], "the sweep's job task.T=-5: task 'addition': T=-5 must be an integer >= 10"),
    # then every damping option, plugins' too
    (["damping=structural,bogus"], "the sweep's job damping=bogus: no damping 'bogus'; the options are "),
    (["seed=0,1", "task.T=10,20,-5"], "the sweep's job seed=0 task.T=-5: task 'addition': T=-5"),
    # a grid of conf/sweep/ (its axes in hydra.sweeper.params), one of its axes replaced on the command line
    (["sweep=figure3_full", "task.T=30,-5"],
     "the sweep's job experiment=ms2011_addition task.T=-5 damping=structural seed=0: task 'addition': T=-5"),
    (["sweep=figure3_full", "damping=structural,bogus"], "damping=bogus seed=0: no damping 'bogus'"),
    (["sweep=figure3_full", "experiment=ms2011_xor,ms2011_nope"], "task.T=30 damping=structural seed=0: no experiment"),
    (["sweep=gated_compare", "seed=0,-1"], "gated_problem@gated_problem=addition seed=-1: seed must be >= 0, got -1"),
])
def test_a_bad_job_of_a_sweep_is_refused_in_one_line(registry, argv, expected):
    message = composition_error(["--multirun", *TINY_GRID, *argv], registry)
    assert message is not None and "\n" not in message
    assert message.startswith("the sweep's job ") and expected in message


def test_a_bad_value_every_job_shares_names_no_job(registry):
    message = composition_error(["--multirun", *TINY_GRID, "seed=0,1", "hf.max_iterations=0"], registry)
    assert message == "hf.max_iterations must be >= 1, got 0"


@pytest.mark.parametrize("argv", [
    ["sweep=figure3_full"], ["sweep=figure3_quick"], ["sweep=figure3_full", "task.T=30,50"],
    ["seed=0,1", "damping=structural,tikhonov", "task.T=10,20"],
    # Hydra's sweep functions: glob() lists a group's options, so it needs the config loader
    ["damping=glob(*)", "seed=range(0,2)"], ["damping=glob(struct*,tik*)"],
    # gated_compare picks Adam's rate by method and problem; an untuned one (0.0) fails in its own job, by design
    # after the other cells ran: a failure of a combination of good values, not a bad value
    ["sweep=gated_compare", "task.test_size=10"],
])
def test_good_sweeps_pass(registry, argv):
    assert composition_error(["--multirun", *argv], registry) is None


@pytest.mark.parametrize("sweep, expected", [
    ("damping=glob(nope*)", "the sweep damping=glob(nope*) has no values (a glob matching no option, an empty range)"),
    ("seed=range(3,3)", "the sweep seed=range(3,3) has no values"),
    ("damping.mu=interval(0.01,0.1)", "damping.mu=interval(0.01,0.1): an interval is sampled by a sweeper that "
                                      "samples (e.g. hydra/sweeper=optuna"),
])
def test_a_sweep_that_makes_no_job_is_refused_in_one_line(registry, sweep, expected):
    """A glob matching nothing stopped hf-train with a traceback; an interval on the basic sweeper with Hydra's
    "Can only enumerate CHOICE and RANGE sweeps"."""
    message = composition_error(["--multirun", *TINY_GRID, sweep], registry)
    assert message is not None and "\n" not in message and message.startswith(expected)


def test_a_natural_grid_with_untuned_adam_cells_passes(registry, tmp_path):
    """table1_redo ties Adam's rate to the method and the task as gated_compare does (on tiny data: the full sets
    take minutes to build; no speech, which needs espeak-ng)."""
    tiny = ["task.size=tiny", f"task.data_dir={tmp_path}", "hf.gradient_batch=20", "hf.curvature_batch=10"]
    grid = ["sweep=table1_redo", "sweep/table1_task@table1_task=bouncing_balls,music"]
    assert composition_error(["--multirun", *grid, *tiny], registry) is None


def test_a_cell_bad_only_in_its_combination_is_left_to_its_job(registry):
    """The untuned Adam cells of gated_compare are refused when built, but pass without the group that ties the
    rate to the method and problem (the check that lets the sweep start)."""
    from omegaconf import OmegaConf

    from hfcore.compose_check import _build_problem

    tuned = Path(__file__).resolve().parents[1] / "conf" / "sweep" / "adam_tuned_lr"
    untuned = [f.stem for f in sorted(tuned.glob("adam_*.yaml"))  # gated_compare's cells (lstm_adam-*: Table 1's)
               if OmegaConf.load(f).optimizer.learning_rate == 0]
    if not untuned:
        pytest.skip("every gated_compare Adam cell is tuned: none left to check with")
    method, _, problem_name = untuned[0].partition("-")
    job = ["sweep=gated_compare", f"sweep/gated_method@gated_method={method}",
           f"sweep/gated_problem@gated_problem={problem_name}", "seed=0"]
    problem, choices = _build_problem(job, registry)
    assert problem is not None and "optimizer.learning_rate must be > 0, got 0.0" in problem
    assert choices["sweep/adam_tuned_lr@adam_tuned_lr"] == untuned[0]
    assert _build_problem([*job, "~sweep/adam_tuned_lr@adam_tuned_lr"], registry)[0] is None


def test_a_large_grid_is_checked_value_by_value():
    """320 jobs are too many to build each (~0.2 s): the first job and each swept value once, the other swept
    keys at their first values; a small grid is checked whole."""
    from hfcore.compose_check import SMALL_GRID, _jobs_to_check

    axes = {"experiment": [f"e{i}" for i in range(8)], "task.T": ["30", "50", "100", "200"],
            "damping": ["structural", "tikhonov"], "seed": [str(s) for s in range(5)]}
    jobs = [["progress=false", *(f"{k}={v}" for k, v in zip(axes, values, strict=True))]
            for values in itertools.product(*axes.values())]
    checked = _jobs_to_check(jobs)
    assert len(checked) == 1 + sum(len(v) - 1 for v in axes.values()) == 16 and checked[0] == jobs[0]
    for key, values in axes.items():
        assert {o for job in checked for o in job if o.startswith(f"{key}=")} == {f"{key}={v}" for v in values}
    assert all(job in jobs for job in checked)
    small = jobs[:SMALL_GRID]
    assert _jobs_to_check(small) == small


@pytest.mark.parametrize("bad", [["task.T=10,-5"], ["damping=structural,bogus"]])
def test_cli_refuses_a_bad_job_before_the_first_runs(tmp_path, bad):
    """Before, the first job ran to its end and the second failed (or Hydra printed its 12-line error)."""
    out = hf_train(tmp_path, "--multirun", *bad, *TINY_GRID)
    assert out.returncode == 2, out.stderr
    (line,) = [x for x in out.stderr.splitlines() if x.strip()]
    assert line.startswith("hf-train: error: the sweep's job ")
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no multirun/ folder, no mlflow.db


@pytest.fixture
def another_sweeper():
    """A sweeper other than the basic one, as an installed plugin adds it (composing does not instantiate it)."""
    from hydra.core.config_store import ConfigStore

    ConfigStore.instance().store(group="hydra/sweeper", name="sampler", node={"_target_": "somewhere.Sampler"})


@pytest.mark.parametrize("argv", [["hydra/sweeper=sampler"], ["hydra.sweeper.max_batch_size=2"]])
def test_another_sweeper_makes_its_own_jobs(registry, another_sweeper, argv):
    """Only the basic sweeper's grid is known here; another sweeper's jobs (or the sweeper's settings given on the
    command line) are left to it."""
    assert composition_error(["--multirun", "seed=0,-1", *argv], registry) is None


@pytest.mark.parametrize("argv, expected", [
    (["seed=0,1"], "hf-train: error: seed=0,1 is a sweep: add --multirun"),
    (["--multirun", "seed=0,1", "hydra/launcher=nope"], "hf-train: error: no hydra/launcher 'nope'"),
])
def test_cli_refuses_a_sweep_without_multirun_and_a_missing_launcher(tmp_path, argv, expected):
    out = hf_train(tmp_path, *argv, *TINY_GRID)
    assert out.returncode == 2, out.stderr
    (line,) = [x for x in out.stderr.splitlines() if x.strip()]
    assert line.startswith(expected)
    assert sorted(p.name for p in tmp_path.iterdir()) == []

"""hf-train end to end: help, errors before work, MLflow run states, resume, multirun."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from hfcore.checkpoint import load_checkpoint

TINY = ["task.T=10", "model.hidden=8", "hf.gradient_batch=100", "hf.curvature_batch=20", "task.test_size=50",
        "solver.max_iters=10", "hf.max_iterations=2", "progress=false"]


def hf_train(tmp_path: Path, *args: str, prelude: str = "", timeout: int = 180,
             env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run the real CLI in ``tmp_path`` (``prelude`` is Python run first, e.g. to inject a fault; ``env``
    replaces ``os.environ``)."""
    code = (f"import sys\n{textwrap.dedent(prelude)}\n"
            f"from hfcore.cli import main\nsys.argv = ['hf-train', *{list(args)!r}]\nmain()")
    env = {**(os.environ if env is None else env), "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}"}
    return subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=timeout)


def runs(tmp_path: Path):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    exp = client.get_experiment_by_name("hfcore")
    return client, client.search_runs([exp.experiment_id]) if exp else []


def test_help_lists_groups(tmp_path):
    out = hf_train(tmp_path, "--help")
    assert out.returncode == 0
    groups = dict(line.split(": ", 1) for line in out.stdout.splitlines() if ": " in line and not line.startswith(" "))
    for group, option in (("backend", "numpy"), ("damping", "tikhonov"), ("task", "addition"), ("optimizer", "sgd"),
                          ("model", "rnn_tanh"), ("hf", "ms2011"), ("tracking", "none"), ("experiment", "")):
        assert option in groups[group].split(", ") or not option, group


@pytest.mark.parametrize(
    "override, message",
    [("damping.mu=abc", "bad value for damping.mu: Value 'abc' of type 'str' could not be converted to Float"),
     ("task.colour=red", "unknown key 'task.colour': task (AdditionConfig) has no key 'colour'"),
     ("backend=jax", "no backend 'jax'; the options are ")],
)
def test_bad_overrides_fail_in_one_line(tmp_path, override, message):
    out = hf_train(tmp_path, override, *TINY)
    assert out.returncode == 2
    (line,) = out.stderr.splitlines()
    assert line.startswith("hf-train: error: ") and message in line
    assert not (tmp_path / "mlflow.db").exists() and not (tmp_path / "outputs").exists()


@pytest.mark.parametrize(
    "override, message",
    [("task.T=-5", "task 'addition'"),
     ("model.hidden=0", "hidden"),
     ("model.output=gaussian", "model.output must be one of"),
     ("hf.curvature_batch=500", "hf.curvature_batch must be in"),
     ("hf.budget_seconds=0", "hf.budget_seconds must be > 0 or null, got 0.0"),
     ("hf.budget_clock=gpu", "hf.budget_clock must be one of wall, cpu, got 'gpu'"),
     ("checkpoint.resume=/nonexistent/state.npz", "checkpoint not found")],
)
def test_bad_values_fail_before_work(tmp_path, override, message):
    out = hf_train(tmp_path, *TINY, override)
    assert out.returncode == 2, out.stderr
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert lines[-1].startswith("hf-train: error:") and message in lines[-1]
    assert len(lines) == 1, out.stderr  # one line, no traceback
    assert not (tmp_path / "mlflow.db").exists()  # nothing started


def test_run_logs_to_mlflow(tmp_path):
    out = hf_train(tmp_path, *TINY)
    assert out.returncode == 0, out.stderr
    client, found = runs(tmp_path)
    (run,) = found
    assert run.info.status == "FINISHED"
    assert run.data.params["damping.mu"] == "0.03" and run.data.params["task.T"] == "10"
    assert run.data.tags["backend"] == "numpy" and run.data.tags["task"] == "addition"
    assert run.data.tags["hf"] == "is11"  # the HF preset, which reports tell apart (hf=ms2011 has other rules)
    for key in ("train.loss", "test.error", "hf.lambda", "hf.rho", "cg.iters", "cg.stop_reason",
                "cg.backtrack_index", "line_search.step", "hf.delta_norm", "time.iteration", "cost.minibatches",
                "cost.gv_products"):
        assert key in run.data.metrics, key
    assert len(client.get_metric_history(run.info.run_id, "hf.lambda")) == 2
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"config", "plots", "checkpoint"} <= artifacts


def test_time_budget_ends_the_run(tmp_path):
    # Any iteration takes longer than a nanosecond, so the run stops after its first one.
    out = hf_train(tmp_path, *TINY, "tracking=none", "hf.max_iterations=50", "hf.budget_seconds=1e-9",
                   "hydra.run.dir=run")
    assert out.returncode == 0, out.stderr
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["iterations"] == 1 and summary["wall_seconds"] >= 1e-9


NATURAL_TINY = ["task.size=tiny", "model.hidden=8", "hf.gradient_batch=20", "hf.curvature_batch=10",
                "solver.max_iters=5", "hf.max_iterations=2", "task.test_size=4", "progress=false",
                "hydra.run.dir=run"]


# parallel.shards=2: rank 0 draws with the unsharded model (a sharded one would wait for other ranks).
@pytest.mark.parametrize("task, extra, more", [
    ("bouncing_balls", (), ["parallel.shards=2"]),
    ("music", ("test.log_likelihood_per_sequence", "test.log_likelihood_per_step"), []),
])
def test_natural_task_run_logs_its_predictions_picture(tmp_path, task, extra, more):
    if task == "music":
        pytest.importorskip("music21")
    out = hf_train(tmp_path, f"task={task}", f"task.data_dir={tmp_path / 'data'}", *NATURAL_TINY, *more)
    assert out.returncode == 0, out.stderr[-3000:]
    client, (run,) = runs(tmp_path)
    assert {a.path for a in client.list_artifacts(run.info.run_id, "plots")} == {
        "plots/learning_curve.png", "plots/predictions.png"}
    assert (tmp_path / "run" / "predictions.png").stat().st_size > 0
    for key in extra:
        assert key in run.data.metrics, key
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert set(summary["test_metrics"]) == {"test.loss", "test.error", *extra}
    assert summary["test_metrics"]["test.error"] == summary["test_error"] and summary["n_params"] > 0


def test_a_failing_picture_is_only_a_warning(tmp_path):
    prelude = """
    from hfcore_natural.bouncing_balls import BouncingBallsTask
    def broken(self, outputs, batch):
        raise RuntimeError('no canvas')
    BouncingBallsTask.plot_predictions = broken
    """
    out = hf_train(tmp_path, "task=bouncing_balls", f"task.data_dir={tmp_path / 'data'}", *NATURAL_TINY,
                   prelude=prelude)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "no predictions picture: RuntimeError: no canvas" in out.stderr + out.stdout
    _, (run,) = runs(tmp_path)
    assert run.info.status == "FINISHED"


def test_tasks_without_pictures_log_none(tmp_path):
    out = hf_train(tmp_path, *TINY, "hydra.run.dir=run")
    assert out.returncode == 0, out.stderr
    client, (run,) = runs(tmp_path)
    assert {a.path for a in client.list_artifacts(run.info.run_id, "plots")} == {"plots/learning_curve.png"}
    assert not (tmp_path / "run" / "predictions.png").exists()


CRASH = """
import hfcore.training as training
real_train = training.train
def exploding_train(*args, **kwargs):
    raise {exc}
training.train = exploding_train
import hfcore.run
hfcore.run.train = exploding_train
"""


def test_sigterm_stops_cleanly_with_the_checkpoint_kept(tmp_path):
    """A scheduler's SIGTERM: exit 143 with a one-line note, the MLflow run KILLED, the checkpoint resumable."""
    import signal

    from tests.helpers import signal_after_checkpoint

    args = [*TINY, "hf.max_iterations=100000", "hydra.run.dir=run"]
    code = f"import sys\nfrom hfcore.cli import main\nsys.argv = ['hf-train', *{args!r}]\nmain()"
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}"}
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    checkpoint = tmp_path / "run" / "checkpoints" / "state.npz"
    err = signal_after_checkpoint(proc, checkpoint, signal.SIGTERM)
    assert proc.returncode == 143, err[-3000:]
    assert "hf-train: stopped by SIGTERM" in err and "Traceback" not in err
    _, (run,) = runs(tmp_path)
    assert run.info.status == "KILLED"
    state, _ = load_checkpoint(checkpoint)
    assert state.iteration >= 1


@pytest.mark.parametrize("exc, status", [("RuntimeError('simulated crash')", "FAILED"),
                                          ("KeyboardInterrupt()", "KILLED")])
def test_crash_or_interrupt_never_leaves_running(tmp_path, exc, status):
    out = hf_train(tmp_path, *TINY, prelude=CRASH.format(exc=exc))
    assert out.returncode != 0
    _, (run,) = runs(tmp_path)
    assert run.info.status == status


def assert_resume_continues_exactly(tmp_path, *overrides: str) -> np.ndarray:
    """4 iterations straight, and 2 then a resume to 4, end in the same state; returns the final theta."""
    common = [*TINY, *overrides, "tracking=none", "hf.stop_on_success=false"]
    straight = hf_train(tmp_path, *common, "hf.max_iterations=4", "checkpoint.dir=straight")
    first = hf_train(tmp_path, *common, "hf.max_iterations=2", "checkpoint.dir=part")
    assert straight.returncode == 0 and first.returncode == 0, first.stderr
    second = hf_train(tmp_path, *common, "hf.max_iterations=4", "checkpoint.dir=resumed",
                      f"checkpoint.resume={tmp_path / 'part' / 'state.npz'}")
    assert second.returncode == 0, second.stderr
    a = np.load(tmp_path / "straight" / "state.npz")
    b = np.load(tmp_path / "resumed" / "state.npz")
    assert np.array_equal(a["theta"], b["theta"])
    assert np.array_equal(a["optimizer.warm_start"], b["optimizer.warm_start"])
    meta_a, meta_b = json.loads(str(a["meta"])), json.loads(str(b["meta"]))
    for key in ("iteration", "optimizer", "data_rng", "counters", "test_error"):
        assert meta_a[key] == meta_b[key], key
    return a["theta"]


def test_cli_resume_continues_exactly(tmp_path):
    assert_resume_continues_exactly(tmp_path)


def test_resume_continues_its_mlflow_run_and_a_fork_gets_a_new_one(tmp_path):
    common = [*TINY, "hf.stop_on_success=false"]
    first = hf_train(tmp_path, *common, "checkpoint.dir=part")
    assert first.returncode == 0, first.stderr
    part = tmp_path / "part" / "state.npz"
    second = hf_train(tmp_path, *common, "hf.max_iterations=4", "checkpoint.dir=resumed", "blas_threads=2",
                      f"checkpoint.resume={part}")
    assert second.returncode == 0, second.stderr
    client, (run,) = runs(tmp_path)
    assert run.info.status == "FINISHED" and run.data.tags["hfcore.resumed_at"] == "2"
    assert "blas_threads" in run.data.tags["hfcore.resume_changed_params"].split(", ")
    assert run.data.params["blas_threads"] == "1"  # params keep the values the run started with
    steps = [m.step for m in client.get_metric_history(run.info.run_id, "cost.minibatches")]
    assert sorted(steps) == [1, 2, 3, 4]
    files = {f.path for f in client.list_artifacts(run.info.run_id, "config")}
    assert files == {"config/config.yaml", "config/config-resumed-at-2.yaml"}
    _, extra = load_checkpoint(tmp_path / "resumed" / "state.npz")
    assert extra["mlflow_run_id"] == run.info.run_id

    fork = hf_train(tmp_path, *common, "hf.max_iterations=3", "checkpoint.dir=fork", f"checkpoint.resume={part}")
    assert fork.returncode == 0, fork.stderr
    _, found = runs(tmp_path)
    (new,) = [r for r in found if r.info.run_id != run.info.run_id]
    assert new.data.tags["hfcore.resumed_from_run"] == run.info.run_id and "hfcore.resumed_at" not in new.data.tags
    assert [m.step for m in client.get_metric_history(new.info.run_id, "cost.minibatches")] == [3]


def test_log_every_thins_iteration_metrics_but_keeps_every_evaluation(tmp_path):
    out = hf_train(tmp_path, *TINY, "hf.max_iterations=7", "hf.eval_every=5", "tracking.log_every=3",
                   "hf.stop_on_success=false")
    assert out.returncode == 0, out.stderr
    client, (run,) = runs(tmp_path)
    logged = sorted(m.step for m in client.get_metric_history(run.info.run_id, "train.loss"))
    assert logged == [3, 5, 6, 7]  # every 3rd, the evaluation at 5 and the final one
    assert sorted(m.step for m in client.get_metric_history(run.info.run_id, "test.error")) == [5, 7]
    bad = hf_train(tmp_path, *TINY, "tracking.log_every=0")
    assert bad.returncode == 2 and "tracking.log_every must be >= 1, got 0" in bad.stderr


def test_tracker_buffers_metrics_and_writes_them_all(tmp_path, monkeypatch):
    """Metrics go to the store in batches of up to 1000, or after FLUSH_SECONDS; finish() writes the rest."""
    from mlflow.tracking import MlflowClient

    from hfcore import tracking

    monkeypatch.setattr(tracking, "FLUSH_SECONDS", 3600.0)
    uri = f"sqlite:///{tmp_path / 'buffer.db'}"
    tracker = tracking.MlflowTracker(uri, "buffered")
    tracker.start({"a": 1}, {})
    history = lambda: MlflowClient(uri).get_metric_history(tracker.run_id, "m")  # noqa: E731
    for step in range(1, 601):
        tracker.log_metrics(step, {"m": float(step), "n": 0.0})
    assert len(history()) == 500  # one batch of 1000 metrics written, 200 still queued
    monkeypatch.setattr(tracking, "FLUSH_SECONDS", 0.0)
    tracker.log_metrics(601, {"m": 601.0})
    assert len(history()) == 601  # the time limit flushes the queue
    monkeypatch.setattr(tracking, "FLUSH_SECONDS", 3600.0)
    tracker.log_metrics(602, {"m": 602.0})
    tracker.finish("FINISHED")
    assert sorted(m.step for m in history()) == list(range(1, 603))
    assert MlflowClient(uri).get_run(tracker.run_id).info.status == "FINISHED"


def test_corrupt_checkpoint_is_refused(tmp_path):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"PK\x03\x04 not really a zip")
    out = hf_train(tmp_path, *TINY, f"checkpoint.resume={bad}")
    assert out.returncode == 2 and "corrupt" in out.stderr


def test_parallel_multirun_on_fresh_store(tmp_path):
    out = hf_train(tmp_path, "--multirun", *TINY, "seed=0,1,2", "hydra/launcher=joblib", "hydra.launcher.n_jobs=3",
                   timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    _, found = runs(tmp_path)
    assert sorted(r.data.tags["seed"] for r in found) == ["0", "1", "2"]
    assert {r.info.status for r in found} == {"FINISHED"}
    assert len({r.data.tags["sweep_id"] for r in found}) == 1


def test_resume_with_other_model_settings_is_refused(tmp_path):
    first = hf_train(tmp_path, *TINY, "tracking=none", "checkpoint.dir=ck")
    assert first.returncode == 0, first.stderr
    resume = f"checkpoint.resume={tmp_path / 'ck' / 'state.npz'}"
    out = hf_train(tmp_path, *TINY, "tracking=none", "model.hidden=9", resume)
    assert out.returncode == 2 and "different model settings (model.hidden)" in out.stderr


def test_resume_with_other_training_settings_warns_and_names_them(tmp_path):
    """A checkpoint of the old default rules (hf=ms2011) resumed under today's default goes on, but says which
    settings differ and how to continue exactly; the same settings, or only a longer run, give no warning."""
    first = hf_train(tmp_path, *TINY, "tracking=none", "hf=ms2011", "checkpoint.dir=ck")
    assert first.returncode == 0, first.stderr
    resume = f"checkpoint.resume={tmp_path / 'ck' / 'state.npz'}"
    changed = hf_train(tmp_path, *TINY, "tracking=none", "hf.max_iterations=3", "checkpoint.dir=a", resume)
    assert changed.returncode == 0, changed.stderr
    (warning,) = [line for line in changed.stderr.splitlines() if line.startswith("hf-train: warning: resuming")]
    assert "hf.backtrack_rule walkback -> argmin" in warning and "hf.armijo_c 0.01 -> 0.0" in warning
    assert "hf=ms2011" in warning and "max_iterations" not in warning
    same = hf_train(tmp_path, *TINY, "tracking=none", "hf=ms2011", "hf.max_iterations=3", "checkpoint.dir=b", resume)
    assert same.returncode == 0 and "warning" not in same.stderr, same.stderr


def test_hf_settings_given_to_a_first_order_run_are_named_in_a_warning(tmp_path):
    out = hf_train(tmp_path, "task.T=10", "model.hidden=8", "task.test_size=50", "optimizer=sgd", "hf.max_iterations=2",
                   "hf.gradient_batch=500", "tracking=none")
    assert out.returncode == 0, out.stderr
    assert ("hf-train: warning: optimizer=sgd does not read hf.gradient_batch=500 (HF's settings; it reads "
            "optimizer.* and, of hf.*, only the stop keys") in out.stderr


def test_tikhonov_with_mu_is_an_error(tmp_path):
    out = hf_train(tmp_path, *TINY, "damping=tikhonov", "damping.mu=0.1")
    assert out.returncode == 2 and "use damping=structural" in out.stderr


def test_sgd_baseline_runs_through_cli(tmp_path):
    out = hf_train(tmp_path, "task.T=10", "model.hidden=8", "task.test_size=50", "optimizer=sgd",
                   "hf.max_iterations=20",
                   "hf.eval_every=10", "progress=false")
    assert out.returncode == 0, out.stderr
    _, (run,) = runs(tmp_path)
    assert run.data.tags["solver"] == "sgd" and run.info.run_name.startswith("addition-T10-h8-numpy-sgd-")
    assert run.data.tags["optimizer"] == "sgd" and "hf" not in run.data.tags  # no HF preset: it has no HF loop
    assert run.data.metrics["cost.gv_products"] == 0
    # only what SGD reads: no damping or solver settings, of hf.* only the stop rule's keys
    params = run.data.params
    assert run.data.tags["damping"] == "none"
    assert not [k for k in params if k.startswith(("damping.", "solver."))]
    assert {k for k in params if k.startswith("hf.")} == {
        "hf.max_iterations", "hf.budget_minibatches", "hf.budget_seconds", "hf.budget_clock", "hf.eval_every",
        "hf.stop_on_success"}
    assert params["optimizer.learning_rate"] and params["task.T"] == "10"


def test_a_first_order_resume_does_not_warn_about_hf_settings(tmp_path):
    """An SGD checkpoint written under the old default HF rules (hf=ms2011) resumes under today's without a warning:
    SGD reads none of them. Its own settings still warn."""
    first = hf_train(tmp_path, *TINY, "tracking=none", "optimizer=sgd", "hf=ms2011", "checkpoint.dir=ck")
    assert first.returncode == 0, first.stderr
    resume = f"checkpoint.resume={tmp_path / 'ck' / 'state.npz'}"
    same = hf_train(tmp_path, *TINY, "tracking=none", "optimizer=sgd", "hf.max_iterations=3", "checkpoint.dir=a",
                    resume)
    assert same.returncode == 0 and "warning: resuming" not in same.stderr, same.stderr
    other = hf_train(tmp_path, *TINY, "tracking=none", "optimizer=sgd", "optimizer.learning_rate=0.5",
                     "hf.max_iterations=3", "checkpoint.dir=b", resume)
    (warning,) = [line for line in other.stderr.splitlines() if line.startswith("hf-train: warning: resuming")]
    assert other.returncode == 0 and "(optimizer.learning_rate 0.01 -> 0.5)" in warning, other.stderr


@pytest.mark.parametrize("backend", ["torch", "autograd"])
def test_missing_optional_dependency_names_the_extra(tmp_path, backend):
    out = hf_train(tmp_path, *TINY, f"backend={backend}", prelude=f"sys.modules['{backend}'] = None")
    assert out.returncode == 2, out.stderr
    (line,) = [x for x in out.stderr.splitlines() if x.strip()]
    assert line.startswith("hf-train: error:") and f"pip install 'hfcore[{backend}]'" in line


def test_lstm_trains_with_hf_on_numpy(tmp_path):
    """The NumPy LSTM's hand-written Gauss-Newton products drive HF (structural damping on): the loss goes down."""
    out = hf_train(tmp_path, "model=lstm", "backend=numpy", "task=addition", "task.T=10", "model.hidden=8",
                   "model.cells_per_block=2", "hf=small", "hf.max_iterations=4", "task.test_size=100", "progress=false",
                   "tracking=none")
    assert out.returncode == 0, out.stderr[-3000:]
    text = out.stdout + out.stderr  # the log goes to either stream
    losses = [float(line.split(" loss ")[1].split()[0]) for line in text.splitlines() if " loss " in line]
    assert len(losses) == 4 and losses[-1] < 0.8 * losses[0], text[-3000:]
    assert "task=addition T=10 seed=0 iterations=4" in text


def test_independent_runs_started_together_share_a_fresh_store(tmp_path):
    """Three separate hf-train processes on one new sqlite store: none may die in the schema migration."""
    code = ("import sys\nfrom hfcore.cli import main\n"
            f"sys.argv = ['hf-train', *{TINY!r}, 'seed=' + sys.argv[1]]\nmain()")
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}"}
    procs = [subprocess.Popen([sys.executable, "-c", code, str(s)], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for s in range(3)]
    results = [(p.wait(timeout=300), p.stderr.read()) for p in procs]
    assert all(rc == 0 for rc, _ in results), [err[-1500:] for rc, err in results if rc]
    _, found = runs(tmp_path)
    assert sorted(r.data.tags["seed"] for r in found) == ["0", "1", "2"]


def test_no_plugins_is_a_one_line_error(tmp_path):
    env = {**os.environ, "HFCORE_DISABLE_PLUGIN_AUTOLOAD": "1"}
    out = subprocess.run([sys.executable, "-m", "hfcore.cli", "tracking=none"], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 2
    assert out.stderr.strip() == ("hf-train: error: no backend and no task plugins are loaded "
                                  "(HFCORE_DISABLE_PLUGIN_AUTOLOAD is set)")


def test_batches_larger_than_the_task_can_sample_are_refused_before_work(tmp_path):
    out = hf_train(tmp_path, "task=quadratic", "model=linear", "tracking=none")
    assert out.returncode == 2
    assert out.stderr.strip() == ("hf-train: error: task quadratic can sample at most 64 sequences per batch; "
                                  "hf.gradient_batch=10000, hf.fresh_batch=1000 are larger (lower it, e.g. "
                                  "hf.gradient_batch=64 hf.fresh_batch=64 hf.curvature_batch=64)")
    assert not list(tmp_path.glob("outputs/*/*/checkpoints"))


def test_resume_with_another_optimizer_is_refused(tmp_path):
    first = hf_train(tmp_path, *TINY, "tracking=none", "hf.max_iterations=1", "checkpoint.dir=part")
    assert first.returncode == 0, first.stderr
    out = hf_train(tmp_path, *TINY, "tracking=none", "optimizer=sgd", "hf.max_iterations=2",
                   f"checkpoint.resume={tmp_path / 'part' / 'state.npz'}")
    assert out.returncode == 2 and out.stderr.strip().endswith(
        "holds the state of optimizer=hf; resume it with optimizer=hf, not optimizer=sgd")

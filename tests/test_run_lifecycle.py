"""A run's lifecycle: its own folder, outputs checked before work, metrics that survive SIGKILL, clean ends."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from hfcore.checkpoint import CheckpointError, check_overwrite, load_checkpoint, save_checkpoint
from hfcore.rundir import discard_if_unused, run_token, unwritable
from tests.test_checkpoint import sample_state
from tests.test_cli import TINY, hf_train, runs

# Every process reads the same wall clock: runs "started in the same second", whatever the machine's speed.
FROZEN_CLOCK = """
import datetime as _dt
import hydra.core.utils as _hydra_utils
class _Frozen(_dt.datetime):
    @classmethod
    def now(cls, tz=None):
        return cls(2026, 1, 2, 3, 4, 5)
_hydra_utils.datetime = _Frozen
"""


def start(tmp_path: Path, *args: str, prelude: str = "") -> subprocess.Popen:
    """``hf-train args`` in ``tmp_path``, started and not waited for (see :func:`tests.test_cli.hf_train`)."""
    code = (f"import sys\n{textwrap.dedent(prelude)}\n"
            f"from hfcore.cli import main\nsys.argv = ['hf-train', *{list(args)!r}]\nmain()")
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}"}
    return subprocess.Popen([sys.executable, "-c", code], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def lines(out: subprocess.CompletedProcess) -> list[str]:
    return [line for line in (out.stdout + out.stderr).splitlines() if line.strip()]


# --- 2. every run has a folder of its own and never writes over another run's checkpoint ---

def test_runs_started_in_the_same_second_get_their_own_folder_checkpoint_and_mlflow_run(tmp_path):
    seeds = (1, 2, 3)
    procs = [start(tmp_path, *TINY, f"seed={s}", "hf.stop_on_success=false", prelude=FROZEN_CLOCK) for s in seeds]
    results = [(p.wait(timeout=300), p.stdout.read(), p.stderr.read()) for p in procs]
    assert all(rc == 0 for rc, _, _ in results), [err[-1500:] for rc, _, err in results if rc]
    folders = sorted(tmp_path.glob("outputs/2026-01-02/*"))
    assert len(folders) == 3 and all(re.fullmatch(r"03-04-05-[0-9a-f]{6}", f.name) for f in folders), folders
    _, found = runs(tmp_path)
    run_of_seed = {int(r.data.tags["seed"]): r.info.run_id for r in found}
    assert sorted(run_of_seed) == list(seeds)
    for seed, (_, stdout, _) in zip(seeds, results, strict=True):
        printed = Path(re.search(r"checkpoint=(\S+)", stdout).group(1))
        _, extra = load_checkpoint(printed)
        assert extra["config"]["seed"] == seed and extra["mlflow_run_id"] == run_of_seed[seed]
        assert f"seed={seed}" in (printed.parent.parent / ".hydra" / "overrides.yaml").read_text()
        assert json.loads((printed.parent.parent / "summary.json").read_text())["run_id"] == run_of_seed[seed]


def test_sweeps_started_in_the_same_second_get_their_own_folder(tmp_path):
    procs = [start(tmp_path, "--multirun", *TINY, "tracking=none", "hf.max_iterations=1", f"seed={s}",
                   prelude=FROZEN_CLOCK) for s in (0, 1)]
    assert [p.wait(timeout=300) for p in procs] == [0, 0], [p.stderr.read()[-1500:] for p in procs]
    sweeps = sorted(tmp_path.glob("multirun/2026-01-02/*"))
    assert len(sweeps) == 2 and all((s / "0" / "checkpoints" / "state.npz").exists() for s in sweeps), sweeps


def test_a_checkpoint_of_another_run_is_not_written_over(tmp_path):
    first = hf_train(tmp_path, *TINY, "seed=1", "hf.stop_on_success=false", "checkpoint.dir=ck")
    assert first.returncode == 0, first.stderr
    path = tmp_path / "ck" / "state.npz"
    before = path.read_bytes()
    for other in (["seed=2"], ["seed=1"], ["seed=1", "tracking=none"]):  # another seed or another MLflow run
        out = hf_train(tmp_path, *TINY, *other, "checkpoint.dir=ck")
        assert out.returncode == 2, out.stderr
        (line,) = lines(out)
        assert line.startswith("hf-train: error:") and "holds the checkpoint of another run" in line, line
        assert f"checkpoint.resume={Path('ck') / 'state.npz'}" in line
    assert path.read_bytes() == before
    _, found = runs(tmp_path)
    assert len(found) == 1  # the refused runs started no MLflow run
    resumed = hf_train(tmp_path, *TINY, "seed=1", "hf.max_iterations=3", "hf.stop_on_success=false",
                       "checkpoint.dir=ck", f"checkpoint.resume={path}")
    assert resumed.returncode == 0, resumed.stderr  # the run it belongs to may go on writing it
    assert load_checkpoint(path)[0].iteration == 3


def test_check_overwrite_compares_run_id_and_seed(tmp_path):
    state = sample_state()
    path = save_checkpoint(tmp_path / "state.npz", state, {"mlflow_run_id": "abc", "config": {"seed": 1}})
    check_overwrite(path, "abc", 1)
    check_overwrite(tmp_path / "absent.npz", "xyz", 5)
    check_overwrite(path, "xyz", 2, resumed_from=tmp_path / "." / "state.npz")
    for run_id, seed in (("xyz", 1), ("abc", 2), (None, 1)):
        with pytest.raises(CheckpointError, match="another run"):
            check_overwrite(path, run_id, seed)
    path.write_text("not a checkpoint")
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        check_overwrite(path, "abc", 1)


# --- 3. outputs that cannot be written are refused before work; a failed save is a failed run ---

@pytest.mark.parametrize("key, message", [("checkpoint.dir", "checkpoint.dir"),
                                          ("hydra.run.dir", "hydra.run.dir"),
                                          ("hydra.sweep.dir", "hydra.sweep.dir")])
def test_an_output_folder_that_cannot_be_written_is_refused_before_work(tmp_path, key, message):
    (tmp_path / "afile").write_text("a regular file")
    multirun = ["--multirun"] if key == "hydra.sweep.dir" else []
    out = hf_train(tmp_path, *multirun, *TINY, f"{key}=afile/sub")
    assert out.returncode == 2, out.stderr
    (line,) = lines(out)
    assert line == f"hf-train: error: {message} afile/sub cannot be written (Not a directory)"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile"]  # no MLflow store, no run folder


def test_unwritable_reports_the_reason_and_leaves_nothing(tmp_path):
    assert unwritable(tmp_path / "a" / "b") is None
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "f").write_text("x")
    assert unwritable(tmp_path / "f" / "b") == "Not a directory"
    assert unwritable(tmp_path / "f") == "Not a directory"
    if os.geteuid() != 0:  # root writes anywhere
        (tmp_path / "ro").mkdir(mode=0o555)
        assert unwritable(tmp_path / "ro" / "x") == "Permission denied"


FAILING_SAVE = """
import hfcore.run
real_save = hfcore.run.save_checkpoint
def save_checkpoint(path, state, *args, **kwargs):
    if state.iteration >= {fail_from}:
        raise OSError(28, 'No space left on device')
    return real_save(path, state, *args, **kwargs)
hfcore.run.save_checkpoint = save_checkpoint
"""


@pytest.mark.parametrize("every, fail_from", [(10, 2), (1, 1)])
def test_a_failed_save_fails_the_run_once(tmp_path, every, fail_from):
    """The final save (``every=10``) or one during training (``every=1``): FAILED, exit 1, one error."""
    out = hf_train(tmp_path, *TINY, f"checkpoint.every={every}", "hf.stop_on_success=false",
                   prelude=FAILING_SAVE.format(fail_from=fail_from))
    assert out.returncode == 1, out.stderr
    assert out.stderr.count("No space left on device") == 1, out.stderr
    _, (run,) = runs(tmp_path)
    assert run.info.status == "FAILED"


FAILING_STORE = """
import hfcore.tracking
def flush(self):
    raise RuntimeError('tracking store gone')
hfcore.tracking.MlflowTracker.flush = flush
"""


def test_a_failing_store_does_not_cost_the_checkpoint(tmp_path):
    out = hf_train(tmp_path, *TINY, "checkpoint.every=1", "checkpoint.dir=ck", prelude=FAILING_STORE)
    assert out.returncode == 1 and "tracking store gone" in out.stderr
    assert load_checkpoint(tmp_path / "ck" / "state.npz")[0].iteration == 1
    _, (run,) = runs(tmp_path)
    assert run.info.status == "FAILED"


# --- 6. SIGKILL loses no metric; the run shows who ran it and when it last wrote ---

KILL_AT = """
import os, signal
import hfcore.run, hfcore.tracking
hfcore.tracking.FLUSH_SECONDS = {flush_seconds}
real_on_step = hfcore.run.Checkpointer.on_step
def on_step(self, state, info, metrics):
    real_on_step(self, state, info, metrics)
    if state.iteration == {kill_at}:
        os.kill(os.getpid(), signal.SIGKILL)
hfcore.run.Checkpointer.on_step = on_step
"""


# 3600: only checkpoints flush, the store holds exactly what the checkpoint holds (iterations 1-4) and
# iteration 5 dies in the queue; 0: every iteration flushes, the store holds iteration 5 too.
@pytest.mark.parametrize("flush_seconds, stored", [(3600.0, 4), (0.0, 5)])
def test_sigkill_then_resume_loses_no_metric(tmp_path, flush_seconds, stored):
    """A real SIGKILL after iteration 5, checkpoint at 4; the resume continues the same MLflow run, no step
    missing or logged twice."""
    common = [*TINY, "hf.stop_on_success=false", "checkpoint.every=2", "checkpoint.dir=ck"]
    killed = start(tmp_path, *common, "hf.max_iterations=8",
                   prelude=KILL_AT.format(kill_at=5, flush_seconds=flush_seconds))
    killed.communicate(timeout=180)
    assert killed.returncode == -9
    client, (run,) = runs(tmp_path)
    assert run.info.status == "RUNNING"  # no process can close its run on SIGKILL; the tags tell it died
    assert run.data.tags["hfcore.pid"] == str(killed.pid) and run.data.tags["hfcore.host"]
    assert int(run.data.tags["hfcore.heartbeat"]) >= run.info.start_time // 1000
    checkpoint = tmp_path / "ck" / "state.npz"
    assert load_checkpoint(checkpoint)[0].iteration == 4
    steps = lambda: sorted(m.step for m in client.get_metric_history(run.info.run_id, "cost.minibatches"))  # noqa: E731
    assert steps() == list(range(1, stored + 1))  # at least every iteration the checkpoint holds
    resumed = hf_train(tmp_path, *common, "hf.max_iterations=8", f"checkpoint.resume={checkpoint}")
    assert resumed.returncode == 0, resumed.stderr
    _, (run,) = runs(tmp_path)
    assert run.info.status == "FINISHED" and steps() == list(range(1, 9))


def test_heartbeat_is_set_at_start_and_at_every_flush(tmp_path, monkeypatch):
    from mlflow.tracking import MlflowClient

    from hfcore import tracking

    uri = f"sqlite:///{tmp_path / 'beat.db'}"
    monkeypatch.setattr(tracking.time, "time", lambda: 1000.5)
    tracker = tracking.MlflowTracker(uri, "beat")
    tracker.start({"a": 1}, {})
    tags = MlflowClient(uri).get_run(tracker.run_id).data.tags
    assert tags["hfcore.heartbeat"] == "1000" and tags["hfcore.pid"] == str(os.getpid()) and tags["hfcore.host"]
    monkeypatch.setattr(tracking.time, "time", lambda: 2000.0)
    tracker.flush()
    assert MlflowClient(uri).get_run(tracker.run_id).data.tags["hfcore.heartbeat"] == "2000"
    tracker.finish("FINISHED")


CTRL_C_THRICE = """
import os, signal
# Ctrl-C raises KeyboardInterrupt as in a terminal, even when the tests run as a background job (which
# starts Python with SIGINT ignored, so it would never raise).
signal.signal(signal.SIGINT, signal.default_int_handler)
import hfcore.run, hfcore.reporting
real_on_step = hfcore.run.Checkpointer.on_step
def on_step(self, state, info, metrics):
    real_on_step(self, state, info, metrics)
    if state.iteration == 3:
        os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C ...
hfcore.run.Checkpointer.on_step = on_step
real_curve = hfcore.reporting.learning_curve
def learning_curve(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGINT)  # ... pressed twice more while the run saves its results
    os.kill(os.getpid(), signal.SIGINT)
    return real_curve(*args, **kwargs)
hfcore.reporting.learning_curve = learning_curve
"""


def test_ctrl_c_three_times_keeps_the_final_artifacts_and_names_the_checkpoint(tmp_path):
    out = hf_train(tmp_path, *TINY, "hf.max_iterations=50", "hf.stop_on_success=false", "checkpoint.dir=ck",
                   prelude=CTRL_C_THRICE)
    assert out.returncode == 130, out.stderr
    assert "Traceback" not in out.stderr
    path = (tmp_path / "ck" / "state.npz").absolute()
    assert load_checkpoint(path)[0].iteration == 3
    assert out.stderr.strip().splitlines()[-1] == (
        f"hf-train: stopped by SIGINT; iteration 3 is saved in {path} (resume with checkpoint.resume={path})")
    client, (run,) = runs(tmp_path)
    assert run.info.status == "KILLED"
    assert {a.path for a in client.list_artifacts(run.info.run_id, "plots")} == {"plots/learning_curve.png"}
    assert {a.path for a in client.list_artifacts(run.info.run_id, "checkpoint")} == {"checkpoint/state.npz"}


# --- 8. a rejected invocation leaves nothing; checkpoints follow the umask ---

def test_a_rejected_invocation_leaves_no_run_folder(tmp_path):
    out = hf_train(tmp_path, *TINY, "task.T=-5")
    assert out.returncode == 2 and len(lines(out)) == 1, out.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("run_dir", [".", "given"])
def test_a_rejected_invocation_keeps_a_run_folder_the_user_named(tmp_path, run_dir):
    """hydra.run.dir given by the user (even the working folder itself) is theirs: never removed."""
    out = hf_train(tmp_path, *TINY, "task.T=-5", f"hydra.run.dir={run_dir}")
    assert out.returncode == 2 and len(lines(out)) == 1, out.stderr
    assert tmp_path.is_dir() and (tmp_path / run_dir).is_dir()


def test_discard_keeps_a_folder_that_holds_anything_else(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run = tmp_path / "outputs" / "day" / f"time-{run_token()}"
    (run / ".hydra").mkdir(parents=True)
    (run / ".hydra" / "config.yaml").write_text("a: 1")
    (run / "cli.log").write_text("")
    (run / "stderr.log").write_text("why it failed")
    assert not discard_if_unused(run, "cli") and (run / "stderr.log").exists()
    (run / "stderr.log").unlink()
    assert not discard_if_unused(tmp_path / "shared", "cli", only_own=True)
    assert discard_if_unused(run, "cli") and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_checkpoints_follow_the_umask(tmp_path, umask):
    state = sample_state()
    old = os.umask(umask)
    try:
        path = save_checkpoint(tmp_path / "s.npz", state)
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask
    assert np.array_equal(load_checkpoint(path)[0].theta, state.theta)

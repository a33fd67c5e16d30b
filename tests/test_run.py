"""The run lifecycle as a Python caller uses it (:class:`hfcore.run.Run`), without Hydra or MLflow."""

from __future__ import annotations

import ast
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import hfcore.run
from hfcore import ConjugateGradient, HessianFree, LevenbergMarquardt, Run, StopRule
from hfcore.checkpoint import CheckpointError, load_checkpoint
from hfcore.config import CGConfig, DampingConfig, HFConfig, StopConfig
from hfcore.parallel import RankFailure, SerialComm, ShardedModel, StopRequested
from hfcore.run import Checkpointer, RunInterrupted, SignalGuard, TrackerCallback, abort_on_error, load_state
from hfcore.tracking import NullTracker
from hfcore.training import train
from tests.helpers import make_model, make_task

ROOT = Path(__file__).resolve().parents[1]


def components(max_iterations: int = 3):
    task = make_task("addition", T=10, test_size=50)
    model = make_model(task.spec, hidden=8)
    damping = LevenbergMarquardt(DampingConfig(lambda0=0.01, mu=0.03))
    settings = HFConfig(gradient_batch=100, curvature_batch=20)
    hf = HessianFree(damping, ConjugateGradient(CGConfig(max_iters=10)), settings)
    return model, task, hf, StopRule(StopConfig(max_iterations=max_iterations, stop_on_success=False))


class RecordingTracker(NullTracker):
    """A tracker that remembers how it was used (the status it was closed with, above all)."""

    def __init__(self, on_figure=None) -> None:
        self.calls: list[str] = []
        self.status: str | None = None
        self.on_figure = on_figure

    def start(self, params, tags, continue_run=None, at_step=0) -> None:
        self.calls.append("start")
        self.params, self.tags = params, tags

    def log_metrics(self, step, metrics) -> None:
        self.calls.append(f"metrics {step}")

    def flush(self) -> None:
        self.calls.append("flush")

    def log_figure(self, figure, artifact_file) -> None:
        self.calls.append(f"figure {artifact_file}")
        if self.on_figure is not None:
            self.on_figure()

    def finish(self, status: str) -> None:
        self.status = status


# --- item 3: import hfcore pulls in no backend, Hydra, OmegaConf or MLflow ---

def test_import_hfcore_imports_no_backend_hydra_omegaconf_or_mlflow():
    """Also not through hfcore.config and hfcore.run, which every plugin and every Python caller imports."""
    heavy = ("hydra", "omegaconf", "mlflow", "torch", "autograd", "mpi4py", "matplotlib",
             "hfcore_numpy", "hfcore_autograd", "hfcore_torch", "hfcore_mpi", "hfcore_tasks", "hfcore_natural")
    code = (f"import sys, hfcore, hfcore.config, hfcore.run; "
            f"print([m for m in {heavy!r} if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_config_missing_is_what_omegaconf_reads_as_missing():
    from omegaconf import MISSING, OmegaConf

    from hfcore.config import MISSING as ours
    from hfcore.config import TaskConfig

    assert ours == MISSING
    assert OmegaConf.is_missing(OmegaConf.structured(TaskConfig), "name")


# --- item 7: Run, its checkpoints, tracker and summary ---

def test_run_trains_exactly_as_train_does_and_writes_its_results(tmp_path):
    model, task, hf, stop = components()
    result = Run(model, task, hf, stop, seed=3, output_dir=tmp_path, progress=False).train()
    plain = train(Run(model, task, hf, stop, seed=3).initial_state(), model, task, hf, stop)
    assert np.array_equal(result.state.theta, plain.theta) and result.state.counters == plain.counters
    assert result.line().startswith(f"not solved: seed=3 iterations=3 minibatches={plain.counters.minibatches:.0f} ")
    assert result.line().endswith(f"checkpoint={tmp_path / 'checkpoints' / 'state.npz'}")
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary == json.loads(json.dumps(result.summary())) and summary["iterations"] == 3
    saved, extra = load_checkpoint(tmp_path / "checkpoints" / "state.npz")
    assert saved.iteration == 3 and extra["config"]["seed"] == 3 and extra["n_params"] == model.n_params


def test_a_run_in_memory_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    model, task, hf, stop = components(max_iterations=1)
    result = Run(model, task, hf, stop, progress=False).train()
    assert result.checkpoint is None and "checkpoint=" not in result.line()
    assert list(tmp_path.iterdir()) == []


def test_resume_from_a_checkpoint_continues_exactly(tmp_path):
    model, task, hf, stop = components(max_iterations=4)
    straight = Run(model, task, hf, stop, progress=False).train()
    Run(model, task, hf, components(max_iterations=2)[3], checkpoint_dir=tmp_path, progress=False).train()
    resumed = Run(model, task, hf, stop, checkpoint_dir=tmp_path, progress=False).train(
        resumed_from=tmp_path / "state.npz")
    assert resumed.state.iteration == 4 and np.array_equal(resumed.state.theta, straight.state.theta)


def test_load_state_refuses_another_model(tmp_path):
    model, task, hf, stop = components(max_iterations=1)
    Run(model, task, hf, stop, checkpoint_dir=tmp_path, progress=False).train()
    with pytest.raises(CheckpointError, match="holds 105 parameters but this model has"):
        load_state(tmp_path / "state.npz", make_model(task.spec, hidden=9))


def test_the_tracker_is_started_fed_flushed_and_finished(tmp_path):
    model, task, hf, stop = components(max_iterations=2)
    tracker = RecordingTracker()
    Run(model, task, hf, stop, output_dir=tmp_path, tracker=tracker, params={"a": 1}, tags={"t": "x"},
        checkpoint_every=1, progress=False).train()
    assert tracker.calls[:4] == ["start", "metrics 1", "flush", "metrics 2"]  # flushed before each save
    assert tracker.params == {"a": 1, "damping.lambda_start": 0.01, "parallel.ranks": 1} and tracker.tags == {"t": "x"}
    assert "figure plots/learning_curve.png" in tracker.calls and tracker.status == "FINISHED"


def test_checkpointer_and_tracker_callback_serve_a_plain_train_call(tmp_path):
    model, task, hf, stop = components(max_iterations=2)
    tracker = RecordingTracker()
    checkpointer = Checkpointer(tmp_path, 2, model, tracker=tracker)
    train(Run(model, task, hf).initial_state(), model, task, hf, stop,
          [TrackerCallback(tracker), checkpointer])
    assert checkpointer.saved_iteration == 2 and load_checkpoint(tmp_path / "state.npz")[0].iteration == 2
    assert tracker.calls == ["metrics 1", "metrics 2", "flush"]


# --- the signal guard: a finished checkpoint is never lost, the tracker's run never left open ---

@pytest.fixture
def ctrl_c_raises():
    """SIGINT raises KeyboardInterrupt as in a terminal, even when the tests run as a background job
    (which starts Python with SIGINT ignored)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


@pytest.mark.parametrize("signum, raised", [(signal.SIGINT, KeyboardInterrupt), (signal.SIGTERM, RunInterrupted)])
def test_a_signal_ends_the_run_killed_with_the_last_iteration_saved(tmp_path, monkeypatch, ctrl_c_raises, signum,
                                                                     raised):
    model, task, hf, _ = components()
    tracker = RecordingTracker()
    before = {s: signal.getsignal(s) for s in SignalGuard.SIGNALS}
    real_on_step = Checkpointer.on_step

    def on_step(self, state, info, metrics):
        real_on_step(self, state, info, metrics)
        if state.iteration == 2:
            os.kill(os.getpid(), signum)

    monkeypatch.setattr(Checkpointer, "on_step", on_step)
    run = Run(model, task, hf, StopRule(StopConfig(max_iterations=50)), output_dir=tmp_path, tracker=tracker,
              progress=False)
    with pytest.raises(raised) as caught:
        run.train()
    assert caught.value.checkpointer.saved_iteration == 2
    assert load_checkpoint(tmp_path / "checkpoints" / "state.npz")[0].iteration == 2
    assert tracker.status == "KILLED" and not (tmp_path / "summary.json").exists()
    assert {s: signal.getsignal(s) for s in SignalGuard.SIGNALS} == before


@pytest.mark.parametrize("signum, raised", [(signal.SIGINT, KeyboardInterrupt), (signal.SIGTERM, RunInterrupted)])
def test_a_signal_during_a_store_write_waits_for_the_write(tmp_path, ctrl_c_raises, signum, raised):
    """A Ctrl-C or SIGTERM that lands inside a metrics commit used to cut it in half: the store kept its write
    lock, closing the run failed with "database is locked" and the run stayed RUNNING (seen under load in
    test_sigterm_stops_cleanly_with_the_checkpoint_kept). The write ends first; then the interrupt is raised."""
    from sqlalchemy import event

    from hfcore.tracking import MlflowTracker

    tracker = MlflowTracker(f"sqlite:///{tmp_path / 'mlflow.db'}", "signals")
    tracker.start({"a": 1}, {})
    sent = []

    def signal_inside_the_transaction(conn, cursor, statement, *args):
        if "INSERT INTO metrics" in statement and not sent:
            sent.append(statement)
            os.kill(os.getpid(), signum)  # delivered at the next bytecode: mid-transaction

    engine = tracker.client._tracking_client.store.engine
    event.listen(engine, "before_cursor_execute", signal_inside_the_transaction)
    history = lambda: [m.value for m in tracker.client.get_metric_history(tracker.run_id, "loss")]  # noqa: E731
    with SignalGuard() as guard:
        tracker.log_metrics(1, {"loss": 0.5})
        with pytest.raises(raised):
            tracker.flush()
        assert sent and history() == [0.5]  # the write ended before the interrupt was raised
        guard.finishing()
        tracker.log_metrics(2, {"loss": 0.25})
        tracker.finish("KILLED")
    event.remove(engine, "before_cursor_execute", signal_inside_the_transaction)
    assert tracker.client.get_run(tracker.run_id).info.status == "KILLED"
    assert history() == [0.5, 0.25]


def test_uninterrupted_drops_the_held_interrupt_when_the_block_fails():
    from hfcore.interrupts import defer, uninterrupted

    assert not defer(KeyboardInterrupt())  # outside a block: the caller raises it
    with pytest.raises(ValueError), uninterrupted():
        assert defer(KeyboardInterrupt())
        raise ValueError("the write failed")
    with uninterrupted():  # nothing held over from the failed block
        pass
    with pytest.raises(KeyboardInterrupt) as caught, uninterrupted():
        with uninterrupted():
            assert defer(KeyboardInterrupt()) and defer(RunInterrupted())  # the first is kept
        ended_inner = True  # the inner block's end does not raise: the outer write goes on
    assert ended_inner and caught.type is KeyboardInterrupt


def test_signals_while_the_results_are_saved_are_noted_and_ignored(tmp_path, capfd):
    model, task, hf, stop = components(max_iterations=2)
    tracker = RecordingTracker(on_figure=lambda: os.kill(os.getpid(), signal.SIGINT))
    result = Run(model, task, hf, stop, output_dir=tmp_path, tracker=tracker, progress=False,
                 program="prog").train()
    assert result.state.iteration == 2 and tracker.status == "FINISHED"
    assert "prog: SIGINT ignored: saving the checkpoint and the plots, then the run ends" in capfd.readouterr().err


def test_a_failed_save_fails_the_run_once(tmp_path, monkeypatch):
    def no_space(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(hfcore.run, "save_checkpoint", no_space)
    model, task, hf, stop = components(max_iterations=2)
    tracker = RecordingTracker()
    with pytest.raises(OSError, match="No space"):
        Run(model, task, hf, stop, output_dir=tmp_path, tracker=tracker, checkpoint_every=1, progress=False).train()
    assert tracker.status == "FAILED"


# --- parallel.py keeps only the data-parallel seam ---

def test_parallel_has_no_global_stop_flag_and_names_no_program():
    import hfcore.parallel as parallel

    source = Path(parallel.__file__).read_text()
    assert not hasattr(parallel, "request_stop") and "global " not in source and "hf-train" not in source


def test_a_stop_request_rides_on_the_next_exchange_of_that_model():
    task = make_task("addition", T=10, test_size=50)
    inner = make_model(task.spec, hidden=8)
    sharded, other = ShardedModel(inner, SerialComm(), 2), ShardedModel(inner, SerialComm(), 2)
    theta = inner.init_params(np.random.default_rng(0))
    batch = task.test_batch().subset(0, 4)
    sharded.request_stop(signal.SIGTERM)
    with pytest.raises(StopRequested):
        sharded.loss(theta, batch)
    assert np.isfinite(other.loss(theta, batch))  # a flag of its own, not a global one


class TwoRanks:
    rank, size, name = 0, 2, "fake"

    def barrier(self) -> None:
        pass


def test_abort_on_error_names_the_program(capsys):
    with pytest.raises(SystemExit) as caught, abort_on_error(TwoRanks(), "prog"):
        raise RankFailure("rank 1 of 2 failed")
    assert caught.value.code == 1
    assert capsys.readouterr().err == "prog: error: rank 1 of 2 failed; all 2 ranks stopped\n"


# --- no function of the core over 80 lines ---

def test_no_core_function_is_over_80_lines():
    long = []
    for path in sorted((ROOT / "hfcore").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.end_lineno - node.lineno >= 80:
                long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name}")
    assert long == []

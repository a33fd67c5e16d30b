"""A training run's lifecycle around :func:`hfcore.training.train`, shared by ``hf-train`` and Python callers.

:class:`Run` holds what a run needs besides the optimiser's arithmetic: checkpoints (:class:`Checkpointer`),
a tracker (:mod:`hfcore.tracking`), a signal guard (:class:`SignalGuard`), a cap on BLAS threads, the
learning-curve and predictions pictures and ``summary.json``. Its guarantees hold for every caller:

* a finished checkpoint is never lost: Ctrl-C or SIGTERM ends the run as a ``KeyboardInterrupt`` after the
  last finished iteration is saved, and further signals while the results are saved are noted and ignored;
* the tracker's run is always closed (``FINISHED``, ``KILLED`` or ``FAILED``), never left ``RUNNING``;
* in a data-parallel run, every rank stops at the same exchange, and a failing rank ends the others.

Nothing here imports Hydra, OmegaConf or MLflow: the CLI composes the config and builds the tracker.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import KW_ONLY, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from hfcore.checkpoint import CheckpointError, check_overwrite, load_checkpoint, save_checkpoint
from hfcore.interfaces import Communicator, Model, Optimizer, PlotsPredictions, Task
from hfcore.interrupts import defer
from hfcore.parallel import RankFailure, SerialComm, ShardedModel, StopRequested
from hfcore.state import RunState
from hfcore.tracking import NullTracker, Tracker
from hfcore.training import StopRule, initial_state, train
from hfcore.types import StepInfo

if TYPE_CHECKING:
    from hfcore.build import RunComponents

log = logging.getLogger("hfcore")


class RunInterrupted(KeyboardInterrupt):
    """SIGTERM (e.g. from SLURM) is treated as Ctrl-C: the run ends as KILLED."""


# --- checkpoints and metrics: the callbacks of the training loop ---


class Checkpointer:
    """Saves the state every ``every`` iterations (atomically) and on demand.

    ``tracker``'s queued metrics are flushed before each save, so the store always holds every
    iteration the checkpoint holds: a run killed with SIGKILL and resumed loses no metric.
    ``resumed_from`` is the checkpoint this run resumed from, the one file of another run it may
    write over (:func:`hfcore.checkpoint.check_overwrite`).

    Parameters
    ----------
    directory : path-like
        The checkpoint is ``directory / "state.npz"``.
    every : int
        Save after every this many iterations (>= 1).
    model : Model
        Converts the state's vectors to NumPy for the file.
    extra : dict, optional
        Metadata saved beside the state; ``extra["config"]["seed"]`` and ``extra["mlflow_run_id"]`` tell
        whose checkpoint the file is.
    enabled : bool
        False: nothing is written (the other ranks of a multi-rank run).
    tracker : Tracker, optional
        Flushed before each save.
    resumed_from : path-like, optional
        The checkpoint this run continues.
    """

    def __init__(self, directory: str | os.PathLike, every: int, model: Model, extra: dict | None = None,
                 enabled: bool = True, tracker: Tracker | None = None,
                 resumed_from: str | os.PathLike | None = None) -> None:
        if every < 1:
            raise ValueError(f"checkpoint.every must be >= 1, got {every}")
        self.path = Path(directory) / "state.npz"
        self.enabled = enabled
        self.every = every
        self.model = model
        self.extra = extra if extra is not None else {}
        self.tracker = tracker
        self.resumed_from = resumed_from
        self.last: RunState | None = None
        self.saved_iteration = -1
        self.failed = False  # a save raised: the final save does not try again (one error, not two)

    def save(self, state: RunState) -> Path:
        """Flush the tracker, then write ``state`` to :attr:`path` (a failed flush still saves)."""
        if not self.enabled:
            return self.path
        try:
            if self.tracker is not None:
                self.tracker.flush()
        finally:  # a tracking store that fails must not cost the checkpoint too
            try:
                check_overwrite(self.path, self.extra.get("mlflow_run_id"),
                                self.extra.get("config", {}).get("seed"), self.resumed_from)
                self._write(state)
            except Exception:
                self.failed = True
                raise
            self.saved_iteration = state.iteration
        return self.path

    def _write(self, state: RunState) -> None:
        # The one place the run's state goes to a file (see load_state for the way back).
        save_checkpoint(self.path, state, self.extra, to_numpy=self.model.to_numpy)

    def on_step(self, state: RunState, info: StepInfo, metrics: dict[str, float]) -> None:
        """Remember ``state``; save it every :attr:`every` iterations."""
        self.last = state
        if state.iteration % self.every == 0:
            self.save(state)

    def finish(self) -> None:
        """Save the last state unless it is saved already (or an earlier save failed)."""
        last = self.last
        if last is not None and last.iteration != self.saved_iteration and not self.failed:
            self.save(last)


def load_state(path: str | os.PathLike, model: Model,
               check: Callable[[dict], None] | None = None) -> tuple[RunState, dict]:
    """The state saved in checkpoint ``path``, its vectors in ``model``'s arrays, and the checkpoint's metadata.

    ``check`` is called with the metadata first (e.g. to compare the config the checkpoint was written
    with, which names the setting that differs better than a parameter count can).

    Raises
    ------
    CheckpointError
        If the file is unreadable or holds another number of parameters than ``model``.
    """
    state, extra = load_checkpoint(path)
    if check is not None:
        check(extra)
    expected = model.n_params
    if state.theta.shape != (expected,):
        raise CheckpointError(f"checkpoint {path} holds {state.theta.size} parameters but this model has {expected}")
    return state.map_vectors(model.from_numpy), extra


class TrackerCallback:
    """Forwards an iteration's metrics to the tracker every ``every`` iterations and at every test evaluation
    (the final iteration is always evaluated, so it is always logged)."""

    def __init__(self, tracker: Tracker, every: int = 1) -> None:
        self.tracker = tracker
        self.every = every

    def on_step(self, state: RunState, info: StepInfo, metrics: dict[str, float]) -> None:
        """Queue ``metrics`` in the tracker when this iteration is one to log."""
        if state.iteration % self.every == 0 or "test.error" in metrics:
            self.tracker.log_metrics(state.iteration, metrics)


def last_test_metrics(history: list[dict[str, float]], state: RunState) -> dict[str, float]:
    """The ``test.*`` metrics of the last evaluation in ``history`` (only ``test.error`` if it has none)."""
    for metrics in reversed(history):
        if "test.error" in metrics:
            return {k: v for k, v in metrics.items() if k.startswith("test.")}
    return {"test.error": state.test_error}


def log_predictions(task: Task, model: Model, theta: Any, tracker: Tracker, output_dir: Path | None,
                    title: str) -> None:
    """The task's picture of ``theta``'s predictions on its first test window, if the task draws one.

    Logged as ``plots/predictions.png`` and saved as ``predictions.png`` in ``output_dir`` (if any). Called
    on rank 0 only, so it predicts with the unsharded model: a sharded one would wait for the other ranks.
    A picture that fails is a warning, not a failed run.
    """
    if not isinstance(task, PlotsPredictions):
        return
    model = model.model if isinstance(model, ShardedModel) else model
    try:
        batch = task.test_batch().subset(0, 1)
        figure = task.plot_predictions(np.asarray(model.predict(theta, batch)), batch)
        figure.suptitle(f"{title}: first test window")
        if output_dir is not None:
            figure.savefig(output_dir / "predictions.png", dpi=110)
        tracker.log_figure(figure, "plots/predictions.png")
    except Exception as exc:  # the run's results stand without the picture
        log.warning("no predictions picture: %s: %s", type(exc).__name__, exc)


def blas_limit(threads: int | None, blas_only: bool = False) -> Any:
    """Cap the thread pools at ``threads`` (None: leave them); undo with ``.restore_original_limits()``.

    All pools (BLAS and OpenMP): torch's CPU kernels run on OpenMP, not on numpy's BLAS. ``blas_only``:
    a backend that sets its own thread count keeps it, and only numpy's BLAS is capped.
    """
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=threads, user_api="blas" if blas_only else None)


# --- signals and ranks ---


class SignalGuard:
    """SIGINT and SIGTERM during a run: stop after a finished iteration, then finish saving undisturbed.

    While training, SIGTERM raises :class:`RunInterrupted` and SIGINT ``KeyboardInterrupt``, at once or, during
    a store write, when it ends (:func:`hfcore.interrupts.uninterrupted`); in a multi-rank run both go to
    ``stop_at_exchange`` instead, so every rank stops at the same exchange
    (:meth:`hfcore.parallel.ShardedModel.request_stop`). After :meth:`finishing`, either
    signal only prints a note: a second Ctrl-C must neither lose the final checkpoint nor leave the
    tracker's run open. Leaving the ``with`` block restores the previous handlers. Outside the main
    thread, where Python cannot set handlers, the guard does nothing.
    """

    SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __init__(self, program: str = "hfcore", stop_at_exchange: Callable[[int, Any], None] | None = None) -> None:
        self.program = program
        self.stop_at_exchange = stop_at_exchange
        self.active = threading.current_thread() is threading.main_thread()
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> SignalGuard:
        if self.active:
            self._previous = {s: signal.getsignal(s) for s in self.SIGNALS}
            signal.signal(signal.SIGTERM, self._interrupt)
            if self._previous[signal.SIGINT] is signal.default_int_handler:  # an ignored SIGINT stays ignored
                signal.signal(signal.SIGINT, self._keyboard)
            if self.stop_at_exchange is not None:
                for s in self.SIGNALS:
                    signal.signal(s, self.stop_at_exchange)
        return self

    def finishing(self) -> None:
        """From now on, note and ignore both signals (the results are being saved)."""
        if self.active:
            for s in self.SIGNALS:
                signal.signal(s, self._ignore)

    def __exit__(self, *exc: object) -> None:
        for s, handler in self._previous.items():
            signal.signal(s, handler)

    # Inside a store write (hfcore.interrupts.uninterrupted) the exception waits for the write to end.
    @staticmethod
    def _interrupt(signum: int, frame: Any) -> None:
        interrupt = RunInterrupted()
        if not defer(interrupt):
            raise interrupt

    @staticmethod
    def _keyboard(signum: int, frame: Any) -> None:
        interrupt = KeyboardInterrupt()
        if not defer(interrupt):
            raise interrupt

    def _ignore(self, signum: int, frame: Any) -> None:
        print(f"{self.program}: {signal.Signals(signum).name} ignored: saving the checkpoint and the plots, "
              f"then the run ends", file=sys.stderr)


def exit_code(exc: BaseException) -> int:
    """The process exit status an exception stands for (SystemExit's own, 130 for Ctrl-C, else 1)."""
    if isinstance(exc, SystemExit):
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    if isinstance(exc, KeyboardInterrupt):
        return 130
    return 1


@contextmanager
def abort_on_error(comm: Communicator, program: str = "hfcore") -> Iterator[None]:
    """End every rank when this one fails, with a message naming the rank.

    Without this, the other ranks of a multi-rank job would wait forever in their
    next collective. A single-process run re-raises as usual.
    """
    try:
        yield
    except BaseException as exc:
        code = exit_code(exc)
        if comm.size == 1 or code == 0:
            raise
        if not isinstance(exc, (SystemExit, KeyboardInterrupt, RankFailure)):
            traceback.print_exc()
        what = "stopped by a signal" if isinstance(exc, KeyboardInterrupt) else f"{type(exc).__name__}: {exc}"
        if isinstance(exc, SystemExit):
            what = f"exited with status {code}"
        if isinstance(exc, RankFailure) or getattr(exc, "hfcore_shared", False):
            # Every rank raised in the same collective. Wait until rank 0 has closed its MLflow run and saved
            # its checkpoint: a rank that exits first can make the launcher kill rank 0 mid-cleanup.
            try:
                comm.barrier()
            except Exception:  # a broken link must not hide the real error
                pass
            if isinstance(exc, RankFailure | StopRequested):
                if comm.rank == 0:
                    print(f"{program}: error: {exc}; all {comm.size} ranks stopped", file=sys.stderr)
            else:
                print(f"{program}: error: rank {comm.rank} of {comm.size} {what}", file=sys.stderr)
            raise SystemExit(code) from None
        print(f"{program}: error: rank {comm.rank} of {comm.size} {what}; ending all ranks", file=sys.stderr)
        comm.abort(code)


# --- the run ---


@dataclass(frozen=True)
class RunResult:
    """How a run ended: its final state and where its results are.

    Parameters
    ----------
    state : RunState
        The final state (``state.solved``, ``state.test_error``, ``state.counters``, ...).
    label : str
        What :meth:`line` names the run by (e.g. ``task=addition T=30 seed=0``).
    n_params : int
        Number of parameters of the model.
    test_metrics : dict of str to float
        The ``test.*`` metrics of the last evaluation.
    checkpoint : Path or None
        The checkpoint file (None when the run wrote none).
    run_id : str or None
        The tracker's run (None without tracking).
    """

    state: RunState
    label: str
    n_params: int
    test_metrics: dict[str, float]
    checkpoint: Path | None = None
    run_id: str | None = None

    @property
    def solved(self) -> bool:
        """Whether the task's success criterion was met."""
        return self.state.solved

    def summary(self) -> dict[str, Any]:
        """The content of ``summary.json``."""
        s, c = self.state, self.state.counters
        return {
            "solved": s.solved, "iterations": s.iteration, "minibatches": c.minibatches,
            "gv_products": c.gv_products, "gv_float32": c.gv_float32, "gradient_evals": c.gradient_evals,
            "test_error": s.test_error,
            "test_metrics": self.test_metrics, "n_params": self.n_params, "wall_seconds": s.elapsed,
            "cpu_seconds": s.cpu_seconds, "run_id": self.run_id,
            "checkpoint": None if self.checkpoint is None else str(self.checkpoint),
        }

    def line(self) -> str:
        """One line: ``SOLVED: <label> iterations=... minibatches=... gv=... test_error=... wall=... cpu=...``."""
        s, c = self.state, self.state.counters
        verdict = "SOLVED" if s.solved else "not solved"
        label = f" {self.label}" if self.label else ""
        return (f"{verdict}:{label} iterations={s.iteration} minibatches={c.minibatches:.0f} gv={c.gv_products} "
                + (f"gv_float32={c.gv_float32} " if c.gv_float32 else "")
                + f"test_error={s.test_error:.4g} wall={s.elapsed:.1f}s cpu={s.cpu_seconds:.1f}s"
                + (f" checkpoint={self.checkpoint}" if self.checkpoint is not None else "")
                + (f" mlflow_run={self.run_id}" if self.run_id else ""))


@dataclass
class Run:
    """One training run: a model, a task and an optimiser, with checkpoints, tracking and a signal guard.

    ``Run(...).train()`` trains until ``stop`` fires (:func:`hfcore.training.train`) and returns a
    :class:`RunResult`. It is what ``hf-train`` runs once it has composed the config and built the
    components; a Python caller builds them itself (``docs/python-api.md``).

    Parameters
    ----------
    model, task, optimizer : Model, Task, Optimizer
        The run's components (``optimizer``: e.g. :class:`~hfcore.hf.HessianFree`).
    stop : StopRule
        When the run ends (default: on success or at the minibatch budget).
    seed : int
        Seeds the parameter initialisation and the data stream.
    comm : Communicator
        The ranks of a data-parallel run; only rank 0 writes files and logs to the tracker.
    output_dir : path-like or None
        Where ``summary.json``, ``predictions.png`` and (by default) ``checkpoints/state.npz`` go;
        None: a run in memory only (no files, unless ``checkpoint_dir`` is given).
    checkpoint_dir : path-like or None
        Where the checkpoint goes (None: ``output_dir / "checkpoints"``).
    checkpoint_every : int
        Save every this many iterations (and always at the end).
    tracker : Tracker
        Where parameters, metrics and pictures are logged (:class:`~hfcore.tracking.MlflowTracker`,
        default :class:`~hfcore.tracking.NullTracker`); the run starts and always closes it.
    params, tags : dict
        Logged to the tracker at the start (the CLI: the flattened config, and the run's tags).
    config : dict
        Saved in the checkpoint (the CLI: the composed config); its ``seed`` (default :attr:`seed`) tells
        whose checkpoint a file is.
    config_text : str or None
        Logged as ``config/config.yaml`` (``config-resumed-at-<i>.yaml`` when a resume continues the run).
    progress : bool
        Show a progress bar on a terminal.
    log_every : int
        Log an iteration's metrics and line every this many iterations (and at every evaluation).
    blas_threads : int or None
        Cap on BLAS/OpenMP threads during the run (None: the libraries' default).
    blas_only : bool
        Cap only numpy's BLAS (the backend sets its own thread count).
    label : str
        Names the run in :meth:`RunResult.line` (default ``seed=<seed>``).
    title : str
        Title of the pictures (default: ``label``).
    program : str
        Starts the notes printed on stderr (``hf-train`` for the CLI).
    """

    model: Model
    task: Task
    optimizer: Optimizer
    stop: StopRule = field(default_factory=StopRule)
    _: KW_ONLY
    seed: int = 0
    comm: Communicator = field(default_factory=SerialComm)
    output_dir: str | os.PathLike | None = None
    checkpoint_dir: str | os.PathLike | None = None
    checkpoint_every: int = 10
    tracker: Tracker = field(default_factory=NullTracker)
    params: dict[str, Any] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    config_text: str | None = None
    progress: bool = True
    log_every: int = 1
    blas_threads: int | None = None
    blas_only: bool = False
    label: str = ""
    title: str = ""
    program: str = "hfcore"

    def __post_init__(self) -> None:
        self.label = self.label or f"seed={self.seed}"
        self.title = self.title or self.label
        if self.checkpoint_every < 1:
            raise ValueError(f"checkpoint.every must be >= 1, got {self.checkpoint_every}")

    @classmethod
    def from_components(cls, parts: RunComponents, **settings: Any) -> Run:
        """A run of the components :func:`hfcore.build.build_run` built; ``settings`` as for :class:`Run`."""
        return cls(parts.model, parts.task, parts.optimizer, parts.stop, comm=parts.comm,
                   **settings)

    @property
    def checkpoint_path(self) -> Path | None:
        """Where the checkpoint is saved (None: nowhere)."""
        directory = self.checkpoint_dir or (Path(self.output_dir) / "checkpoints" if self.output_dir else None)
        return None if directory is None else Path(directory) / "state.npz"

    def initial_state(self) -> RunState:
        """The state before the first iteration: parameters and data stream from :attr:`seed`."""
        return initial_state(self.model, self.seed, self.optimizer)

    def train(self, state: RunState | None = None, *, resumed_from: str | os.PathLike | None = None,
              previous_run: str | None = None) -> RunResult:
        """Train to the end of the run; in a multi-rank run only rank 0 logs, reports and saves.

        Parameters
        ----------
        state : RunState, optional
            Where to start; None: :meth:`initial_state`, or the checkpoint ``resumed_from``.
        resumed_from : path-like, optional
            The checkpoint this run continues (read when ``state`` is None); the run may write over it.
        previous_run : str, optional
            The tracker's run that wrote that checkpoint, continued when it can (default: the one the
            checkpoint names).

        Raises
        ------
        KeyboardInterrupt
            Ctrl-C, or :class:`RunInterrupted` for SIGTERM, after the last finished iteration is saved; its
            ``checkpointer`` attribute is the run's :class:`Checkpointer`.
        """
        if state is None and resumed_from is not None:
            state, extra = load_state(resumed_from, self.model)
            previous_run = previous_run or extra.get("mlflow_run_id")
        with abort_on_error(self.comm, self.program):
            return self._train(state, resumed_from, previous_run)

    def _train(self, state: RunState | None, resumed_from: Any, previous_run: str | None) -> RunResult:
        from hfcore.reporting import ProgressReporter

        root = self.comm.rank == 0
        if not root:  # the other ranks compute the same run; their iteration lines would only repeat rank 0's
            log.setLevel(logging.WARNING)
        if state is None:
            state = self.initial_state()
        else:
            log.info("resuming from %s at iteration %d", resumed_from, state.iteration)
        tracker = self.tracker if root else NullTracker()
        reporter = ProgressReporter(enabled=self.progress and root, initial=state.iteration, log_every=self.log_every)
        path = self.checkpoint_path
        config = dict(self.config)
        config.setdefault("seed", self.seed)
        checkpointer = Checkpointer(path.parent if path else ".", self.checkpoint_every, self.model,
                                    {"config": config, "n_params": self.model.n_params, "ranks": self.comm.size},
                                    enabled=root and path is not None, tracker=tracker, resumed_from=resumed_from)
        checkpointer.last = state
        status = "FAILED"
        with SignalGuard(self.program, self._stop_at_exchange()) as guard:
            limits = blas_limit(self.blas_threads, self.blas_only)
            try:
                self._start_tracking(tracker, state, checkpointer, previous_run)
                state = train(state, self.model, self.task, self.optimizer, self.stop,
                              # the tracker queues an iteration's metrics before the checkpointer flushes and saves
                              [reporter, TrackerCallback(tracker, self.log_every), checkpointer], comm=self.comm)
                status = "FINISHED"
            except KeyboardInterrupt as exc:
                status = "KILLED"
                exc.checkpointer = checkpointer  # the caller can name the saved file
                raise
            finally:
                guard.finishing()
                limits.restore_original_limits()
                reporter.close()
                try:
                    self._save_results(tracker, checkpointer, reporter.history, root)
                except BaseException:
                    status = "FAILED"  # a run whose results were not saved did not finish
                    raise
                finally:
                    tracker.finish(status)
        return self._result(state, checkpointer, tracker, last_test_metrics(reporter.history, state), root)

    def _stop_at_exchange(self) -> Callable[[int, Any], None] | None:
        # Every rank must stop at the same exchange: a signal only sets the sharded model's flag.
        if self.comm.size > 1 and isinstance(self.model, ShardedModel):
            return self.model.request_stop
        return None

    def _start_tracking(self, tracker: Tracker, state: RunState, checkpointer: Checkpointer,
                        previous_run: str | None) -> None:
        params = {**self.params, "parallel.ranks": self.comm.size}
        lam = state.optimizer.scalars().get("lam")
        if lam is not None:  # HF's lambda: differs from lambda0 when resuming
            params["damping.lambda_start"] = lam
        tracker.start(params, self.tags, continue_run=previous_run, at_step=state.iteration)
        if self.config_text is not None:
            name = f"config-resumed-at-{state.iteration}.yaml" if tracker.continued else "config.yaml"
            tracker.log_text(self.config_text, f"config/{name}")
        if tracker.run_id:
            checkpointer.extra["mlflow_run_id"] = tracker.run_id  # a later resume continues this tracker run
            for line in tracker.describe():
                log.info("%s", line)

    def _save_results(self, tracker: Tracker, checkpointer: Checkpointer, history: list[dict[str, float]],
                      root: bool) -> None:
        """The final checkpoint, then the pictures; on rank 0 only."""
        from hfcore.reporting import CURVE_METRICS, learning_curve

        checkpointer.finish()
        if checkpointer.saved_iteration >= 0 and root:
            tracker.log_artifact(checkpointer.path, "checkpoint")
        if history and root:
            curve = tracker.earlier_history(CURVE_METRICS) + history
            tracker.log_figure(learning_curve(curve, self.title), "plots/learning_curve.png")
            output_dir = Path(self.output_dir) if self.output_dir is not None else None
            log_predictions(self.task, self.model, checkpointer.last.theta, tracker, output_dir, self.title)

    def _result(self, state: RunState, checkpointer: Checkpointer, tracker: Tracker,
                test_metrics: dict[str, float], root: bool) -> RunResult:
        checkpoint = checkpointer.path if checkpointer.enabled else None
        result = RunResult(state, self.label, self.model.n_params, test_metrics, checkpoint, tracker.run_id)
        if root and self.output_dir is not None:
            Path(self.output_dir).mkdir(parents=True, exist_ok=True)
            (Path(self.output_dir) / "summary.json").write_text(json.dumps(result.summary(), indent=1))
        return result

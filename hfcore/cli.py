"""``hf-train``: compose a run with Hydra, train with HF, log to MLflow.

Hydra, OmegaConf and MLflow are imported here, never by ``import hfcore``.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

from hfcore.build import ConfigError, RunComponents, build_run, solver_tag
from hfcore.checkpoint import CheckpointError, check_overwrite, load_checkpoint, save_checkpoint
from hfcore.interfaces import PlotsPredictions
from hfcore.parallel import ShardedModel, abort_on_error, request_stop
from hfcore.registry import DISABLE_AUTOLOAD_ENV, Registry, UnknownComponentError, load_plugins
from hfcore.rundir import discard_if_unused, register_resolvers, unwritable
from hfcore.state import RunState
from hfcore.tracking import TrackingError, default_tracking_uri, open_store
from hfcore.training import initial_state, train
from hfcore.types import StepInfo

log = logging.getLogger("hfcore")


class RunInterrupted(KeyboardInterrupt):
    """SIGTERM (e.g. from SLURM) is treated as Ctrl-C: the run ends as KILLED."""


def fail(message: str, code: int = 2) -> None:
    """Print a one-line error and exit non-zero."""
    print(f"hf-train: error: {message}", file=sys.stderr)
    raise SystemExit(code)


def register_configs(registry: Registry) -> None:
    """Store the schema and every plugin's config options in Hydra's ConfigStore."""
    from hydra.core.config_store import ConfigStore

    from hfcore.config import TrainConfig

    cs = ConfigStore.instance()
    cs.store(name="hfcore_schema", node=TrainConfig)
    for component in registry.components():
        if component.config is not None:
            cs.store(group=component.kind, name=component.name, node=component.config)


def _git_sha() -> str:
    try:
        here = Path(__file__).resolve().parent
        sha = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, cwd=here)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True,
                               text=True, timeout=5, cwd=here)
        return (sha.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")) or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


class Checkpointer:
    """Saves the state every ``every`` iterations (atomically) and on demand.

    ``tracker``'s queued metrics are flushed before each save, so the store always holds every
    iteration the checkpoint holds: a run killed with SIGKILL and resumed loses no metric.
    ``resumed_from`` is the checkpoint this run resumed from, the one file of another run it may
    write over (:func:`hfcore.checkpoint.check_overwrite`).
    """

    def __init__(self, directory: Path, every: int, parts: RunComponents, extra: dict, enabled: bool = True,
                 tracker: Any = None, resumed_from: str | None = None) -> None:
        self.path = directory / "state.npz"
        self.enabled = enabled  # in a multi-rank run only rank 0 writes
        self.every = every
        self.parts = parts
        self.extra = extra
        self.tracker = tracker
        self.resumed_from = resumed_from
        self.last: RunState | None = None
        self.saved_iteration = -1
        self.failed = False  # a save raised: the final save does not try again (one error, not two)

    def save(self, state: RunState) -> Path:
        if not self.enabled:
            return self.path
        try:
            if self.tracker is not None:
                self.tracker.flush()
        finally:  # a tracking store that fails must not cost the checkpoint too
            try:
                check_overwrite(self.path, self.extra.get("mlflow_run_id"),
                                self.extra.get("config", {}).get("seed"), self.resumed_from)
                save_checkpoint(self.path, state, self.extra, to_numpy=self.parts.model.to_numpy)
            except Exception:
                self.failed = True
                raise
            self.saved_iteration = state.iteration
        return self.path

    def on_step(self, state: RunState, info: StepInfo, metrics: dict[str, float]) -> None:
        self.last = state
        if state.iteration % self.every == 0:
            self.save(state)


class TrackerCallback:
    """Forwards an iteration's metrics to the tracker every ``every`` iterations and at every test evaluation
    (the final iteration is always evaluated, so it is always logged)."""

    def __init__(self, tracker: Any, every: int = 1) -> None:
        self.tracker = tracker
        self.every = every

    def on_step(self, state: RunState, info: StepInfo, metrics: dict[str, float]) -> None:
        if state.iteration % self.every == 0 or "test.error" in metrics:
            self.tracker.log_metrics(state.iteration, metrics)


def last_test_metrics(history: list[dict[str, float]], state: RunState) -> dict[str, float]:
    """The ``test.*`` metrics of the last evaluation in ``history`` (only ``test.error`` if it has none)."""
    for metrics in reversed(history):
        if "test.error" in metrics:
            return {k: v for k, v in metrics.items() if k.startswith("test.")}
    return {"test.error": state.test_error}


def log_predictions(parts: RunComponents, theta: Any, tracker: Any, output_dir: Path, title: str) -> None:
    """The task's picture of ``theta``'s predictions on its first test window, if the task draws one.

    Logged as ``plots/predictions.png`` and saved as ``predictions.png`` in the run folder. Called on
    rank 0 only, so it predicts with the unsharded model: a sharded one would wait for the other ranks.
    A picture that fails is a warning, not a failed run.
    """
    if not isinstance(parts.task, PlotsPredictions):
        return
    plot = parts.task.plot_predictions
    model = parts.model.model if isinstance(parts.model, ShardedModel) else parts.model
    try:
        batch = parts.task.test_batch().subset(0, 1)
        figure = plot(np.asarray(model.predict(theta, batch)), batch)
        figure.suptitle(f"{title}: first test window")
        figure.savefig(output_dir / "predictions.png", dpi=110)
        tracker.log_figure(figure, "plots/predictions.png")
    except Exception as exc:  # the run's results stand without the picture
        log.warning("no predictions picture: %s: %s", type(exc).__name__, exc)


def _blas_limit(threads: int | None, own_threads: bool) -> Any:
    from threadpoolctl import threadpool_limits

    # All thread pools (BLAS and OpenMP): torch's CPU kernels run on OpenMP, not on numpy's BLAS. A backend
    # that sets its own thread count (backend.threads) keeps it: then only numpy's BLAS is capped.
    return threadpool_limits(limits=threads, user_api="blas" if own_threads else None)


def _resume(path: str, parts: RunComponents, cfg: Any) -> tuple[RunState, str | None]:
    """The checkpoint's state, checked against this run's settings, and the MLflow run that wrote it."""
    from omegaconf import OmegaConf

    state, extra = load_checkpoint(path)
    saved = extra.get("config", {})
    for section in ("model", "task"):  # the backend may change (same parameter layout), these may not
        current = OmegaConf.to_container(cfg[section], resolve=True)
        if section in saved and saved[section] != current:
            keys = sorted(k for k in set(current) | set(saved[section]) if current.get(k) != saved[section].get(k))
            raise CheckpointError(f"checkpoint {path} was written with different {section} settings "
                                  f"({', '.join(f'{section}.{k}' for k in keys)}); resume with the same ones")
    if state.optimizer.name != cfg.optimizer.name:  # each optimiser reads only its own state
        raise CheckpointError(f"checkpoint {path} holds the state of optimizer={state.optimizer.name}; resume it "
                              f"with optimizer={state.optimizer.name}, not optimizer={cfg.optimizer.name}")
    expected = parts.model.n_params
    if state.theta.shape != (expected,):
        raise CheckpointError(
            f"checkpoint {path} holds {state.theta.size} parameters but this model has {expected}"
        )
    state = state.map_vectors(parts.model.from_numpy)
    return state, extra.get("mlflow_run_id")


def run(cfg: Any, registry: Registry) -> int:
    """Run one composed config; returns the process exit code."""
    from hfcore.config_check import check_config

    try:
        check_config(cfg, registry)  # keys no schema declares (typos added with +key=), before any work
        parts = build_run(cfg, registry)
        state, previous_run = _resume(cfg.checkpoint.resume, parts, cfg) if cfg.checkpoint.resume else (None, None)
        if parts.comm.rank == 0:
            _check_outputs(cfg, previous_run)
        if cfg.tracking.enabled:  # a store that cannot be used fails here, in seconds, not after the training
            open_store(cfg.tracking.uri or default_tracking_uri(), cfg.tracking.experiment)
    except (ConfigError, UnknownComponentError, CheckpointError, TrackingError) as exc:
        fail(str(exc))
    with abort_on_error(parts.comm):
        return _train(cfg, parts, state, previous_run)


def _checkpoint_dir(cfg: Any, output_dir: Path) -> Path:
    return Path(cfg.checkpoint.dir) if cfg.checkpoint.dir else output_dir / "checkpoints"


def _check_outputs(cfg: Any, previous_run: str | None) -> None:
    """Refuse, before any work, a run that could not save its results: an output folder it cannot write,
    or a checkpoint of another run where it would save its own."""
    from hydra.core.hydra_config import HydraConfig

    output_dir = Path(HydraConfig.get().runtime.output_dir)
    ckpt_dir = _checkpoint_dir(cfg, output_dir)
    for what, directory in (("the run folder", output_dir), ("checkpoint.dir", ckpt_dir)):
        problem = unwritable(directory)
        if problem:
            raise ConfigError(f"{what} {directory} cannot be written ({problem})")
    # A new MLflow run's id is not known yet, and matches no checkpoint's; without tracking there is none.
    run_id = (previous_run or "a new MLflow run") if cfg.tracking.enabled else None
    check_overwrite(ckpt_dir / "state.npz", run_id, cfg.seed, cfg.checkpoint.resume)


def _train(cfg: Any, parts: RunComponents, state: RunState | None, previous_run: str | None = None) -> int:
    """Train the built run to its end; in a multi-rank run only rank 0 logs, reports and saves.

    ``previous_run`` is the MLflow run that wrote the checkpoint ``state`` resumes from: the
    tracker continues it when it can (:meth:`hfcore.tracking.MlflowTracker.start`).
    """
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import OmegaConf

    from hfcore.reporting import CURVE_METRICS, ProgressReporter, learning_curve
    from hfcore.run_naming import default_run_name
    from hfcore.tracking import MlflowTracker, NullTracker, flatten

    comm = parts.comm
    root = comm.rank == 0
    if not root:  # the other ranks compute the same run; their iteration lines would only repeat rank 0's
        log.setLevel(logging.WARNING)
    output_dir = Path(HydraConfig.get().runtime.output_dir)
    ckpt_dir = _checkpoint_dir(cfg, output_dir)
    config_yaml = OmegaConf.to_yaml(cfg)
    if state is None:
        state = initial_state(parts.model, cfg.seed, parts.optimizer)
    else:
        log.info("resuming from %s at iteration %d", cfg.checkpoint.resume, state.iteration)

    choices = HydraConfig.get().runtime.choices
    tags = {
        "backend": cfg.backend.name, "task": cfg.task.name, "T": str(cfg.task.T), "seed": str(cfg.seed),
        "damping": cfg.damping.name, "solver": solver_tag(cfg), "optimizer": cfg.optimizer.name, "git_sha": _git_sha(),
        "experiment": str(choices.get("experiment") or "none"),
        "parallel": comm.name, "ranks": str(comm.size),
    }
    if HydraConfig.get().mode.name == "MULTIRUN":
        tags["sweep_id"] = str(HydraConfig.get().sweep.dir)
    if cfg.tracking.parent_run_id:
        tags["mlflow.parentRunId"] = cfg.tracking.parent_run_id
    tags.update({str(k): str(v) for k, v in cfg.tracking.tags.items()})
    method = cfg.damping.name if cfg.optimizer.name == "hf" else cfg.optimizer.name
    if cfg.tracking.enabled and root:
        uri = cfg.tracking.uri or default_tracking_uri()
        run_name = cfg.tracking.run_name or default_run_name(cfg, method)
        tracker: Any = MlflowTracker(uri, cfg.tracking.experiment, run_name)
    else:
        tracker = NullTracker()

    reporter = ProgressReporter(enabled=cfg.progress and root, initial=state.iteration,
                                log_every=cfg.tracking.log_every)
    checkpointer = Checkpointer(ckpt_dir, cfg.checkpoint.every, parts,
                                {"config": OmegaConf.to_container(cfg), "n_params": parts.model.n_params,
                                 "ranks": comm.size}, enabled=root, tracker=tracker,
                                resumed_from=cfg.checkpoint.resume)
    status = "FAILED"
    previous_sigterm = signal.getsignal(signal.SIGTERM)

    def on_sigterm(signum: int, frame: Any) -> None:
        raise RunInterrupted()

    signal.signal(signal.SIGTERM, on_sigterm)
    previous_sigint = signal.getsignal(signal.SIGINT)
    if comm.size > 1:  # every rank must stop at the same exchange (see hfcore.parallel.request_stop)
        signal.signal(signal.SIGTERM, request_stop)
        signal.signal(signal.SIGINT, request_stop)
    blas_limit = _blas_limit(cfg.blas_threads, own_threads=cfg.backend.get("threads") is not None)
    try:
        params = flatten(OmegaConf.to_container(cfg, resolve=True))
        params["damping.lambda0_effective"] = parts.lambda0  # lambda0 null resolves to the task's default
        params["damping.lambda_start"] = state.optimizer.scalars().get("lam", parts.lambda0)  # HF's, when resuming
        params["parallel.ranks"] = comm.size
        tracker.start(params, tags, continue_run=previous_run, at_step=state.iteration)
        config_name = f"config-resumed-at-{state.iteration}.yaml" if tracker.continued else "config.yaml"
        tracker.log_text(config_yaml, f"config/{config_name}")
        if tracker.run_id:
            checkpointer.extra["mlflow_run_id"] = tracker.run_id  # a later resume continues this MLflow run
            log.info("MLflow run %s (%s) in %s", tracker.run_id, tracker.run_name, getattr(tracker, "uri", ""))
            for line in tracker.ui_links():
                log.info("%s", line)
        checkpointer.last = state
        state = train(state, parts.model, parts.task, parts.optimizer, parts.stop,
                      # the tracker queues an iteration's metrics before the checkpointer flushes them and saves
                      [reporter, TrackerCallback(tracker, cfg.tracking.log_every), checkpointer], comm=comm)
        status = "FINISHED"
    except KeyboardInterrupt as exc:
        status = "KILLED"
        exc.checkpointer = checkpointer  # main() names the saved file
        raise
    finally:
        # A second SIGTERM or Ctrl-C during cleanup must neither leave the MLflow run RUNNING nor lose the
        # final checkpoint and plots: they are noted and ignored until the run is closed.
        signal.signal(signal.SIGTERM, _finishing)
        signal.signal(signal.SIGINT, _finishing)
        blas_limit.restore_original_limits()
        reporter.close()
        try:
            last = checkpointer.last
            if last is not None and last.iteration != checkpointer.saved_iteration and not checkpointer.failed:
                checkpointer.save(last)
            if checkpointer.saved_iteration >= 0 and root:
                tracker.log_artifact(checkpointer.path, "checkpoint")
            if reporter.history and root:
                title = f"{cfg.task.name} T={cfg.task.T}, {method}, seed {cfg.seed}"
                history = tracker.earlier_history(CURVE_METRICS) + reporter.history
                tracker.log_figure(learning_curve(history, title), "plots/learning_curve.png")
                log_predictions(parts, last.theta, tracker, output_dir, title)
        except BaseException:
            status = "FAILED"  # a run whose results were not saved did not finish; the exit code is non-zero too
            raise
        finally:
            tracker.finish(status)
            signal.signal(signal.SIGTERM, previous_sigterm)
            signal.signal(signal.SIGINT, previous_sigint)
    if not root:  # rank 0 writes the run's files; this rank's Hydra folder would stay empty
        discard_if_unused(output_dir, HydraConfig.get().job.name, only_own=True)
        return 0
    c = state.counters
    summary = {
        "solved": state.solved, "iterations": state.iteration, "minibatches": c.minibatches,
        "gv_products": c.gv_products, "gradient_evals": c.gradient_evals, "test_error": state.test_error,
        "test_metrics": last_test_metrics(reporter.history, state), "n_params": parts.model.n_params,
        "wall_seconds": state.elapsed, "cpu_seconds": state.cpu_seconds, "run_id": tracker.run_id,
        "checkpoint": str(checkpointer.path),
    }
    (output_dir / "summary.json").write_text(json.dumps(summary, indent=1))
    verdict = "SOLVED" if state.solved else "not solved"
    print(
        f"{verdict}: task={cfg.task.name} T={cfg.task.T} seed={cfg.seed} iterations={state.iteration} "
        f"minibatches={c.minibatches:.0f} gv={c.gv_products} test_error={state.test_error:.4g} "
        f"wall={state.elapsed:.1f}s cpu={state.cpu_seconds:.1f}s checkpoint={checkpointer.path}"
        + (f" mlflow_run={tracker.run_id}" if tracker.run_id else "")
    )
    return 0


def _finishing(signum: int, frame: Any) -> None:
    print(f"hf-train: {signal.Signals(signum).name} ignored: saving the checkpoint and the plots, then the run ends",
          file=sys.stderr)


def main() -> None:
    """Console-script entry point."""
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    # A broken third-party plugin must not take the others down: warn and go on without it.
    _, registry = load_plugins(strict=False)
    for message in registry.failures:
        print(f"hf-train: warning: {message}", file=sys.stderr)
    missing = [kind for kind in ("backend", "task") if not registry.names(kind)]
    if missing:
        why = (f"{DISABLE_AUTOLOAD_ENV} is set" if os.environ.get(DISABLE_AUTOLOAD_ENV)
               else "is hfcore installed (pip install .)?")
        fail(f"no {' and no '.join(missing)} plugins are loaded ({why})")
    import hydra

    register_configs(registry)
    register_resolvers()
    from hfcore.compose_check import composition_error

    problem = composition_error(sys.argv[1:], registry)  # Hydra's own report is 8 lines and suggests +key=
    if problem:
        fail(problem)

    @hydra.main(version_base="1.3", config_path="pkg://hfcore.conf", config_name="config")
    def _entry(cfg: Any) -> None:
        from hydra.core.hydra_config import HydraConfig

        from hfcore.hydra_callbacks import job_plan

        plan = job_plan(HydraConfig.get().runtime.output_dir)  # a grid sweep's job: finished, or to resume
        if plan.finished_run:
            return
        if plan.resume:
            cfg.checkpoint.resume = plan.resume
        try:
            run(cfg, registry)
        except SystemExit as exc:
            if exc.code:  # a rejected invocation (hf-train: error: ...) leaves no empty run folder behind
                from hydra.core.hydra_config import HydraConfig

                # only a folder this process named (its run token): a hydra.run.dir the user gave may hold their files
                discard_if_unused(Path(HydraConfig.get().runtime.output_dir), HydraConfig.get().job.name,
                                  only_own=True)
            raise
        except KeyboardInterrupt as exc:
            # The run is closed (MLflow KILLED, checkpoint kept); a one-line note and the signal's exit status,
            # not a traceback (a scheduler's SIGTERM is routine).
            signum = signal.SIGTERM if isinstance(exc, RunInterrupted) else signal.SIGINT
            saved = getattr(exc, "checkpointer", None)
            where = ("nothing was saved" if saved is None or saved.saved_iteration < 0 else
                     f"iteration {saved.saved_iteration} is saved in {saved.path.absolute()} "
                     f"(resume with checkpoint.resume={saved.path.absolute()})")
            print(f"hf-train: stopped by {signal.Signals(signum).name}; {where}", file=sys.stderr)
            raise SystemExit(128 + signum) from None

    _entry()


if __name__ == "__main__":
    main()

"""``hf-train``: compose a run with Hydra, train with HF, log to MLflow.

Hydra, OmegaConf and MLflow are imported here, never by ``import hfcore``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from hfcore.build import ConfigError, RunComponents, build_run, damping_tag, solver_tag
from hfcore.checkpoint import CheckpointError, check_overwrite
from hfcore.registry import DISABLE_AUTOLOAD_ENV, Registry, UnknownComponentError, load_plugins
from hfcore.run import Run, RunInterrupted, abort_on_error, load_state
from hfcore.rundir import discard_if_unused, register_resolvers, unwritable
from hfcore.state import RunState
from hfcore.tracking import TrackingError, default_tracking_uri, open_store


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


def _resume(path: str, parts: RunComponents, cfg: Any, warnings: list[str]) -> tuple[RunState, str | None]:
    """The checkpoint's state, checked against this run's settings, and the MLflow run that wrote it; a warning
    for training settings other than the checkpoint's is added to ``warnings``."""
    from omegaconf import OmegaConf

    def same_settings(extra: dict) -> None:
        saved = extra.get("config", {})
        for section in ("model", "task"):  # the backend may change (same parameter layout), these may not
            current = OmegaConf.to_container(cfg[section], resolve=True)
            if section in saved and saved[section] != current:
                keys = sorted(k for k in set(current) | set(saved[section]) if current.get(k) != saved[section].get(k))
                raise CheckpointError(f"checkpoint {path} was written with different {section} settings "
                                      f"({', '.join(f'{section}.{k}' for k in keys)}); resume with the same ones")

    state, extra = load_state(path, parts.model, same_settings)
    if state.optimizer.name != cfg.optimizer.name:  # each optimiser reads only its own state
        raise CheckpointError(f"checkpoint {path} holds the state of optimizer={state.optimizer.name}; resume it "
                              f"with optimizer={state.optimizer.name}, not optimizer={cfg.optimizer.name}")
    differences = training_differences(extra.get("config", {}), OmegaConf.to_container(cfg, resolve=True))
    if differences:
        warnings.append(f"resuming {path} with training settings other than its own ({', '.join(differences)}): "
                        "the run goes on, but not as it would have; give its values to continue exactly "
                        "(checkpoints written before hf=is11 became the default need hf=ms2011)")
    return state, extra.get("mlflow_run_id")


def training_differences(saved: dict, current: dict) -> list[str]:
    """``section.key old -> new`` for each optimiser, damping, solver or HF setting that differs between a
    checkpoint's config and this run's. Left out: the stop keys (``max_iterations``, budgets, ...), since a resume
    may extend a run; ``damping.lambda0``, since lambda comes from the checkpoint; keys only one of the two has,
    since older checkpoints lack newer keys; HF's settings when the optimiser is first-order (it reads none)."""
    from hfcore.config import STOP_KEYS, read_by

    ignored = {f"hf.{k}" for k in STOP_KEYS} | {"damping.lambda0"}
    optimizer = (current.get("optimizer") or {}).get("name", "hf")
    found = []
    for section in ("optimizer", "damping", "solver", "hf"):
        old, new = saved.get(section) or {}, current.get(section) or {}
        for key in sorted(set(old) & set(new)):
            name = f"{section}.{key}"
            if old[key] != new[key] and name not in ignored and read_by(optimizer, name):
                found.append(f"{name} {old[key]} -> {new[key]}")
    return found


def run(cfg: Any, registry: Registry, warnings: list[str] | None = None) -> int:
    """Run one composed config; returns the process exit code. ``warnings`` are printed once the config has
    passed its checks (a refused config prints its one error line only)."""
    from hfcore.config_check import check_config

    warnings = list(warnings or ())
    state, previous_run = None, None
    try:
        check_config(cfg, registry)  # keys no schema declares (typos added with +key=), before any work
        parts = build_run(cfg, registry)
        if cfg.checkpoint.resume:
            state, previous_run = _resume(cfg.checkpoint.resume, parts, cfg, warnings)
        if parts.comm.rank == 0:
            _check_outputs(cfg, previous_run)
        if cfg.tracking.enabled:  # a store that cannot be used fails here, in seconds, not after the training
            open_store(cfg.tracking.uri or default_tracking_uri(), cfg.tracking.experiment)
    except (ConfigError, UnknownComponentError, CheckpointError, TrackingError) as exc:
        fail(str(exc))
    for warning in warnings if parts.comm.rank == 0 else ():  # once, not once per rank
        print(f"hf-train: warning: {warning}", file=sys.stderr)
    with abort_on_error(parts.comm, "hf-train"):  # the tracker is made on rank 0 only: the others must not wait
        lifecycle = _make_run(cfg, parts)
    result = lifecycle.train(state, resumed_from=cfg.checkpoint.resume, previous_run=previous_run)
    if parts.comm.rank == 0:
        print(result.line())
    else:  # rank 0 writes the run's files; this rank's Hydra folder would stay empty
        from hydra.core.hydra_config import HydraConfig

        discard_if_unused(_output_dir(), HydraConfig.get().job.name, only_own=True)
    return 0


def _checkpoint_dir(cfg: Any, output_dir: Path) -> Path:
    return Path(cfg.checkpoint.dir) if cfg.checkpoint.dir else output_dir / "checkpoints"


def _check_outputs(cfg: Any, previous_run: str | None) -> None:
    """Refuse, before any work, a run that could not save its results: an output folder it cannot write,
    or a checkpoint of another run where it would save its own."""
    output_dir = _output_dir()
    ckpt_dir = _checkpoint_dir(cfg, output_dir)
    for what, directory in (("the run folder", output_dir), ("checkpoint.dir", ckpt_dir)):
        problem = unwritable(directory)
        if problem:
            raise ConfigError(f"{what} {directory} cannot be written ({problem})")
    # A new MLflow run's id is not known yet, and matches no checkpoint's; without tracking there is none.
    run_id = (previous_run or "a new MLflow run") if cfg.tracking.enabled else None
    check_overwrite(ckpt_dir / "state.npz", run_id, cfg.seed, cfg.checkpoint.resume)


def _output_dir() -> Path:
    from hydra.core.hydra_config import HydraConfig

    return Path(HydraConfig.get().runtime.output_dir)


def _make_run(cfg: Any, parts: RunComponents) -> Run:
    """The :class:`~hfcore.run.Run` of the composed config: its folder, tracker, tags and settings."""
    from omegaconf import OmegaConf

    from hfcore.config import read_by
    from hfcore.run_naming import default_run_name
    from hfcore.tracking import MlflowTracker, NullTracker, flatten

    method = cfg.damping.name if cfg.optimizer.name == "hf" else cfg.optimizer.name
    tracker: Any = NullTracker()
    if cfg.tracking.enabled and parts.comm.rank == 0:
        tracker = MlflowTracker(cfg.tracking.uri or default_tracking_uri(), cfg.tracking.experiment,
                                cfg.tracking.run_name or default_run_name(cfg, method))
    params = flatten(OmegaConf.to_container(cfg, resolve=True))
    params["damping.lambda0_effective"] = parts.lambda0  # lambda0 null resolves to the task's default
    # a first-order run logs none of HF's settings, so runs compare in the UI on what they read
    params = {k: v for k, v in params.items() if read_by(cfg.optimizer.name, k)}
    output_dir = _output_dir()
    return Run.from_components(
        parts, seed=cfg.seed, output_dir=output_dir, checkpoint_dir=_checkpoint_dir(cfg, output_dir),
        checkpoint_every=cfg.checkpoint.every, tracker=tracker, params=params, tags=_tags(cfg, parts),
        config=OmegaConf.to_container(cfg), config_text=OmegaConf.to_yaml(cfg), progress=cfg.progress,
        log_every=cfg.tracking.log_every, blas_threads=cfg.blas_threads,
        blas_only=cfg.backend.get("threads") is not None,  # a backend with its own thread count keeps it
        label=f"task={cfg.task.name} T={cfg.task.T} seed={cfg.seed}",
        title=f"{cfg.task.name} T={cfg.task.T}, {method}, seed {cfg.seed}", program="hf-train")


def _tags(cfg: Any, parts: RunComponents) -> dict[str, str]:
    """The MLflow run's tags: the components, the code's version, the sweep and the user's own."""
    from hydra.core.hydra_config import HydraConfig

    choices = HydraConfig.get().runtime.choices
    tags = {
        "backend": cfg.backend.name, "task": cfg.task.name, "T": str(cfg.task.T), "seed": str(cfg.seed),
        "damping": damping_tag(cfg), "solver": solver_tag(cfg), "optimizer": cfg.optimizer.name, "git_sha": _git_sha(),
        "experiment": str(choices.get("experiment") or "none"),
        "parallel": parts.comm.name, "ranks": str(parts.comm.size),
    }
    if cfg.optimizer.name == "hf":  # the HF preset: a report tells runs of one damping but other rules apart
        tags["hf"] = str(choices.get("hf") or "none")
    if HydraConfig.get().mode.name == "MULTIRUN":
        tags["sweep_id"] = str(HydraConfig.get().sweep.dir)
    if cfg.tracking.parent_run_id:
        tags["mlflow.parentRunId"] = cfg.tracking.parent_run_id
    tags.update({str(k): str(v) for k, v in cfg.tracking.tags.items()})
    return tags


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

    # Hydra's own report is 8 lines and suggests +key=; a sweep's jobs are checked here, before the first starts
    problem = composition_error(sys.argv[1:], registry)
    if problem:
        fail(problem)

    @hydra.main(version_base="1.3", config_path="pkg://hfcore.conf", config_name="config")
    def _entry(cfg: Any) -> None:
        from hydra.core.hydra_config import HydraConfig

        from hfcore.config_check import unread_overrides
        from hfcore.hydra_callbacks import job_plan

        plan = job_plan(HydraConfig.get().runtime.output_dir)  # a grid sweep's job: finished, to resume, or refused
        if plan.finished_run:
            return
        if plan.refused:  # before any work: no MLflow run, the folder and its checkpoint left as they are
            fail(plan.refused)
        if plan.resume:
            cfg.checkpoint.resume = plan.resume
        unread = unread_overrides(list(HydraConfig.get().overrides.task), cfg.optimizer.name)
        warnings = [f"optimizer={cfg.optimizer.name} does not read {', '.join(unread)} (HF's settings; it reads "
                    "optimizer.* and, of hf.*, only the stop keys: max_iterations, budget_*, eval_every, "
                    "stop_on_success)"] if unread else []
        try:
            run(cfg, registry, warnings)
        except SystemExit as exc:
            if exc.code:  # a rejected invocation (hf-train: error: ...) leaves no empty run folder behind
                from hydra.core.hydra_config import HydraConfig

                # only a folder this process named (its run token): a hydra.run.dir the user gave may hold their files
                discard_if_unused(_output_dir(), HydraConfig.get().job.name, only_own=True)
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

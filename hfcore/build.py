"""Turn a composed config into the run's components, validating everything first."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from hfcore.config import fields_from
from hfcore.hf import HessianFree, HFSettings
from hfcore.interfaces import (
    Communicator,
    DeclaresCurvatureSupport,
    HasDefaultLambda0,
    HasMaxSample,
    Model,
    Optimizer,
    Task,
)
from hfcore.parallel import SerialComm, ShardedModel, launched_size
from hfcore.registry import Registry
from hfcore.training import StopRule
from hfcore.types import OUTPUT_LOSSES


class ConfigError(ValueError):
    """A config value that types cannot catch (negative T, unknown loss, ...)."""


@dataclass(frozen=True)
class RunComponents:
    """Everything a run needs, built and validated before any work starts."""

    model: Model
    task: Task
    optimizer: Optimizer
    stop: StopRule
    lambda0: float
    comm: Communicator = field(default_factory=SerialComm)


def _build(kind: str, registry: Registry, name: str, *args: Any) -> Any:
    component = registry.get(kind, name)
    try:
        return component.factory(*args)
    except (ValueError, TypeError, ImportError) as exc:
        label = f"{kind} '{name}'"
        message = str(exc)  # a plugin's own message may already name the component
        raise ConfigError(message if message.startswith(label) else f"{label}: {message}") from None


def build_run(cfg: Any, registry: Registry) -> RunComponents:
    """Build model, task, damping, solver and loop settings from ``cfg``.

    Parameters
    ----------
    cfg : TrainConfig-like
        The composed config (attribute access).
    registry : Registry
        Where components are looked up by name.

    Raises
    ------
    ConfigError
        With a one-line message naming the bad value.
    hfcore.registry.UnknownComponentError
        For a component name no plugin registered.
    """
    if cfg.seed < 0:
        raise ConfigError(f"seed must be >= 0, got {cfg.seed}")
    if cfg.blas_threads is not None and cfg.blas_threads < 1:
        raise ConfigError(f"blas_threads must be >= 1 or null, got {cfg.blas_threads}")
    task = _build("task", registry, cfg.task.name, cfg.task)
    spec = task.spec
    output = getattr(cfg.model, "output", None)
    if output is not None:
        if output not in OUTPUT_LOSSES:
            raise ConfigError(f"model.output must be one of {OUTPUT_LOSSES} or null, got '{output}'")
        spec = replace(spec, output=output)
    comm = _communicator(cfg, registry)
    definition = _build("model", registry, cfg.model.name, spec, cfg.model)
    model = _build("backend", registry, cfg.backend.name, definition, cfg.model, cfg.backend)
    lambda0 = cfg.damping.lambda0
    if lambda0 is None:  # the task's IS11 value, else IS11's general rule 0.01 * outputs
        lambda0 = task.default_lambda0 if isinstance(task, HasDefaultLambda0) else 0.01 * task.spec.n_out
    damping_cfg = _with(cfg.damping, lambda0=lambda0)
    damping = _build("damping", registry, cfg.damping.name, damping_cfg)
    solver = _build("solver", registry, cfg.solver.name, cfg.solver)
    try:
        if isinstance(solver, Optimizer):  # a complete optimiser (e.g. the SGD baseline) replaces HF
            optimizer = solver
        else:
            decay = getattr(cfg.solver, "warm_start_decay", 0.95)
            optimizer = HessianFree(damping, solver, fields_from(HFSettings, cfg.hf, warm_start_decay=decay))
        stop = fields_from(StopRule, cfg.hf)
        if (isinstance(optimizer, HessianFree) and isinstance(model, DeclaresCurvatureSupport)
                and not model.supports_curvature):
            raise ValueError(f"model '{cfg.model.name}' has no Gauss-Newton product on backend "
                             f"'{cfg.backend.name}'; train it with a first-order solver (solver=sgd) or on a "
                             f"backend that derives it from the forward map (backend=autograd)")
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    _check_batches_fit(cfg, task, optimizer)
    if cfg.checkpoint.every < 1:
        raise ConfigError(f"checkpoint.every must be >= 1, got {cfg.checkpoint.every}")
    model = _sharded(cfg, model, comm)
    return RunComponents(model, task, optimizer, stop, float(lambda0), comm)


def _check_batches_fit(cfg: Any, task: Task, optimizer: Optimizer) -> None:
    """Refuse, before any work, batch sizes larger than a task can sample (its optional ``max_sample``)."""
    limit = task.max_sample if isinstance(task, HasMaxSample) else None
    if limit is None:
        return
    if isinstance(optimizer, HessianFree):
        sizes = {"hf.gradient_batch": optimizer.settings.gradient_batch}
        if "fresh" in (optimizer.settings.backtrack_data, optimizer.settings.line_search_data):
            sizes["hf.fresh_batch"] = optimizer.settings.fresh_batch
    else:
        sizes = {"solver.batch_size": getattr(optimizer, "batch_size", 0)}
    too_big = {k: v for k, v in sizes.items() if v > limit}
    if too_big:
        settings = ", ".join(f"{k}={v}" for k, v in too_big.items())
        raise ConfigError(f"task {cfg.task.name} can sample at most {limit} sequences per batch; "
                          f"{settings} is larger (lower it, e.g. hf.gradient_batch={limit} hf.curvature_batch={limit})")


def _communicator(cfg: Any, registry: Registry) -> Communicator:
    """The run's communicator, built before the model: NCCL ranks pick their GPU first (``LOCAL_RANK``)."""
    parallel = getattr(cfg, "parallel", None)
    if parallel is None:
        return SerialComm()
    if parallel.shards is not None and parallel.shards < 1:
        raise ConfigError(f"parallel.shards must be >= 1 or null, got {parallel.shards}")
    launched = launched_size()
    if parallel.name == "serial" and launched > 1:
        raise ConfigError(f"this process is one of {launched} started by a launcher, but parallel=serial; "
                          f"add parallel=mpi (mpiexec, srun) or parallel=torch (torchrun)")
    return _build("parallel", registry, parallel.name, parallel)


def _sharded(cfg: Any, model: Model, comm: Communicator) -> Model:
    """The model, wrapped to split each batch into ``parallel.shards`` pieces when there are several."""
    parallel = getattr(cfg, "parallel", None)
    shards = comm.size if parallel is None or parallel.shards is None else parallel.shards
    if shards < comm.size:
        raise ConfigError(f"parallel.shards={shards} is fewer than the {comm.size} ranks; every rank needs a shard")
    if shards == 1:
        return model
    return ShardedModel(model, comm, shards, getattr(cfg.model, "normaliser", "targets"))


class _Overlay:
    """Attribute view of a config with a few values replaced."""

    def __init__(self, base: Any, changes: dict[str, Any]) -> None:
        self._base, self._changes = base, changes

    def __getattr__(self, name: str) -> Any:
        if name in self._changes:
            return self._changes[name]
        return getattr(self._base, name)


def _with(cfg: Any, **changes: Any) -> Any:
    return _Overlay(cfg, changes)

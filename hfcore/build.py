"""Turn a composed config into the run's components, validating everything first."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, is_dataclass, replace
from typing import Any, TypeVar

from hfcore.config import HFOptimizerConfig, StopConfig
from hfcore.hf import HessianFree
from hfcore.interfaces import (
    Communicator,
    Damping,
    DeclaresCurvatureSupport,
    HasDefaultLambda0,
    HasGradientSquares,
    HasMaxSample,
    Model,
    Optimizer,
    Task,
)
from hfcore.mixed_precision import MixedPrecisionModel
from hfcore.parallel import SerialComm, ShardedModel, launched_size
from hfcore.registry import Registry
from hfcore.state import RunState
from hfcore.training import StopRule
from hfcore.types import OUTPUT_LOSSES

T = TypeVar("T")


class ConfigError(ValueError):
    """A config value that types cannot catch (negative T, unknown loss, ...)."""


@dataclass(frozen=True)
class RunComponents:
    """Everything a run needs, built and validated before any work starts.

    ``lambda0`` is the damping's initial lambda with a null ``damping.lambda0`` resolved (logged as
    ``damping.lambda0_effective``), whatever the optimiser.
    """

    model: Model
    task: Task
    optimizer: Optimizer
    stop: StopRule
    lambda0: float
    comm: Communicator = field(default_factory=SerialComm)


def schema_instance(schema: type[T], node: Any) -> T:
    """An instance of the dataclass ``schema`` holding ``node``'s values.

    ``node`` is a composed config node (attribute access) or already a ``schema`` instance; keys it
    lacks keep the schema's defaults (a checkpoint's config written before a key existed), keys the
    schema lacks are not read (hf-train refuses them before this, :mod:`hfcore.config_check`).
    """
    if isinstance(node, schema):
        return node
    return schema(**{f.name: getattr(node, f.name) for f in fields(schema) if hasattr(node, f.name)})


def _build(kind: str, registry: Registry, name: str, *args: Any) -> Any:
    component = registry.get(kind, name)
    try:
        return component.factory(*args)
    except ConfigError:  # from a component this one builds (HF's damping), already worded
        raise
    except (ValueError, TypeError, ImportError) as exc:
        raise ConfigError(_labelled(kind, name, str(exc))) from None


def _labelled(kind: str, name: str, message: str) -> str:
    """``message`` led by ``kind 'name': `` once: a plugin's own message may already name the component,
    as the label does or by its bare name (``lstm: ...``, ``numpy backend: ...``), which the label replaces;
    a sentence with the bare name as its subject (``lstm needs ...``) gets the label as its subject."""
    label = f"{kind} '{name}'"
    if message.startswith(label):
        return message
    for own in (f"{name}: ", f"{name} {kind}: "):
        if message.startswith(own):
            return f"{label}: {message[len(own):]}"
    if message.startswith(f"{name} "):
        return f"{label} {message[len(name) + 1:]}"
    return f"{label}: {message}"


def _typed(kind: str, registry: Registry, node: Any) -> Any:
    """``node`` as an instance of the schema its component registered (as it is, for a component without one)."""
    config = registry.get(kind, node.name).config
    return node if config is None else schema_instance(type(config), node)


def resolve_lambda0(cfg: Any, task: Task) -> float:
    """``damping.lambda0``, or when it is null the task's IS11 value, else IS11's general rule 0.01 * outputs."""
    lambda0 = cfg.damping.lambda0
    if lambda0 is None:
        lambda0 = task.default_lambda0 if isinstance(task, HasDefaultLambda0) else 0.01 * task.spec.n_out
    return float(lambda0)


def _optimizer_node(cfg: Any) -> Any:
    """The ``optimizer`` node; for a config written before that group existed (a checkpoint's), the old
    ``solver=sgd`` node (same keys) or HF."""
    node = getattr(cfg, "optimizer", None)
    if node is not None:
        return node
    return cfg.solver if cfg.solver.name == "sgd" else HFOptimizerConfig()


def solver_tag(cfg: Any) -> str:
    """The run's ``solver`` tag: HF's linear solver (``cg``), or the optimiser's name for any other optimiser.

    SGD runs were tagged ``solver=sgd`` before the ``optimizer`` group existed; sweeps and summaries
    find them by that tag, so it keeps its meaning.
    """
    name = _optimizer_node(cfg).name
    return cfg.solver.name if name == "hf" else name


def damping_tag(cfg: Any) -> str:
    """The run's ``damping`` tag: HF's damping, or ``none`` for any other optimiser (which reads no damping)."""
    return cfg.damping.name if _optimizer_node(cfg).name == "hf" else "none"


@dataclass(frozen=True)
class OptimizerContext:
    """What an optimiser's factory may build from the rest of the run's config.

    Parameters
    ----------
    cfg : TrainConfig-like
        The composed run config.
    registry : Registry
        Where the components are looked up.
    task : Task
        The run's task (for a null ``damping.lambda0``).
    """

    cfg: Any
    registry: Registry
    task: Task

    def schema(self, group: str, schema: type[T]) -> T:
        """The top-level node ``group`` (e.g. ``hf``) as an instance of ``schema``."""
        return schema_instance(schema, getattr(self.cfg, group))

    def component(self, kind: str) -> Any:
        """The component of group ``kind`` (e.g. ``solver``) that the config selects, built from its schema."""
        node = getattr(self.cfg, kind)
        return _build(kind, self.registry, node.name, _typed(kind, self.registry, node))

    def damping(self) -> Damping:
        """The damping the config selects, with a null ``damping.lambda0`` resolved (:func:`resolve_lambda0`)."""
        node = _typed("damping", self.registry, self.cfg.damping)
        node = replace(node, lambda0=resolve_lambda0(self.cfg, self.task)) if is_dataclass(node) else node
        return _build("damping", self.registry, self.cfg.damping.name, node)


def build_run(cfg: Any, registry: Registry) -> RunComponents:
    """Build model, task, optimiser (with HF's damping and solver) and stop rule from ``cfg``.

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
    node = _optimizer_node(cfg)
    optimizer = _build("optimizer", registry, node.name, _typed("optimizer", registry, node),
                       OptimizerContext(cfg, registry, task))
    try:
        stop = StopRule(schema_instance(StopConfig, cfg.hf))
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    if optimizer.needs_curvature and isinstance(model, DeclaresCurvatureSupport) and not model.supports_curvature:
        raise ConfigError(f"model '{cfg.model.name}' has no Gauss-Newton product on backend "
                          f"'{cfg.backend.name}'; train it with a first-order optimizer (optimizer=adam or "
                          f"optimizer=sgd) or on a backend that derives it from the forward map (backend=autograd)")
    if getattr(optimizer, "needs_gradient_squares", False) and not isinstance(model, HasGradientSquares):
        raise ConfigError(f"hf.preconditioner=empirical_fisher needs per-sequence gradient squares, which model "
                          f"'{cfg.model.name}' on backend '{cfg.backend.name}' does not compute; they are available "
                          f"for model=rnn_tanh and model=linear on backend=numpy (or set hf.preconditioner=none)")
    _check_batches_fit(cfg, task, optimizer)
    if cfg.checkpoint.every < 1:
        raise ConfigError(f"checkpoint.every must be >= 1, got {cfg.checkpoint.every}")
    model = _with_float32_twin(cfg, registry, definition, model, optimizer)
    model = _sharded(cfg, model, comm)
    return RunComponents(model, task, optimizer, stop, resolve_lambda0(cfg, task), comm)


def _check_batches_fit(cfg: Any, task: Task, optimizer: Optimizer) -> None:
    """Refuse, before any work, batch sizes larger than a task can sample (its optional ``max_sample``)."""
    limit = task.max_sample if isinstance(task, HasMaxSample) else None
    if limit is None:
        return
    too_big = {k: v for k, v in optimizer.batch_sizes().items() if v > limit}
    if too_big:
        settings = ", ".join(f"{k}={v}" for k, v in too_big.items())
        fixes = [f"{k}={limit}" for k in too_big]
        if "hf.gradient_batch" in too_big:  # the curvature batch is the gradient batch's head
            fixes.append(f"hf.curvature_batch={limit}")
        verb = "is" if len(too_big) == 1 else "are"
        raise ConfigError(f"task {cfg.task.name} can sample at most {limit} sequences per batch; "
                          f"{settings} {verb} larger (lower it, e.g. {' '.join(fixes)})")


def load_run(path: str | os.PathLike, registry: Registry | None = None) -> tuple[RunState, RunComponents]:
    """The run a checkpoint was written by, rebuilt to look into: its state and its components.

    The components come from the config the checkpoint saved (:func:`build_run`; a key added since keeps its
    default), with ``parallel`` set to one process so that a checkpoint of a data-parallel run loads without
    its launcher (its ``parallel.shards`` are kept; they do not change what the model computes). The
    state's vectors are converted for the model's backend.

    Parameters
    ----------
    path : str or PathLike
        A checkpoint written by ``hf-train`` or :class:`hfcore.run.Run` (``checkpoints/state.npz``).
    registry : Registry, optional
        Where the components are looked up; by default every installed plugin's
        (:func:`hfcore.registry.load_plugins`).

    Returns
    -------
    (RunState, RunComponents)
        ``state.theta`` holds the trained parameters: e.g. ``hfcore.hf.evaluate(parts.model, parts.task,
        state.theta, parts.task.test_batch())`` scores them on the task's test set.

    Raises
    ------
    hfcore.checkpoint.CheckpointError
        The file is missing, not a checkpoint, or saved no config (a checkpoint written by hand with
        :func:`hfcore.checkpoint.save_checkpoint` and no ``config`` in its ``extra``).
    ConfigError
        The saved config names an impossible value (as for :func:`build_run`).

    Examples
    --------
    >>> from hfcore.build import load_run  # doctest: +SKIP
    >>> state, parts = load_run("multirun/figure3_full/ms2011_addition-T100-structural-s0/checkpoints/state.npz")
    """
    from omegaconf import OmegaConf

    from hfcore.checkpoint import CheckpointError, load_checkpoint
    from hfcore.registry import load_plugins

    state, extra = load_checkpoint(path)
    config = extra.get("config")
    if not isinstance(config, dict):
        raise CheckpointError(f"{path} saved no config, so the run it belongs to cannot be rebuilt from it")
    parallel = {**config.get("parallel", {}), "name": "serial"}
    parts = build_run(OmegaConf.create({**config, "parallel": parallel}),
                      registry if registry is not None else load_plugins()[1])
    return state.map_vectors(parts.model.from_numpy), parts


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


class _Float32Backend:
    """A backend config node read as it is, but with ``dtype`` float32 (the twin's)."""

    def __init__(self, node: Any) -> None:
        self._node = node
        self.dtype = "float32"

    def __getattr__(self, name: str) -> Any:
        return getattr(self._node, name)


def _with_float32_twin(cfg: Any, registry: Registry, definition: Any, model: Model, optimizer: Optimizer) -> Model:
    """The model paired with a float32 twin from the same backend when ``hf.float32_gv_above_lambda`` is set.

    It is paired before sharding: the sharded model then cuts the twin's products into the same shards.
    """
    threshold = getattr(cfg.hf, "float32_gv_above_lambda", None)
    if threshold is None:
        return model
    if not isinstance(optimizer, HessianFree):
        raise ConfigError(f"hf.float32_gv_above_lambda={threshold} applies to optimizer=hf only; "
                          f"optimizer={_optimizer_node(cfg).name} computes no Gv products (leave it null)")
    if cfg.backend.dtype != "float64":
        raise ConfigError(f"hf.float32_gv_above_lambda={threshold} switches float64 Gv products to float32, but "
                          f"backend.dtype={cfg.backend.dtype} (use backend.dtype=float64, or leave the key null)")
    low = _build("backend", registry, cfg.backend.name, definition, cfg.model, _Float32Backend(cfg.backend))
    return MixedPrecisionModel(model, low)

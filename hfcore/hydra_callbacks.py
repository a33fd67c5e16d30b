"""Hydra callbacks used by ``hf-train``."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback

from hfcore.kit.definitions import FORGET_BIAS

log = logging.getLogger("hfcore.sweep")


class PrepareTrackingStore(Callback):
    """Create the MLflow store and experiment once, before a sweep's jobs start.

    Parallel jobs (joblib, SLURM) racing to initialise a fresh sqlite store
    corrupt its schema migration (mlflow #19943); doing it first avoids that.
    A store that cannot be used stops the sweep here, with one line, before any job starts.
    """

    def on_multirun_start(self, config: Any, **kwargs: Any) -> None:
        if not config.tracking.enabled:
            return
        from hfcore.tracking import TrackingError, default_tracking_uri, open_store

        try:
            open_store(config.tracking.uri or default_tracking_uri(), config.tracking.experiment)
        except TrackingError as exc:
            print(f"hf-train: error: {exc}", file=sys.stderr)
            raise SystemExit(2) from None


class CheckRunFolder(Callback):
    """Refuse, in one line and before Hydra creates it, a run folder that cannot be written.

    Without it Hydra's own ``mkdir`` fails with a traceback (a path inside a regular file, a
    read-only file system); ``hf-train`` reports bad input as ``hf-train: error: ...``, exit 2.
    """

    def on_run_start(self, config: Any, **kwargs: Any) -> None:
        self._check("hydra.run.dir", config.hydra.run.dir)

    def on_multirun_start(self, config: Any, **kwargs: Any) -> None:
        self._check("hydra.sweep.dir", config.hydra.sweep.dir)

    @staticmethod
    def _check(key: str, directory: str) -> None:
        import sys
        from pathlib import Path

        from hfcore.rundir import unwritable

        problem = unwritable(Path(directory))
        if problem:
            print(f"hf-train: error: {key} {directory} cannot be written ({problem})", file=sys.stderr)
            raise SystemExit(2)


# The config keys that do not change what a run computes: a finished run with other values for them is the same run.
_NOT_IDENTITY = ("progress", "blas_threads", "tracking.", "checkpoint.")

# Keys added to a schema after runs were logged, with the value (as logged) that computes what those runs computed:
# a finished run that did not log one of them had that value (a dict: the value for the run's model.name).
ADDED_KEYS: dict[str, str | dict[str, str]] = {
    "optimizer.nesterov": "False", "task.eval_split": "test", "hf.preconditioner": "none",
    "hf.preconditioner_power": "0.75", "hf.float32_gv_above_lambda": "None", "hf.budget_clock": "wall",
    # the LSTM's and the GRU's damped signals, per model; a list logs one param per index
    "model.damped_signals.0": {"lstm": "cell_inputs", "gru": "update"},
    "model.damped_signals.1": {"lstm": "gates", "gru": "reset"}, "model.damped_signals.2": {"gru": "candidate"},
    "model.forget_bias": {"lstm": str(FORGET_BIAS)}}


def added_defaults(params: dict[str, str]) -> dict[str, str]:
    """The :data:`ADDED_KEYS` values that apply to a run that logged ``params`` (by its ``model.name``)."""
    model = params.get("model.name", "")
    found = {k: v if isinstance(v, str) else v.get(model) for k, v in ADDED_KEYS.items()}
    return {k: v for k, v in found.items() if v is not None}


@dataclass(frozen=True)
class JobPlan:
    """What :class:`SkipFinishedRuns` decided for one job of a grid sweep.

    ``finished_run`` is the id of a FINISHED MLflow run with this job's config (the job is skipped);
    ``resume`` is the checkpoint in the job's own folder of a run stopped part-way (the job goes on from it);
    ``refused`` says why the job stops before any work (that checkpoint was written with another config).
    """

    finished_run: str | None = None
    resume: str | None = None
    refused: str | None = None  # why the job must not start: its folder's checkpoint has another config


_PLANS: dict[str, JobPlan] = {}


def job_plan(output_dir: str | Path) -> JobPlan:
    """The plan :class:`SkipFinishedRuns` made for the job whose Hydra folder is ``output_dir`` (empty if none)."""
    return _PLANS.get(str(Path(output_dir).absolute()), JobPlan())


def _identity_key(key: str, optimizer: str) -> bool:
    """Whether ``key`` changes what a run with ``optimizer`` computes: it is not under one of ``_NOT_IDENTITY``,
    and the optimiser reads it (:func:`hfcore.config.read_by`: a first-order run reads no HF setting)."""
    from hfcore.config import read_by

    return not any(key == p or key.startswith(p) for p in _NOT_IDENTITY) and read_by(optimizer, key)


def _job_container(config: Any) -> dict[str, Any]:
    """A job's config as plain resolved containers, without the hydra node (the task function's has none)."""
    from omegaconf import OmegaConf

    return OmegaConf.to_container(OmegaConf.masked_copy(config, [k for k in config if k != "hydra"]), resolve=True)


def run_identity(config: Any) -> dict[str, str]:
    """A job's config as the MLflow params its run logs (``str``, dotted keys), less the keys in ``_NOT_IDENTITY``."""
    from hfcore.tracking import flatten

    # The tracker logs str(value)[:6000] (hfcore.tracking); compare the same strings.
    return {k: str(v)[:6000] for k, v in flatten(_job_container(config)).items()
            if _identity_key(k, config.optimizer.name)}


def list_keys(config: Any) -> frozenset[str]:
    """The dotted keys of ``config`` whose values are lists (empty ones too), less the keys in ``_NOT_IDENTITY``.

    A list is logged one param per index (``model.damped_signals.0``, ...), an empty one as ``[]`` under its
    own key (runs logged before that logged nothing for it), so a run's keys beyond the job's must be read as
    part of the list; :func:`identity_differences` needs these keys.
    """
    def walk(node: Any, prefix: str) -> list[str]:
        if isinstance(node, dict):
            return [k for key, value in node.items() for k in walk(value, f"{prefix}{key}.")]
        return [prefix[:-1]] if isinstance(node, list) else []

    return frozenset(k for k in walk(_job_container(config), "") if _identity_key(k, config.optimizer.name))


def with_added_defaults(params: dict[str, str], lists: Iterable[str] | None = None) -> dict[str, str]:
    """``params`` with the :data:`ADDED_KEYS` value of each key added since the run logged them; a list's
    defaults only when the run logged none of that list's index keys (it ran with a list of its own).

    ``lists`` are the list keys (``model.damped_signals``); by default those of :data:`ADDED_KEYS`.
    """
    if lists is None:
        lists = {k.rpartition(".")[0] for k in ADDED_KEYS if k.rpartition(".")[2].isdigit()}
    logged = frozenset(p for p in lists if any(_in_list(k, (p,)) for k in params))
    defaults = {k: v for k, v in added_defaults(params).items() if not _in_list(k, logged)}
    return {**defaults, **params}


def _in_list(key: str, lists: Iterable[str]) -> bool:
    """Whether ``key`` is an index key (``<list>.<i>``, or below one) of one of the lists ``lists``, or the key
    of one of them that was empty (logged as ``[]``, :func:`hfcore.tracking.flatten`)."""
    return any(key == p or key.startswith(f"{p}.") and key[len(p) + 1:].split(".")[0].isdigit() for p in lists)


def identity_differences(identity: dict[str, str], lists: frozenset[str],
                         params: dict[str, str]) -> list[tuple[str, str | None, str | None]]:
    """Where a run's logged params (or a checkpoint's config, flattened alike) differ from a job's identity.

    Parameters
    ----------
    identity : dict
        The job's :func:`run_identity`.
    lists : frozenset of str
        The job's :func:`list_keys`: these lists compare whole (length and items), not by the job's indices.
    params : dict
        The run's params; read in today's layout (:func:`params_today`), a key it could not have logged
        ignored, and a key added after it was logged taken as its :data:`ADDED_KEYS` value (a list's
        defaults only when the run logged none of that list's index keys).

    Returns
    -------
    list of (key, old, new)
        The run's value and the job's (None: absent) of each key that differs, the job's keys first, in
        the job's order; empty when the run computed what the job computes.
    """
    params, unlogged = params_today(params)
    params = with_added_defaults(params, lists)
    keys = list(identity) + [k for k in params if k not in identity and _in_list(k, lists)]
    return [(k, params.get(k), identity.get(k)) for k in keys
            if not (unlogged and k.startswith(unlogged)) and params.get(k) != identity.get(k)]


def params_today(params: dict[str, str]) -> tuple[dict[str, str], tuple[str, ...]]:
    """A run's logged params in today's config layout, and the key prefixes it could not have logged.

    Runs from before the ``optimizer`` group logged SGD's keys as ``solver.*`` (``solver=sgd``) and HF's
    warm-start decay as ``solver.warm_start_decay``; an SGD run then had no ``solver=cg`` keys.
    """
    if "optimizer.name" in params:
        return params, ()
    today = dict(params)
    if today.get("solver.name") == "sgd":
        for key in [k for k in today if k.startswith("solver.")]:
            today["optimizer." + key.removeprefix("solver.")] = today.pop(key)
        return today, ("solver.", "hf.warm_start_decay")
    today["optimizer.name"] = "hf"
    if "solver.warm_start_decay" in today:
        today["hf.warm_start_decay"] = today.pop("solver.warm_start_decay")
    return today, ()


def find_finished_run(uri: str, experiment: str, config: Any, sweep: str, choice: str) -> str | None:
    """The id of a FINISHED run of sweep ``sweep`` whose params equal ``config``'s identity, or None.

    The tags narrow the search (``sweep``, ``experiment``, task, T, seed, damping, solver); the params decide,
    so a grid whose values changed (batches, budget, model) runs again under the same sweep name.
    """
    from mlflow.tracking import MlflowClient

    from hfcore.build import damping_tag, solver_tag

    client = MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name(experiment)
    if exp is None:
        return None
    tags = {"sweep": sweep, "experiment": choice, "task": config.task.name, "T": config.task.T,
            "seed": config.seed, "solver": solver_tag(config)}
    if config.optimizer.name == "hf":  # first-order runs were tagged with the unread default damping before "none"
        tags["damping"] = damping_tag(config)
    query = " and ".join([f"tags.`{k}` = '{v}'" for k, v in tags.items()] + ["attributes.status = 'FINISHED'"])
    identity, lists = run_identity(config), list_keys(config)
    for run in client.search_runs([exp.experiment_id], filter_string=query, order_by=["start_time DESC"]):
        if not identity_differences(identity, lists, run.data.params):
            return run.info.run_id
    return None


def checkpoint_mismatch(checkpoint: Path, config: Any, folder: Path) -> str | None:
    """Why a grid job must not resume ``checkpoint``: it was written with another config; None if the same.

    Parameters
    ----------
    checkpoint : Path
        The checkpoint found in the job's folder.
    config : DictConfig
        The job's config, compared with the config saved in the checkpoint by :func:`identity_differences`
        (the keys in ``_NOT_IDENTITY`` ignored, a key added since by its :data:`ADDED_KEYS` value).
    folder : Path
        The job's folder, named in the message.

    Returns
    -------
    str or None
        One line naming the folder, the first differing keys (old -> new) and what to do. None also
        for an unreadable checkpoint: the resume itself reports that, in one line.
    """
    from hfcore.checkpoint import CheckpointError, load_checkpoint
    from hfcore.tracking import flatten

    try:
        _, extra = load_checkpoint(checkpoint)  # the saved config in today's model layout
    except CheckpointError:
        return None
    saved = {k: str(v)[:6000] for k, v in flatten(extra.get("config", {})).items()}  # as run_identity's values
    differences = identity_differences(run_identity(config), list_keys(config), saved)
    if not differences:
        return None
    shown = ", ".join(f"{k}: {old} -> {new}" for k, old, new in differences[:3])
    more = f" and {len(differences) - 3} more" if len(differences) > 3 else ""
    return (f"{folder} holds the checkpoint {checkpoint} of a run with another config ({shown}{more}); "
            "this job does not resume it: move that folder away, or run the grid with another hydra.sweep.dir")


class SkipFinishedRuns(Callback):
    """In a grid sweep, skip each job whose run already finished and resume each one stopped part-way.

    A job takes part when it runs in ``--multirun`` with the tag ``tracking.tags.sweep`` (the grids of
    ``conf/sweep/`` set it; a plain ``--multirun`` is left alone). Before the job starts (``on_job_start``,
    in the process that runs it, whatever the launcher), this callback looks in the tracking store for a
    FINISHED run with the same sweep tag and the same config (:func:`find_finished_run`), and otherwise for
    a checkpoint in the job's folder (stable across reruns: a grid's ``hydra.sweep.dir`` is named by the
    grid, its subdir by the job). It records the decision as a :class:`JobPlan`, which ``hf-train``'s task
    function reads (:func:`job_plan`): it returns at once for a finished run, or sets
    ``checkpoint.resume`` (only to a checkpoint saved with this job's config, :func:`checkpoint_mismatch`;
    another config stops the job before any work). A Hydra callback cannot change the config the task
    function gets (Hydra hands it a copy made before ``on_job_start``), hence the plan.
    """

    def on_job_start(self, config: Any, **kwargs: Any) -> None:
        from hydra.types import RunMode

        sweep = config.tracking.tags.get("sweep")
        if config.hydra.mode != RunMode.MULTIRUN or not sweep:
            return
        output_dir = Path(config.hydra.runtime.output_dir).absolute()
        finished = None
        if config.tracking.enabled:
            from hfcore.tracking import default_tracking_uri

            uri = config.tracking.uri or default_tracking_uri()
            finished = find_finished_run(uri, config.tracking.experiment, config, str(sweep),
                                         str(config.hydra.runtime.choices.get("experiment") or "none"))
        checkpoint = Path(config.checkpoint.dir or output_dir / "checkpoints") / "state.npz"
        resume = str(checkpoint) if not finished and not config.checkpoint.resume and checkpoint.exists() else None
        refused = checkpoint_mismatch(checkpoint, config, output_dir) if resume else None
        _PLANS[str(output_dir)] = JobPlan(finished, None if refused else resume, refused)
        if finished:
            log.info("skipped: run %s of sweep %s finished with this config", finished, sweep)
        elif resume and not refused:
            log.info("resuming the run stopped part-way from %s", resume)

"""Hydra's composition errors as one line, before ``hydra.main`` prints them in eight.

Hydra reports a bad override (an unknown key, a value of the wrong type, a missing group option, a
grammar error) in several lines and exits 1; its advice for an unknown key is ``+key=``, which adds
the typo instead. :func:`composition_error` composes the command line's overrides once with Hydra's
compose API and turns the same errors into one line with the nearest valid key, so ``hf-train``
can refuse them like any other bad input (exit 2) before anything is written.

With ``--multirun`` it checks the sweep's jobs (:func:`sweep_error`), Hydra's grid of the command line's
sweeps and the config's ``hydra.sweeper.params``: each is composed and given the build checks a single
run gets (:func:`hfcore.build.build_run`), so a bad value stops the sweep before its first job, not when
its own job comes.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from hfcore.registry import Registry

FLAGS_WITH_MEANING = ("-", "--")
"""Any flag other than ``--multirun``/``-m`` (help, --cfg, --config-name, ...) leaves the command to Hydra."""


def _first_line(text: str) -> str:
    return next((ln.strip() for ln in text.splitlines() if ln.strip()), text.strip())


def _is_hydras(key: str) -> bool:
    """``hydra.*`` and ``hydra/*`` overrides configure Hydra, not the run."""
    key = key.lstrip("+~")
    return key == "hydra" or key.startswith(("hydra.", "hydra/"))


class SweepValueError(ValueError):
    """A sweep override that no job can be made of (a ``glob`` matching nothing, ``interval`` on the basic
    sweeper); its message is the one line ``hf-train`` prints."""


def _single_job(overrides: list[str], multirun: bool = True) -> list[str]:
    """The first job of a sweep: each sweep override (``seed=0,1``) replaced by its first value, an
    ``interval(a, b)`` (sampled by its sweeper: Optuna, Ax, Nevergrad) by ``a``.

    ``hydra.*`` and ``hydra/*`` overrides (:func:`_is_hydras`) are kept, so a missing launcher or a mistyped
    Hydra key is reported like any other; sweeping them is refused, as Hydra refuses it. Without
    ``multirun`` a sweep override is refused (Hydra's own report is five lines).
    """
    from hydra.core.override_parser.types import IntervalSweep, ValueType

    job = []
    for override in _parser().parse_overrides(overrides):
        key = override.get_key_element()
        sweep = override.is_sweep_override()
        if sweep and not multirun:
            text = override.input_line.partition("=")[2]
            as_list = f" (a list is {key}=[{text}])" if override.value_type == ValueType.SIMPLE_CHOICE_SWEEP else ""
            raise SweepValueError(f"{override.input_line} is a sweep: add --multirun to run one job per value{as_list}")
        if sweep and _is_hydras(key):
            raise SweepValueError(f"{override.input_line}: Hydra's own settings take one value per command "
                                  "(sweep the run's keys instead)")
        if isinstance(override.value(), IntervalSweep):
            job.append(f"{key}={override.value().start}")
        elif sweep:
            first = next(iter(override.sweep_string_iterator()), None)
            if first is None:
                raise SweepValueError(f"the sweep {override.input_line} has no values (a glob matching no option, an "
                                      "empty range)")
            job.append(f"{key}={first}")
        else:
            job.append(override.input_line)
    return job


def _parser() -> Any:
    """Hydra's override parser, with the config loader that ``glob(...)`` sweeps need to list a group's options
    (inside :func:`_hydra`, as the sweeper has it)."""
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.override_parser.overrides_parser import OverridesParser

    return OverridesParser.create(config_loader=GlobalHydra.instance().config_loader())


@contextmanager
def _hydra() -> Iterator[None]:
    """Hydra's compose API on hf-train's configs, for every :func:`_compose` inside (initialised once)."""
    from hydra import initialize_config_module
    from hydra.core.global_hydra import GlobalHydra

    if GlobalHydra.instance().is_initialized():
        yield
        return
    with initialize_config_module("hfcore.conf", version_base="1.3"):
        yield


def _compose(overrides: list[str], hydra_node: bool = False) -> Any:
    """The config of ``overrides``; ``hydra_node``: with Hydra's own node (the sweeper's params, the choices)."""
    from hydra import compose

    with _hydra():
        return compose("config", overrides=overrides, return_hydra_config=hydra_node)


def _describe(exc: Exception, overrides: list[str], registry: Registry) -> str:
    """One line for one of Hydra's composition errors."""
    from hydra.errors import MissingConfigException, OverrideParseException
    from omegaconf.errors import ConfigAttributeError, ConfigKeyError, ValidationError

    from hfcore.config_check import unknown_key_message

    cause = exc.__cause__
    if isinstance(exc, OverrideParseException):
        lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip() and not ln.startswith("See https")]
        return "bad override: " + "; ".join(lines)
    if isinstance(exc, MissingConfigException):
        # "In 'config': Could not find 'task/nope'" followed by the group's options, one per line.
        text = str(exc)
        missing = _first_line(text).rpartition("Could not find ")[2].strip("'")
        group, _, option = missing.rpartition("/")
        options = [ln.strip() for ln in text.split("Available options in", 1)[-1].splitlines()[1:]
                   if ln.startswith("\t") and "=" not in ln]
        if (group, option) == ("solver", "sgd"):  # SGD was a solver before the optimizer group existed
            return "solver=sgd is now optimizer=sgd (its options are optimizer.<key>, e.g. optimizer.learning_rate)"
        if group and options:
            return f"no {group} '{option}'; the options are {', '.join(options)}{_install_hint(group, option)}"
        return _first_line(text)
    full_key = getattr(cause, "full_key", None)
    if isinstance(cause, (ConfigAttributeError, ConfigKeyError)) and full_key:
        keys = {o: o.split("=", 1)[0].lstrip("+~") for o in overrides}
        bad = [o for o, k in keys.items() if k == full_key or k.startswith(f"{full_key}.")]
        try:
            root = _compose([o for o in overrides if o not in bad], hydra_node=_is_hydras(full_key))
        except Exception:
            return f"unknown key '{full_key}'"
        if _is_hydras(full_key):
            return _unknown_hydra_key(root, full_key)
        return unknown_key_message(root, full_key, registry)
    if isinstance(cause, ValidationError) and full_key:
        return f"bad value for {full_key}: {_first_line(str(cause))}"
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    if len(lines) > 1 and lines[0].endswith("raised while composing config:"):  # a config file's key, e.g. a sweep's
        return f"{lines[0].partition(': ')[0]}: {lines[1]}"
    return _first_line(str(exc))


HYDRA_PLUGINS = {"hydra/launcher": {"joblib": "hfcore[sweep]", "submitit_local": "hfcore[sweep]",
                                     "submitit_slurm": "hfcore[sweep]", "ray": "hydra-ray-launcher",
                                     "rq": "hydra-rq-launcher"},
                 "hydra/sweeper": {"optuna": "hydra-optuna-sweeper", "ax": "hydra-ax-sweeper",
                                   "nevergrad": "hydra-nevergrad-sweeper"}}
"""The package that brings each of Hydra's launchers and sweepers a user is likely to name."""


def _install_hint(group: str, option: str) -> str:
    """Where a launcher or sweeper a user named comes from (``" (hydra/sweeper=optuna comes with pip install
    'hydra-optuna-sweeper')"``), for the options of :data:`HYDRA_PLUGINS`; else ``""``."""
    package = HYDRA_PLUGINS.get(group, {}).get(option)
    return f" ({group}={option} comes with pip install '{package}')" if package else ""


def _unknown_hydra_key(root: Any, full_key: str) -> str:
    """One line for a key that Hydra's own config (``root.hydra``) lacks, naming the nearest one it has."""
    import difflib

    from omegaconf import DictConfig, OmegaConf

    parent, _, key = full_key.lstrip("+~").rpartition(".")
    node = OmegaConf.select(root, parent)
    declared = [str(k) for k in node.keys()] if isinstance(node, DictConfig) else []
    close = difflib.get_close_matches(key, declared, n=1, cutoff=0.6)
    hint = f"; did you mean '{parent}.{close[0]}'?" if close else (
        f"; its keys are {', '.join(declared)}" if declared else "")
    group = parent.replace(".", "/")
    chosen = root.hydra.runtime.choices.get(group) if group in HYDRA_PLUGINS else None
    where = f"{parent} (of {group}={chosen})" if chosen else parent  # n_jobs is joblib's, not the basic launcher's
    owners = _options_with_key(group, parent, key) if chosen and not close else []
    if owners:
        hint = f"; it is a key of {' and '.join(f'{group}={o}' for o in owners)}"
    return f"unknown key '{full_key}': {where} has no key '{key}'{hint}"


def _options_with_key(group: str, parent: str, key: str) -> list[str]:
    """The installed options of Hydra's ``group`` (``hydra/launcher``) whose config has ``parent.key``."""
    from hydra.core.global_hydra import GlobalHydra
    from omegaconf import DictConfig, OmegaConf

    owners = []
    for option in GlobalHydra.instance().config_loader().get_group_options(group):
        node = OmegaConf.select(_compose([f"{group}={option}"], hydra_node=True), parent)
        if isinstance(node, DictConfig) and key in node:
            owners.append(option)
    return owners


def composition_error(argv: list[str], registry: Registry) -> str | None:
    """Hydra's error for composing ``argv``'s overrides, as one line, or None when they compose.

    With ``--multirun``, also why a job of the sweep would be refused before its work (:func:`sweep_error`).

    Parameters
    ----------
    argv : list of str
        ``hf-train``'s arguments. With a flag other than ``--multirun``/``-m`` nothing is checked
        (Hydra's own commands and config-path options are Hydra's business).
    registry : Registry
        The loaded plugins, to name the option of a group that declares an unknown key.

    Returns
    -------
    str or None
        The message (no ``hf-train: error:`` prefix), or None.
    """
    from hydra.errors import HydraException

    if any(a.startswith(FLAGS_WITH_MEANING) and a not in ("--multirun", "-m") for a in argv):
        return None
    overrides = [a for a in argv if not a.startswith("-")]
    multirun = "--multirun" in argv or "-m" in argv
    with _hydra():
        try:
            job = _single_job(overrides, multirun)
        except SweepValueError as exc:
            return str(exc)
        except HydraException as exc:
            return _describe(exc, overrides, registry)
        try:
            master = _compose(job, hydra_node=True)
        except HydraException as exc:
            return _describe(exc, job, registry)
        except Exception as exc:  # noqa: BLE001 - OmegaConf's assertions (a key under an unset node) reach here bare
            return _culprit(exc, job)
        if multirun:
            return sweep_error(master, overrides, registry)
    return None


def _culprit(exc: Exception, job: list[str]) -> str:
    """One line for an error that Hydra did not wrap, naming the first override that fails alone."""
    from omegaconf import OmegaConf

    for override in job:
        try:
            _compose([override], hydra_node=True)
        except Exception:  # noqa: BLE001 - the same unwrapped errors
            root = _compose([], hydra_node=True)
            parts = override.partition("=")[0].lstrip("+~").split(".")
            unset = next((".".join(parts[:i]) for i in range(1, len(parts))
                          if OmegaConf.select(root, ".".join(parts[:i]), default="?") is None), None)
            if unset:
                return f"{override} cannot be applied: {unset} is null here, so it has no key to set"
            return f"{override} cannot be applied: {_first_line(str(exc)) or type(exc).__name__}"
    return f"the overrides do not compose: {_first_line(str(exc)) or type(exc).__name__}"


SMALL_GRID = 12
"""A sweep of at most this many jobs is checked job by job; a larger one value by value (:func:`_jobs_to_check`)."""


def _grid(master: Any, overrides: list[str]) -> list[list[str]] | None:
    """The sweep's jobs as Hydra's basic sweeper makes them, each a list of ``key=value`` overrides; None for
    another sweeper (its jobs are its own business) or one set on the command line.

    Like the sweeper: the config's ``hydra.sweeper.params`` (a grid of ``conf/sweep/``) first, then the
    command line's overrides, which replace a param of the same key; the jobs are their product.
    """
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper

    keys = {o.split("=", 1)[0].lstrip("+~"): o.split("=", 1)[-1] for o in overrides}
    # another sweeper, or the sweeper's settings given on the command line (the first job is composed without
    # them): Hydra's business
    if keys.get("hydra/sweeper", "basic") != "basic" or any(k.startswith("hydra.sweeper") for k in keys):
        return None
    from hydra.core.override_parser.types import IntervalSweep

    params = master.hydra.sweeper.get("params") or {}
    arguments = [f"{k}={v}" for k, v in params.items()]
    arguments += [o for o in overrides if not _is_hydras(o.split("=", 1)[0])]
    parsed = _parser().parse_overrides(arguments)
    for override in parsed:
        if isinstance(override.value(), IntervalSweep):
            raise SweepValueError(f"{override.input_line}: an interval is sampled by a sweeper that samples "
                                  "(e.g. hydra/sweeper=optuna, from hydra-optuna-sweeper); the basic sweeper takes "
                                  "lists (a,b), range() and glob()")
    return BasicSweeper.split_arguments(parsed, None)[0]


def _jobs_to_check(jobs: list[list[str]]) -> list[list[str]]:
    """Every job of a small sweep; of a larger one, the first job and each swept value once, with the other
    swept keys at their first values.

    Composing a job takes ~0.1 s and building it as much again: the 320 jobs of ``sweep=figure3_full``
    would take a minute (Hydra composes each once more before launching). A bad value fails in its own
    job, which this finds (figure3_full: 16 jobs); only a bad combination of good values is left to its
    own job to refuse.
    """
    if len(jobs) <= SMALL_GRID:
        return jobs
    first = jobs[0]
    axes = [i for i in range(len(first)) if any(job[i] != first[i] for job in jobs)]
    chosen = [first]
    for i in axes:
        for job in jobs:
            if job not in chosen and all(job[j] == first[j] for j in axes if j != i):
                chosen.append(job)
    return chosen


def _build_problem(job: list[str], registry: Registry) -> tuple[str | None, dict[str, Any]]:
    """Why ``job`` would be refused before its work (its composition, then the checks of a single run), or
    None; and its config groups' choices (empty when it does not compose)."""
    from hydra.errors import HydraException
    from omegaconf import open_dict

    from hfcore.build import ConfigError, build_run
    from hfcore.config_check import check_config
    from hfcore.registry import UnknownComponentError

    try:
        cfg = _compose(job, hydra_node=True)
    except HydraException as exc:
        return _describe(exc, job, registry), {}
    choices = dict(cfg.hydra.runtime.choices)
    with open_dict(cfg):
        del cfg["hydra"]  # as Hydra hands the run its config
    try:
        check_config(cfg, registry)
        if cfg.parallel.name == "serial":  # a communicator would wait for its launcher's other ranks
            build_run(cfg, registry)
    except (ConfigError, UnknownComponentError) as exc:
        return str(exc), choices
    return None, choices


def _tied_groups(checked: list[list[str]], choices: list[dict[str, Any]]) -> set[str]:
    """The config groups whose option follows two or more swept keys at once: an option chosen by name from
    the swept ones (``adam_tuned_lr: ${...method}-${...problem}`` of ``sweep=gated_compare``).

    Read from ``checked``'s jobs that differ from the first in one swept key each (:func:`_jobs_to_check`).
    """
    followed: dict[str, set[int]] = {}
    first, base = checked[0], choices[0]
    for job, theirs in zip(checked[1:], choices[1:], strict=True):
        changed = [i for i, (a, b) in enumerate(zip(job, first, strict=True)) if a != b]
        if len(changed) != 1 or not theirs:
            continue
        for group in set(base) | set(theirs):
            if not group.startswith("hydra/") and base.get(group) != theirs.get(group):
                followed.setdefault(group, set()).add(changed[0])
    return {g for g, keys in followed.items() if len(keys) >= 2}


def sweep_error(master: Any, overrides: list[str], registry: Registry) -> str | None:
    """Why a job of the ``--multirun`` sweep would be refused, as one line naming the job, or None.

    Parameters
    ----------
    master : DictConfig
        The first job's config with its ``hydra`` node (the sweeper and its params).
    overrides : list of str
        The command line's overrides.
    registry : Registry
        The loaded plugins.

    Notes
    -----
    A job that fails only through a config group tied to a combination of swept values is left to be
    refused at its turn: ``sweep=gated_compare`` picks Adam's tuned rate by method and problem, and an
    untuned cell (0.0) is refused by design after the others ran. Such a failure is one that goes away
    without the group (``~group``).
    """
    from hydra.errors import HydraException

    try:
        jobs = _grid(master, overrides)
    except SweepValueError as exc:
        return str(exc)
    except HydraException as exc:
        return _describe(exc, overrides, registry)
    if not jobs:
        return None
    checked = _jobs_to_check(jobs)
    results = [_build_problem(job, registry) for job in checked]
    tied = _tied_groups(checked, [c for _, c in results])
    swept = [i for i in range(len(jobs[0])) if any(job[i] != jobs[0][i] for job in jobs)]
    for job, (problem, choices) in zip(checked, results, strict=True):
        if problem is None:
            continue
        if choices and any(g in choices and _build_problem([*job, f"~{g}"], registry)[0] is None for g in tied):
            continue  # bad only in this combination of swept values
        if not swept or all(p == problem for p, _ in results):  # not a swept value's fault
            return problem
        return f"the sweep's job {' '.join(job[i] for i in swept)}: {problem}"
    return None

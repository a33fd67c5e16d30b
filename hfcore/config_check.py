"""Checks of a composed config that Hydra's composition lets through.

Hydra accepts ``+key=value`` and ``++key=value`` for any key: they exist to add keys, and its own
message for a mistyped key (``Could not override 'model.hiddn'``) suggests ``+model.hiddn=...``.
Every node of hf-train's config has a schema (:mod:`hfcore.config` or a plugin's config class), so a
key that no schema declares can only be a typo: :func:`check_config` refuses it, naming the nearest
declared key, before any work starts. Free-form mappings (fields typed ``dict``, e.g. ``tracking.tags``)
take any keys.
"""

from __future__ import annotations

import difflib
from dataclasses import fields, is_dataclass
from typing import Any

from omegaconf import DictConfig, OmegaConf

from hfcore.build import ConfigError
from hfcore.registry import Registry


def check_config(cfg: DictConfig, registry: Registry | None = None) -> None:
    """Refuse, with a one-line :class:`~hfcore.build.ConfigError`, what the schemas cannot.

    Parameters
    ----------
    cfg : DictConfig
        The composed config, as Hydra hands it to the run (structured nodes keep their schema).
    registry : Registry, optional
        Used to say which option of a config group declares a key the chosen option lacks
        (``optimizer.learning_rate`` belongs to ``optimizer=sgd``, not to ``optimizer=hf``).

    Raises
    ------
    ConfigError
        For the first key that no schema declares, or for ``tracking.log_every`` < 1.
    """
    problem = _first_unknown(cfg, "", cfg, registry)
    if problem:
        raise ConfigError(problem)
    # Read by the tracker and the console reporter, not by build_run: its one check lives here.
    if cfg.tracking.log_every < 1:
        raise ConfigError(f"tracking.log_every must be >= 1, got {cfg.tracking.log_every}")


def _schema(node: DictConfig) -> type | None:
    """The dataclass declaring ``node``'s keys; None for a free-form mapping (a ``dict`` field)."""
    schema = OmegaConf.get_type(node)
    return schema if isinstance(schema, type) and is_dataclass(schema) else None


def _first_unknown(node: DictConfig, path: str, root: DictConfig, registry: Registry | None) -> str | None:
    schema = _schema(node)
    if schema is None or node._is_none() or node._is_missing():
        return None
    declared = [f.name for f in fields(schema)]
    for key, child in node.items_ex(resolve=False):
        full = f"{path}{key}"
        if key not in declared:
            return _unknown_message(full, str(key), declared, schema, root, registry)
        if isinstance(child, DictConfig):
            problem = _first_unknown(child, f"{full}.", root, registry)
            if problem:
                return problem
    return None


def unknown_key_message(root: DictConfig, full_key: str, registry: Registry | None = None) -> str:
    """One line for ``full_key``, a key that no schema in ``root`` declares, naming the nearest one.

    Parameters
    ----------
    root : DictConfig
        A composed config without the unknown key.
    full_key : str
        The dotted key (``model.hiddn``).
    registry : Registry, optional
        As in :func:`check_config`.
    """
    parent, _, key = full_key.rpartition(".")
    node = OmegaConf.select(root, parent) if parent else root
    schema = _schema(node) if isinstance(node, DictConfig) else None
    if schema is None:
        return f"unknown key '{full_key}'"
    return _unknown_message(full_key, key, [f.name for f in fields(schema)], schema, root, registry)


def _unknown_message(full: str, key: str, declared: list[str], schema: type, root: DictConfig,
                     registry: Registry | None) -> str:
    """One line: the unknown key, and the nearest key the config does declare."""
    parent = full.rpartition(".")[0]
    where = f"{parent} ({schema.__name__})" if parent else f"the top level ({schema.__name__})"
    head = f"unknown key '{full}': {where} has no key '{key}'"
    if parent and "." not in parent and registry is not None:  # a group option that lacks the key
        owners = [c.name for c in registry.components() if c.kind == parent and c.config is not None
                  and key in {f.name for f in fields(c.config)}]
        if owners:
            options = " and ".join(f"{parent}={o}" for o in owners)
            return f"{head}: it is an option of {options}, not of {parent}={root[parent].get('name', '?')}"
    # The same key in another node (hf.log_every for tracking.log_every) beats a near spelling in this one.
    elsewhere = [p for p in _declared_paths(root, "") if p.rpartition(".")[2] == key]
    close = [f"{parent}.{c}" if parent else c for c in difflib.get_close_matches(key, declared, n=1, cutoff=0.6)]
    if elsewhere or close:
        return f"{head}; did you mean '{(elsewhere or close)[0]}'?"
    return f"{head}; its keys are {', '.join(declared)}"


def _declared_paths(node: Any, path: str) -> list[str]:
    """Every key path that the schemas of ``node`` and its sub-nodes declare."""
    schema = _schema(node) if isinstance(node, DictConfig) else None
    if schema is None or node._is_none() or node._is_missing():
        return []
    children = dict(node.items_ex(resolve=False))
    paths = []
    for f in fields(schema):
        paths.append(f"{path}{f.name}")
        paths += _declared_paths(children.get(f.name), f"{path}{f.name}.")
    return paths


def unread_overrides(overrides: list[str], optimizer: str) -> list[str]:
    """The command line's overrides that ``optimizer`` does not read: the ``damping`` and ``solver`` groups and
    the ``hf`` group's keys (or preset) other than the stop rule's are HF's alone.

    Parameters
    ----------
    overrides : list of str
        The job's overrides (``key=value``, ``group=option``), as Hydra records them.
    optimizer : str
        The job's ``optimizer.name``.

    Returns
    -------
    list of str
        The overrides, as given, that change nothing for this optimiser (empty for ``hf``).
    """
    from hfcore.config import read_by

    return [o for o in overrides if not read_by(optimizer, o.split("=", 1)[0])]

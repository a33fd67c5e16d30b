"""Plugin discovery (pluggy + entry points) and the component registry.

Plugins are modules named in the ``hfcore`` entry-point group, exactly as a
third-party distribution would declare them. Each load is attributed, so a
broken plugin yields an error naming it and its distribution; the plugins
loaded before it stay usable.
"""

from __future__ import annotations

import importlib.metadata
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pluggy

from hfcore import hookspecs

ENTRY_POINT_GROUP = "hfcore"
DISABLE_AUTOLOAD_ENV = "HFCORE_DISABLE_PLUGIN_AUTOLOAD"
KINDS = ("backend", "model", "task", "damping", "solver", "optimizer", "parallel")


BUILTIN_DISTRIBUTION = "hfcore"


class PluginError(RuntimeError):
    """A plugin failed to load, declared an unknown hook or clashed with another."""


class UnknownComponentError(LookupError):
    """A component name that no loaded plugin registered."""


@dataclass(frozen=True)
class Component:
    """One registered component: its factory, config schema and provider."""

    kind: str
    name: str
    factory: Callable[..., Any]
    config: Any
    plugin: str


class Registry:
    """Named factories for backends, tasks, dampings, solvers and communicators.

    Plugins receive this object in their ``hfcore_register_*`` hooks.
    """

    def __init__(self) -> None:
        self._components: dict[tuple[str, str], Component] = {}
        self._current_plugin = "<direct>"
        self._labels: dict[str, str] = {}
        self._builtin: set[str] = set()
        self._strict = True
        self.failures: list[str] = []

    def _label(self, plugin: str) -> str:
        label = self._labels.get(plugin, repr(plugin))
        return f"built-in plugin {label}" if plugin in self._builtin else f"plugin {label}"

    def _add(self, kind: str, name: str, factory: Callable[..., Any], config: Any) -> None:
        key = (kind, name)
        new = Component(kind, name, factory, config, self._current_plugin)
        old = self._components.get(key)
        if old is None:
            self._components[key] = new
            return
        # A built-in component always wins; between equals the first claimant keeps the name.
        # Only the one clashing component is left out: the loser's other components stay
        # registered (raising here would abort the rest of its hook, as it once did for
        # every task of the built-in ``tasks`` plugin).
        if new.plugin in self._builtin and old.plugin not in self._builtin:
            self._components[key] = new
            kept, lost = new, old
        else:
            kept, lost = old, new
        message = (f"{self._label(lost.plugin)}: its {kind} '{name}' is left out, because "
                   f"{self._label(kept.plugin)} registers a {kind} of the same name")
        if self._strict:
            raise PluginError(message)
        self.failures.append(message)

    def add_backend(self, name: str, factory: Callable[..., Any], config: Any = None) -> None:
        """Register a backend ``factory(definition, model_cfg, backend_cfg) -> Model`` (see the hookspec)."""
        self._add("backend", name, factory, config)

    def add_model(self, name: str, factory: Callable[..., Any], config: Any = None) -> None:
        """Register a model ``factory(spec, model_cfg) -> ModelDefinition`` (group ``model``)."""
        self._add("model", name, factory, config)

    def add_task(self, name: str, factory: Callable[..., Any], config: Any = None) -> None:
        """Register a task ``factory(task_cfg) -> Task``."""
        self._add("task", name, factory, config)

    def add_damping(self, name: str, factory: Callable[..., Any], config: Any = None) -> None:
        """Register a damping ``factory(damping_cfg) -> Damping``."""
        self._add("damping", name, factory, config)

    def add_solver(self, name: str, factory: Callable[..., Any], config: Any = None) -> None:
        """Register a solver ``factory(solver_cfg) -> Solver``."""
        self._add("solver", name, factory, config)

    def add_optimizer(self, name: str, factory: Callable[..., Any], config: Any = None) -> None:
        """Register an optimiser ``factory(optimizer_cfg, context) -> Optimizer`` (group ``optimizer``).

        ``context`` is a :class:`hfcore.build.OptimizerContext`: it builds the run's other components an
        optimiser may use (HF's damping and linear solver, the ``hf`` group's settings).
        """
        self._add("optimizer", name, factory, config)

    def add_communicator(self, name: str, factory: Callable[..., Any], config: Any = None) -> None:
        """Register a data-parallel communicator ``factory(parallel_cfg) -> Communicator`` (group ``parallel``)."""
        self._add("parallel", name, factory, config)

    def get(self, kind: str, name: str) -> Component:
        """The component ``name`` of ``kind``; a clear error lists the known ones."""
        try:
            return self._components[(kind, name)]
        except KeyError:
            known = ", ".join(sorted(self.names(kind))) or "none"
            raise UnknownComponentError(f"unknown {kind} '{name}'; registered: {known}") from None

    def names(self, kind: str) -> list[str]:
        """Names registered for ``kind``."""
        return sorted(n for (k, n) in self._components if k == kind)

    def components(self) -> list[Component]:
        """Every registered component."""
        return list(self._components.values())


def _make_manager() -> pluggy.PluginManager:
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    return pm


def _one_line(exc: BaseException) -> str:
    return " ".join(f"{type(exc).__name__}: {exc}".split())


def load_plugins(
    extra_plugins: list[tuple[str, object]] | None = None,
    autoload: bool | None = None,
    strict: bool = True,
) -> tuple[pluggy.PluginManager, Registry]:
    """Load plugins from entry points (and ``extra_plugins``) into a fresh registry.

    Parameters
    ----------
    extra_plugins : list of (name, module-or-object), optional
        Plugins registered directly, after the entry-point ones (tests use this).
    autoload : bool, optional
        Whether to load the ``hfcore`` entry points. Default: yes, unless the
        environment variable ``HFCORE_DISABLE_PLUGIN_AUTOLOAD`` is set.
    strict : bool
        Raise on the first broken plugin (default). With False, a broken plugin
        is left out, its one-line error is appended to ``registry.failures``, and
        every other plugin stays usable (the CLI prints the failures as warnings).
        A name clash leaves out only the clashing component: a built-in one
        (from the ``hfcore`` distribution) always wins, otherwise the first
        registered keeps the name.

    Returns
    -------
    (PluginManager, Registry)

    Raises
    ------
    PluginError
        (strict only) Naming the plugin and its distribution when a plugin fails
        to import, implements an unknown hook, or registers a name already taken
        (then naming the component left out and the plugin that keeps it).
    """
    if autoload is None:
        autoload = not os.environ.get(DISABLE_AUTOLOAD_ENV)
    pm = _make_manager()
    registry = Registry()
    plugins, builtin_names = _plugin_sources(autoload, extra_plugins)
    labels = {name: label for name, label, _ in plugins}
    registry._labels = labels
    registry._builtin = builtin_names
    registry._strict = strict

    def failed(message: str, exc: BaseException) -> None:
        message += "; its components are unavailable"
        if strict:
            raise PluginError(message) from exc
        registry.failures.append(message)

    _register_modules(pm, plugins, failed)
    _drop_unknown_hooks(pm, labels, failed)
    _run_register_hooks(pm, registry, labels, strict, failed)
    return pm, registry


_Source = tuple[str, str, Callable[[], object]]
"""A plugin to load: its name, the label its messages use, and how to load its module."""


def _plugin_sources(autoload: bool, extra_plugins: list[tuple[str, object]] | None) -> tuple[list[_Source], set[str]]:
    """The plugins in load order (the core, the built-in distribution's, third parties', extras) and the built-ins."""
    from hfcore import builtin  # the core's own models, solvers and dampings, registered like any plugin

    plugins: list[_Source] = [("hfcore", "'hfcore' (built in)", lambda: builtin)]
    builtin_names = {"hfcore"}
    if autoload:
        third_party = []
        for ep in sorted(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
            dist = f"{ep.dist.name} {ep.dist.version}" if ep.dist is not None else "unknown distribution"
            entry = (ep.name, f"'{ep.name}' ({ep.value}) from distribution {dist}", ep.load)
            if ep.dist is not None and ep.dist.name == BUILTIN_DISTRIBUTION:
                plugins.append(entry)
                builtin_names.add(ep.name)
            else:
                third_party.append(entry)
        plugins.extend(third_party)  # after the built-ins, so a built-in is the first claimant of its names
    for name, obj in extra_plugins or []:
        plugins.append((name, f"'{name}'", lambda obj=obj: obj))
    return plugins, builtin_names


def _register_modules(pm: pluggy.PluginManager, plugins: list[_Source],
                      failed: Callable[[str, BaseException], None]) -> None:
    """Import each plugin and register it with pluggy; a failure is the plugin's own."""
    for name, label, load in plugins:
        try:
            module = load()
        except Exception as exc:  # any import-time failure is the plugin's, report it as such
            failed(f"plugin {label} failed to import: {_one_line(exc)}", exc)
            continue
        try:
            pm.register(module, name=name)
        except (pluggy.PluginValidationError, ValueError) as exc:
            failed(f"plugin {label} is invalid: {_one_line(exc)}", exc)


def _drop_unknown_hooks(pm: pluggy.PluginManager, labels: dict[str, str],
                        failed: Callable[[str, BaseException], None]) -> None:
    """Unregister every plugin that implements a hook hfcore does not declare (not just the first)."""
    while True:
        try:
            pm.check_pending()
            return
        except pluggy.PluginValidationError as exc:
            bad = pm.get_name(exc.plugin) or repr(exc.plugin)
            failed(f"plugin {labels.get(bad, repr(bad))} implements an unknown hook: {' '.join(str(exc).split())}",
                   exc)
            pm.unregister(exc.plugin)


REGISTER_HOOKS = ("hfcore_register_backends", "hfcore_register_models", "hfcore_register_tasks",
                  "hfcore_register_dampings", "hfcore_register_solvers", "hfcore_register_optimizers",
                  "hfcore_register_communicators")
"""The registration hooks, in the order they are called."""


def _run_register_hooks(pm: pluggy.PluginManager, registry: Registry, labels: dict[str, str], strict: bool,
                        failed: Callable[[str, BaseException], None]) -> None:
    """Call every plugin's registration hooks, attributing each component (and each failure) to its plugin."""
    for hook_name in REGISTER_HOOKS:
        hook = getattr(pm.hook, hook_name)
        for impl in hook.get_hookimpls():  # registration order, so the first claimant keeps a name
            registry._current_plugin = impl.plugin_name
            try:
                impl.function(registry=registry)
            except Exception as exc:
                if strict and isinstance(exc, PluginError):  # a clash, already worded by Registry._add
                    raise
                label = labels.get(impl.plugin_name, f"'{impl.plugin_name}'")
                failed(f"plugin {label} failed in {hook_name}: {_one_line(exc)}", exc)
    registry._current_plugin = "<direct>"

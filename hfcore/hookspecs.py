"""pluggy hook specifications: how plugins add components to hfcore.

A plugin is a module registered through the ``hfcore`` entry-point group::

    [project.entry-points.hfcore]
    mything = "mypackage.plugin"

and implements any of the hooks below with :data:`hookimpl`. Every hook
receives the :class:`hfcore.registry.Registry`; each ``add_*`` call names a
component, gives its factory and (optionally) its config schema, which becomes
a Hydra option in the matching config group.
"""

from __future__ import annotations

import pluggy

PROJECT = "hfcore"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def hfcore_register_backends(registry):
    """Add backends with ``registry.add_backend(name, factory, config)``.

    ``factory(definition, model_cfg, backend_cfg)`` returns a
    :class:`hfcore.interfaces.Model` that computes the loss, gradient and Gauss-Newton
    products of ``definition`` (a :class:`hfcore.models.ModelDefinition`, already built by
    the selected model's factory from the task's :class:`hfcore.types.ModelSpec`, which is
    ``definition.spec``). ``model_cfg`` is the model's config (a
    :class:`hfcore.config.ModelConfig` subclass: the backend reads ``l2`` and
    ``normaliser``), ``backend_cfg`` the backend's own. The returned model exposes the
    definition as ``model.definition``. A backend that cannot run ``definition`` raises
    ``ValueError`` with one line naming the model and the backend.
    ``config`` is an instance of a :class:`hfcore.config.BackendConfig` subclass.
    """


@hookspec
def hfcore_register_models(registry):
    """Add models with ``registry.add_model(name, factory, config)``.

    ``factory(spec, model_cfg)`` returns a :class:`hfcore.models.ModelDefinition`;
    ``config`` is an instance of a :class:`hfcore.config.ModelConfig` subclass
    (options ``model.<key>``, selected by ``model=<name>``).
    """


@hookspec
def hfcore_register_tasks(registry):
    """Add tasks with ``registry.add_task(name, factory, config)``.

    ``factory(task_cfg)`` returns a :class:`hfcore.interfaces.Task`; ``config``
    is an instance of a :class:`hfcore.config.TaskConfig` subclass.
    """


@hookspec
def hfcore_register_dampings(registry):
    """Add damping schemes with ``registry.add_damping(name, factory, config)``.

    ``factory(damping_cfg)`` returns a :class:`hfcore.interfaces.Damping`; ``damping_cfg`` is an instance
    of the ``config`` schema holding the run's values, with ``lambda0`` resolved to a number.
    """


@hookspec
def hfcore_register_solvers(registry):
    """Add HF's linear solvers with ``registry.add_solver(name, factory, config)``.

    ``factory(solver_cfg)`` returns a :class:`hfcore.interfaces.Solver`; ``solver_cfg`` is an instance of
    the ``config`` schema (a :class:`hfcore.config.SolverConfig` subclass) holding the run's values.
    """


@hookspec
def hfcore_register_optimizers(registry):
    """Add optimisers with ``registry.add_optimizer(name, factory, config)``.

    ``factory(optimizer_cfg, context)`` returns a :class:`hfcore.interfaces.Optimizer` (``init`` and
    ``step`` over its own :class:`hfcore.state.OptimizerState`); ``config`` is an instance of a
    :class:`hfcore.config.OptimizerConfig` subclass (options ``optimizer.<key>``, selected by
    ``optimizer=<name>``); ``context`` is a :class:`hfcore.build.OptimizerContext`.
    """


@hookspec
def hfcore_register_communicators(registry):
    """Add data-parallel communicators with ``registry.add_communicator(name, factory, config)``.

    ``factory(parallel_cfg)`` returns a :class:`hfcore.interfaces.Communicator`;
    ``config`` is an instance of a :class:`hfcore.config.ParallelConfig` subclass
    (the ``parallel`` config group).
    """

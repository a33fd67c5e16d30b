"""The hook implementations: the module named by the ``hfcore`` entry point in pyproject.toml."""

from hfcore.hookspecs import hookimpl
from hfcore_example.fixed import FixedDampingConfig, make_fixed
from hfcore_example.mgu import MGUConfig, make_mgu
from hfcore_example.recall import RecallConfig, make_recall


@hookimpl
def hfcore_register_tasks(registry):
    registry.add_task("recall", make_recall, RecallConfig())


@hookimpl
def hfcore_register_dampings(registry):
    registry.add_damping("fixed", make_fixed, FixedDampingConfig())


@hookimpl
def hfcore_register_models(registry):
    registry.add_model("mgu", make_mgu, MGUConfig())

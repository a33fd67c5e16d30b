"""Plugin loading: attribution of failures, duplicates, unknown hooks, autoload switch."""

import subprocess
import sys
import types

import pytest

from hfcore.hookspecs import hookimpl
from hfcore.registry import PluginError, UnknownComponentError, load_plugins


def plugin_module(name: str, **hooks) -> types.ModuleType:
    module = types.ModuleType(name)
    for hook_name, fn in hooks.items():
        setattr(module, hook_name, hookimpl(fn))
    return module


def test_builtin_components_without_autoload():
    _, registry = load_plugins(autoload=False)
    assert registry.names("solver") == ["cg"]
    assert registry.names("optimizer") == ["adam", "hf", "sgd"]
    assert registry.names("damping") == ["structural", "tikhonov"]
    assert registry.names("backend") == []


def test_entry_point_plugins_load():
    _, registry = load_plugins()
    assert "numpy" in registry.names("backend")
    assert {"addition", "quadratic"} <= set(registry.names("task"))
    assert registry.get("backend", "numpy").plugin == "numpy"


def test_env_disables_autoload(monkeypatch):
    monkeypatch.setenv("HFCORE_DISABLE_PLUGIN_AUTOLOAD", "1")
    _, registry = load_plugins()
    assert registry.names("backend") == []


def test_extra_plugin_registers():
    def hfcore_register_tasks(registry):
        registry.add_task("toy", lambda cfg: "made", None)

    _, registry = load_plugins([("toyplugin", plugin_module("toyplugin", hfcore_register_tasks=hfcore_register_tasks))],
                               autoload=False)
    component = registry.get("task", "toy")
    assert component.plugin == "toyplugin" and component.factory(None) == "made"


def test_duplicate_name_names_both_plugins():
    def reg_a(registry):
        registry.add_task("same", lambda cfg: None)

    def reg_b(registry):
        registry.add_task("same", lambda cfg: None)

    with pytest.raises(PluginError, match="plugin 'second': its task 'same' is left out, because plugin 'first' "
                                         "registers a task of the same name"):
        load_plugins([("first", plugin_module("a", hfcore_register_tasks=reg_a)),
                      ("second", plugin_module("b", hfcore_register_tasks=reg_b))], autoload=False)


def test_unknown_hook_is_named():
    def hfcore_register_widgets(registry):
        pass

    with pytest.raises(PluginError, match="'oddball' implements an unknown hook"):
        load_plugins([("oddball", plugin_module("oddball", hfcore_register_widgets=hfcore_register_widgets))],
                     autoload=False)


def test_hook_failure_is_attributed():
    def hfcore_register_tasks(registry):
        raise RuntimeError("boom")

    with pytest.raises(PluginError, match="plugin 'explodes' failed in hfcore_register_tasks: RuntimeError: boom"):
        load_plugins([("explodes", plugin_module("explodes", hfcore_register_tasks=hfcore_register_tasks))],
                     autoload=False)


def test_import_failure_names_plugin():
    def load():
        raise ModuleNotFoundError("No module named 'torch_that_does_not_exist'")

    # Simulate an entry point whose import fails by handing load_plugins a loader that raises.
    import hfcore.registry as reg

    original = reg.importlib.metadata.entry_points

    class FakeEP:
        name, value, dist = "broken", "brokenpkg.plugin", types.SimpleNamespace(name="brokenpkg-dist", version="0.3")

        def load(self):
            return load()

    try:
        reg.importlib.metadata.entry_points = lambda group: [FakeEP()]
        expected = (r"plugin 'broken' \(brokenpkg.plugin\) from distribution brokenpkg-dist 0.3 "
                    r"failed to import: ModuleNotFoundError")
        with pytest.raises(PluginError, match=expected):
            load_plugins()
    finally:
        reg.importlib.metadata.entry_points = original


def test_unknown_component_lists_known():
    _, registry = load_plugins(autoload=False)
    with pytest.raises(UnknownComponentError, match="unknown solver 'bfgs'; registered: cg"):
        registry.get("solver", "bfgs")


def test_import_hfcore_is_light():
    code = ("import sys, hfcore; heavy = [m for m in ('torch', 'autograd', 'mlflow', 'hydra', 'omegaconf', "
            "'matplotlib', 'mpi4py', 'hfcore_numpy') if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_non_strict_keeps_other_plugins():
    def good(registry):
        registry.add_task("fine", lambda cfg: None)

    def dup(registry):
        registry.add_task("fine", lambda cfg: None)

    def odd(registry):
        pass

    _, registry = load_plugins([
        ("good", plugin_module("good", hfcore_register_tasks=good)),
        ("odd", plugin_module("odd", hfcore_register_gadgets=odd)),
        ("dup", plugin_module("dup", hfcore_register_tasks=dup)),
    ], autoload=False, strict=False)
    assert registry.get("task", "fine").plugin == "good"
    assert len(registry.failures) == 2
    assert "'odd'" in registry.failures[0] and "unknown hook" in registry.failures[0]
    assert registry.failures[1] == ("plugin 'dup': its task 'fine' is left out, because plugin 'good' registers a "
                                    "task of the same name")
    assert all("\n" not in f for f in registry.failures)


def test_cli_warns_about_a_broken_plugin_and_runs(tmp_path):
    prelude = """
import importlib.metadata as md, types
real = md.entry_points
class Broken:
    name, value = "broken", "brokenpkg.plugin"
    dist = types.SimpleNamespace(name="brokenpkg-dist", version="0.3")
    def load(self):
        raise ModuleNotFoundError("No module named 'brokenpkg'")
md.entry_points = lambda group: [*real(group=group), Broken()]
"""
    code = f"import sys\n{prelude}\nfrom hfcore.cli import main\nsys.argv = ['hf-train', '--help']\nmain()"
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert ("hf-train: warning: plugin 'broken' (brokenpkg.plugin) from distribution brokenpkg-dist 0.3 failed to "
            "import: ModuleNotFoundError") in out.stderr
    assert "addition" in out.stdout


class _ThirdPartyEP:
    """An entry point of a third-party distribution, for a plugin module made in-process."""

    value = "clashpkg.plugin"
    dist = types.SimpleNamespace(name="clashpkg-dist", version="0.2")

    def __init__(self, name: str, module: types.ModuleType) -> None:
        self.name, self.module = name, module

    def load(self) -> types.ModuleType:
        return self.module


def test_clash_with_builtins_drops_only_the_clashing_component(monkeypatch):
    """A third-party plugin that sorts before ``tasks`` and reuses a built-in task name.

    Before the fix, the built-in ``tasks`` plugin lost every task after the clash.
    """
    _, clean = load_plugins()
    builtin_tasks = {name: clean.get("task", name).plugin for name in clean.names("task")}

    def hfcore_register_tasks(registry):
        registry.add_task("addition", lambda cfg: "theirs")
        registry.add_task("their_own", lambda cfg: "theirs")

    import hfcore.registry as reg

    real = reg.importlib.metadata.entry_points
    ep = _ThirdPartyEP("aaa", plugin_module("clashpkg.plugin", hfcore_register_tasks=hfcore_register_tasks))
    monkeypatch.setattr(reg.importlib.metadata, "entry_points", lambda group: [ep, *real(group=group)])
    _, registry = load_plugins(strict=False)
    assert {name: registry.get("task", name).plugin for name in builtin_tasks} == builtin_tasks
    assert registry.get("task", "their_own").plugin == "aaa"
    assert len(registry.failures) == 1
    message = registry.failures[0]
    assert message.startswith("plugin 'aaa' (clashpkg.plugin) from distribution clashpkg-dist 0.2: its task "
                              "'addition' is left out, because built-in plugin 'tasks' (hfcore_tasks.plugin) from "
                              "distribution hfcore "), message
    with pytest.raises(PluginError, match="its task 'addition' is left out"):
        load_plugins()


def test_builtin_wins_even_when_registered_last(monkeypatch):
    """A ``trylast`` hook runs its registration first; the built-in still keeps its name."""
    from hfcore.hookspecs import hookimpl as marker

    def hfcore_register_solvers(registry):
        registry.add_solver("cg", lambda cfg: "theirs")

    module = types.ModuleType("early")
    module.hfcore_register_solvers = marker(trylast=True)(hfcore_register_solvers)
    _, registry = load_plugins([("early", module)], autoload=False, strict=False)
    assert registry.get("solver", "cg").plugin == "hfcore"
    assert registry.failures == ["plugin 'early': its solver 'cg' is left out, because built-in plugin 'hfcore' "
                                 "(built in) registers a solver of the same name"]


def test_no_plugin_imports_another_plugins_modules():
    """Plugins share code only through the public core (``hfcore.kit``), never another plugin's modules."""
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "plugins"
    found = []
    for path in sorted(root.glob("*/*.py")):
        own = path.parent.name
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module] if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module
                     else [])
            found += [f"{path.relative_to(root)}: {n}" for n in names
                      if n.split(".")[0].startswith("hfcore_") and n.split(".")[0] != own]
    assert found == []


def test_backend_kit_is_light():
    code = ("import sys, hfcore.kit.batches, hfcore.kit.losses, hfcore.kit.layout, hfcore.kit.tasks, "
            "hfcore.kit.definitions, hfcore.models; "
            "heavy = [m for m in ('torch', 'autograd', 'mlflow', 'hydra', 'omegaconf', 'matplotlib', 'hfcore_numpy', "
            "'hfcore_tasks') if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"

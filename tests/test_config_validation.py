"""Keys no schema declares, impossible values, and the documented hf-train commands (issue 15, item 5)."""

from __future__ import annotations

import itertools
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
from hydra import compose, initialize_config_module

from hfcore.build import ConfigError, build_run
from hfcore.cli import register_configs
from hfcore.config_check import check_config
from hfcore.registry import load_plugins
from tests.test_cli import hf_train

ROOT = Path(__file__).resolve().parent.parent
TINY = ["task.T=10", "model.hidden=8", "hf.gradient_batch=100", "hf.curvature_batch=20", "task.test_size=50",
        "hf.max_iterations=3", "progress=false"]


@pytest.fixture(scope="module")
def registry():
    _, registry = load_plugins(strict=False)
    register_configs(registry)
    return registry


def composed(*overrides: str):
    """The config hf-train would run for ``overrides`` (Hydra's compose API: no run folder, no work)."""
    with initialize_config_module("hfcore.conf", version_base="1.3"):
        return compose("config", overrides=list(overrides))


@pytest.mark.parametrize(
    "overrides, message",
    [(["+foo.bar=1"], "unknown key 'foo': the top level (TrainConfig) has no key 'foo'; its keys are seed, "),
     (["+model.extra=3"], "unknown key 'model.extra': model (RNNConfig) has no key 'extra'; its keys are name, "),
     (["++model.hiddn=16"], "unknown key 'model.hiddn': model (RNNConfig) has no key 'hiddn'; did you mean "
                            "'model.hidden'?"),
     (["+task.tolerence=0.1"], "did you mean 'task.tolerance'?"),  # a plugin's own field is a candidate
     (["+hf.log_every=10"], "did you mean 'tracking.log_every'?"),
     (["optimizer=sgd", "+optimizer.max_iters=10"], "did you mean 'solver.max_iters'?"),
     (["+optimizer.learning_rate=0.1"], "it is an option of optimizer=sgd and optimizer=adam, not of optimizer=hf"),
     (["+solver.warm_start_decay=0.5"], "did you mean 'hf.warm_start_decay'?")],
)
def test_keys_no_schema_declares_are_refused(registry, overrides, message):
    with pytest.raises(ConfigError) as err:
        check_config(composed(*TINY, *overrides), registry)
    assert message in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize(
    "overrides",
    [["+tracking.tags.study=lr"], ["+tracking.tags.study=lr", "+tracking.tags.owner=me"],
     ["backend.chunk_size=500"], ["task.tolerance=0.05"], ["++task.tolerance=0.05"],
     ["damping=tikhonov"], ["optimizer=sgd", "optimizer.batch_size=10"], ["model=lstm", "optimizer=sgd"],
     ["hf.warm_start_decay=0.5"]],
)
def test_declared_keys_are_accepted(registry, overrides):
    check_config(composed(*TINY, *overrides), registry)


def test_every_group_option_and_preset_validates(registry):
    """Each plugin's config and each YAML option composes to keys its schema declares."""
    choices = [f"{c.kind}={c.name}" for c in registry.components() if c.config is not None]
    for group in ("model", "hf", "tracking", "experiment"):
        choices += [f"{group}={p.stem}" for p in sorted((ROOT / "conf" / group).glob("*.yaml"))]
    for choice in choices:
        check_config(composed(choice), registry)


@pytest.mark.parametrize(
    "overrides, message",
    [(["hf.max_iterations=0"], "hf.max_iterations must be >= 1, got 0"),
     (["hf.max_iterations=-2"], "hf.max_iterations must be >= 1, got -2"),
     (["hf.warm_start_decay=1.5"], "hf.warm_start_decay must be in [0, 1], got 1.5"),
     (["optimizer=sgd", "optimizer.learning_rate=0"], "optimizer.learning_rate must be > 0, got 0"),
     (["model=lstm", "optimizer=sgd", "model.hidden=20", "model.cells_per_block=0"],
      "^model 'lstm' needs cells_per_block >= 1 or null, got 0$"),
     (["model=lstm", "optimizer=sgd", "model.cells_per_block=4", "model.damped_signals=[hidden,cel]"],
      "model 'lstm': unknown damped signal 'cel' in damped_signals; expected any of cell_inputs, gates, cell, hidden"),
     (["model=gru", "model.damped_signals=[hidden,cell]"],
      "model 'gru': unknown damped signal 'cell' in damped_signals; expected any of update, reset, candidate, hidden"),
     # the label names the component once, though the plugin's own message starts with its name
     (["model=lstm", "model.hidden=8", "model.cells_per_block=3"],
      "^model 'lstm': hidden=8 cells must be a multiple of cells_per_block=3$"),
     (["model.hidden=0"], "^model 'rnn_tanh' needs hidden >= 1, got 0$"),
     (["model=gru", "model.hidden=0"], "^model 'gru' needs hidden >= 1, got 0$"),
     (["task.T=-5"], "^task 'addition': T=-5 must be an integer >= "),
     (["task=quadratic", "task.T=3"], "^task 'quadratic': T=3 must be 1 "),
     (["backend.dtype=float16"], "^backend 'numpy': unsupported dtype 'float16'")],
)
def test_impossible_numbers_are_refused_by_build(registry, overrides, message):
    cfg = composed(*TINY, *overrides)
    check_config(cfg, registry)
    anchored = message.startswith("^")  # the whole message from its start, not only a part of it
    with pytest.raises(ConfigError, match=message if anchored else re.escape(message)):
        build_run(cfg, registry)


def test_log_every_below_one_is_refused(registry):
    with pytest.raises(ConfigError, match=re.escape("tracking.log_every must be >= 1, got 0")):
        check_config(composed(*TINY, "tracking.log_every=0"), registry)


LSTM_TINY = "model=lstm model.cells_per_block=4 model.damped_signals="
GRU_TINY = "model=gru model.damped_signals="


@pytest.mark.parametrize("typo", ["++model.hiddn=16", "hf.max_iterations=0",
                                  *(LSTM_TINY + value for value in ("[cell,cell]", "[hiden]", "hidden")),
                                  *(GRU_TINY + value for value in ("[hidden,hidden]", "[cell_inputs]", "hidden"))])
def test_cli_refuses_typos_in_one_line_before_work(tmp_path, typo):
    out = hf_train(tmp_path, *TINY, *typo.split())
    assert out.returncode == 2, out.stderr
    lines = [line for line in (out.stdout + out.stderr).splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("hf-train: error: "), lines
    assert not (tmp_path / "mlflow.db").exists()


# ------------------------------------------------------------------ documented commands


def documented_commands(path: Path) -> list[list[str]]:
    """The arguments of every hf-train (or ``-m hfcore.cli``) command in ``path``'s bash blocks."""
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", path.read_text(), flags=re.S):
        # Line continuations joined; placeholders (<date>) stand for a word the user fills in.
        for line in re.sub(r"<(\w+)>", r"\1", block.replace("\\\n", " ")).splitlines():
            words = shlex.split(line, comments=True)
            starts = [i for i, w in enumerate(words) if w.endswith("hf-train") or w == "hfcore.cli"]
            if starts:
                args = words[starts[0] + 1:]
                commands.append(args[:args.index("&&")] if "&&" in args else args)
    return commands


COMMANDS = [(doc, args) for doc in ("docs/quickstart.md", "README.md") for args in documented_commands(ROOT / doc)]


def test_the_docs_hold_the_commands_checked_here():
    quickstart = [args for doc, args in COMMANDS if doc == "docs/quickstart.md"]
    assert len(quickstart) >= 15 and [] in quickstart
    assert any("hf.max_iterations=3" in args for args in quickstart)  # the tiny command, continuation joined
    assert any("parallel=mpi" in args for doc, args in COMMANDS if doc == "README.md")


def expand(args: list[str]) -> list[list[str]]:
    """The jobs of a (multirun) command: one override list per point of its sweeps."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    overrides = [a for a in args if not a.startswith("-")]
    parsed = OverridesParser.create().parse_overrides(overrides)
    options = [[f"{o.get_key_element()}={v}" for v in o.sweep_string_iterator()] if o.is_sweep_override()
               else [o.input_line] for o in parsed]
    return [list(job) for job in itertools.product(*options)]


def _command_param(doc: str, args: list[str]) -> Any:
    """A command that picks the torch backend builds only with torch: it carries the `extra` mark."""
    marks = [pytest.mark.extra("torch")] if "backend=torch" in args else []
    return pytest.param(doc, args, marks=marks, id=f"{doc}:{' '.join(args) or 'default'}")


@pytest.mark.parametrize("doc, args", [_command_param(d, a) for d, a in COMMANDS])
def test_documented_commands_compose_and_validate(registry, doc, args):
    if any(a in ("--help", "--cfg", "--info") for a in args):
        return  # Hydra's own commands: they compose nothing to run
    for overrides in expand(args):
        choices = dict(o.split("=", 1) for o in overrides if "=" in o and "." not in o.split("=")[0])
        for kind in ("backend", "task", "damping", "solver", "optimizer", "parallel"):
            if kind in choices and choices[kind] not in registry.names(kind):
                pytest.skip(f"{kind}={choices[kind]} is not installed here")
        cfg = composed(*overrides)
        check_config(cfg, registry)
        if cfg.parallel.name != "serial":
            continue  # a communicator would wait for its launcher's other ranks
        try:
            build_run(cfg, registry)
        except ConfigError as exc:
            if "extra" not in str(exc):
                raise
            pytest.skip(str(exc))  # e.g. backend=torch without torch: composes and validates, cannot build


def tiny_command() -> list[str]:
    (args,) = [a for doc, a in COMMANDS if doc == "docs/quickstart.md" and "hf.max_iterations=3" in a]
    return args


@pytest.mark.parametrize("optimizer", ["hf", "sgd", "adam"])
def test_quickstart_tiny_command_runs_with_any_optimizer(tmp_path, optimizer):
    out = hf_train(tmp_path, *tiny_command(), f"optimizer={optimizer}", "progress=false")
    assert out.returncode == 0, out.stderr
    assert "iterations=3" in out.stdout


def test_old_solver_sgd_spelling_names_the_new_one(tmp_path):
    out = hf_train(tmp_path, "solver=sgd", "solver.learning_rate=0.1")
    assert out.returncode == 2 and out.stderr.strip() == (
        "hf-train: error: solver=sgd is now optimizer=sgd (its options are optimizer.<key>, "
        "e.g. optimizer.learning_rate)")


def test_hf_presets_only_override_the_schema_defaults():
    """Each hf preset sets only keys whose value differs from HFConfig's (the defaults' one home)."""
    import yaml

    from hfcore.config import HFConfig

    for path in sorted((ROOT / "conf" / "hf").glob("*.yaml")):
        values = yaml.safe_load(path.read_text()) or {}
        same = {k: v for k, v in values.items() if getattr(HFConfig(), k) == v}
        assert not same, f"{path.name} repeats defaults of HFConfig: {same}"


def test_a_model_without_curvature_is_refused_hf_before_work(registry, monkeypatch):
    """A model declaring ``supports_curvature = False`` (no built-in one does) is refused HF by build."""
    from hfcore_numpy.lstm import NumpyLSTM

    monkeypatch.setattr(NumpyLSTM, "supports_curvature", False, raising=False)
    cfg = composed(*TINY, "model=lstm", "model.cells_per_block=2")
    check_config(cfg, registry)
    with pytest.raises(ConfigError, match=re.escape("model 'lstm' has no Gauss-Newton product on backend 'numpy'")):
        build_run(cfg, registry)
    build_run(composed(*TINY, "model=lstm", "model.cells_per_block=2", "optimizer=sgd"), registry)


@pytest.mark.parametrize("optimizer, overrides, unread", [
    ("adam", ["hf.gradient_batch=500", "damping=tikhonov", "solver.max_iters=10", "hf=small", "task.T=50"],
     ["hf.gradient_batch=500", "damping=tikhonov", "solver.max_iters=10", "hf=small"]),
    # the stop rule is every optimiser's; optimizer.*, task, model and seed are read
    ("sgd", ["hf.max_iterations=5", "hf.budget_seconds=60", "hf.eval_every=10", "optimizer.learning_rate=0.1",
             "model=lstm", "seed=3", "+tracking.tags.study=x"], []),
    ("hf", ["hf.gradient_batch=500", "damping=tikhonov"], []),
])
def test_settings_a_first_order_optimizer_does_not_read_are_named(optimizer, overrides, unread):
    from hfcore.config_check import unread_overrides

    assert unread_overrides(overrides, optimizer) == unread


@pytest.mark.parametrize("optimizer, key, read", [
    ("hf", "damping.mu", True), ("hf", "hf.cg_max", True), ("hf", "solver", True),
    ("sgd", "damping.mu", False), ("adam", "solver.max_iters", False), ("adam", "damping", False),
    ("adam", "hf", False), ("sgd", "hf.gradient_batch", False), ("adam", "+hf.fresh_batch", False),
    ("sgd", "hf.max_iterations", True), ("adam", "hf.budget_seconds", True), ("sgd", "hf.stop_on_success", True),
    ("adam", "optimizer.learning_rate", True), ("sgd", "model.hidden", True), ("adam", "task.T", True),
])
def test_a_first_order_optimizer_reads_no_hf_setting_but_the_stop_rule(optimizer, key, read):
    from hfcore.config import read_by

    assert read_by(optimizer, key) is read

"""Hydra's composition errors reach the user as one line, exit 2, before anything is written."""

from __future__ import annotations

import pytest

from hfcore.cli import register_configs
from hfcore.compose_check import composition_error
from hfcore.registry import load_plugins
from tests.test_cli import hf_train


@pytest.fixture(scope="module")
def registry():
    _, registry = load_plugins(strict=False)
    register_configs(registry)
    return registry


@pytest.mark.parametrize("argv, expected", [
    (["model.hiddn=16"], "unknown key 'model.hiddn': model (RNNConfig) has no key 'hiddn'; "
                         "did you mean 'model.hidden'?"),
    (["tracking.tag.study=lr"], "did you mean 'tracking.tags'?"),
    (["optimizer=sgd", "optimizer.max_iters=3"], "did you mean 'solver.max_iters'?"),
    (["optimizer.learning_rate=0.1"], "it is an option of optimizer=sgd and optimizer=adam, not of optimizer=hf"),
    (["--multirun", "sweep=adam_lr_natural"], "In 'sweep/adam_lr_natural': Key 'eval_split' not in 'AdditionConfig'"),
    (["solver=sgd", "solver.learning_rate=0.1"], "solver=sgd is now optimizer=sgd (its options are optimizer.<key>"),
    (["task=nope"], "no task 'nope'; the options are addition, "),
    (["model=foo"], "gru, linear, lstm"),  # after "no model 'foo'; the options are" and any plugin's models
    (["task.T=abc"], "bad value for task.T: Value 'abc' of type 'str' could not be converted to Integer"),
    (["hf.gradient_batch=1.5"], "bad value for hf.gradient_batch:"),
    (["task.T==3"], "bad override: Error parsing override 'task.T==3'"),
    (["--multirun", "seed=0,1", "tracking.experimen=x"], "did you mean 'tracking.experiment'?"),
])
def test_composition_errors_are_one_line(registry, argv, expected):
    message = composition_error(argv, registry)
    assert message is not None and expected in message
    assert "\n" not in message


@pytest.mark.parametrize("argv", [
    [], ["task=xor", "task.T=50", "seed=3"], ["--multirun", "seed=0,1,2", "damping=structural,tikhonov"],
    ["+tracking.tags.study=lr"], ["hydra.run.dir=somewhere", "hydra/launcher=basic"],
    ["--cfg", "job", "model.hiddn=1"],  # Hydra's own commands are left to Hydra
])
def test_good_commands_pass(registry, argv):
    assert composition_error(argv, registry) is None


def test_cli_refuses_an_unknown_key_in_one_line_and_writes_nothing(tmp_path):
    out = hf_train(tmp_path, "model.hiddn=16")
    assert out.returncode == 2
    assert out.stderr.splitlines() == ["hf-train: error: unknown key 'model.hiddn': model (RNNConfig) has no key "
                                       "'hiddn'; did you mean 'model.hidden'?"]
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no outputs/ folder, no mlflow.db

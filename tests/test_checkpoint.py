"""Checkpoints: round trip, atomic writes, corruption detected with a clear error."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from hfcore import checkpoint
from hfcore.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from hfcore.hf import HFState
from hfcore.sgd import SGDState
from hfcore.state import RunState, seed_streams
from hfcore.types import Counters
from tests.helpers import recorded_kernel_env

FORMAT_1 = Path(__file__).parent / "data" / "checkpoint_v1"
ROOT = Path(__file__).resolve().parents[1]


def sample_state():
    _, data = seed_streams(7)
    data.random(5)  # move the stream off its start
    theta = np.linspace(-1, 1, 11)
    return RunState(iteration=4, theta=theta, optimizer=HFState(lam=0.0123, warm_start=theta * 0.5),
                    data_rng=data.bit_generator.state, counters=Counters(gradient_evals=4, gv_products=77),
                    elapsed=1.5, cpu_seconds=1.25, test_error=0.25, solved=False)


def test_round_trip(tmp_path):
    state = sample_state()
    path = save_checkpoint(tmp_path / "a" / "s.npz", state, {"note": "x"})
    loaded, extra = load_checkpoint(path)
    assert extra == {"note": "x"}
    assert np.array_equal(loaded.theta, state.theta) and isinstance(loaded.optimizer, HFState)
    assert np.array_equal(loaded.optimizer.warm_start, state.optimizer.warm_start)
    assert (loaded.iteration, loaded.optimizer.lam, loaded.counters, loaded.elapsed) == (4, 0.0123, state.counters, 1.5)
    assert loaded.cpu_seconds == 1.25
    assert loaded.data_generator().random(3).tolist() == state.data_generator().random(3).tolist()
    assert not list((tmp_path / "a").glob("*.tmp"))


def test_missing(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "nope.npz")


def test_truncated(tmp_path):
    state = sample_state()
    path = save_checkpoint(tmp_path / "s.npz", state)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="corrupt"):
        load_checkpoint(path)


def test_bit_flip_detected(tmp_path):
    state = sample_state()
    path = save_checkpoint(tmp_path / "s.npz", state)
    # np.savez stores arrays uncompressed: flip a byte inside theta's data.
    data = bytearray(path.read_bytes())
    offset = bytes(data).find(state.theta.tobytes())
    assert offset > 0
    data[offset + 3] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="corrupt"):
        load_checkpoint(path)


def test_not_a_checkpoint(tmp_path):
    path = tmp_path / "junk.npz"
    path.write_text("hello")
    with pytest.raises(CheckpointError, match="corrupt or not an hfcore checkpoint"):
        load_checkpoint(path)


def test_checkpoint_without_cpu_clock_loads_with_zero(tmp_path):
    """Checkpoints written before ``cpu_seconds`` existed (same format otherwise) still resume."""
    state = sample_state()
    path = save_checkpoint(tmp_path / "s.npz", state)
    with np.load(path) as data:
        arrays = dict(data)
    meta = json.loads(str(arrays["meta"]))
    del meta["cpu_seconds"]
    arrays["meta"] = np.array(json.dumps(meta))
    arrays["digest"] = np.array(checkpoint._digest([arrays["theta"], arrays["optimizer.warm_start"]],
                                                   str(arrays["meta"])))
    np.savez(path, **arrays)
    loaded, _ = load_checkpoint(path)
    assert loaded.cpu_seconds == 0.0 and loaded.elapsed == 1.5


def test_optimizer_state_is_stored_generically(tmp_path):
    """Name, vectors and scalars: an SGD state round-trips as SGDState, with no HF field in the file."""
    state = sample_state().evolve(optimizer=SGDState(velocity=np.arange(11.0)))
    path = save_checkpoint(tmp_path / "s.npz", state, to_numpy=lambda v: np.asarray(v) * 1)
    with np.load(path) as data:
        assert sorted(data.files) == ["digest", "meta", "optimizer.velocity", "theta"]
        meta = json.loads(str(data["meta"]))
    assert meta["format"] == 2 and meta["optimizer"] == {"name": "sgd", "scalars": {}}
    loaded, _ = load_checkpoint(path)
    assert isinstance(loaded.optimizer, SGDState) and np.array_equal(loaded.optimizer.velocity, np.arange(11.0))


def test_unknown_optimizer_state_is_refused(tmp_path):
    path = save_checkpoint(tmp_path / "s.npz", sample_state())
    with np.load(path) as data:
        arrays = dict(data)
    meta = json.loads(str(arrays["meta"]))
    meta["optimizer"]["name"] = "lbfgs"
    arrays["meta"] = np.array(json.dumps(meta))
    arrays["digest"] = np.array(checkpoint._digest([arrays["theta"], arrays["optimizer.warm_start"]],
                                                   str(arrays["meta"])))
    np.savez(path, **arrays)
    with pytest.raises(CheckpointError, match="holds the state of optimizer 'lbfgs', which no loaded plugin defines"):
        load_checkpoint(path)


def test_format_1_is_converted_on_load():
    hf, extra = load_checkpoint(FORMAT_1 / "hf-iteration3.npz")
    with np.load(FORMAT_1 / "hf-iteration3.npz") as data:
        meta = json.loads(str(data["meta"]))
        assert np.array_equal(hf.optimizer.warm_start, data["warm_start"])
    assert meta["format"] == 1 and isinstance(hf.optimizer, HFState) and hf.optimizer.lam == meta["lam"]
    assert hf.iteration == 3 and extra["config"]["solver"]["name"] == "cg"
    sgd, _ = load_checkpoint(FORMAT_1 / "sgd-iteration3.npz")
    assert isinstance(sgd.optimizer, SGDState) and sgd.optimizer.velocity.any()  # SGD's velocity was warm_start


def test_format_1_bit_flip_detected(tmp_path):
    data = bytearray((FORMAT_1 / "hf-iteration3.npz").read_bytes())
    with np.load(FORMAT_1 / "hf-iteration3.npz") as arrays:
        offset = bytes(data).find(arrays["warm_start"].tobytes())
    data[offset + 5] ^= 0xFF
    (tmp_path / "s.npz").write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="corrupt"):
        load_checkpoint(tmp_path / "s.npz")


FORMAT_1_OVERRIDES = {"hf": [], "sgd": ["optimizer=sgd", "optimizer.batch_size=20"]}


@pytest.mark.parametrize("method", sorted(FORMAT_1_OVERRIDES))
def test_format_1_checkpoint_resumes_bit_identically(method):
    """A checkpoint written by the code before this format (main at 6ac9f66), resumed from iteration 3 to 6 by
    today's code, reaches the same bits as that code did (its own iteration-6 checkpoint, tests/data), under the
    BLAS kernel those bits were recorded with (a child process)."""
    code = f"from tests.test_checkpoint import resume_format_1\nresume_format_1({method!r})"
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=recorded_kernel_env(), capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]


def resume_format_1(method: str) -> None:
    """The check of :func:`test_format_1_checkpoint_resumes_bit_identically`, in this process."""
    from hydra import compose, initialize_config_module

    from hfcore.build import build_run
    from hfcore.registry import load_plugins
    from hfcore.training import train

    state, extra = load_checkpoint(FORMAT_1 / f"{method}-iteration3.npz")
    expected, _ = load_checkpoint(FORMAT_1 / f"{method}-iteration6.npz")
    saved = extra["config"]
    keys = ["task.T=10", "model.hidden=8", "task.test_size=100", "hf.stop_on_success=false", "hf.max_iterations=6"]
    if method == "hf":
        keys += ["hf.gradient_batch=200", "hf.curvature_batch=50", "solver.max_iters=20"]
        # the HF rules it was saved with (the default then; hf=is11's since)
        rules = ("backtrack_data", "line_search_data", "backtrack_rule", "armijo_c")
        keys += [f"hf.{k}={saved['hf'][k]}" for k in rules]
    with initialize_config_module("hfcore.conf", version_base="1.3"):
        from hfcore.cli import register_configs

        registry = load_plugins()[1]
        register_configs(registry)
        cfg = compose("config", overrides=keys + FORMAT_1_OVERRIDES[method])
    assert cfg.task.T == saved["task"]["T"] and cfg.model.hidden == saved["model"]["hidden"]
    parts = build_run(cfg, registry)
    resumed = train(state.map_vectors(parts.model.from_numpy), parts.model, parts.task, parts.optimizer, parts.stop)
    assert resumed.iteration == expected.iteration == 6
    assert resumed.theta.tobytes() == expected.theta.tobytes()
    for name, vector in expected.optimizer.arrays().items():
        assert resumed.optimizer.arrays()[name].tobytes() == vector.tobytes()
    assert resumed.optimizer.scalars() == expected.optimizer.scalars()
    assert (resumed.counters, resumed.data_rng) == (expected.counters, expected.data_rng)


def test_load_run_rebuilds_a_committed_checkpoint_with_its_test_error():
    """5-bit memorization at T = 200, stopped with one string of 32 wrong (sixteenth session): rebuilt from the
    checkpoint alone, its network scores the test error the run recorded."""
    from hfcore.build import load_run
    from hfcore.hf import evaluate

    path = ROOT / "docs" / "results" / "figure3-s16" / "checkpoints" / "memorization_5bit-T200-structural-is11-s0.npz"
    state, parts = load_run(path)
    assert (state.iteration, parts.task.T, parts.task.name) == (2597, 200, "memorization")
    scores = evaluate(parts.model, parts.task, state.theta, parts.task.test_batch())
    assert scores["error"] == state.test_error == 1 / 32


def test_load_run_refuses_a_checkpoint_without_a_config(tmp_path):
    from hfcore.build import load_run

    path = save_checkpoint(tmp_path / "s.npz", sample_state(), {"note": "x"})
    with pytest.raises(CheckpointError, match="saved no config"):
        load_run(path)
    with pytest.raises(CheckpointError, match="not found"):
        load_run(tmp_path / "missing.npz")

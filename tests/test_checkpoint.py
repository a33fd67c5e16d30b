"""Checkpoints: round trip, atomic writes, corruption detected with a clear error."""

import json

import numpy as np
import pytest

from hfcore import checkpoint
from hfcore.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from hfcore.state import RunState, seed_streams
from hfcore.types import Counters


def sample_state():
    _, data = seed_streams(7)
    data.random(5)  # move the stream off its start
    theta = np.linspace(-1, 1, 11)
    return RunState(iteration=4, theta=theta, lam=0.0123, warm_start=theta * 0.5,
                    data_rng=data.bit_generator.state, counters=Counters(gradient_evals=4, gv_products=77),
                    elapsed=1.5, cpu_seconds=1.25, test_error=0.25, solved=False)


def test_round_trip(tmp_path):
    state = sample_state()
    path = save_checkpoint(tmp_path / "a" / "s.npz", state, state.theta, state.warm_start, {"note": "x"})
    loaded, extra = load_checkpoint(path)
    assert extra == {"note": "x"}
    assert np.array_equal(loaded.theta, state.theta) and np.array_equal(loaded.warm_start, state.warm_start)
    assert (loaded.iteration, loaded.lam, loaded.counters, loaded.elapsed) == (4, 0.0123, state.counters, 1.5)
    assert loaded.cpu_seconds == 1.25
    assert loaded.data_generator().random(3).tolist() == state.data_generator().random(3).tolist()
    assert not list((tmp_path / "a").glob("*.tmp"))


def test_missing(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "nope.npz")


def test_truncated(tmp_path):
    state = sample_state()
    path = save_checkpoint(tmp_path / "s.npz", state, state.theta, state.warm_start)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="corrupt"):
        load_checkpoint(path)


def test_bit_flip_detected(tmp_path):
    state = sample_state()
    path = save_checkpoint(tmp_path / "s.npz", state, state.theta, state.warm_start)
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
    path = save_checkpoint(tmp_path / "s.npz", state, state.theta, state.warm_start)
    with np.load(path) as data:
        arrays = dict(data)
    meta = json.loads(str(arrays["meta"]))
    del meta["cpu_seconds"]
    arrays["meta"] = np.array(json.dumps(meta))
    arrays["digest"] = np.array(checkpoint._digest(arrays["theta"], arrays["warm_start"], str(arrays["meta"])))
    np.savez(path, **arrays)
    loaded, _ = load_checkpoint(path)
    assert loaded.cpu_seconds == 0.0 and loaded.elapsed == 1.5

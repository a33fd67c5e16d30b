"""Data-parallel HF: shard arithmetic, equality with the unsharded model, and real 2-rank runs.

The multi-rank tests launch real processes with the launchers users run (``mpiexec`` from the mpich
wheel, ``torchrun``) and compare the checkpoints they write with a one-process run, bit for bit.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from hfcore.parallel import SerialComm, ShardedModel, ordered_sum, owned_shards, shard_bounds
from tests.helpers import make_model, make_task

BIN = Path(sys.executable).parent
MPIEXEC = shutil.which("mpiexec", path=str(BIN)) or shutil.which("mpiexec")
TORCHRUN = shutil.which("torchrun", path=str(BIN))
FAULTY = Path(__file__).with_name("faulty_rank.py")
TINY = ["task=addition", "task.T=10", "model.hidden=8", "hf.gradient_batch=200", "hf.curvature_batch=50",
        "task.test_size=100", "progress=false", "checkpoint.every=1"]

needs_mpi = pytest.mark.skipif(MPIEXEC is None or not shutil.which("mpiexec", path=str(BIN)),
                               reason="mpiexec not installed (pip install 'hfcore[mpi]')")
needs_torch = pytest.mark.extra("gloo")


# ---------------------------------------------------------------- shard arithmetic

@pytest.mark.parametrize("n, k", [(10, 1), (10, 3), (10, 10), (3, 8), (1000, 7)])
def test_shards_cover_every_sequence_once(n, k):
    bounds = shard_bounds(n, k)
    assert len(bounds) == min(n, k)
    assert bounds[0][0] == 0 and bounds[-1][1] == n
    assert all(a < b for a, b in bounds) and all(b == c for (_, b), (c, _) in zip(bounds, bounds[1:], strict=False))
    sizes = [b - a for a, b in bounds]
    assert max(sizes) - min(sizes) <= 1


@pytest.mark.parametrize("k, p", [(4, 1), (4, 2), (8, 4), (5, 3), (2, 2)])
def test_ranks_own_contiguous_blocks_covering_all_shards(k, p):
    blocks = [owned_shards(k, r, p) for r in range(p)]
    assert [s for b in blocks for s in b] == list(range(k))
    assert all(len(b) >= 1 for b in blocks)


def test_ordered_sum_is_left_to_right():
    rows = np.array([[1e16], [1.0], [-1e16], [1.0]])
    assert ordered_sum(rows)[0] == ((1e16 + 1.0) - 1e16) + 1.0


def test_bad_shard_count_is_refused():
    with pytest.raises(ValueError, match="shards must be >= 1"):
        shard_bounds(10, 0)


# ---------------------------------------------------------------- sharded model == whole-batch model

@pytest.fixture(scope="module", params=["targets", "sequences"])
def problem(request):
    task = make_task("addition", T=12)  # variable lengths; 23 sequences in 5 shards: unequal shard weights
    model = make_model(task.spec, hidden=7, normaliser=request.param)
    rng = np.random.default_rng(3)
    theta = model.init_params(rng)
    batch = task.sample(rng, 23)
    return model, theta, batch, request.param


@pytest.mark.parametrize("shards", [1, 2, 5, 23, 40])
def test_sharded_model_equals_whole_batch(problem, shards):
    model, theta, batch, normaliser = problem
    sharded = ShardedModel(model, SerialComm(), shards, normaliser)
    f, g = model.loss_and_grad(theta, batch)
    fs, gs = sharded.loss_and_grad(theta, batch)
    assert fs == pytest.approx(f, rel=1e-13)
    np.testing.assert_allclose(gs, g, rtol=1e-12, atol=1e-15)
    assert sharded.loss(theta, batch) == pytest.approx(float(model.loss(theta, batch)), rel=1e-13)
    v = np.random.default_rng(4).standard_normal(model.n_params)
    for weight in (0.0, 0.7):
        np.testing.assert_allclose(sharded.curvature(theta, batch).gv(v, weight),
                                   model.curvature(theta, batch).gv(v, weight), rtol=1e-11, atol=1e-14)
    np.testing.assert_allclose(sharded.predict(theta, batch), model.predict(theta, batch), rtol=1e-12, atol=1e-15)
    value, outputs = sharded.loss_and_predict(theta, batch)  # one pass per shard, then both exchanges
    assert value == sharded.loss(theta, batch)
    np.testing.assert_array_equal(outputs, sharded.predict(theta, batch))


def test_sharded_model_detects_a_wrong_weighting(problem):
    """The weights matter: plain averaging of shard losses differs when shards hold unequal work (5,5,5,4,4)."""
    model, theta, batch, _ = problem
    bounds = shard_bounds(batch.size, 5)
    plain = np.mean([float(model.loss(theta, batch.subset(a, b))) for a, b in bounds])
    assert abs(plain - float(model.loss(theta, batch))) > 1e-6


def test_a_failing_shard_raises_on_its_rank():
    task = make_task("addition", T=10)
    model = make_model(task.spec, hidden=4)
    theta = model.init_params(np.random.default_rng(0))
    batch = task.sample(np.random.default_rng(1), 8)

    class Broken:
        def __getattr__(self, name):
            return getattr(model, name)

        def loss(self, theta, batch):
            raise FloatingPointError("boom")

    with pytest.raises(FloatingPointError, match="boom") as info:
        ShardedModel(Broken(), SerialComm(), 2).loss(theta, batch)
    assert info.value.hfcore_shared


# ---------------------------------------------------------------- real launchers

def _env(tmp_path: Path) -> dict:
    return {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}", "MPIEXEC_TIMEOUT": "120",
            "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}


def launch(tmp_path: Path, how: str, *args: str, ranks: int = 2, script: list[str] | None = None,
           timeout: int = 150) -> subprocess.CompletedProcess:
    """Run hf-train (or ``script``) serially, under mpiexec or under torchrun, in ``tmp_path``."""
    program = script or ["-m", "hfcore.cli"]
    if how == "serial":
        cmd = [sys.executable, *program, *args]
    elif how == "mpi":
        cmd = [MPIEXEC, "-n", str(ranks), sys.executable, *program, *args, "parallel=mpi"]
    else:
        # --standalone: the rendezvous store binds a free port itself (no pick-then-bind race).
        cmd = [TORCHRUN, "--standalone", f"--nproc-per-node={ranks}", *program, *args, "parallel=torch"]
    return subprocess.run(cmd, cwd=tmp_path, env=_env(tmp_path), capture_output=True, text=True, timeout=timeout)


def state(tmp_path: Path, run_dir: str) -> dict:
    data = np.load(tmp_path / run_dir / "checkpoints" / "state.npz")
    meta = json.loads(str(data["meta"]))
    return {"theta": data["theta"], "warm": data["optimizer.warm_start"], "iteration": meta["iteration"],
            "lam": meta["optimizer"]["scalars"]["lam"], "counters": meta["counters"], "ranks": meta["extra"]["ranks"]}


def assert_same_trajectory(a: dict, b: dict) -> None:
    np.testing.assert_array_equal(a["theta"], b["theta"])
    np.testing.assert_array_equal(a["warm"], b["warm"])
    assert (a["iteration"], a["lam"], a["counters"]) == (b["iteration"], b["lam"], b["counters"])


@pytest.fixture(scope="module")
def serial_reference(tmp_path_factory):
    """Three HF iterations in one process, batches cut into 4 shards."""
    tmp = tmp_path_factory.mktemp("serial")
    out = launch(tmp, "serial", *TINY, "hf.max_iterations=3", "parallel.shards=4", "tracking=none",
                 "hydra.run.dir=run")
    assert out.returncode == 0, out.stderr[-3000:]
    return state(tmp, "run")


@needs_mpi
def test_mpi_two_ranks_match_one_process_bit_for_bit(tmp_path, serial_reference):
    out = launch(tmp_path, "mpi", *TINY, "hf.max_iterations=3", "parallel.shards=4", "hydra.run.dir=run")
    assert out.returncode == 0, out.stderr[-3000:]
    got = state(tmp_path, "run")
    assert got["ranks"] == 2
    assert_same_trajectory(got, serial_reference)
    assert out.stdout.count("not solved:") + out.stdout.count("SOLVED:") == 1  # only rank 0 reports
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    (run,) = client.search_runs([client.get_experiment_by_name("hfcore").experiment_id])
    assert run.info.status == "FINISHED" and run.data.tags["ranks"] == "2" and run.data.tags["parallel"] == "mpi"


@pytest.mark.parametrize("how, ranks", [pytest.param("mpi", 4, marks=needs_mpi, id="mpi-4-ranks"),
                                        pytest.param("torch", 2, marks=needs_torch, id="gloo-2-ranks")])
def test_other_rank_counts_match_one_process_bit_for_bit(tmp_path, serial_reference, how, ranks):
    out = launch(tmp_path, how, *TINY, "hf.max_iterations=3", "parallel.shards=4", "tracking=none",
                 "hydra.run.dir=run", ranks=ranks)
    assert out.returncode == 0, out.stderr[-3000:]
    assert_same_trajectory(state(tmp_path, "run"), serial_reference)


@needs_mpi
def test_checkpoint_from_two_ranks_resumes_on_one(tmp_path, serial_reference):
    first = launch(tmp_path, "mpi", *TINY, "hf.max_iterations=2", "parallel.shards=4", "tracking=none",
                   "hydra.run.dir=first")
    assert first.returncode == 0, first.stderr[-3000:]
    resume = f"checkpoint.resume={tmp_path / 'first' / 'checkpoints' / 'state.npz'}"
    second = launch(tmp_path, "serial", *TINY, "hf.max_iterations=3", "parallel.shards=4", "tracking=none",
                    resume, "hydra.run.dir=second")
    assert second.returncode == 0, second.stderr[-3000:]
    assert_same_trajectory(state(tmp_path, "second"), serial_reference)


@needs_mpi
def test_mpi_time_budget_stops_every_rank_at_the_same_iteration(tmp_path):
    """Each rank has its own clock; all follow rank 0's, so none is left waiting in a collective."""
    out = launch(tmp_path, "mpi", *TINY, "hf.max_iterations=100000", "hf.stop_on_success=false",
                 "hf.budget_seconds=2", "parallel.shards=2", "tracking=none", "hydra.run.dir=run")
    assert out.returncode == 0, out.stderr[-3000:]
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["wall_seconds"] >= 2 and 0 < summary["iterations"] < 100000  # the budget ended it


@needs_mpi
def test_mpi_rank_exception_ends_the_job_and_closes_the_run(tmp_path):
    out = launch(tmp_path, "mpi", *TINY, "hf.max_iterations=5", "parallel.shards=2", "hydra.run.dir=run",
                 script=[str(FAULTY), "1", "3", "raise"], timeout=120)
    assert out.returncode != 0
    assert "rank 1 of 2 RuntimeError: injected fault at iteration 3" in out.stderr
    assert "rank 1 of 2 failed" in out.stderr
    assert state(tmp_path, "run")["iteration"] == 2  # the last finished iteration's checkpoint survives
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    (run,) = client.search_runs([client.get_experiment_by_name("hfcore").experiment_id])
    assert run.info.status == "FAILED"


@needs_mpi
def test_mpi_killed_rank_ends_the_job(tmp_path):
    out = launch(tmp_path, "mpi", *TINY, "hf.max_iterations=5", "parallel.shards=2", "tracking=none",
                 "hydra.run.dir=run", script=[str(FAULTY), "1", "3", "kill"], timeout=120)
    assert out.returncode != 0 and "Killed (signal 9)" in out.stdout + out.stderr
    # Rank 0 may be killed while writing iteration 2's checkpoint; the atomic write leaves iteration 1's intact.
    assert state(tmp_path, "run")["iteration"] in (1, 2)


@needs_torch
def test_torch_rank_exception_ends_the_job(tmp_path):
    out = launch(tmp_path, "torch", *TINY, "hf.max_iterations=5", "parallel.shards=2", "tracking=none",
                 "hydra.run.dir=run", script=[str(FAULTY), "1", "3", "raise"], timeout=120)
    assert out.returncode != 0 and "rank 1 of 2 RuntimeError: injected fault" in out.stderr


# ---------------------------------------------------------------- configuration errors, before any work

@pytest.mark.parametrize("args, message", [
    (["parallel.shards=0"], "parallel.shards must be >= 1"),
    # With torch, outside a launcher: the launcher's variables are missing. Without torch: the extra is.
    pytest.param(["parallel=torch"], "parallel=torch needs", marks=pytest.mark.extra("torch"), id="torch-no-launcher"),
    (["parallel=nope"], "parallel"),
])
def test_bad_parallel_settings_fail_in_one_line(tmp_path, args, message):
    env = {k: v for k, v in _env(tmp_path).items() if k not in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")}
    out = subprocess.run([sys.executable, "-m", "hfcore.cli", *TINY, "tracking=none", *args], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode != 0 and message in out.stderr
    assert "Traceback" not in out.stderr


def test_parallel_torch_without_torch_names_the_extra(tmp_path):
    """With torch absent (hidden here, so the test runs with or without it) the one line names the extra."""
    code = ("import sys\nsys.modules['torch'] = None\nfrom hfcore.cli import main\n"
            f"sys.argv = ['hf-train', *{[*TINY, 'tracking=none', 'parallel=torch']!r}]\nmain()")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=_env(tmp_path), capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 2, out.stderr
    (line,) = [x for x in out.stderr.splitlines() if x.strip()]
    assert line == "hf-train: error: parallel 'torch' needs the torch extra: pip install 'hfcore[torch]'"


def test_launcher_without_parallel_setting_is_refused(tmp_path):
    env = {**_env(tmp_path), "PMI_SIZE": "2", "PMI_RANK": "0"}
    out = subprocess.run([sys.executable, "-m", "hfcore.cli", *TINY, "tracking=none"], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and "add parallel=mpi" in out.stderr


@needs_mpi
def test_fewer_shards_than_ranks_is_refused(tmp_path):
    out = launch(tmp_path, "mpi", *TINY, "parallel.shards=1", "tracking=none")
    assert out.returncode != 0 and "fewer than the 2 ranks" in out.stderr


@needs_mpi
def test_ctrl_c_on_mpiexec_stops_every_rank_and_closes_the_run(tmp_path):
    """mpiexec forwards Ctrl-C to every rank; they stop at the same exchange and rank 0 marks the run KILLED."""
    import signal

    from tests.helpers import signal_after_checkpoint

    args = ["task=addition", "task.T=30", "model.hidden=32", "hf.gradient_batch=2000", "hf.curvature_batch=500",
            "task.test_size=100", "hf.max_iterations=500", "progress=false", "checkpoint.every=1",
            "hydra.run.dir=run", "parallel=mpi"]
    proc = subprocess.Popen([MPIEXEC, "-n", "2", sys.executable, "-m", "mpi4py", "-m", "hfcore.cli", *args],
                            cwd=tmp_path, env=_env(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    err = signal_after_checkpoint(proc, tmp_path / "run" / "checkpoints" / "state.npz", signal.SIGINT)
    assert proc.returncode == 130, err[-3000:]
    assert "all 2 ranks stopped" in err
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    (run,) = client.search_runs([client.get_experiment_by_name("hfcore").experiment_id])
    assert run.info.status == "KILLED"
    assert state(tmp_path, "run")["iteration"] >= 1


@needs_torch
def test_sharded_torch_model_equals_whole_batch():
    """The seam is backend-agnostic: torch tensors cross it through the model's to_numpy/from_numpy."""
    from types import SimpleNamespace

    from tests.helpers import REGISTRY, definition, model_cfg

    task = make_task("addition", T=12)
    cfg = model_cfg(hidden=6)
    model = REGISTRY.get("backend", "torch").factory(definition(task.spec, cfg), cfg,
                                                     SimpleNamespace(name="torch", dtype="float64", device="cpu"))
    rng = np.random.default_rng(5)
    theta = model.init_params(rng)
    batch = task.sample(rng, 17)
    sharded = ShardedModel(model, SerialComm(), 4)
    f, g = model.loss_and_grad(theta, batch)
    fs, gs = sharded.loss_and_grad(theta, batch)
    assert fs == pytest.approx(float(f), rel=1e-13)
    np.testing.assert_allclose(model.to_numpy(gs), model.to_numpy(g), rtol=1e-12, atol=1e-15)
    v = model.from_numpy(np.random.default_rng(6).standard_normal(model.n_params))
    np.testing.assert_allclose(model.to_numpy(sharded.curvature(theta, batch).gv(v, 0.3)),
                               model.to_numpy(model.curvature(theta, batch).gv(v, 0.3)), rtol=1e-11, atol=1e-14)
    value, outputs = sharded.loss_and_predict(theta, batch)
    assert value == pytest.approx(model.loss(theta, batch), rel=1e-13)
    np.testing.assert_allclose(outputs, model.predict(theta, batch), rtol=1e-12, atol=1e-15)


@needs_mpi
def test_srun_with_mismatched_pmi_is_refused(tmp_path):
    """Under srun with the wrong PMI every task would be 'rank 0 of 1' and run the whole job alone."""
    env = {**_env(tmp_path), "SLURM_NTASKS": "4", "SLURM_STEP_ID": "0"}
    out = subprocess.run([sys.executable, "-m", "hfcore.cli", *TINY, "tracking=none", "parallel=mpi"], cwd=tmp_path,
                         env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and "SLURM started 4 tasks but MPI sees 1 rank(s)" in out.stderr

"""Smoke tests of ``benchmarks/``: the scripts run at a tiny size and their reports have the right structure.

No timing or memory figure is asserted (the machines are shared; see ``benchmarks/README.md``); only
headers, columns, which rows exist, and that the benchmarked backends agree with numpy.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "benchmarks"


def run_script(script: str, *args: str, timeout: float = 180.0) -> subprocess.CompletedProcess:
    """Run ``benchmarks/<script>`` with this interpreter; fail with its stderr when it fails."""
    proc = subprocess.run([sys.executable, str(BENCH / script), *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)
    assert proc.returncode == 0, f"{script} failed:\n{proc.stderr[-3000:]}"
    return proc


def section(text: str, heading: str) -> str:
    """The part of a markdown report from ``heading`` to the next heading of level 1 or 2."""
    start = text.index(heading)
    rest = text[start + len(heading):]
    ends = [i for i in (rest.find("\n## "), rest.find("\n# ")) if i >= 0]
    return rest[: min(ends)] if ends else rest


def table_rows(text: str, first_cells: tuple[str, ...]) -> list[list[str]]:
    """Rows of markdown tables whose first cells equal ``first_cells``."""
    rows = []
    for line in text.splitlines():
        if line.startswith("|"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            if tuple(cells[: len(first_cells)]) == first_cells:
                rows.append(cells)
    return rows


@pytest.fixture(scope="module")
def micro_small(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict]:
    out = tmp_path_factory.mktemp("micro")
    proc = run_script("micro.py", "--sizes", "small", "--repeats", "1", "--json", str(out / "m.json"),
                      "--markdown", str(out / "m.md"))
    text = (out / "m.md").read_text()
    assert text.strip() == proc.stdout.strip(), "the markdown file and stdout differ"
    return text, json.loads((out / "m.json").read_text())


def test_micro_header_names_blas_kernel_threads_and_versions(micro_small):
    text, results = micro_small
    assert text.startswith("# hfcore micro-benchmarks")
    for needle in ("numpy BLAS: **", "kernel `", "threads: **1 (primary)**", "- CPU: ", "python ", "numpy ",
                   "OPENBLAS_CORETYPE", "load average"):
        assert needle in text, needle
    env = results["env"]
    assert env["blas"] and all("architecture" in lib for lib in env["blas"])
    assert env["python"] and env["numpy"]


def test_micro_tables_have_ratio_and_bound_columns(micro_small):
    text, results = micro_small
    for heading in ("## Gv against the GEMM floor, 1 thread", "## All operations, 1 thread",
                    "## float32 speed-up", "## GEMM rates measured in this run, 1 thread",
                    "## What one HF iteration contained", "## Agreement with the NumPy backend"):
        assert heading in text, heading
    for column in ("ratio to numpy (median)", "ratio to numpy (min)", "GEMM-only bound ms", "% of bound (min)",
                   "skeleton ms min / median", "Gv ÷ skeleton (min)", "GF/s median"):
        assert f"| {column} |" in text, column
    backends = results["options"]["backends"]
    assert backends[0] == "numpy"
    gv_table = section(text, "## Gv against the GEMM floor, 1 thread")
    for size in ("small-linear", "small-logistic"):
        for dtype in ("float64", "float32"):
            for backend in backends:
                gv = table_rows(gv_table, (size, dtype, backend))
                assert len(gv) == 1, (size, dtype, backend)
                if backend == "numpy":
                    assert gv[0][4] == "1.00x"  # numpy is its own baseline
                else:
                    assert gv[0][4].endswith("x")


def test_micro_times_every_op_of_every_backend_and_hf_does_20_products(micro_small):
    _, results = micro_small
    seen = {(r["size"], r["dtype"], r["backend"], r["op"]) for r in results["samples"]}
    for size in ("small-linear", "small-logistic"):
        for dtype in ("float64", "float32"):
            for backend in results["options"]["backends"]:
                for op in ("forward", "gradient", "bind", "gv", "cg_iter", "hf"):
                    assert (size, dtype, backend, op) in seen
            for provider in ("numpy", "torch") if "torch" in results["options"]["backends"] else ("numpy",):
                for op in ("skeleton", "rate:step", "rate:batched", "rate:dW"):
                    assert (size, dtype, f"gemm:{provider}", op) in seen
    assert all(r["seconds"] > 0 for r in results["samples"])
    assert results["hf"] and all(h["gv_products"] == 20 for h in results["hf"])


def test_micro_backends_agree_with_numpy(micro_small):
    _, results = micro_small
    for check in results["checks"]:
        tol = 1e-8 if check["dtype"] == "float64" else 1e-3
        for key in ("loss", "gradient", "gv"):
            assert check[key] <= tol, check


@pytest.mark.extra("torch")
def test_micro_covers_torch_when_it_is_installed(micro_small):
    """The same report with the torch backend in it (CI's second stage, where torch is installed)."""
    _, results = micro_small
    assert "torch" in results["options"]["backends"]
    test_micro_times_every_op_of_every_backend_and_hf_does_20_products(micro_small)
    test_micro_backends_agree_with_numpy(micro_small)


def test_micro_extra_threads_and_kernel_check(tmp_path):
    proc = run_script("micro.py", "--sizes", "small-linear", "--backends", "numpy", "--dtypes", "float64",
                      "--repeats", "1", "--threads", "2", "--kernel-check", "--json", str(tmp_path / "k.json"))
    text = proc.stdout
    assert "## Gv against the GEMM floor, 2 threads — LOAD-SENSITIVE" in text
    assert "## Kernel check" in text and "| ratio as-is ÷ stripped |" in text
    assert "# Child run without the kernel variables" in text
    saved = json.loads((tmp_path / "k.json").read_text())
    assert set(saved) == {"as_is", "stripped"}
    assert {r["threads"] for r in saved["stripped"]["samples"]} == {1, 2}
    rerender = run_script("micro.py", "--from-json", str(tmp_path / "k.json"))
    assert "## Kernel check" in rerender.stdout


def test_memory_small_report(tmp_path):
    proc = run_script("memory.py", "--sizes", "small-linear", "--backends", "numpy", "--dtypes", "float64",
                      "--ops", "loss_grad", "--json", str(tmp_path / "mem.json"))
    assert "| peak RSS MiB (ru_maxrss) | VmHWM MiB |" in proc.stdout
    assert len(table_rows(proc.stdout, ("numpy", "float64", "loss_grad"))) == 1
    row = json.loads((tmp_path / "mem.json").read_text())["rows"][0]
    assert row["peak"] >= row["rss_data"] > 0


def test_peer_runs_or_explains_how_to_install_it():
    proc = run_script("peer.py", "--sizes", "small-linear", "--repeats", "1", "--dtypes", "float64")
    try:
        import hessianfree  # noqa: F401
    except Exception:
        assert "pip install" in proc.stdout and "hessianfree==0.4.0" in proc.stdout
        assert "separate benchmark environment" in proc.stdout
        return
    assert "## Equality" in proc.stdout and "| speed-up (median) |" in proc.stdout


@pytest.mark.parametrize("comm, label", [
    ("mpi", "MPI, 2 ranks"),
    pytest.param("torch", "gloo, 2 ranks", marks=pytest.mark.extra("gloo")),
])
def test_scaling_small_report(tmp_path, comm, label):
    """One round at a tiny size: the baseline, the sharded process and the communicator report 20 Gv."""
    proc = run_script("scaling.py", "--size", "small-linear", "--rounds", "1", "--iters", "1", "--comms", comm,
                      "--json", str(tmp_path / "s.json"))
    assert "| speed-up vs baseline median |" in proc.stdout
    data = json.loads((tmp_path / "s.json").read_text())
    assert not data["failures"], data["failures"]
    labels = {c["label"] for c in data["configurations"]}
    assert labels == {"1 process (baseline)", "1 process, 2 shards", label}
    assert all(r["gv"] == [20] for r in data["results"].values())
    if data["retried"]:  # a launch that failed once and then worked is shown, not hidden
        assert "worked on retry" in proc.stdout


def test_scaling_without_torchrun_says_which_extra(tmp_path):
    """Asked for gloo where torch is missing (hidden here by a PATH without torchrun): one line naming the extra."""
    code = ("import shutil, sys, runpy\n"
            "real = shutil.which\n"
            "shutil.which = lambda name, **kw: None if name == 'torchrun' else real(name, **kw)\n"
            f"sys.argv = ['scaling.py', '--comms', 'torch', '--size', 'small-linear']\n"
            f"runpy.run_path({str(BENCH / 'scaling.py')!r}, run_name='__main__')")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "--comms torch needs torch and its torchrun: pip install 'hfcore[torch]'" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_scaling_failure_reason_prefers_the_ranks_own_error():
    """torchrun ends with its own ChildFailedError line; the reported reason is the rank's error above it."""
    sys.path.insert(0, str(BENCH))
    from scaling import failure_reason

    stderr = "\n".join([
        "Traceback (most recent call last):",
        '  File "x.py", line 3, in <module>',
        "RuntimeError: Gloo connectFullMesh failed with Connection refused",
        "torch.distributed.elastic.multiprocessing.errors.ChildFailedError:",
        "============================================================",
    ])
    assert failure_reason(stderr) == "RuntimeError: Gloo connectFullMesh failed with Connection refused"
    assert failure_reason("ChildFailedError: x\n") == "ChildFailedError: x"
    assert failure_reason("") == "?"


TINY_MACRO = ["--T", "12", "--seeds", "0", "--override", "model.hidden=8", "task.test_size=200",
              "hf.gradient_batch=200", "hf.curvature_batch=100", "hf.fresh_batch=100", "hf.max_iterations=2"]


def test_macro_records_time_to_success_and_resumes(tmp_path):
    out = tmp_path / "macro"
    proc = run_script("macro.py", *TINY_MACRO, "--out", str(out), timeout=300)
    assert "| solver | problem | T | profile | solved | median CPU s | median wall s |" in proc.stdout
    assert "| hfcore | addition | 12 | paper | 0/1 |" in proc.stdout  # two iterations cannot solve it: counted
    (row,) = table_rows((out / "macro.md").read_text(), ("hfcore", "addition", "12", "paper", "0"))
    assert row[5:7] == ["False", "2"]  # not solved in 2 iterations
    (recorded,) = csv.DictReader((out / "runs.csv").open())
    assert float(recorded["cpu_seconds"]) > 0 and int(recorded["gv_products"]) > 0
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    again = run_script("macro.py", *TINY_MACRO, "--out", str(out), "--mlflow", uri)
    assert "0 runs to do, 1 already recorded" in again.stderr + again.stdout
    # A second profile on the same seed, then the paired table: a failure on both sides has no ratio.
    run_script("macro.py", *TINY_MACRO, "solver.max_iters=5", "--out", str(out), "--profile", "cg5")
    paired = run_script("macro.py", "--report-only", "--out", str(out), "--compare", "paper", "cg5")
    assert "## `cg5` against `paper` (paired seeds)" in paired.stdout
    assert "| addition | 12 | 0/1 | 0/1 | - | - | - |" in paired.stdout
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    (run,) = client.search_runs([client.get_experiment_by_name("benchmarks").experiment_id])
    assert run.info.status == "FINISHED" and run.data.metrics  # the report's figures


def test_macro_peer_gets_the_same_problem(tmp_path):
    sys.path.insert(0, str(BENCH))
    from macro import to_peer

    from tests.helpers import make_task

    batch = make_task("addition", T=20, test_size=10).sample(np.random.default_rng(0), 7)
    x, y = to_peer(batch, np.float64)
    assert x.shape == (7, batch.steps, 2) and np.array_equal(x[3], batch.inputs[:, 3])
    assert np.array_equal(np.isnan(y[..., 0]), batch.mask.T == 0)  # a target exactly where we have a loss term
    assert np.array_equal(y[~np.isnan(y)], batch.targets.transpose(1, 0, 2)[batch.mask.T > 0].ravel())
    try:
        import hessianfree  # noqa: F401
    except Exception:
        failed = subprocess.run([sys.executable, str(BENCH / "macro.py"), "--peer", "--out", str(tmp_path / "m")],
                                capture_output=True, text=True)
        assert failed.returncode == 2 and "--peer needs hessianfree==0.4.0" in failed.stderr
        return
    proc = run_script("macro.py", *TINY_MACRO, "--peer", "--no-ours", "--peer-budget-seconds", "2",
                      "--peer-batch", "100", "--peer-cg-iters", "5", "--out", str(tmp_path / "m"))
    (row,) = table_rows(proc.stdout, ("peer", "12", "paper", "0"))
    assert int(row[5]) >= 1 and row[-1] == "0"


def test_cg_precision_runs_every_variant(tmp_path):
    """The four precisions solve the same tiny subproblem; float32 errors are small but not zero."""
    proc = run_script("cg_precision.py", "--T", "12", "--override", "model.hidden=8", "hf.gradient_batch=200",
                      "hf.curvature_batch=100", "task.test_size=100", "--json", str(tmp_path / "c.json"))
    assert "| precision | CG steps |" in proc.stdout
    data = json.loads((tmp_path / "c.json").read_text())
    assert [r["variant"] for r in data["rows"]] == ["float64", "float32", "float32, f64 CG",
                                                     "float32 Gv, f64 gradient"]
    assert all(r["steps"] >= 1 and r["phi_end"] < 0 for r in data["rows"])
    assert 0 < data["errors"]["gradient"] < 1e-4 and 0 < data["errors"]["gv"] < 1e-4


def test_gv_precision_threshold_solves_each_lambda_in_both_precisions(tmp_path):
    proc = run_script("gv_precision_threshold.py", "--T", "12", "--lambdas", "0.05", "0.01", "--override",
                      "model.hidden=8", "hf.gradient_batch=200", "hf.curvature_batch=100", "task.test_size=100",
                      "--json", str(tmp_path / "t.json"))
    assert "| lambda | float64 CG steps | float32 CG steps |" in proc.stdout
    rows = json.loads((tmp_path / "t.json").read_text())["rows"]
    assert [(r["lam"], r["precision"]) for r in rows] == [(0.05, "float64"), (0.05, "float32"), (0.01, "float64"),
                                                          (0.01, "float32")]
    assert all(r["steps"] >= 1 and r["phi_end"] < 0 and r["cpu_seconds"] >= 0 for r in rows)


def test_table_figures_names_each_measured_number_by_heading_row_and_column():
    sys.path.insert(0, str(BENCH))
    from benchlib import table_figures

    report = "\n".join([
        "# Gv", "", "| size | dtype | solved | median ms | ratio | verdict |", "|---|---|---|---|---|---|",
        "| h100 | float64 | 3/3 | **1,234.5 ms** | 1.24× | not met |", "",
        "## Runs", "", "| solver | T | seed | CPU s |", "|---|---|---|---|", "| hfcore | 50 | 0 | 404.2 |",
        "| hfcore | 50 | 1 | 344 |",
    ])
    assert table_figures(report) == {
        "Gv/h100 float64/median ms": 1234.5, "Gv/h100 float64/ratio": 1.24,
        "Runs/hfcore T 50 seed 0/CPU s": 404.2, "Runs/hfcore T 50 seed 1/CPU s": 344.0,
    }


def test_a_benchmark_logs_its_figures_to_mlflow(tmp_path):
    """--mlflow: one FINISHED run in the 'benchmarks' experiment, with the environment, figures and report."""
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    run_script("cg_precision.py", "--T", "12", "--override", "model.hidden=8", "hf.gradient_batch=200",
               "hf.curvature_batch=100", "task.test_size=100", "--mlflow", uri)
    client = MlflowClient(tracking_uri=uri)
    (run,) = client.search_runs([client.get_experiment_by_name("benchmarks").experiment_id])
    assert run.info.status == "FINISHED" and run.info.run_name == "cg_precision"
    assert any(k.endswith("/CG steps") for k in run.data.metrics)
    assert any(k.startswith("blas.") for k in run.data.params)
    assert {a.path for a in client.list_artifacts(run.info.run_id)} == {"cg_precision.md", "cg_precision.json"}


def test_lstm_gv_reports_the_ratio_to_the_gradient(tmp_path):
    proc = run_script("lstm_gv.py", "--H", "20", "--B", "8", "--T", "5", "--repeats", "2",
                      "--json", str(tmp_path / "l.json"), "--markdown", str(tmp_path / "l.md"))
    text = (tmp_path / "l.md").read_text()
    assert text.strip() == proc.stdout.strip()
    assert "numpy BLAS" in text and "threads: **1 (primary)**" in text
    for op in ("forward", "gradient", "bind", "gv"):
        (row,) = table_rows(text, (op,))
        assert row[1] == "2" and row[-1].endswith("x")
    assert "gv / gradient:" in text and "the target of 1.5x" in text
    assert len(json.loads((tmp_path / "l.json").read_text())["seconds"]["gv"]) == 2


def test_equality_tables_measure_every_backend_that_builds_the_model(tmp_path):
    proc = run_script("equality.py", "--models", "lstm", "no_such_model", "--markdown", str(tmp_path / "e.md"))
    text = (tmp_path / "e.md").read_text()
    assert "| no_such_model | (not registered" in text
    for output in ("linear", "logistic", "softmax"):
        (numpy_row,) = table_rows(text, ("lstm", "numpy", output))
        assert numpy_row[5:] == ["(reference)"] * 3  # numpy has the hand-written R-op: the reference
        assert float(numpy_row[3]) < 1e-6 and float(numpy_row[4]) < 1e-6  # finite differences, dense J'HJ
        (autograd_row,) = table_rows(text, ("lstm", "autograd", output))
        assert max(float(x) for x in autograd_row[5:]) < 1e-12
    assert text.strip().endswith(proc.stdout.strip().splitlines()[-1])


def test_gv_benchmark_and_equality_tables_cover_the_numpy_gru(tmp_path):
    proc = run_script("lstm_gv.py", "--model", "gru", "--H", "6", "--B", "4", "--T", "3", "--repeats", "1")
    assert proc.stdout.startswith("# NumPy GRU: Gv against the gradient")
    assert "model `gru`, backend `numpy`, float64: H = 6 units" in proc.stdout and "gv / gradient:" in proc.stdout
    run_script("equality.py", "--models", "gru", "--markdown", str(tmp_path / "e.md"))
    text = (tmp_path / "e.md").read_text()
    for output in ("linear", "logistic", "softmax"):
        (numpy_row,) = table_rows(text, ("gru", "numpy", output))
        assert numpy_row[5:] == ["(reference)"] * 3  # the hand-written R-op is the reference now
        assert float(numpy_row[3]) < 1e-6 and float(numpy_row[4]) < 1e-6
        (autograd_row,) = table_rows(text, ("gru", "autograd", output))
        assert max(float(x) for x in autograd_row[5:]) < 1e-12


@pytest.mark.extra("torch")
def test_gv_torch_checks_agreement_and_reports_numpy_over_torch(tmp_path):
    proc = run_script("gv_torch.py", "--models", "lstm", "no_such_model", "--H", "20", "--B", "8", "--T", "5",
                      "--repeats", "2", "--json", str(tmp_path / "g.json"), "--markdown", str(tmp_path / "g.md"))
    text = (tmp_path / "g.md").read_text()
    assert text.strip() == proc.stdout.strip()
    assert "skipped model 'no_such_model': not registered" in proc.stderr
    assert "- skipped `no_such_model`: not registered in this install" in text
    assert "numpy BLAS" in text and "- torch: " in text and "threads: **1 (primary)**" in text
    (agree,) = table_rows(section(text, "## Agreement"), ("lstm",))
    assert max(float(x) for x in agree[1:]) < 1e-10  # the same model and parameters on both backends
    for backend in ("numpy", "torch"):
        for op in ("gradient", "bind", "gv"):
            (row,) = table_rows(text, ("lstm", backend, op))
            assert row[3] == "2" and row[-1].endswith("x")
    ratios = section(text, "## NumPy / torch")
    assert [r[1] for r in table_rows(ratios, ("lstm",))] == ["gradient", "bind", "gv"]
    assert "**lstm: NumPy Gv / torch Gv" in ratios and "the target of at most 1.3x" in ratios
    seconds = json.loads((tmp_path / "g.json").read_text())["results"]["lstm"]["seconds"]
    assert len(seconds["torch"]["gv"]) == 2 and len(seconds["numpy"]["gradient"]) == 2


@pytest.mark.parametrize("model, sets, labels", [
    (["--cells-per-block", "2"], ["tikhonov", "hidden,cell"], ["| none (Tikhonov only)", "| {hidden, cell}"]),
    (["--model", "gru"], ["tikhonov", "update,reset,candidate"],
     ["| none (Tikhonov only)", "| {update, reset, candidate} (default)"])], ids=["lstm", "gru"])
def test_lstm_signals_records_each_set_and_seed_and_resumes(tmp_path, model, sets, labels):
    tiny = ["--out", str(tmp_path), *model, "--sets", *sets, "--seeds", "0", "--T", "10", "--hidden", "4",
            "--test-size", "20", "--budget-cpu", "60",
            "--extra", "hf.max_iterations=2", "hf.gradient_batch=40", "hf.curvature_batch=20"]
    run_script("lstm_signals.py", *tiny)
    with (tmp_path / "runs.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [(r["signals"], r["damping"], r["returncode"]) for r in rows] == [
        ("tikhonov", "tikhonov", "0"), (sets[1], "structural", "0")]
    assert all(r["solved"] in ("True", "False") and int(r["iterations"]) == 2 for r in rows)
    assert f"model.damped_signals=[{sets[1]}]" in rows[1]["command"] and "damping=tikhonov" in rows[0]["command"]
    assert all(f"model={'gru' if 'gru' in model else 'lstm'} " in r["command"] for r in rows)
    again = run_script("lstm_signals.py", *tiny)  # both rows are there: nothing runs again
    assert again.stdout == "" and len((tmp_path / "runs.csv").read_text().splitlines()) == 3
    shown = run_script("lstm_signals.py", "--out", str(tmp_path), "--table").stdout.splitlines()
    assert shown[0] == "| signals damped | seed 0: minibatches / CPU s | solved | median of the solved |"
    assert [line.split(" | ")[0] for line in shown[2:]] == labels
    other = "lstm" if "gru" in model else "gru"  # one folder holds one model's runs
    refused = subprocess.run([sys.executable, str(BENCH / "lstm_signals.py"), "--out", str(tmp_path), "--model",
                              other, "--dry-run"], capture_output=True, text=True)
    assert refused.returncode == 2 and "holds" in refused.stderr and refused.stdout == ""


def test_lstm_signals_table_reads_the_committed_lstm_runs():
    """The LSTM's committed ablation (rows without a model column) is still read as the LSTM's."""
    shown = run_script("lstm_signals.py", "--out", str(ROOT / "docs" / "results" / "lstm-signals"),
                       "--table").stdout.splitlines()
    assert shown[3].startswith("| {cell_inputs, gates} (default) | ") and len(shown) == 8


def test_a_run_stopped_by_a_signal_is_recorded_from_its_checkpoint(tmp_path):
    """hf-train writes no summary.json when a signal stops it; the row comes from its last checkpoint."""
    sys.path.insert(0, str(BENCH))
    from sweeps import run_hf_train

    stopped = ("import sys, numpy as np\n"
               "from hfcore.checkpoint import save_checkpoint\n"
               "from hfcore.hf import HFState\n"
               "from hfcore.state import RunState, seed_streams\n"
               "from hfcore.types import Counters\n"
               "_, data = seed_streams(0)\n"
               "theta = np.zeros(3)\n"
               "save_checkpoint(sys.argv[1], RunState(iteration=7, theta=theta, optimizer=HFState(lam=1.0,"
               " warm_start=theta), data_rng=data.bit_generator.state, counters=Counters(gradient_evals=7,"
               " gv_products=90, sequences_gradient=7000, sequences_curvature=90000), elapsed=12.5,"
               " cpu_seconds=11.0, test_error=0.4))\n"
               "sys.exit(143)\n")
    run_dir = tmp_path / "run"
    rc, summary, _ = run_hf_train([sys.executable, "-c", stopped, str(run_dir / "checkpoints" / "state.npz")],
                                  run_dir)
    assert rc == 143 and not (run_dir / "summary.json").exists()
    assert summary["solved"] is False and summary["iterations"] == 7 and summary["gv_products"] == 90
    assert summary["minibatches"] == 97 and summary["cpu_seconds"] == 11.0 and summary["test_error"] == 0.4
    # a run that wrote neither has nothing to report
    assert run_hf_train([sys.executable, "-c", "raise SystemExit(1)"], tmp_path / "none")[:2] == (1, {})


def test_macro_compare_tells_a_stopped_run_from_a_failure():
    sys.path.insert(0, str(BENCH))
    from macro import compare

    def row(profile, seed, solved, rc, cpu, iterations):
        return {"solver": "hfcore", "problem": "multiplication", "T": "100", "profile": profile, "seed": str(seed),
                "solved": str(solved), "returncode": str(rc), "cpu_seconds": str(cpu), "iterations": str(iterations),
                "gv_products": "10", "minibatches": "5"}

    table = compare([row("paper", 0, True, 0, 100.0, 9), row("is11", 0, False, 143, 2500.0, 60),
                     row("paper", 1, False, 0, 300.0, 20), row("is11", 1, True, 0, 50.0, 4),
                     row("paper", 2, False, 1, 30.0, 2), row("is11", 2, True, 0, 40.0, 3)], "paper", "is11")
    assert "| multiplication | 100 | 2 | **failed** (30 CPU s, 2 it.) | 40 / 10 / 5 | - |" in table  # a crash
    assert "| multiplication | 100 | 0 | 100 / 10 / 5 | **stopped** (2,500 CPU s, 60 it.) | - |" in table
    assert "| multiplication | 100 | 1 | **not solved** (300 CPU s, 20 it.) | 50 / 10 / 5 | - |" in table

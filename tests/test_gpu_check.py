"""benchmarks/gpu_check.sh, the script a session lent a GPU runs: its arguments, and its dry run on the CPU
(the same commands at tiny sizes: the CUDA tests, a resumable training stopped by its limit, the Gv benchmark)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "gpu_check.sh"


def gpu_check(out: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    import sys

    env = {**os.environ, "OUT": str(out), "PYTHON": sys.executable}
    return subprocess.run(["bash", str(SCRIPT), *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout)


def test_help_names_every_option(tmp_path):
    done = gpu_check(tmp_path / "out", "--help")
    assert done.returncode == 0
    for option in ("--checkpoint PATH", "--wall-limit S", "--iterations N", "--skip LIST", "--dry-run"):
        assert option in done.stdout, option
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("args, message", [
    (["--bogus"], "unknown argument '--bogus' (see --help)"),
    (["--wall-limit", "ten"], "--wall-limit must be a whole number of seconds > 0, got 'ten'"),
    (["--wall-limit"], "--wall-limit needs a number of seconds"),
    (["--iterations", "-3"], "--iterations must be a whole number > 0, got '-3'"),
    (["--skip", "tests,bench"], "--skip takes tests, train and gv, got 'bench'"),
    (["--checkpoint", "missing/state.npz"], "no checkpoint file missing/state.npz"),
])
def test_bad_arguments_are_one_line_before_any_work(tmp_path, args, message):
    done = gpu_check(tmp_path / "out", *args)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.strip().splitlines() == [f"gpu_check.sh: error: {message}"]
    assert not (tmp_path / "out").exists()


@pytest.mark.extra("torch")
def test_dry_run_runs_each_part_and_resumes_the_training_from_its_checkpoint(tmp_path):
    first = gpu_check(tmp_path / "a", "--dry-run", "--iterations", "2")
    assert first.returncode == 0, first.stderr[-3000:]
    a = tmp_path / "a"
    summary = (a / "summary.txt").read_text()
    assert "dry_run=1 device=cpu" in summary and "tests: exit 0 (" in summary and "gv: exit 0 (" in summary
    assert "skipped" in (a / "cuda-tests.txt").read_text()  # no CUDA here: the CUDA tests skip
    assert "train: exit 0 (ended: solved or at its cap)" in summary
    (line,) = (a / "devices.log").read_text().splitlines()
    assert " iterations 1-2 backend=torch device=cpu (cpu) " in line and "resumed_from=none" in line
    assert (a / "checkpoint" / "state.npz").is_file()
    gv = (a / "gv-cpu.md").read_text()
    assert "## Agreement: torch against NumPy" in gv and "| lstm | torch | gv |" in gv

    ckpt = a / "checkpoint" / "state.npz"
    again = gpu_check(tmp_path / "b", "--dry-run", "--iterations", "3", "--skip", "tests,gv", "--checkpoint",
                      str(ckpt))
    assert again.returncode == 0, again.stderr[-3000:]
    b = tmp_path / "b"
    lines = (b / "devices.log").read_text().splitlines()
    assert len(lines) == 2 and lines[0] == line  # the resumed checkpoint's history comes first
    assert " iterations 3-3 backend=torch device=cpu " in lines[1] and f"resumed_from={ckpt}" in lines[1]
    assert "iterations=3 " in lines[1]
    assert not (b / "cuda-tests.txt").exists() and not list(b.glob("gv-*"))

"""Small builders shared by the engine tests."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path
from types import SimpleNamespace

from hfcore.registry import load_plugins

_, REGISTRY = load_plugins()


def model_cfg(**overrides):
    base = dict(name="rnn_tanh", hidden=8, l2=2e-5, init="sparse", num_connections=15, init_scale=1.0,
                input_scale=0.25, normaliser="targets")
    base.update(overrides)
    return SimpleNamespace(**base)


def backend_cfg(dtype="float64"):
    return SimpleNamespace(name="numpy", dtype=dtype)


def make_task(name, **overrides):
    component = REGISTRY.get("task", name)
    cfg = component.config
    for key, value in overrides.items():
        setattr(cfg, key, value)
    return component.factory(cfg)


def definition(spec, cfg):
    """The registered model ``cfg.name``'s definition for ``spec``."""
    return REGISTRY.get("model", cfg.name).factory(spec, cfg)


def make_model(spec, **overrides):
    cfg = model_cfg(**overrides)
    return REGISTRY.get("backend", "numpy").factory(definition(spec, cfg), cfg, backend_cfg())


def signal_after_checkpoint(proc: subprocess.Popen, checkpoint: Path, signum: signal.Signals,
                            timeout: float = 120.0) -> str:
    """Send ``signum`` to ``proc`` once ``checkpoint`` exists (a finished iteration); return its stderr."""
    deadline = time.monotonic() + timeout
    while not checkpoint.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    proc.send_signal(signum)
    return proc.communicate(timeout=timeout)[1]


RECORDED_KERNEL = "SkylakeX"
"""The OpenBLAS kernel under which the bit-for-bit references in ``tests/data`` (and the hashes beside them)
were recorded. Another kernel (``Haswell``, which some machines' ``OPENBLAS_CORETYPE`` selects) sums in
another order, so its last bits differ: those tests compute under this kernel, in a child process."""


def recorded_kernel_env() -> dict[str, str]:
    """``os.environ`` with OpenBLAS pinned to :data:`RECORDED_KERNEL` (its cache sizes detected, as when the
    references were recorded); skips the test on a CPU without AVX-512, which cannot run that kernel."""
    import os

    import pytest

    cpuinfo = Path("/proc/cpuinfo")
    if not cpuinfo.exists() or " avx512f" not in cpuinfo.read_text():
        pytest.skip(f"the recorded bits come from OpenBLAS's {RECORDED_KERNEL} kernel, which needs AVX-512")
    env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
    return {**env, "OPENBLAS_CORETYPE": RECORDED_KERNEL}

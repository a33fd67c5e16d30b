#!/usr/bin/env bash
# On a lent GPU machine: the torch backend on CUDA against the NumPy backend on the machine's CPU, at the
# music size (300 hidden, batch 1000, T = 200). Wheels the image lacks travel in .whl/ (omegaconf, antlr4).
# Usage there: bash benchmarks/device_cuda.sh   (reports land in $OUT). The CPU NumPy HF iteration at this
# size takes minutes, so only its Gv and CG iteration are timed there; the HF iteration is timed on CUDA.
set -uo pipefail
export PYTHONUNBUFFERED=1 OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .whl/omegaconf*.whl .whl/antlr4*.whl
python3 -m pip install -q --no-index --no-deps --no-build-isolation --no-compile --target /tmp/site . 2>&1 | tail -2
export PYTHONPATH=/tmp/site
nvidia-smi -L; nproc
timeout 150 python3 benchmarks/micro.py --sizes h300 --backends torch --torch-device cuda --ops gv cg_iter gemm \
  --repeats 2 --json "$OUT/cuda-micro.json" --markdown "$OUT/cuda-micro.md" 2>&1 | grep -E "^\| (gv|cg_iter) |kernel|CPU"
timeout 100 python3 - <<'PY' 2>&1 | tee "$OUT/cuda-hf.txt"
import statistics, sys, time
import numpy as np, torch
sys.path.insert(0, "benchmarks")
from benchlib import SIZES, FixedBatchTask, build_model, make_batch
from hfcore.cg import ConjugateGradient
from hfcore.damping import LevenbergMarquardt
from hfcore.hf import HFSettings, hf_step
from hfcore.registry import load_plugins
from hfcore.state import RunState
s = SIZES["h300"]
_, reg = load_plugins()
for dtype in ("float64", "float32"):
    model = build_model(reg, "torch", s, dtype, torch_device="cuda")
    batch = make_batch(s, dtype)
    theta = model.init_params(np.random.default_rng(0))
    cg = ConjugateGradient(max_iters=20, min_iters=20, progress_tol=1e-300, residual_tol=0)
    times = []
    for i in range(4):
        st = RunState(iteration=0, theta=theta, lam=1.0, warm_start=theta * 0.0,
                      data_rng=np.random.default_rng(1).bit_generator.state)
        torch.cuda.synchronize(); t = time.perf_counter()
        _, info = hf_step(st, model, FixedBatchTask(s.spec, batch), LevenbergMarquardt(lambda0=1.0), cg,
                          HFSettings(gradient_batch=s.batch, curvature_batch=s.batch))
        torch.cuda.synchronize(); times.append(time.perf_counter() - t)
    print(f"torch cuda {dtype} h300 hf_step (20 CG): first {times[0]*1e3:.0f} ms, then min {min(times[1:])*1e3:.0f} "
          f"median {statistics.median(times[1:])*1e3:.0f} max {max(times[1:])*1e3:.0f} ms; gv={info.counters.gv_products}")
PY

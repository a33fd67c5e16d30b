#!/usr/bin/env bash
# Issue 18, tenth session: the default (ms2011) on temporal order T = 100, seed 0, beside the ninth session's hf=is11
# run (stopped at iteration 72 when its core was needed; a rerun resumes it from its checkpoint).
# Clone of main at 30d997c with its own venv.
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 MLFLOW_DISABLE_TELEMETRY=true
python benchmarks/macro.py --problem temporal_order --T 100 --seeds 0 --out ttS

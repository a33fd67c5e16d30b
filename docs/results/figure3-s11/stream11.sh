#!/usr/bin/env bash
# Issue 16, eleventh session: 5-bit memorization at T = 50 (never run), both dampings, seeds 0 and 1; then 20-bit.
# Each line skips finished runs and resumes stopped ones. Clone /work/runs/clone at 30d997c (the Figure 3 code path).
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 MLFLOW_DISABLE_TELEMETRY=true
export MLFLOW_TRACKING_URI=sqlite:////work/runs/s16/stream2.db
cd /work/runs/s16
H=/work/runs/clone/.venv/bin/hf-train
run() { $H --multirun sweep=figure3_full "$@" || echo "FAILED: $*"; }
run experiment=ms2011_memorization_5bit task.T=50 damping=structural,tikhonov seed=0,1
run experiment=ms2011_memorization_20bit task.T=50 damping=structural,tikhonov seed=0,1
echo ALLDONE

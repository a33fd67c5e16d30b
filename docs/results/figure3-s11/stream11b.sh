#!/usr/bin/env bash
# Issue 16, eleventh session: 5-bit memorization T = 50 with Tikhonov damping (seeds 0, 1), then the structural seed 1
# again (stopped at iteration 1,232, 2,062 minibatches, test error 0.47 and still falling slowly: resumed), then 20-bit.
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 MLFLOW_DISABLE_TELEMETRY=true
export MLFLOW_TRACKING_URI=sqlite:////work/runs/s16/stream2.db
cd /work/runs/s16
H=/work/runs/clone/.venv/bin/hf-train
run() { $H --multirun sweep=figure3_full "$@" || echo "FAILED: $*"; }
run experiment=ms2011_memorization_5bit task.T=50 damping=tikhonov seed=0,1
run experiment=ms2011_memorization_5bit task.T=50 damping=structural seed=1
run experiment=ms2011_memorization_20bit task.T=50 damping=structural,tikhonov seed=0,1
echo ALLDONE

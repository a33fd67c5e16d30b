#!/usr/bin/env bash
# Issue 16 background stream 1: memorization (the structural-damping claim), then 5-bit T=200.
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 MLFLOW_DISABLE_TELEMETRY=true
export MLFLOW_TRACKING_URI=sqlite:////work/runs/s16/stream1.db
cd /work/runs/s16
H=/work/runs/clone/.venv/bin/hf-train
run() { $H --multirun sweep=figure3_full "$@" || echo "FAILED: $*"; }
run experiment=ms2011_memorization_5bit task.T=100 damping=structural,tikhonov seed=0
run experiment=ms2011_memorization_5bit task.T=50 damping=structural,tikhonov seed=0,1
run experiment=ms2011_memorization_5bit task.T=100 damping=structural,tikhonov seed=1
run experiment=ms2011_memorization_5bit task.T=200 damping=structural seed=0
run experiment=ms2011_memorization_20bit task.T=50 damping=structural,tikhonov seed=0
run experiment=ms2011_memorization_20bit task.T=100 damping=structural,tikhonov seed=0
echo ALLDONE

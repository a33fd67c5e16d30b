#!/usr/bin/env bash
# Issue 16 background stream 3 (eighth session, nice 19: only idle CPU): the T = 50 problems not yet run, then
# T = 200 addition, temporal order and 5-bit memorization (structural, seed 0). Clone /work/runs/clone at 30d997c.
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 MLFLOW_DISABLE_TELEMETRY=true
export MLFLOW_TRACKING_URI=sqlite:////work/runs/s16/stream2.db
cd /work/runs/s16
H=/work/runs/clone/.venv/bin/hf-train
run() { $H --multirun sweep=figure3_full "$@" || echo "FAILED: $*"; }
run experiment=ms2011_temporal_order_3bit,ms2011_random_permutation task.T=50 damping=structural,tikhonov seed=0,1
run experiment=ms2011_addition task.T=200 damping=structural seed=0
run experiment=ms2011_memorization_5bit task.T=50 damping=structural,tikhonov seed=0,1
run experiment=ms2011_temporal_order,ms2011_memorization_5bit task.T=200 damping=structural seed=0
echo ALLDONE

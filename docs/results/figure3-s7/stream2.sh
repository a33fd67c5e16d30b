#!/usr/bin/env bash
# Issue 16 background stream 2: xor, 3-bit temporal order, random permutation at T=50 then 100; addition and temporal order at T=200.
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 MLFLOW_DISABLE_TELEMETRY=true
export MLFLOW_TRACKING_URI=sqlite:////work/runs/s16/stream2.db
cd /work/runs/s16
H=/work/runs/clone/.venv/bin/hf-train
run() { $H --multirun sweep=figure3_full "$@" || echo "FAILED: $*"; }
run experiment=ms2011_xor,ms2011_temporal_order_3bit,ms2011_random_permutation task.T=50 damping=structural,tikhonov seed=0,1
run experiment=ms2011_xor,ms2011_temporal_order_3bit,ms2011_random_permutation task.T=100 damping=structural seed=0,1
run experiment=ms2011_addition,ms2011_temporal_order task.T=200 damping=structural seed=0
echo ALLDONE

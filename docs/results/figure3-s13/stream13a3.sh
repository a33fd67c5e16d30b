#!/usr/bin/env bash
# Issue 16, thirteenth session: beside stream13a2.sh (busy with XOR at T = 50), the SGD baseline at T = 50 on the
# problems it solved fastest at T = 30. Same store and job folders as stream13a2.sh (which skips what this finishes).
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 MLFLOW_DISABLE_TELEMETRY=true
export MLFLOW_TRACKING_URI=sqlite:////work/runs/s13/stream_a.db
cd /work/runs/s13
H=/work/runs/clone/.venv/bin/hf-train
run() { $H --multirun sweep=figure3_full_sgd "$@" || echo "FAILED: $*"; }
for p in temporal_order_3bit memorization_5bit random_permutation; do
  run experiment=ms2011_$p task.T=50 seed=0
done
echo ALLDONE

#!/usr/bin/env bash
# Issue 16, thirteenth session: the first-order baseline of Figure 3 (figure3_full_sgd: SGD with momentum and
# clipping, 100-sequence steps, the 50,000-minibatch budget of 1,000-sequence units), seed 0 at T = 30, the
# problems HF solves fastest first. Clone of fdd3d92; finished runs are skipped, stopped ones resumed.
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 MLFLOW_DISABLE_TELEMETRY=true
export MLFLOW_TRACKING_URI=sqlite:////work/runs/s13/stream_a.db
cd /work/runs/s13
H=/work/runs/clone/.venv/bin/hf-train
run() { $H --multirun sweep=figure3_full_sgd "$@" || echo "FAILED: $*"; }
for p in memorization_5bit random_permutation temporal_order_3bit xor temporal_order addition multiplication memorization_20bit; do
  run experiment=ms2011_$p task.T=30 seed=0
done
echo ALLDONE

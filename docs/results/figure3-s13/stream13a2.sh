#!/usr/bin/env bash
# Issue 16, thirteenth session, after stream13a.sh: the SGD baseline (figure3_full_sgd, seed 0) at T = 50, then
# T = 100, every problem, the cheapest first. Finished runs are skipped, stopped ones resumed.
while kill -0 2134 2>/dev/null; do sleep 20; done
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 MLFLOW_DISABLE_TELEMETRY=true
export MLFLOW_TRACKING_URI=sqlite:////work/runs/s13/stream_a.db
cd /work/runs/s13
H=/work/runs/clone/.venv/bin/hf-train
run() { $H --multirun sweep=figure3_full_sgd "$@" || echo "FAILED: $*"; }
for T in 50 100; do
  for p in xor temporal_order_3bit memorization_5bit random_permutation temporal_order addition multiplication memorization_20bit; do
    run experiment=ms2011_$p task.T=$T seed=0
  done
done
echo ALLDONE

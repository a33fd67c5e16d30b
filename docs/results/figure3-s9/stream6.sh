#!/usr/bin/env bash
# Issue 16 background stream 6 (ninth session): the T = 30 / 50 cells of addition, temporal order and
# multiplication with the paper's settings that only the quick profile had (T = 50 structural runs of addition
# and temporal order are the is11 comparison's ms2011 runs). Clone /work/runs/clone at 30d997c.
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 MLFLOW_DISABLE_TELEMETRY=true
export MLFLOW_TRACKING_URI=sqlite:////work/runs/s16/stream2.db
cd /work/runs/s16
H=/work/runs/clone/.venv/bin/hf-train
run() { $H --multirun sweep=figure3_full "$@" || echo "FAILED: $*"; }
run experiment=ms2011_temporal_order task.T=30 damping=structural,tikhonov seed=0,1
run experiment=ms2011_addition task.T=30 damping=structural,tikhonov seed=0,1
run experiment=ms2011_temporal_order task.T=50 damping=tikhonov seed=0,1
run experiment=ms2011_addition task.T=50 damping=tikhonov seed=0,1
run experiment=ms2011_multiplication task.T=30 damping=structural,tikhonov seed=0,1
echo ALLDONE

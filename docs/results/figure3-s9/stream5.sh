#!/usr/bin/env bash
# Issue 16 background stream 5 (ninth session, autogroup nice 19): the T = 200 runs the issue asks for
# (addition, temporal order, 5-bit memorization; structural damping, seed 0), side by side so each has a
# checkpoint; a rerun resumes each from its checkpoint. Clone /work/runs/clone at 30d997c.
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 MLFLOW_DISABLE_TELEMETRY=true
export MLFLOW_TRACKING_URI=sqlite:////work/runs/s16/stream2.db
cd /work/runs/s16
H=/work/runs/clone/.venv/bin/hf-train
run() { $H --multirun sweep=figure3_full "$@" > "t200-$1.log" 2>&1 || echo "FAILED: $*"; }
run experiment=ms2011_addition task.T=200 damping=structural seed=0 &
run experiment=ms2011_temporal_order task.T=200 damping=structural seed=0 &
run experiment=ms2011_memorization_5bit task.T=200 damping=structural seed=0 &
wait
echo ALLDONE

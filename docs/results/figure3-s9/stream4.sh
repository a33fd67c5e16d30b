#!/usr/bin/env bash
# Issue 16 background stream 4 (ninth session, autogroup nice 19: idle CPU only): the T = 50 problems not yet
# finished: random permutation (resumes s0 from its checkpoint), 5-bit and 20-bit memorization, both dampings,
# seeds 0 and 1. Clone /work/runs/clone at 30d997c.
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 MLFLOW_DISABLE_TELEMETRY=true
export MLFLOW_TRACKING_URI=sqlite:////work/runs/s16/stream2.db
cd /work/runs/s16
H=/work/runs/clone/.venv/bin/hf-train
run() { $H --multirun sweep=figure3_full "$@" || echo "FAILED: $*"; }
run experiment=ms2011_random_permutation task.T=50 damping=structural,tikhonov seed=0,1
run experiment=ms2011_memorization_5bit task.T=50 damping=structural,tikhonov seed=0,1
run experiment=ms2011_memorization_20bit task.T=50 damping=structural,tikhonov seed=0,1
echo ALLDONE

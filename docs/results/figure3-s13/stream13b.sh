#!/usr/bin/env bash
# Issue 16, thirteenth session: missing T = 50 cells of Figure 3 with HF (figure3_full, the ms2011 presets):
# 20-bit memorization (never run at T = 50), multiplication, the 5-bit structural seed 1, random permutation
# with Tikhonov damping. Clone of fdd3d92; finished runs are skipped, stopped ones resumed.
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 MLFLOW_DISABLE_TELEMETRY=true
export MLFLOW_TRACKING_URI=sqlite:////work/runs/s13/stream_b.db
cd /work/runs/s13
H=/work/runs/clone/.venv/bin/hf-train
run() { $H --multirun sweep=figure3_full "$@" || echo "FAILED: $*"; }
run experiment=ms2011_memorization_20bit task.T=50 damping=structural seed=0
run experiment=ms2011_multiplication task.T=50 damping=structural seed=0
run experiment=ms2011_memorization_20bit task.T=50 damping=tikhonov seed=0
run experiment=ms2011_memorization_5bit task.T=50 damping=structural seed=1
run experiment=ms2011_multiplication task.T=50 damping=tikhonov seed=0
run experiment=ms2011_random_permutation task.T=50 damping=tikhonov seed=0
echo ALLDONE

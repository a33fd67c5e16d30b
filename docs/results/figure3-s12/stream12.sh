#!/usr/bin/env bash
# Issue 16, twelfth session: the cheapest missing T = 30/50 cells of Figure 3 first (multiplication T = 30, the
# temporal-order T = 50 Tikhonov seed 1, random permutation T = 50), then multiplication T = 50, then the 5-bit
# structural seed 1 and 20-bit at T = 50. clone at 30d997c; finished runs are skipped, stopped ones resumed.
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 MLFLOW_DISABLE_TELEMETRY=true
export MLFLOW_TRACKING_URI=sqlite:////work/runs/s16/stream2.db
cd /work/runs/s16
H=/work/runs/clone/.venv/bin/hf-train
run() { $H --multirun sweep=figure3_full "$@" || echo "FAILED: $*"; }
run experiment=ms2011_multiplication task.T=30 damping=structural,tikhonov seed=0,1
run experiment=ms2011_temporal_order task.T=50 damping=tikhonov seed=1
run experiment=ms2011_random_permutation task.T=50 damping=structural,tikhonov seed=0,1
run experiment=ms2011_multiplication task.T=50 damping=structural,tikhonov seed=0,1
run experiment=ms2011_memorization_5bit task.T=50 damping=structural seed=1
run experiment=ms2011_memorization_20bit task.T=50 damping=structural,tikhonov seed=0,1
echo ALLDONE

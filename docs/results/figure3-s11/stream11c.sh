#!/usr/bin/env bash
# Issue 16, eleventh session: after stream11b's first line (5-bit T = 50 Tikhonov, seeds 0 and 1) ends, the 5-bit
# structural seed 1 again (stopped at iteration 1,232, 2,062 minibatches, test error 0.47 and still falling slowly),
# then 20-bit at T = 50.
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 MLFLOW_DISABLE_TELEMETRY=true
export MLFLOW_TRACKING_URI=sqlite:////work/runs/s16/stream2.db
cd /work/runs/s16
while pgrep -f "hf-train --multirun sweep=figure3_full experiment=ms2011_memorization_5bit task.T=50 damping=tikhonov" > /dev/null; do sleep 10; done
H=/work/runs/clone/.venv/bin/hf-train
run() { $H --multirun sweep=figure3_full "$@" || echo "FAILED: $*"; }
run experiment=ms2011_memorization_5bit task.T=50 damping=structural seed=1
run experiment=ms2011_memorization_20bit task.T=50 damping=structural,tikhonov seed=0,1
echo ALLDONE

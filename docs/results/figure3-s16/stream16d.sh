#!/bin/bash
# Issue 16, sixteenth session: after stream16c.sh's SGD run of addition at T = 30 (pid 23856), the rest of the
# first-order baseline's cells (figure3_full_sgd, seed 0), 5-bit memorization at T = 100 first (SGD solved it at
# T = 50 in 700 minibatches), then stream16c.sh's remaining list. Finished runs are skipped, stopped ones resumed.
while kill -0 23856 2>/dev/null; do sleep 10; done
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 MLFLOW_DISABLE_TELEMETRY=true
C=/work/runs/clone2/.venv/bin
cd /work/runs/session16
run() { nice -n 10 $C/hf-train --multirun sweep=figure3_full_sgd "$@" seed=0 \
  tracking.uri=sqlite:////work/runs/session16/c.db || echo "FAILED: $*"; }
run experiment=ms2011_memorization_5bit task.T=100
run experiment=ms2011_random_permutation task.T=100
run experiment=ms2011_multiplication task.T=30
run experiment=ms2011_memorization_20bit task.T=30
run experiment=ms2011_temporal_order_3bit task.T=50
echo ALLDONE

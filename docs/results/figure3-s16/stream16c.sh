#!/bin/bash
# Issue 16, sixteenth session: the first-order baseline's missing cells (figure3_full_sgd, seed 0), the ones SGD
# solved fastest at T = 30 first, then 3-bit temporal order at T = 50 resumed from the thirteenth session's
# checkpoint (14,445 minibatches).
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 MLFLOW_DISABLE_TELEMETRY=true
C=/work/runs/clone2/.venv/bin
cd /work/runs/session16
run() { nice -n 10 $C/hf-train --multirun sweep=figure3_full_sgd "$@" seed=0 \
  tracking.uri=sqlite:////work/runs/session16/c.db || echo "FAILED: $*"; }
run experiment=ms2011_memorization_5bit task.T=50
run experiment=ms2011_random_permutation task.T=50
run experiment=ms2011_addition task.T=30
run experiment=ms2011_multiplication task.T=30
run experiment=ms2011_memorization_20bit task.T=30
run experiment=ms2011_temporal_order_3bit task.T=50
echo ALLDONE

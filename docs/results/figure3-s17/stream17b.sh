#!/bin/bash
# Issue 16, seventeenth session: SGD multiplication at T = 30 resumed from the sixteenth session's checkpoint
# (10,550 minibatches, test error 0.0015), then 5-bit memorization at T = 100 with Tikhonov damping, seed 0,
# resumed from the seventh session's checkpoint (6,782 minibatches).
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 MLFLOW_DISABLE_TELEMETRY=true
C=/work/runs/clone/.venv/bin
cd /work/runs/session17
nice -n 10 $C/hf-train --multirun sweep=figure3_full_sgd experiment=ms2011_multiplication task.T=30 seed=0 \
  tracking.uri=sqlite:////work/runs/session17/b.db || echo "FAILED: sgd multiplication"
nice -n 10 $C/hf-train --multirun sweep=figure3_full experiment=ms2011_memorization_5bit task.T=100 \
  damping=tikhonov seed=0 tracking.uri=sqlite:////work/runs/session17/b.db || echo "FAILED: tikhonov"
echo ALLDONE

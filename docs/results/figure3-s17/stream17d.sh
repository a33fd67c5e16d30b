#!/bin/bash
# Issue 16, seventeenth session: the SGD baseline's 20-bit memorization cell at T = 30 (seed 0), never run.
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 MLFLOW_DISABLE_TELEMETRY=true
C=/work/runs/clone/.venv/bin
cd /work/runs/session17
nice -n 10 $C/hf-train --multirun sweep=figure3_full_sgd experiment=ms2011_memorization_20bit task.T=30 seed=0 \
  tracking.uri=sqlite:////work/runs/session17/d.db || echo "FAILED: sgd memorization_20bit"
echo ALLDONE

#!/bin/bash
# Issue 16, seventeenth session: stream17c.sh's queue after XOR seed 1 (its first two runs were stream17c.sh's;
# 3-bit temporal order seed 0 moved to stream17e.sh): 3-bit temporal order at T = 100, seed 1.
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 MLFLOW_DISABLE_TELEMETRY=true
C=/work/runs/clone/.venv/bin
cd /work/runs/session17
while kill -0 "$1" 2>/dev/null; do sleep 20; done  # the XOR seed-1 run of stream17c.sh
nice -n 10 $C/hf-train --multirun sweep=figure3_full task.T=100 damping=structural experiment=ms2011_temporal_order_3bit \
  seed=1 tracking.uri=sqlite:////work/runs/session17/c.db || echo "FAILED: 3-bit seed 1"
echo ALLDONE

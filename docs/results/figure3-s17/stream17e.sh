#!/bin/bash
# Issue 16, seventeenth session: T = 100 cells never run with HF (structural damping, the presets' settings),
# started when 5-bit memorization at T = 200 solved: 3-bit temporal order seed 0, then random permutation seed 0.
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 MLFLOW_DISABLE_TELEMETRY=true
C=/work/runs/clone/.venv/bin
cd /work/runs/session17
run() { nice -n 10 $C/hf-train --multirun sweep=figure3_full task.T=100 damping=structural "$@" \
  tracking.uri=sqlite:////work/runs/session17/e.db || echo "FAILED: $*"; }
run experiment=ms2011_temporal_order_3bit seed=0
run experiment=ms2011_random_permutation seed=0
echo ALLDONE

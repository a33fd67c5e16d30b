#!/bin/bash
# Issue 16, sixteenth session: 5-bit memorization at T = 100 with the presets' settings: structural damping seed 1
# (never run), then Tikhonov damping seed 0 resumed from the seventh session's checkpoint (6,782 minibatches).
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 MLFLOW_DISABLE_TELEMETRY=true
C=/work/runs/clone2/.venv/bin
cd /work/runs/session16
run() { nice -n 10 $C/hf-train --multirun sweep=figure3_full experiment=ms2011_memorization_5bit task.T=100 "$@" \
  tracking.uri=sqlite:////work/runs/session16/b.db || echo "FAILED: $*"; }
run damping=structural seed=1
run damping=tikhonov seed=0
echo ALLDONE

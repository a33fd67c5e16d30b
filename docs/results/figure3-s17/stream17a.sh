#!/bin/bash
# Issue 16, seventeenth session: 5-bit memorization at T = 200, structural damping, seed 0, hf=is11, resumed from
# the sixteenth session's checkpoint (iteration 2,597, 9,086 minibatches, one test string of 32 wrong).
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 MLFLOW_DISABLE_TELEMETRY=true
C=/work/runs/clone/.venv/bin
cd /work/runs/session17
nice -n 10 $C/hf-train --multirun sweep=figure3_full experiment=ms2011_memorization_5bit hf=is11 task.T=200 \
  damping=structural seed=0 hydra.sweep.dir=multirun/figure3_is11 tracking.uri=sqlite:////work/runs/session17/a.db
echo ALLDONE

#!/bin/bash
# Issue 16, sixteenth session: 5-bit memorization at T = 200, structural damping, seed 0, hf=is11, resumed from
# the fifteenth session's checkpoint (iteration 340, 1,033 minibatches).
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 MLFLOW_DISABLE_TELEMETRY=true
C=/work/runs/clone2/.venv/bin
cd /work/runs/session16
nice -n 10 $C/hf-train --multirun sweep=figure3_full experiment=ms2011_memorization_5bit hf=is11 task.T=200 \
  damping=structural seed=0 hydra.sweep.dir=multirun/figure3_is11 tracking.uri=sqlite:////work/runs/session16/a.db
echo ALLDONE

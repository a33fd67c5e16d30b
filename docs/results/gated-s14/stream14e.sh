#!/bin/bash
# Issue 19: after stream14c (HF-LSTM, forget-gate bias +3, seed 0) ends, the same run on seed 1.
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
cd /work/runs/s14
while pgrep -f stream14c.sh > /dev/null; do sleep 20; done
C=/work/runs/clone2/.venv/bin
nice -n 10 $C/hf-train --multirun sweep=gated_compare sweep/gated_problem@gated_problem=addition \
  'sweep/gated_method@gated_method=hf_lstm' seed=1 model.forget_bias=3.0 tracking.tags.sweep=gated_fb3 \
  hydra.sweep.dir=multirun/gated_fb3 tracking.uri=sqlite:////work/runs/s14/mlruns/c.db

#!/bin/bash
# Issue 19: HF-GRU (gated_compare's 57-unit GRU, update-gate bias -1) on addition T = 100, seeds 0 and 1,
# then HF-LSTM (forget bias +3) on temporal order T = 100, seed 0.
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
C=/work/runs/clone2/.venv/bin
cd /work/runs/s15
nice -n 10 $C/hf-train --multirun sweep=gated_compare sweep/gated_problem@gated_problem=addition \
  'sweep/gated_method@gated_method=hf_gru' seed=0,1 tracking.uri=sqlite:////work/runs/s15/mlruns/a.db
nice -n 10 $C/hf-train --multirun sweep=gated_compare sweep/gated_problem@gated_problem=temporal_order \
  'sweep/gated_method@gated_method=hf_lstm' seed=0 tracking.uri=sqlite:////work/runs/s15/mlruns/a.db

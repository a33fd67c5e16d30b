#!/bin/bash
# Issue 19, gated_compare at T = 100: HF-LSTM and HF-GRU on addition, seed 0 then seed 1 (one BLAS thread, niced).
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
C=/work/runs/clone/.venv/bin
cd /work/runs/s14
nice -n 10 $C/hf-train --multirun sweep=gated_compare sweep/gated_problem@gated_problem=addition \
  'sweep/gated_method@gated_method=hf_lstm,hf_gru' seed=0,1 tracking.uri=sqlite:////work/runs/s14/mlruns/a.db

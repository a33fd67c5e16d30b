#!/bin/bash
# After stream15f.sh: gated_compare on temporal order at T = 100, seed 1: HF-GRU, then HF-LSTM.
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
C=/work/runs/clone/.venv/bin  # a clone of 552b64c: the GRU at -3
cd /work/runs/s15
while pgrep -f stream15f.sh > /dev/null; do sleep 15; done
nice -n 10 $C/hf-train --multirun sweep=gated_compare sweep/gated_problem@gated_problem=temporal_order \
  'sweep/gated_method@gated_method=hf_gru,hf_lstm' seed=1 tracking.uri=sqlite:////work/runs/s15/mlruns/g.db

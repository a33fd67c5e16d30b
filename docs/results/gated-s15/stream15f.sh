#!/bin/bash
# Once the Adam-LSTM sweep's 1e-2 run has finished (its summary.json), stop stream15b.sh and its sweep before its
# last rate, 3e-4, gets anywhere (1e-3 already solved slower than 3e-3), then gated_compare on temporal order at
# T = 100, seed 0: HF-GRU (update-gate bias -3, the grid's now) and HF-LSTM.
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
C=/work/runs/clone/.venv/bin  # a clone of 552b64c: the GRU at -3
cd /work/runs/s15
while [ ! -f multirun/adam_lr_fb3/addition-T100-lstm50-lr0.01-s0/summary.json ]; do sleep 15; done
pkill -TERM -f stream15b.sh; sleep 1
pkill -TERM -f "sweep=adam_lr sweep/lr_method"
while pgrep -f "sweep=adam_lr sweep/lr_method" > /dev/null; do sleep 5; done
nice -n 10 $C/hf-train --multirun sweep=gated_compare sweep/gated_problem@gated_problem=temporal_order \
  'sweep/gated_method@gated_method=hf_gru,hf_lstm' seed=0 tracking.uri=sqlite:////work/runs/s15/mlruns/g.db

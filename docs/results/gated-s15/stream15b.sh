#!/bin/bash
# Issue 19: the Adam-LSTM learning-rate sweep redone with the forget-gate bias at +3 (gated_compare's LSTM), on
# addition T = 100, seed 0. The store is a copy of the fourteenth session's d.db, whose finished lr 1e-3 run the
# skip-if-finished callback skips; the other rates run here, the higher ones first.
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
C=/work/runs/clone2/.venv/bin
cd /work/runs/s15
nice -n 10 $C/hf-train --multirun sweep=adam_lr sweep/lr_method@lr_method=adam_lstm_gated \
  experiment=ms2011_addition task.T=100 'optimizer.learning_rate=1e-3,3e-3,1e-2,3e-4' \
  tracking.tags.sweep=adam_lr_fb3 hydra.sweep.dir=multirun/adam_lr_fb3 tracking.uri=sqlite:////work/runs/s15/mlruns/b.db

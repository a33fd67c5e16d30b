#!/bin/bash
# Issue 19, the Adam-LSTM learning-rate sweep on addition at T = 100 (gated_compare's LSTM), 5,000-minibatch budget.
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
C=/work/runs/clone/.venv/bin
cd /work/runs/s14
nice -n 10 $C/hf-train --multirun sweep=adam_lr sweep/lr_method@lr_method=adam_lstm_gated \
  experiment=ms2011_addition task.T=100 optimizer.learning_rate=1e-3,3e-3,1e-2,3e-4 \
  tracking.uri=sqlite:////work/runs/s14/mlruns/b.db

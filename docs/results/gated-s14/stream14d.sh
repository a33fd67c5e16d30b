#!/bin/bash
# Issue 19: Adam-LSTM (gated_compare's LSTM) on addition T = 100 with the forget-gate bias at +3, lr 1e-3, the
# adam_lr sweep's 5,000-minibatch budget: does Adam gain from the longer initial memory as HF-LSTM did?
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
C=/work/runs/clone2/.venv/bin
cd /work/runs/s14
nice -n 10 $C/hf-train --multirun sweep=adam_lr sweep/lr_method@lr_method=adam_lstm_gated \
  experiment=ms2011_addition task.T=100 optimizer.learning_rate=1e-3 model.forget_bias=3.0 \
  tracking.tags.sweep=adam_lr_fb3 hydra.sweep.dir=multirun/adam_lr_fb3 tracking.uri=sqlite:////work/runs/s14/mlruns/d.db

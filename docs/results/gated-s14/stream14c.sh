#!/bin/bash
# Waits for the Adam-LSTM lr=1e-3 run of stream14b (its summary.json), stops stream14b (the next rate keeps its
# checkpoint), then runs HF-LSTM on addition T = 100, seed 0, with the forget-gate bias at +3 instead of +1:
# does the LSTM's short memory at init explain its plateau? (issue 19)
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
cd /work/runs/s14
while [ ! -f multirun/adam_lr/addition-T100-lstm50-lr0.001-s0/summary.json ]; do sleep 30; done
pkill -TERM -f stream14b.sh; sleep 1
pkill -TERM -f "sweep=adam_lr sweep/lr_method"
sleep 60
C=/work/runs/clone2/.venv/bin
nice -n 10 $C/hf-train --multirun sweep=gated_compare sweep/gated_problem@gated_problem=addition \
  'sweep/gated_method@gated_method=hf_lstm' seed=0 model.forget_bias=3.0 tracking.tags.sweep=gated_fb3 \
  hydra.sweep.dir=multirun/gated_fb3 tracking.uri=sqlite:////work/runs/s14/mlruns/c.db

#!/bin/bash
# Issue 16: temporal order at T = 200, then 5-bit memorization at T = 200, structural damping, seed 0, hf=is11
# (as addition at T = 200 in stream15e.sh).
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
C=/work/runs/clone2/.venv/bin
cd /work/runs/s15
for problem in temporal_order memorization_5bit; do
  nice -n 10 $C/hf-train --multirun sweep=figure3_full experiment=ms2011_$problem hf=is11 task.T=200 \
    damping=structural seed=0 hydra.sweep.dir=multirun/figure3_is11 tracking.uri=sqlite:////work/runs/s15/mlruns/f.db
done

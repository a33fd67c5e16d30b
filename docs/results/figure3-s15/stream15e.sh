#!/bin/bash
# Issue 19: HF-GRU on addition T = 100 with the update gate starting at -3 (z = 0.047: each step keeps 0.95 of h,
# as the LSTM's +3 forget gate keeps of its cell) instead of -1 (keeps 0.73), seeds 1 (stalled at -1) and 0.
# Then issue 16: addition at T = 200, structural damping, seed 0, hf=is11.
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
C=/work/runs/clone2/.venv/bin
cd /work/runs/s15
nice -n 10 $C/hf-train --multirun sweep=gated_compare sweep/gated_problem@gated_problem=addition \
  'sweep/gated_method@gated_method=hf_gru' seed=1,0 model.update_bias=-3.0 tracking.tags.sweep=gated_ub3 \
  hydra.sweep.dir=multirun/gated_ub3 tracking.uri=sqlite:////work/runs/s15/mlruns/e.db
nice -n 10 $C/hf-train --multirun sweep=figure3_full experiment=ms2011_addition hf=is11 task.T=200 \
  damping=structural seed=0 hydra.sweep.dir=multirun/figure3_is11 tracking.uri=sqlite:////work/runs/s15/mlruns/f.db

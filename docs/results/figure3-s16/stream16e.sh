#!/bin/bash
# Issue 16/18, sixteenth session: hf=is11_release (backtracking and line search on blocks 1 and 2 of the gradient
# batch, as the M&S release did) against hf=is11 (held-out fresh batches, the default), paired seeds 0-2: the default
# run (addition at T = 30), then temporal order at T = 30 with the preset's problem settings. Clone of 8bd698c.
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 MLFLOW_DISABLE_TELEMETRY=true
C=/work/runs/clone/.venv/bin
cd /work/runs/session16
nice -n 15 $C/hf-train --multirun hf=is11,is11_release seed=0,1,2 progress=false +tracking.tags.study=release_data \
  hydra.sweep.dir=multirun/release_data/addition tracking.uri=sqlite:////work/runs/session16/e.db || echo FAILED
nice -n 15 $C/hf-train --multirun experiment=ms2011_temporal_order task.T=30 hf=is11,is11_release seed=0,1,2 \
  progress=false +tracking.tags.study=release_data hydra.sweep.dir=multirun/release_data/temporal_order \
  tracking.uri=sqlite:////work/runs/session16/e.db || echo FAILED
echo ALLDONE

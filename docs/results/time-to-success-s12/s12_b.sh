#!/usr/bin/env bash
# Issue 18, twelfth session: the 300-sequence curvature batch (with hf=is11) against hf=is11 on the pairs not yet
# measured: temporal order T = 100 seed 1, multiplication T = 50 seed 0, temporal order T = 100 seed 2.
# clone18 (30d997c + lever branches), one BLAS thread, niced.
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 MLFLOW_DISABLE_TELEMETRY=true
cd /work/runs/s18
P=/work/runs/clone18/.venv/bin/python
M=/work/runs/clone18/benchmarks/macro.py
pair() {  # problem T seed
  $P $M --problem $1 --T $2 --seeds $3 --profile is11curv300 --override hf=is11 hf.curvature_batch=300 --out /work/runs/s18/ttS
  $P $M --problem $1 --T $2 --seeds $3 --profile is11 --override hf=is11 --out /work/runs/s18/ttS
}
pair temporal_order 100 1
pair multiplication 50 0
pair temporal_order 100 2
echo ALLDONE

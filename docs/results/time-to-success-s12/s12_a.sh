#!/usr/bin/env bash
# Issue 18, twelfth session: hf=is11 with a 300-sequence curvature batch. Addition T = 50 seed 0 resumed from its
# checkpoint (stopped unsolved at 834 CPU s in the eleventh session), then temporal order T = 100 seed 0 (paired
# with is11 seed 0, run in the ninth session), then addition T = 50 seed 1. clone18 (30d997c + lever branches).
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 MLFLOW_DISABLE_TELEMETRY=true
cd /work/runs/s18
P=/work/runs/clone18/.venv/bin/python
M=/work/runs/clone18/benchmarks/macro.py
$P $M --problem addition --T 50 --seeds 0 --profile is11curv300 --override hf=is11 hf.curvature_batch=300 --out /work/runs/s18/ttS
$P $M --problem temporal_order --T 100 --seeds 0 --profile is11curv300 --override hf=is11 hf.curvature_batch=300 --out /work/runs/s18/ttS
$P $M --problem addition --T 50 --seeds 1 --profile is11curv300 --override hf=is11 hf.curvature_batch=300 --out /work/runs/s18/ttS
echo ALLDONE

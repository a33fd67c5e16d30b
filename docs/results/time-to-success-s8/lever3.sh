#!/usr/bin/env bash
# Issue 18 lever 3: curvature batch 300 (of the 10,000-sequence gradient batch) against the default 1,000.
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 MLFLOW_DISABLE_TELEMETRY=true
cd /work/runs/s18
P=/work/runs/clone/.venv/bin/python
M=/work/runs/clone/benchmarks/macro.py
$P $M --problem temporal_order addition --T 50 --seeds 0 1 2 --profile curv300 --override hf.curvature_batch=300 \
    --out /work/runs/s18/ttS
echo ALLDONE

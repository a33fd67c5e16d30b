#!/usr/bin/env bash
# Issue 16's is11-vs-ms2011 comparison at T = 100 (also an issue 18 lever): hf=is11 (arg-min backtracking and
# c = 0 line search on fresh held-out batches) against the default, paired seeds. Clone at 30d997c.
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 MLFLOW_DISABLE_TELEMETRY=true
cd /work/runs/s18
P=/work/runs/clone/.venv/bin/python
M=/work/runs/clone/benchmarks/macro.py
$P $M --problem addition --T 100 --seeds 0 1 --profile is11 --override hf=is11 --out /work/runs/s18/ttS
$P $M --problem temporal_order --T 100 --seeds 0 --profile is11 --override hf=is11 --out /work/runs/s18/ttS
$P $M --problem temporal_order --T 100 --seeds 0 --out /work/runs/s18/ttS
echo ALLDONE

#!/usr/bin/env bash
# Issue 18 levers 1 and 2 (clone18: main 30d997c + s8-precond + s8-mixed): addition T = 100 seed 0 first (the
# target), then temporal order and addition at T = 50, seeds 0-2. Usage: levers12.sh precond|mixed
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 MLFLOW_DISABLE_TELEMETRY=true
cd /work/runs/s18
P=/work/runs/clone18/.venv/bin/python
M=/work/runs/clone18/benchmarks/macro.py
case "$1" in
  precond) O=(--profile precond --override hf.preconditioner=empirical_fisher) ;;
  mixed) O=(--profile mixed005 --override hf.float32_gv_above_lambda=0.005) ;;
esac
$P $M --problem addition --T 100 --seeds 0 "${O[@]}" --out /work/runs/s18/ttS
$P $M --problem temporal_order addition --T 50 --seeds 0 1 2 "${O[@]}" --out /work/runs/s18/ttS
echo ALLDONE

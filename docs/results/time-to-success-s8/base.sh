#!/usr/bin/env bash
# Issue 18 baselines: today's default (float64, paper settings), paired seeds. Clone at 30d997c.
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 MLFLOW_DISABLE_TELEMETRY=true
cd /work/runs/s18
P=/work/runs/clone/.venv/bin/python
M=/work/runs/clone/benchmarks/macro.py
case "$1" in
  a) $P $M --problem temporal_order addition --T 50 --seeds 0 1 2 --out /work/runs/s18/ttS
     $P $M --problem multiplication --T 50 --seeds 0 --out /work/runs/s18/ttS ;;
  b) $P $M --problem addition --T 100 --seeds 0 1 2 --out /work/runs/s18/ttS ;;
esac
echo ALLDONE

#!/usr/bin/env bash
# Issue 16's is11-vs-ms2011 comparison at T = 100, which is also a time-to-success lever for issue 18:
# hf=is11 (arg-min backtracking and c = 0 line search on fresh held-out batches) against the default.
# Starts when lever3.sh has finished.
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 MLFLOW_DISABLE_TELEMETRY=true
cd /work/runs/s18
while pgrep -f lever3.sh > /dev/null; do sleep 30; done
P=/work/runs/clone/.venv/bin/python
M=/work/runs/clone/benchmarks/macro.py
$P $M --problem addition --T 100 --seeds 0 1 --profile is11 --override hf=is11 --out /work/runs/s18/ttS
echo ALLDONE

#!/usr/bin/env bash
# Issue 18, eleventh session: hf=is11 with a 300-sequence curvature batch on addition T = 100, paired with the is11
# runs of sessions 9-10. clone18: main 30d997c + s8-precond + s8-mixed. $1: seeds.
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 MLFLOW_DISABLE_TELEMETRY=true
cd /work/runs/s18
P=/work/runs/clone18/.venv/bin/python
M=/work/runs/clone18/benchmarks/macro.py
$P $M --problem addition --T 100 --seeds $1 --profile is11curv300 --override hf=is11 hf.curvature_batch=300 --out /work/runs/s18/ttS
echo ALLDONE

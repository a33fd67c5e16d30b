#!/usr/bin/env bash
# Issue 18, ninth session: levers 1 + 2 together (preconditioner and float32 Gv above lambda = 0.005) on addition
# T = 100 seed 0, then the default's seed 1 (resumes from its checkpoint) and the combination's seed 1.
# clone18: main 30d997c + s8-precond + s8-mixed.
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 MLFLOW_DISABLE_TELEMETRY=true
cd /work/runs/s18
P=/work/runs/clone18/.venv/bin/python
M=/work/runs/clone18/benchmarks/macro.py
C=(--profile combo --override hf.preconditioner=empirical_fisher hf.float32_gv_above_lambda=0.005)
$P $M --problem addition --T 100 --seeds 0 "${C[@]}" --out /work/runs/s18/ttS
$P /work/runs/clone/benchmarks/macro.py --problem addition --T 100 --seeds 1 --out /work/runs/s18/ttS
$P $M --problem addition --T 100 --seeds 1 "${C[@]}" --out /work/runs/s18/ttS
echo ALLDONE

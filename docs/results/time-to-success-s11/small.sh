#!/usr/bin/env bash
# Eleventh session: hf=small with M10's rules (as shipped) against hf=small with the release's rules (the new
# default's), addition and temporal order at T = 30, seeds 0 and 1. main at 805c078.
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 MLFLOW_DISABLE_TELEMETRY=true
P=/work/main/.venv/bin/python
M=/work/main/benchmarks/macro.py
$P $M --problem temporal_order addition --T 30 --seeds 0 1 --profile small --override hf=small --out /work/runs/s11small/ttS
$P $M --problem temporal_order addition --T 30 --seeds 0 1 --profile small_is11 --override hf=small hf.backtrack_data=fresh hf.line_search_data=fresh hf.backtrack_rule=argmin hf.armijo_c=0 --out /work/runs/s11small/ttS
echo ALLDONE

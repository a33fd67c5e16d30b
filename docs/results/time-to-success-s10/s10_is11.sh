#!/usr/bin/env bash
# Issue 18, tenth session: addition T = 100, seed 2, is11 (the third seed of the is11 comparison).
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 MLFLOW_DISABLE_TELEMETRY=true
# run from the root of a clone of main at 30d997c
P=python
M=benchmarks/macro.py
$P $M --problem addition --T 100 --seeds 2 --profile is11 --override hf=is11 --out ttS
echo ALLDONE

#!/usr/bin/env bash
# Issues 16/18, tenth session: hf=is11 against the default at T = 30 (addition, temporal order; seeds 0, 1), for the
# choice of the default preset. Clone of main at 30d997c.
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 MLFLOW_DISABLE_TELEMETRY=true
# run from the root of a clone of main at 30d997c
P=python
M=benchmarks/macro.py
$P $M --problem temporal_order addition --T 30 --seeds 0 1 --profile is11 --override hf=is11 --out ttS
$P $M --problem temporal_order addition --T 30 --seeds 0 1 --out ttS
echo ALLDONE

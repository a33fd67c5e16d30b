#!/usr/bin/env bash
# Issue 18, eleventh session: hf=is11 with a 300-sequence curvature batch against hf=is11 on temporal order T = 50
# (3 seeds) and addition T = 50 (2 seeds). clone18 (30d997c + lever branches). Starts when addition T = 100 seed 1
# of is11curv300 has finished.
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 MLFLOW_DISABLE_TELEMETRY=true
cd /work/runs/s18
while pgrep -f "s11_curv.sh 1" > /dev/null; do sleep 10; done
P=/work/runs/clone18/.venv/bin/python
M=/work/runs/clone18/benchmarks/macro.py
$P $M --problem temporal_order --T 50 --seeds 0 1 2 --profile is11curv300 --override hf=is11 hf.curvature_batch=300 --out /work/runs/s18/ttS
$P $M --problem temporal_order --T 50 --seeds 0 1 2 --profile is11 --override hf=is11 --out /work/runs/s18/ttS
$P $M --problem addition --T 50 --seeds 0 1 --profile is11curv300 --override hf=is11 hf.curvature_batch=300 --out /work/runs/s18/ttS
echo ALLDONE

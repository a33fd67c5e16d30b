#!/usr/bin/env bash
# Issue 18, thirteenth session: multiplication at T = 100 with hf=is11 (the default since the eleventh session),
# seeds 0 and 1, against the target "at most half of today's 30,482 minibatches or ~6 CPU h per seed"
# (ms2011, figure3-t100). Starts when stream13b's 20-bit T = 50 run ends. Clone at 3f05b37, one BLAS thread.
while kill -0 2137 2>/dev/null; do sleep 20; done
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 MLFLOW_DISABLE_TELEMETRY=true
cd /work/runs/s13
P=/work/runs/clone/.venv/bin/python
$P /work/runs/clone/benchmarks/macro.py --problem multiplication --T 100 --seeds 0 --profile is11 --override hf=is11 --out /work/runs/s13/ttS
$P /work/runs/clone/benchmarks/macro.py --problem multiplication --T 100 --seeds 1 --profile is11 --override hf=is11 --out /work/runs/s13/ttS
echo ALLDONE

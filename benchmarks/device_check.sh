#!/usr/bin/env bash
# The checks run on a lent GPU machine (16 cores, one GPU, no network): the torch backend's CUDA tests and
# the strong-scaling benchmark on quiet cores. Wheels the image lacks travel in .whl/ (mpi4py, mpich,
# omegaconf, antlr4); results go to $OUT. Usage there: bash benchmarks/device_check.sh
set -uo pipefail
export PYTHONUNBUFFERED=1 OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 MLFLOW_DISABLE_TELEMETRY=true
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
python3 -m pip install -q --no-index --no-deps --no-build-isolation --no-compile --target /tmp/site . 2>&1 | tail -2
export PYTHONPATH=/tmp/site PATH=/tmp/site/bin:$PATH LD_LIBRARY_PATH=/tmp/site/lib:${LD_LIBRARY_PATH:-}
{
  nproc; nvidia-smi -L; python3 -c "import torch; print('torch', torch.__version__, torch.cuda.is_available())"
  python3 -c "from mpi4py import MPI; print(MPI.Get_library_version().splitlines()[0])"
  which mpiexec torchrun
} 2>&1 | tee "$OUT/env.txt"
timeout 150 python3 -m pytest -q -p no:cacheprovider tests/test_torch_backend.py -k "cuda or device" 2>&1 \
  | tail -15 | tee "$OUT/cuda-tests.txt"
timeout 420 python3 benchmarks/scaling.py --ranks 2 4 8 --rounds 2 --iters 2 \
  --json "$OUT/scaling.json" --markdown "$OUT/scaling.md" 2>&1 | tail -25

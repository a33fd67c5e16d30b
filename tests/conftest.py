"""Shared test setup: BLAS pinned to one thread (two threads on a shared 2-core box run 20-30x slower)."""

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

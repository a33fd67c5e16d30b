#!/usr/bin/env bash
# Issue 18 lever 4: one run on both cores (2 MPI ranks, parallel.shards=2) against one rank, time to success on
# temporal order T = 50 (paper settings, structural damping), seeds 0-2, 1 BLAS thread per rank. The background
# experiments are paused (SIGSTOP) while this runs. Clone /work/runs/clone at 30d997c.
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 MLFLOW_DISABLE_TELEMETRY=true
B=/work/runs/clone/.venv/bin
cd /work/runs/s18/lever4
A=(experiment=ms2011_temporal_order task.T=50 tracking=none progress=false)
for s in "$@"; do
  /usr/bin/time -f "TIME one-rank seed=$s wall=%e user=%U sys=%S" $B/hf-train "${A[@]}" seed=$s \
      hydra.run.dir=one-s$s 2>&1 | grep -E "SOLVED|not solved|TIME"
  /usr/bin/time -f "TIME two-ranks seed=$s wall=%e user=%U sys=%S" $B/mpiexec -n 2 $B/python -m mpi4py -m hfcore.cli \
      parallel=mpi parallel.shards=2 "${A[@]}" seed=$s hydra.run.dir=two-s$s 2>&1 | grep -E "SOLVED|not solved|TIME"
done

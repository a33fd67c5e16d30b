"""pluggy plugin: registers the ``mpi`` communicator (``parallel=mpi``).

Imports without mpi4py; only building the communicator needs the ``mpi`` extra.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from hfcore.config import ParallelConfig
from hfcore.hookspecs import hookimpl

MISSING_MPI = "parallel 'mpi' needs the mpi extra: pip install 'hfcore[mpi]'"


@dataclass
class MPIParallelConfig(ParallelConfig):
    """``parallel=mpi``: ranks from ``MPI.COMM_WORLD`` (launch with mpiexec or srun)."""

    name: str = "mpi"


def make_comm(cfg: Any) -> Any:
    """Join ``MPI.COMM_WORLD``.

    Raises
    ------
    ImportError
        Without mpi4py (names the extra to install).
    ValueError
        When SLURM asked for more tasks than MPI sees (srun's PMI does not match this MPI: every task would
        otherwise run alone as rank 0 of 1).
    """
    try:
        from mpi4py import MPI
    except ImportError as exc:
        raise ImportError(MISSING_MPI) from exc
    from .comm import MPIComm

    comm = MPIComm(MPI.COMM_WORLD)
    tasks = os.environ.get("SLURM_NTASKS", "")
    if tasks.isdigit() and int(tasks) != comm.size and os.environ.get("SLURM_STEP_ID") is not None:
        raise ValueError(f"SLURM started {tasks} tasks but MPI sees {comm.size} rank(s); srun's PMI does not "
                         f"match this MPI (try srun --mpi=pmix or pmi2, and the site's MPI for mpi4py)")
    return comm


@hookimpl
def hfcore_register_communicators(registry: Any) -> None:
    """Register ``mpi`` with :func:`make_comm` and :class:`MPIParallelConfig`."""
    registry.add_communicator("mpi", make_comm, MPIParallelConfig())

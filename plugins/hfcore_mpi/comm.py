"""The :class:`~hfcore.interfaces.Communicator` on mpi4py's buffer API (no pickling of arrays)."""

from __future__ import annotations

import sys
import time

import numpy as np
from mpi4py import MPI


class MPIComm:
    """Ranks of an MPI communicator.

    Parameters
    ----------
    comm : mpi4py.MPI.Comm
        Usually ``MPI.COMM_WORLD``.
    """

    name = "mpi"

    def __init__(self, comm: MPI.Comm) -> None:
        self.comm = comm
        self.rank = comm.Get_rank()
        self.size = comm.Get_size()

    def allgather_rows(self, rows: np.ndarray, counts: list[int]) -> np.ndarray:
        """Every rank's rows, concatenated in rank order (``Allgatherv`` on float64 buffers)."""
        rows = np.ascontiguousarray(rows, dtype=np.float64)
        if rows.shape[0] != counts[self.rank]:
            raise ValueError(f"rank {self.rank}: {rows.shape[0]} rows but counts say {counts[self.rank]}")
        width = int(np.prod(rows.shape[1:], dtype=np.int64))
        out = np.empty((sum(counts), *rows.shape[1:]), dtype=np.float64)
        sizes = [c * width for c in counts]
        offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(int).tolist()
        self.comm.Allgatherv(rows, [out, sizes, offsets, MPI.DOUBLE])
        return out

    def barrier(self, timeout_s: float = 120.0) -> None:
        """Wait for every rank, sleeping between polls (``MPI_Ibarrier``); give up after ``timeout_s``."""
        request = self.comm.Ibarrier()
        deadline = time.monotonic() + timeout_s
        while not request.Test():
            if time.monotonic() > deadline:
                raise TimeoutError(f"rank {self.rank}: barrier timed out after {timeout_s:.0f} s")
            time.sleep(0.01)

    def abort(self, code: int) -> None:
        """``MPI_Abort``: the launcher ends every rank."""
        sys.stdout.flush()
        sys.stderr.flush()
        self.comm.Abort(code)

"""The :class:`~hfcore.interfaces.Communicator` on torch.distributed: gloo on CPU, NCCL between GPUs."""

from __future__ import annotations

import atexit
import datetime
import os
import sys

import numpy as np
import torch
import torch.distributed as dist

REQUIRED_ENV = ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")


class TorchDistComm:
    """Ranks of the default torch.distributed process group.

    Parameters
    ----------
    backend : str
        ``gloo``, ``nccl`` or ``auto`` (NCCL when CUDA is available, else gloo).
    timeout_s : float
        How long a collective may wait for a missing rank before failing.
    """

    name = "torch"

    def __init__(self, backend: str = "auto", timeout_s: float = 300.0) -> None:
        if backend == "auto":
            backend = "nccl" if torch.cuda.is_available() else "gloo"
        if not dist.is_initialized():
            dist.init_process_group(backend, init_method="env://", timeout=datetime.timedelta(seconds=timeout_s))
            # A group left to interpreter exit can abort the process ("terminate called without an active
            # exception", SIGABRT) while gloo's threads are torn down: a finished run then reads as failed.
            atexit.register(self.close)
        self.backend = dist.get_backend()
        self.rank = dist.get_rank()
        self.size = dist.get_world_size()
        self.device = torch.device("cpu")
        if self.backend == "nccl":
            self.device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
            torch.cuda.set_device(self.device)

    def allgather_rows(self, rows: np.ndarray, counts: list[int]) -> np.ndarray:
        """Every rank's rows, concatenated in rank order (``all_gather`` of tensors padded to the longest)."""
        rows = np.ascontiguousarray(rows, dtype=np.float64)
        if rows.shape[0] != counts[self.rank]:
            raise ValueError(f"rank {self.rank}: {rows.shape[0]} rows but counts say {counts[self.rank]}")
        longest = max(counts)
        padded = torch.zeros((longest, *rows.shape[1:]), dtype=torch.float64, device=self.device)
        padded[: rows.shape[0]] = torch.from_numpy(rows).to(self.device)
        parts = [torch.empty_like(padded) for _ in range(self.size)]
        dist.all_gather(parts, padded)
        return np.concatenate([p[:c].cpu().numpy() for p, c in zip(parts, counts, strict=True)], axis=0)

    def barrier(self) -> None:
        """``dist.barrier``."""
        dist.barrier()

    def close(self) -> None:
        """Destroy the process group this communicator created (at exit; :meth:`abort` skips it)."""
        if dist.is_initialized():
            dist.destroy_process_group()

    def abort(self, code: int) -> None:
        """Exit now; the launcher (torchrun, srun) ends the other ranks, whose collectives then fail."""
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)

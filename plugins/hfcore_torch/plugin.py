"""pluggy plugin: registers the ``torch`` backend with hfcore.

This module imports without torch installed: torch (and the model modules
that need it) are imported inside :func:`make_model`, so ``hfcore`` lists the
backend everywhere and only building it requires the ``torch`` extra.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hfcore.config import BackendConfig, ParallelConfig
from hfcore.hookspecs import hookimpl
from hfcore.kit.batches import DTYPES
from hfcore.kit.definitions import Linear, TanhRNN

if TYPE_CHECKING:
    from .distributed import TorchDistComm
    from .linear import TorchLinear
    from .rnn import TorchRNN

MODEL_NAMES = ("rnn_tanh", "linear")
"""The models this backend has hand-written derivatives for (instances of exactly the kit's classes)."""

MISSING_TORCH = "backend 'torch' needs the torch extra: pip install 'hfcore[torch]'"


@dataclass
class TorchBackendConfig(BackendConfig):
    """Config of the PyTorch backend.

    ``dtype`` is ``float64`` (default) or ``float32``. ``device`` is ``auto``
    (CUDA when available, else CPU), ``cpu``, ``cuda`` or ``cuda:N``.
    ``threads`` sets ``torch.set_num_threads`` (process-wide) when not null.
    ``chunk_size`` is how many sequences the RNN processes at once; null means
    1000 on CPU (bounded working memory, like the NumPy backend) and the whole
    batch on CUDA.
    """

    name: str = "torch"
    dtype: str = "float64"
    device: str = "auto"
    threads: int | None = None
    chunk_size: int | None = None


def make_model(definition: Any, model_cfg: Any, backend_cfg: Any) -> TorchRNN | TorchLinear:
    """Build the torch model of ``definition``.

    Parameters
    ----------
    definition : ModelDefinition
        :class:`hfcore.kit.definitions.TanhRNN` (:class:`~hfcore_torch.rnn.TorchRNN`) or
        :class:`hfcore.kit.definitions.Linear` (:class:`~hfcore_torch.linear.TorchLinear`).
    model_cfg : ModelConfig-like
        The model's config.
    backend_cfg : BackendConfig-like
        ``dtype``; optional ``device`` (default ``"auto"``), ``threads`` and ``chunk_size``
        (see :class:`TorchBackendConfig`).

    Raises
    ------
    ImportError
        When torch is not installed.
    ValueError
        For another model, an unknown dtype or device (CUDA requested but unavailable included),
        a bad thread count or an invalid model config.
    """
    try:
        import torch
    except ImportError as exc:
        raise ImportError(MISSING_TORCH) from exc
    if type(definition) not in (TanhRNN, Linear):
        raise ValueError(f"backend 'torch' has hand-written derivatives for {', '.join(MODEL_NAMES)} only; "
                         f"model '{definition.name}' needs backend=autograd")
    dtype = backend_cfg.dtype
    if dtype not in DTYPES:
        raise ValueError(f"torch backend: unsupported dtype {dtype!r}; expected one of {', '.join(DTYPES)}")
    threads = getattr(backend_cfg, "threads", None)
    if threads is not None:
        if int(threads) < 1:
            raise ValueError(f"torch backend: threads must be >= 1 or null, got {threads!r}")
        torch.set_num_threads(int(threads))
    device = getattr(backend_cfg, "device", "auto")
    spec = definition.spec
    if isinstance(definition, TanhRNN):
        from .rnn import TorchRNN

        chunk_size = getattr(backend_cfg, "chunk_size", None)
        model: Any = TorchRNN(spec, model_cfg, dtype=dtype, device=device, chunk_size=chunk_size)
    else:
        from .linear import TorchLinear

        model = TorchLinear(spec, model_cfg, dtype=dtype, device=device)
    model.definition = definition
    return model


@hookimpl
def hfcore_register_backends(registry: Any) -> None:
    """Register ``torch`` with :func:`make_model` and :class:`TorchBackendConfig`."""
    registry.add_backend("torch", make_model, TorchBackendConfig())


@dataclass
class TorchParallelConfig(ParallelConfig):
    """``parallel=torch``: data parallelism on torch.distributed (launch with torchrun or srun).

    ``backend`` is ``auto`` (NCCL when CUDA is available, else gloo), ``gloo`` or ``nccl``;
    ``timeout_s`` bounds how long a collective waits for a missing rank.
    """

    name: str = "torch"
    backend: str = "auto"
    timeout_s: float = 300.0


def make_comm(cfg: Any) -> TorchDistComm:
    """Join the torch.distributed group described by the launcher's environment.

    Raises
    ------
    ImportError
        Without torch (names the extra).
    ValueError
        For an unknown backend or when the launcher's variables (RANK, WORLD_SIZE, MASTER_ADDR,
        MASTER_PORT) are missing.
    """
    import os

    try:
        import torch  # noqa: F401
    except ImportError as exc:
        raise ImportError("parallel 'torch' needs the torch extra: pip install 'hfcore[torch]'") from exc
    from .distributed import REQUIRED_ENV, TorchDistComm

    if cfg.backend not in ("auto", "gloo", "nccl"):
        raise ValueError(f"parallel.backend must be auto, gloo or nccl, got {cfg.backend!r}")
    if not cfg.timeout_s > 0:
        raise ValueError(f"parallel.timeout_s must be > 0, got {cfg.timeout_s}")
    missing = [name for name in REQUIRED_ENV if name not in os.environ]
    if missing:
        raise ValueError(f"parallel=torch needs {', '.join(missing)} in the environment; launch with "
                         f"torchrun --nproc-per-node=N -m hfcore.cli ... (see docs/scaling-out.md)")
    return TorchDistComm(cfg.backend, cfg.timeout_s)


@hookimpl
def hfcore_register_communicators(registry: Any) -> None:
    """Register ``torch`` (torch.distributed) with :func:`make_comm` and :class:`TorchParallelConfig`."""
    registry.add_communicator("torch", make_comm, TorchParallelConfig())

"""pluggy plugin: registers the ``numpy`` backend with hfcore."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hfcore.config import BackendConfig
from hfcore.hookspecs import hookimpl
from hfcore.kit.batches import DTYPES
from hfcore.types import ModelSpec

from .linear import NumpyLinear
from .lstm import NumpyLSTM
from .rnn import NumpyRNN

MODEL_KINDS = {"rnn": NumpyRNN, "linear": NumpyLinear, "lstm": NumpyLSTM}
"""``ModelConfig.kind`` -> model class."""


@dataclass
class NumpyBackendConfig(BackendConfig):
    """Config of the NumPy backend.

    ``dtype`` is ``float64`` (default) or ``float32``. ``chunk_size`` is how many
    sequences the RNN processes at once; bigger batches are split, which bounds
    working memory (results equal up to summation order).
    """

    name: str = "numpy"
    dtype: str = "float64"
    chunk_size: int = 1000


def make_model(spec: ModelSpec, model_cfg: Any, backend_cfg: Any) -> NumpyRNN | NumpyLSTM | NumpyLinear:
    """Build the NumPy model for ``spec``.

    Parameters
    ----------
    spec : ModelSpec
        Sizes and output/loss pair from the task.
    model_cfg : ModelConfig-like
        ``kind`` selects :class:`NumpyRNN` (``"rnn"``), :class:`NumpyLSTM` (``"lstm"``) or
        :class:`NumpyLinear` (``"linear"``).
    backend_cfg : BackendConfig-like
        ``dtype`` is ``"float64"`` or ``"float32"``; optional ``chunk_size`` (default 1000).

    Raises
    ------
    ValueError
        For an unknown kind or dtype, or an invalid model config.
    """
    kind = model_cfg.kind
    if kind not in MODEL_KINDS:
        known = ", ".join(MODEL_KINDS)
        raise ValueError(f"numpy backend: unknown model kind {kind!r}; expected one of {known}")
    dtype = backend_cfg.dtype
    if dtype not in DTYPES:
        raise ValueError(f"numpy backend: unsupported dtype {dtype!r}; expected one of {', '.join(DTYPES)}")
    if kind in ("rnn", "lstm"):  # lstm: the first-order baseline (hfcore_numpy.lstm)
        chunk_size = int(getattr(backend_cfg, "chunk_size", 1000))
        return MODEL_KINDS[kind](spec, model_cfg, dtype=dtype, chunk_size=chunk_size)
    return NumpyLinear(spec, model_cfg, dtype=dtype)


@hookimpl
def hfcore_register_backends(registry: Any) -> None:
    """Register ``numpy`` with :func:`make_model` and :class:`NumpyBackendConfig`."""
    registry.add_backend("numpy", make_model, NumpyBackendConfig())

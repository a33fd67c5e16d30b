"""pluggy plugin: registers the ``numpy`` backend with hfcore."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hfcore.config import BackendConfig
from hfcore.hookspecs import hookimpl
from hfcore.kit.batches import DTYPES
from hfcore.kit.definitions import GRU, LSTM, Linear, TanhRNN

from .gru import NumpyGRU
from .linear import NumpyLinear
from .lstm import NumpyLSTM
from .rnn import NumpyRNN

HAND_WRITTEN = {TanhRNN: NumpyRNN, Linear: NumpyLinear, LSTM: NumpyLSTM, GRU: NumpyGRU}
"""Definition class -> the NumPy model with its hand-written derivatives."""


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


def make_model(definition: Any, model_cfg: Any, backend_cfg: Any) -> NumpyRNN | NumpyLSTM | NumpyGRU | NumpyLinear:
    """The NumPy model of a built-in ``definition``, with hand-written derivatives.

    Parameters
    ----------
    definition : ModelDefinition
        An instance of exactly one of the kit's classes (:data:`HAND_WRITTEN`): a subclass
        may change the forward map, which hand-written derivatives would not follow.
    model_cfg : ModelConfig-like
        The model's config (``l2``, ``normaliser``; the definition read the rest).
    backend_cfg : BackendConfig-like
        ``dtype`` is ``"float64"`` or ``"float32"``; optional ``chunk_size`` (default 1000).

    Raises
    ------
    ValueError
        For any other model (one line naming it and the backends that derive it), an unknown
        dtype, or an invalid model config.
    """
    cls = HAND_WRITTEN.get(type(definition))
    if cls is None:
        names = ", ".join(d.name for d in HAND_WRITTEN)
        raise ValueError(f"backend 'numpy' has hand-written derivatives for {names} only; model "
                         f"'{definition.name}' needs backend=autograd or backend=torch")
    dtype = backend_cfg.dtype
    if dtype not in DTYPES:
        raise ValueError(f"numpy backend: unsupported dtype {dtype!r}; expected one of {', '.join(DTYPES)}")
    if cls is NumpyLinear:
        return NumpyLinear(definition.spec, model_cfg, dtype=dtype, definition=definition)
    chunk_size = int(getattr(backend_cfg, "chunk_size", 1000))
    return cls(definition.spec, model_cfg, dtype=dtype, chunk_size=chunk_size, definition=definition)


@hookimpl
def hfcore_register_backends(registry: Any) -> None:
    """Register ``numpy`` with :func:`make_model` and :class:`NumpyBackendConfig`."""
    registry.add_backend("numpy", make_model, NumpyBackendConfig())

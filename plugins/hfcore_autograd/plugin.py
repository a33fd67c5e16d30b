"""pluggy plugin: registers the ``autograd`` backend with hfcore.

This module imports without autograd installed; the models (and autograd) are
imported by :func:`make_model`, which raises a one-line ``ImportError`` naming the
``hfcore[autograd]`` extra when autograd is missing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hfcore.config import BackendConfig
from hfcore.hookspecs import hookimpl
from hfcore.kit.batches import DTYPES


@dataclass
class AutogradBackendConfig(BackendConfig):
    """Config of the autograd backend.

    ``dtype`` is ``float64`` (default) or ``float32``. ``chunk_size`` is how many
    sequences are processed at once; bigger batches are split, which bounds the
    autograd tape (it holds every intermediate of the forward pass).
    """

    name: str = "autograd"
    dtype: str = "float64"
    chunk_size: int = 1000


def make_model(definition: Any, model_cfg: Any, backend_cfg: Any) -> Any:
    """The autograd model of ``definition``: loss, gradient and Gauss-Newton products from its forward map.

    Parameters
    ----------
    definition : ModelDefinition
        Any model definition (built-in or a plugin's).
    model_cfg : ModelConfig-like
        The model's config: ``l2`` and ``normaliser`` are read here.
    backend_cfg : BackendConfig-like
        ``dtype`` is ``"float64"`` or ``"float32"``; optional ``chunk_size`` (default 1000).

    Returns
    -------
    AutogradModel

    Raises
    ------
    ImportError
        When autograd is not installed (the message names the extra to install).
    ValueError
        For an unknown dtype or an invalid model config.
    """
    # Imported here, not at module level, so the plugin loads without the optional dependency.
    from ._base import AutogradModel

    dtype = backend_cfg.dtype
    if dtype not in DTYPES:
        raise ValueError(f"autograd backend: unsupported dtype {dtype!r}; expected one of {', '.join(DTYPES)}")
    chunk_size = int(getattr(backend_cfg, "chunk_size", 1000))
    return AutogradModel(definition, model_cfg, dtype=dtype, chunk_size=chunk_size)


@hookimpl
def hfcore_register_backends(registry: Any) -> None:
    """Register ``autograd`` with :func:`make_model` and :class:`AutogradBackendConfig`."""
    registry.add_backend("autograd", make_model, AutogradBackendConfig())

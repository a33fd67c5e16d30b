"""The per-step affine model ``s_i = W x_i + b`` written with ``autograd.numpy``.

Same model as :class:`hfcore_numpy.linear.NumpyLinear`, layout and initialisation of
:class:`hfcore.kit.layout.LinearLayout`;
its Gauss-Newton matrix is exact and ``G_S = 0`` (no hidden units).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hfcore.kit.layout import LinearLayout
from hfcore.types import ModelSpec

from ._base import AutogradModel
from ._deps import anp


class AutogradLinear(AutogradModel):
    """``s_i = W x_i + b`` at every step, ``yhat_i = g(s_i)``; objective as :class:`~hfcore_autograd.rnn.AutogradRNN`.

    **Flat parameter layout**: ``W`` (O, I) row-major, then ``b`` (O,) (as the NumPy backend).

    Parameters
    ----------
    spec : ModelSpec
        Input/output sizes and the output/loss pair.
    cfg : ModelConfig-like
        Read by attribute: ``l2``, ``init_scale``, ``normaliser`` (``init`` is validated,
        the model is always initialised dense; ``hidden`` is unused).
    dtype : numpy dtype, optional
        ``float64`` (default) or ``float32``.
    chunk_size : int, optional
        Sequences processed together (default 1000).

    Raises
    ------
    ValueError
        On an invalid spec or config.

    Notes
    -----
    :meth:`preactivations` returns ``t`` of shape (T, B, 0); ``gv`` ignores the structural weight.
    """

    def __init__(self, spec: ModelSpec, cfg: Any, dtype: Any = np.float64, chunk_size: int = 1000) -> None:
        super().__init__(LinearLayout(spec, cfg, dtype=dtype), chunk_size)

    def _net(self, theta: Any, x: np.ndarray) -> tuple[Any, None]:
        """``(s, None)`` for inputs ``x`` (T, B, n_in)."""
        p = self.unpack(theta)
        T, B, n_i = x.shape
        s = anp.dot(x.reshape(T * B, n_i), anp.transpose(p.W)) + p.b
        return anp.reshape(s, (T, B, self.n_out)), None

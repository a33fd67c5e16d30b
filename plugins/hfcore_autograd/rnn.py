"""The tanh RNN of Martens & Sutskever (2011) written with ``autograd.numpy``.

Same model, objective, flat parameter layout and initialisation as
:class:`hfcore_numpy.rnn.NumpyRNN` (the layout is :class:`hfcore.kit.layout.RNNLayout`); only the
derivatives come from autograd instead of hand-written BPTT / R-passes.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hfcore.kit.layout import RNNLayout
from hfcore.types import ModelSpec

from ._base import AutogradModel
from ._deps import anp
from ._ops import stack_steps, tanh


class AutogradRNN(AutogradModel):
    """Tanh RNN with a matched output loss (M&S 2011 eqs. 1-4), autograd backend.

    ``t_i = W_hx x_i + W_hh h_{i-1} + b_h`` (``W_hh h_0`` replaced by ``b_init``),
    ``h_i = tanh(t_i)``, ``s_i = W_yh h_i + b_y``; objective
    ``sum m L(s; y) / N + (kappa/2) ||theta||^2``. Flat layout, config semantics, validation
    and initialisation are those of :class:`hfcore.kit.layout.RNNLayout` (as the NumPy backend).

    Parameters
    ----------
    spec : ModelSpec
        Input/output sizes and the output/loss pair.
    cfg : ModelConfig-like
        Read by attribute: ``hidden``, ``l2``, ``init``, ``num_connections``,
        ``init_scale``, ``input_scale``, ``normaliser``.
    dtype : numpy dtype, optional
        ``float64`` (default) or ``float32``.
    chunk_size : int, optional
        Sequences processed together (default 1000); bounds the autograd tape.

    Raises
    ------
    ValueError
        On an invalid spec or config (the NumPy backend's messages).

    Notes
    -----
    The recurrence is a Python loop over steps, each step recording a few autograd nodes.
    ``x_i W_hx'`` is taken per step on the data slice ``x[i]`` (data is never traced), so no
    traced array is ever indexed: indexing a traced array costs a dense scatter-add in
    every backward sweep. A bound :meth:`curvature` keeps both autograd tapes, about
    ``6 * T * B * H`` numbers per chunk (measured; the NumPy backend keeps 3).
    """

    def __init__(self, spec: ModelSpec, cfg: Any, dtype: Any = np.float64, chunk_size: int = 1000) -> None:
        if int(chunk_size) < 1:  # checked first, as by the NumPy backend
            raise ValueError(f"chunk_size must be >= 1, got {chunk_size!r}")
        super().__init__(RNNLayout(spec, cfg, dtype=dtype), chunk_size)

    def _net(self, theta: Any, x: np.ndarray) -> tuple[Any, Any]:
        """``(s, t)`` for inputs ``x`` (T, B, n_in); same operation order as the NumPy backend."""
        p = self.unpack(theta)
        T, B, _ = x.shape
        w_hx_t, w_hh_t = anp.transpose(p.W_hx), anp.transpose(p.W_hh)
        ts: list[Any] = []
        hs: list[Any] = []
        for i in range(T):
            t_i = anp.dot(x[i], w_hx_t) + p.b_h
            t_i = t_i + (p.b_init if i == 0 else anp.dot(hs[-1], w_hh_t))
            ts.append(t_i)
            hs.append(tanh(t_i))
        h = anp.reshape(stack_steps(*hs), (T * B, self.n_hidden))
        s = anp.reshape(anp.dot(h, anp.transpose(p.W_yh)) + p.b_y, (T, B, self.n_out))
        return s, stack_steps(*ts)

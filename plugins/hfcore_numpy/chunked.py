"""What the NumPy backend's bound Gauss-Newton products share: summing per-chunk products into one vector.

A model binds its forward pass once per chunk of sequences (:class:`~hfcore_numpy.rnn.RNNCurvature`,
:class:`~hfcore_numpy.lstm.LSTMCurvature`, :class:`~hfcore_numpy.gru.GRUCurvature`); each product is then
the sum of the chunks' unnormalised products, divided by the loss's N, plus the L2 term.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hfcore.kit.batches import Workspace, as_vector, batch_norm
from hfcore.types import Batch


class ChunkedCurvature:
    """Base of a bound product: binds ``(theta, batch)`` chunk by chunk; subclasses write ``_bind_chunk``
    (the chunk's cached forward pass) and ``_chunk_gv`` (its unnormalised product)."""

    def __init__(self, model: Any, theta: np.ndarray, batch: Batch) -> None:
        self.model = model
        self.theta = as_vector(theta, model.n_params, model.dtype, "theta").copy()
        self.params = model.unpack(self.theta)
        self.norm = batch_norm(batch, model.normaliser)
        self.chunks = [self._bind_chunk(data) for data in model._chunks(batch)]
        self._ws = Workspace(model.dtype)

    def _bind_chunk(self, data: Any) -> Any:
        raise NotImplementedError

    def _chunk_gv(self, chunk: Any, vp: Any, w: float, out: np.ndarray) -> None:
        raise NotImplementedError

    def gv(self, v: np.ndarray, structural_weight: float = 0.0) -> np.ndarray:
        """Return ``(G_f + kappa I + structural_weight * G_S) v`` (see the subclass's notes).

        Parameters
        ----------
        v : ndarray, shape (n_params,)
            Direction in the flat layout; not modified.
        structural_weight : float
            Coefficient ``w`` of ``G_S`` (M&S 2011 eq. 10, sec. 3.2).

        Returns
        -------
        ndarray, shape (n_params,)
            A new array of the model dtype, normalised like the loss.
        """
        m = self.model
        v = as_vector(v, m.n_params, m.dtype, "v")
        vp = m.unpack(v)
        w = float(structural_weight)
        out = np.empty(m.n_params, dtype=m.dtype)
        part = None
        for k, chunk in enumerate(self.chunks):
            if k == 0:
                self._chunk_gv(chunk, vp, w, out)
            else:
                part = np.empty_like(out) if part is None else part
                self._chunk_gv(chunk, vp, w, part)
                out += part
        out *= 1.0 / self.norm
        if m.l2:
            out += m.l2 * v
        return out

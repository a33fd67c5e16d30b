"""What the NumPy backend's bound Gauss-Newton products share: summing per-chunk products into one vector.

A model binds its forward pass once per chunk of sequences (:class:`~hfcore_numpy.rnn.RNNCurvature`,
:class:`~hfcore_numpy.lstm.LSTMCurvature`, :class:`~hfcore_numpy.gru.GRUCurvature`); each product is then
the sum of the chunks' unnormalised products, divided by the loss's N, plus the L2 term.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from hfcore.kit.batches import Workspace, as_vector, batch_norm
from hfcore.kit.losses import OutputCurvature
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


class TracedChunk(NamedTuple):
    """Cached forward quantities of one chunk of sequences (a gated model's).

    ``trace`` is the model's forward trace with the units' derivatives and without ``s``;
    the inputs ``x`` are referenced, not copied.
    """

    x: np.ndarray
    trace: Any
    out_curv: OutputCurvature
    valid: np.ndarray


class TracedCurvature(ChunkedCurvature):
    """Base of the gated models' bound products (:class:`~hfcore_numpy.base.GatedModel`).

    Each chunk keeps the model's trace (``_forward`` then ``_derivatives``) and the masked output
    Hessian factors; subclasses write ``_chunk_gv``, with :meth:`_output_r` for the output side.
    """

    def _bind_chunk(self, data: Any) -> TracedChunk:
        tr = self.model._derivatives(self.model._forward(self.params, data.x))
        return TracedChunk(data.x, tr._replace(s=None), OutputCurvature(self.model.output, tr.s, data.mask),
                           data.valid)

    def _output_r(self, c: TracedChunk, vp: Any, rh: np.ndarray) -> np.ndarray:
        """The output cotangent ``m H_L R s`` of one chunk, from ``R s = V_y h + W_y R h + v_y``.

        Parameters
        ----------
        c : TracedChunk
            The bound chunk (its trace's ``h`` is (T, B, H)).
        vp : parameter views
            The direction, unpacked (``W_y``, ``b_y`` read).
        rh : ndarray, shape (T, B, H)
            ``R h`` from the model's R-forward pass.

        Returns
        -------
        ndarray, shape (T, B, n_out)
            A work buffer (valid until the next product).
        """
        tr, ws, n_o = c.trace, self._ws, self.model.n_out
        T, B, H = tr.h.shape
        rs = ws.get("rs", (T, B, n_o))
        np.matmul(tr.h.reshape(T * B, H), vp.W_y.T, out=rs.reshape(T * B, n_o))
        tmp_s = ws.get("tmp_s", (T, B, n_o))
        np.matmul(rh.reshape(T * B, H), self.params.W_y.T, out=tmp_s.reshape(T * B, n_o))
        rs += tmp_s
        rs += vp.b_y
        return c.out_curv.apply(rs, out=rs)

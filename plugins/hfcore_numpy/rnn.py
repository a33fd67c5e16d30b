"""The tanh RNN of Martens & Sutskever (2011) in NumPy: loss, BPTT gradient and Gauss-Newton products.

All arrays are time-major ``(T, B, dim)`` and C-contiguous. Products that do not
go through the recurrence are single GEMMs over all ``T*B`` rows; only the
recurrent products (``W_hh`` forward, ``W_hh'`` backward) loop over time.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np

from hfcore.kit.batches import Workspace, as_vector, join_chunks, prepare_batch
from hfcore.kit.layout import RNNLayout, RNNParams
from hfcore.kit.losses import OutputCurvature, output_activation
from hfcore.types import Batch

from .base import ChunkedModel
from .chunked import ChunkedCurvature
from .squares import add_squares, by_sequence, group_size


class NumpyRNN(ChunkedModel, RNNLayout):
    """Tanh RNN with a matched output loss (M&S 2011 eqs. 1-4), NumPy backend.

    ``t_i = W_hx x_i + W_hh h_{i-1} + b_h`` (at ``i = 1`` the ``W_hh h_0`` term is
    the learned ``b_init``), ``h_i = tanh(t_i)``, ``s_i = W_yh h_i + b_y``,
    ``yhat_i = g(s_i)``. The objective is ``sum_{i,b} m L(s; y) / N + (kappa/2)||theta||^2``
    with ``N`` = number of active targets (``normaliser="targets"``) or the batch
    size (``"sequences"``), at least 1, and ``kappa = cfg.l2``.

    **Flat parameter layout**, validation and :meth:`init_params` are those of
    :class:`hfcore.kit.layout.RNNLayout` (every backend shares them).

    Parameters
    ----------
    spec : ModelSpec
        Input/output sizes and the output/loss pair.
    cfg : ModelConfig-like
        Read by attribute: ``hidden``, ``l2``, ``init``, ``num_connections``,
        ``init_scale``, ``input_scale``, ``normaliser``.
    dtype : numpy dtype, optional
        ``float64`` (default) or ``float32``; every array the model returns has it.
    chunk_size : int, optional
        Sequences processed together. Larger batches are split into chunks (results
        are the same up to summation order) so that the working memory, about
        ``4 * T * chunk_size * H`` numbers, does not grow with the gradient batch.
    definition : hfcore.kit.definitions.TanhRNN, optional
        The model's definition, when already built (else built from ``spec`` and ``cfg``).

    Raises
    ------
    ValueError
        On an invalid spec or config (one-line message).

    Notes
    -----
    Internally the input-side weights are used as one ``(H, I+H+2)`` matrix
    ``[W_hx | W_hh | b_h | b_init]`` against the per-step row ``[x_i, h_{i-1}, 1, [i=1]]``
    (``h_0 = 0``) and the output side as ``[W_yh | b_y]`` against ``[h_i, 1]``, so the
    non-recurrent parts of the R-forward pass and all gradient accumulations are one
    GEMM each. :meth:`curvature` objects keep work buffers and are not thread-safe.
    :meth:`curvature` caches about ``3 * T * B * H`` numbers for the bound batch.
    """

    # ------------------------------------------------------------------ passes
    def _hidden(
        self, p: RNNParams, x: np.ndarray, t: np.ndarray, h: np.ndarray, tmp: np.ndarray
    ) -> None:
        """Forward recurrence (M&S 2011 eqs. 1-2) into ``t`` and ``h`` (which may be the same array).

        ``t`` (T, B, H) must be contiguous; ``h`` may be a strided view; ``tmp`` is (B, H) scratch.
        """
        T, B, _ = x.shape
        H = self.n_hidden
        np.matmul(x.reshape(T * B, self.n_in), p.W_hx.T, out=t.reshape(T * B, H))
        t += p.b_h
        t[0] += p.b_init
        w_hh_t = p.W_hh.T
        np.tanh(t[0], out=h[0])
        for i in range(1, T):
            np.matmul(h[i - 1], w_hh_t, out=tmp)
            t[i] += tmp
            np.tanh(t[i], out=h[i])

    def _forward_full(
        self, p: RNNParams, x: np.ndarray, ws: Workspace | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Forward pass keeping what BPTT and Gv need: nothing but ``h``, ``1 - h^2`` and ``s``.

        The inputs are not copied: BPTT and Gv read them (and ``h_{i-1}`` as a view of
        ``h``) in separate matrix products. Arrays come from ``ws`` when given (valid
        until its next use), else are new.

        Returns
        -------
        h : (T, B, H) hidden states, contiguous
        d : (T, B, H) ``1 - h_i^2`` (tanh')
        s : (T, B, O) output pre-activations
        """
        T, B, _ = x.shape
        H = self.n_hidden
        if ws is None:
            ws = Workspace(self.dtype)
        h = ws.get("h", (T, B, H))
        d = ws.get("d", (T, B, H))
        self._hidden(p, x, d, h, ws.get("tmp", (B, H)))
        # d held t; now overwrite it with 1 - h^2 (t is not needed again).
        np.multiply(h, h, out=d)
        np.subtract(1.0, d, out=d)
        return h, d, self._outputs_pre(p, h)

    def _backward(
        self,
        ds: np.ndarray,
        d: np.ndarray,
        x: np.ndarray,
        h: np.ndarray,
        p: RNNParams,
        out: np.ndarray,
        buf: np.ndarray,
        tmp: np.ndarray,
        buf_holds_extra: bool = False,
    ) -> None:
        """Linear BPTT (notes sec. 2 and 3), unnormalised sums written into ``out``.

        ``dt_i = d_i * (W_yh' ds_i + W_hh' dt_{i+1} + extra_i)``. For the gradient there is
        no ``extra``; Gv passes ``extra = w * valid * Rt`` (the structural line, notes
        sec. 3, which is why it is added before the ``d_i`` factor) already in ``buf``
        (``buf_holds_extra``). ``buf`` (T, B, H) and ``tmp`` (B, H) are work buffers; ``buf``
        ends as ``dt``. Every block of ``out`` is written (``out`` may be uninitialised).
        """
        T, B, n_o = ds.shape
        H = self.n_hidden
        ds2 = ds.reshape(T * B, n_o)
        w_hh, w_yh = p.W_hh, p.W_yh
        if not buf_holds_extra:
            np.matmul(ds2, w_yh, out=buf.reshape(T * B, H))
        for i in range(T - 1, -1, -1):
            if buf_holds_extra:  # step by step: adding W_yh' ds to buf needs no second (T, B, H) array
                np.matmul(ds[i], w_yh, out=tmp)
                buf[i] += tmp
            if i < T - 1:
                np.matmul(buf[i + 1], w_hh, out=tmp)
                buf[i] += tmp
            buf[i] *= d[i]
        q = self.unpack(out)
        dt = buf.reshape(T * B, H)
        np.matmul(dt.T, x.reshape(T * B, self.n_in), out=q.W_hx)
        if T > 1:  # h_0 = 0, so step 1 adds nothing to dW_hh
            np.matmul(buf[1:].reshape((T - 1) * B, H).T, h[:-1].reshape((T - 1) * B, H), out=q.W_hh)
        else:
            q.W_hh[...] = 0.0
        np.sum(dt, axis=0, out=q.b_h)
        np.sum(buf[0], axis=0, out=q.b_init)
        np.matmul(ds2.T, h.reshape(T * B, H), out=q.W_yh)
        np.sum(ds2, axis=0, out=q.b_y)

    def _outputs_pre(self, p: RNNParams, h: np.ndarray) -> np.ndarray:
        T, B, H = h.shape
        s = np.matmul(h.reshape(T * B, H), p.W_yh.T)
        s += p.b_y
        return s.reshape(T, B, self.n_out)

    # ------------------------------------------------------------------ Model protocol
    def loss(self, theta: np.ndarray, batch: Batch) -> float:
        """Objective on ``batch`` (forward pass only, in chunks of ``chunk_size`` sequences)."""
        return self._forward_eval(theta, batch, outputs=False)[0]

    def loss_and_grad(self, theta: np.ndarray, batch: Batch) -> tuple[float, np.ndarray]:
        """Objective and its gradient by BPTT (notes sec. 2), in chunks of ``chunk_size`` sequences."""
        value, grad, _ = self._gradient(theta, batch, False)
        return value, grad

    def loss_grad_and_squares(self, theta: np.ndarray, batch: Batch) -> tuple[float, np.ndarray, np.ndarray]:
        """:meth:`loss_and_grad` and the empirical Fisher diagonal from the same backward pass.

        ``squares = N sum_i (grad c_i)**2`` over the ``N`` sequences (``c_i`` sequence ``i``'s share of the
        normalised loss; no L2 term), see :class:`hfcore.interfaces.HasGradientSquares`. Each sequence's
        weight gradient is a batched GEMM over small groups of sequences (:mod:`.squares`).
        """
        return self._gradient(theta, batch, True)

    def _gradient(self, theta: np.ndarray, batch: Batch,
                  squares: bool) -> tuple[float, np.ndarray, np.ndarray | None]:
        """Objective, gradient and (when ``squares``) the empirical Fisher diagonal, chunk by chunk."""
        theta = as_vector(theta, self.n_params, self.dtype, "theta")
        p = self.unpack(theta)
        ws = Workspace(self.dtype)
        grad = np.zeros(self.n_params, dtype=self.dtype)
        part = np.empty(self.n_params, dtype=self.dtype)
        sq = np.zeros(self.n_params, dtype=self.dtype) if squares else None
        total, norm = 0.0, 1.0
        for data in self._chunks(batch):
            h, d, s = self._forward_full(p, data.x, ws)
            value, ds = self._loss_sum(s, data)
            total += value
            norm = data.norm
            ds -= data.y  # dL/ds = yhat - y for matched pairs
            ds *= data.mask
            buf = ws.get("buf", d.shape)
            self._backward(ds, d, data.x, h, p, part, buf, ws.get("tmp", d.shape[1:]))
            grad += part
            if sq is not None:  # buf now holds dt
                self._add_squares(ds, buf, data.x, h, sq)
        grad *= 1.0 / norm
        grad += self.l2 * theta
        if sq is not None:  # grad c_i = g_i / norm, and N sum_i (g_i / norm)^2
            sq *= batch.size / norm**2
        return total / norm + self._l2(theta), grad, sq

    def _add_squares(self, ds: np.ndarray, dt: np.ndarray, x: np.ndarray, h: np.ndarray, out: np.ndarray) -> None:
        """Add ``sum_b g_b**2`` of the unnormalised per-sequence gradients ``g_b`` of one chunk into ``out``.

        ``g_b`` are :meth:`_backward`'s blocks restricted to sequence ``b``: ``dW_hx = dt_b' x_b``,
        ``dW_hh = dt_b[1:]' h_b[:-1]``, ``dW_yh = ds_b' h_b`` and the biases' sums over time.
        """
        T, B, H = dt.shape
        q = self.unpack(out)
        step = group_size(B, H, T, self.n_in, self.n_out)
        for a in range(0, B, step):
            e = min(a + step, B)
            dtb, dsb = by_sequence(dt, a, e, True), by_sequence(ds, a, e, True)  # (b, H, T), (b, O, T)
            hb = by_sequence(h, a, e, False)  # (b, T, H)
            add_squares(q.W_hx, np.matmul(dtb, by_sequence(x, a, e, False)))
            if T > 1:  # h_0 = 0: step 1 adds nothing to dW_hh
                add_squares(q.W_hh, np.matmul(dtb[:, :, 1:], hb[:, :-1]))
            add_squares(q.W_yh, np.matmul(dsb, hb))
            add_squares(q.b_h, dtb.sum(axis=2))
            add_squares(q.b_init, np.array(dtb[:, :, 0]))
            add_squares(q.b_y, dsb.sum(axis=2))

    def predict(self, theta: np.ndarray, batch: Batch) -> np.ndarray:
        """Outputs ``g(s_i)``, shape (T, B, n_out)."""
        return self._forward_eval(theta, batch, loss=False)[1]

    def loss_and_predict(self, theta: np.ndarray, batch: Batch) -> tuple[float, np.ndarray]:
        """:meth:`loss` and :meth:`predict` from one forward pass (test evaluation)."""
        return self._forward_eval(theta, batch)

    def _forward_eval(self, theta: np.ndarray, batch: Batch, loss: bool = True,
                      outputs: bool = True) -> tuple[float, np.ndarray]:
        """Objective (nan unless ``loss``) and outputs (empty unless ``outputs``), chunk by chunk."""
        theta = as_vector(theta, self.n_params, self.dtype, "theta")
        p = self.unpack(theta)
        ws = Workspace(self.dtype)
        total, norm, outs = 0.0, 1.0, []
        for data in self._chunks(batch):
            T, B, _ = data.x.shape
            h = ws.get("h", (T, B, self.n_hidden))
            self._hidden(p, data.x, h, h, ws.get("tmp", (B, self.n_hidden)))
            s = self._outputs_pre(p, h)
            if loss:
                value, yhat = self._loss_sum(s, data, outputs=outputs)
                total += value
                norm = data.norm
            else:
                yhat = output_activation(self.output, s)
            if outputs:
                outs.append(yhat)
        return (total / norm + self._l2(theta) if loss else math.nan), join_chunks(outs, self.dtype)

    def preactivations(self, theta: np.ndarray, batch: Batch) -> tuple[np.ndarray, np.ndarray]:
        """``(s, t)`` with shapes (T, B, n_out) and (T, B, hidden)."""
        theta = as_vector(theta, self.n_params, self.dtype, "theta")
        data = prepare_batch(batch, self.n_in, self.n_out, self.dtype, 1.0)
        p = self.unpack(theta)
        T, B, _ = data.x.shape
        t = np.empty((T, B, self.n_hidden), dtype=self.dtype)
        h = np.empty_like(t)
        self._hidden(p, data.x, t, h, np.empty((B, self.n_hidden), dtype=self.dtype))
        return self._outputs_pre(p, h), t

    def curvature(self, theta: np.ndarray, batch: Batch) -> RNNCurvature:
        """Bind Gauss-Newton products at ``theta`` on ``batch`` (forward pass cached)."""
        return RNNCurvature(self, theta, batch)


class _ChunkState(NamedTuple):
    """Cached forward quantities of one chunk of sequences."""

    x: np.ndarray
    h: np.ndarray
    d: np.ndarray
    out_curv: OutputCurvature
    valid: np.ndarray


class RNNCurvature(ChunkedCurvature):
    """``v -> (G_f + kappa I + w G_S) v`` for a :class:`NumpyRNN`, bound to ``(theta, batch)``.

    The forward pass (``h``, ``1 - h^2`` and the masked output Hessian factors; the
    inputs are referenced, not copied) is computed once here, per chunk of ``chunk_size``
    sequences; each :meth:`gv` is one R-forward pass and one linear BPTT pass
    (M&S 2011 sec. 3.1-3.2; notes sec. 3).

    Notes
    -----
    ``G_S = J_t' diag(1 - h^2) J_t`` is the exact Gauss-Newton matrix of the matching
    loss of tanh, restricted to real (non-padding) steps and divided by the same N as
    the loss. Any constant such as IS11's 0.25 belongs in ``w`` (the core passes
    ``w = lambda * mu * c_D``). Work buffers are reused across calls, so one bound
    object must not be used from several threads at once; results are fresh arrays.
    """

    def _bind_chunk(self, data: Any) -> _ChunkState:
        h, d, s = self.model._forward_full(self.params, data.x)
        return _ChunkState(data.x, h, d, OutputCurvature(self.model.output, s, data.mask), data.valid)

    def _chunk_gv(
        self, c: _ChunkState, vp: RNNParams, w: float, out: np.ndarray
    ) -> None:
        """Unnormalised ``(G_f + w G_S) v`` of one chunk into ``out`` (notes sec. 3).

        One (T, B, H) work array: it holds ``Rt`` through the R-forward pass (``Rh`` is kept
        for two steps only, the output's ``Rs`` is accumulated step by step), then the
        structural term, then ``Rdt`` in the backward pass.
        """
        m, p = self.model, self.params
        T, B, H = c.d.shape
        d, h, n_o = c.d, c.h, m.n_out
        ws = self._ws
        rt = ws.get("rt", (T, B, H))
        rs = ws.get("rs", (T, B, n_o))
        tmp, tmp_o = ws.get("tmp", (B, H)), ws.get("tmp_o", (B, n_o))
        rh, rh_prev = ws.get("rh", (B, H)), ws.get("rh_prev", (B, H))
        # Whole-batch products first: Rt = h_prev V_hh' + v_bh (+ v_init at step 1), Rs = h V_yh' + v_by.
        rt[0] = vp.b_init
        if T > 1:
            np.matmul(h[:-1].reshape((T - 1) * B, H), vp.W_hh.T, out=rt[1:].reshape((T - 1) * B, H))
        rt += vp.b_h
        np.matmul(h.reshape(T * B, H), vp.W_yh.T, out=rs.reshape(T * B, n_o))
        rs += vp.b_y
        w_hh_t, w_yh_t, v_hx_t = p.W_hh.T, p.W_yh.T, vp.W_hx.T
        for i in range(T):
            np.matmul(c.x[i], v_hx_t, out=tmp)
            rt[i] += tmp
            if i > 0:
                np.matmul(rh_prev, w_hh_t, out=tmp)
                rt[i] += tmp
            np.multiply(d[i], rt[i], out=rh)
            np.matmul(rh, w_yh_t, out=tmp_o)
            rs[i] += tmp_o
            rh, rh_prev = rh_prev, rh
        rds = c.out_curv.apply(rs, out=rs)
        if w != 0.0:
            # Structural damping only at real steps: w * valid * Rt joins Rdt before the d factor.
            rt *= c.valid * w
        m._backward(rds, d, c.x, h, p, out, rt, tmp, buf_holds_extra=w != 0.0)

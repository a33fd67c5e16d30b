"""LSTM with forget gates (Gers, Schmidhuber & Cummins 1999) in NumPy: loss, BPTT and Gauss-Newton products.

The baseline of M&S 2011 Table 1 (algorithm notes sec. 10): memory blocks of
several cells that share one input, one forget and one output gate. It trains
with a first-order optimizer (``optimizer=sgd``) or with HF: :meth:`NumpyLSTM.curvature`
binds hand-written R-op Gauss-Newton products with structural damping over the
definition's damped signals (:class:`LSTMCurvature`).

All arrays are time-major ``(T, B, dim)``. Products that do not go through the
recurrence are single GEMMs over all ``T*B`` rows; only the recurrent product
with ``W_h`` (forward, R-forward) and ``W_h'`` (backward) loops over time.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from hfcore.kit.batches import Workspace, as_vector, join_chunks, prepare_batch
from hfcore.kit.definitions import LSTM, LSTM_SIGNALS
from hfcore.kit.losses import output_activation
from hfcore.types import Batch, ModelSpec

from .base import GatedModel
from .chunked import TracedChunk, TracedCurvature


class LSTMParams(NamedTuple):
    """Views into a flat parameter vector (see :class:`NumpyLSTM` for the layout)."""

    W_x: np.ndarray
    W_h: np.ndarray
    b: np.ndarray
    W_y: np.ndarray
    b_y: np.ndarray


class _Trace(NamedTuple):
    """Forward quantities BPTT and Gv need, all (T, B, .).

    ``a`` holds the pre-activations after :meth:`NumpyLSTM._forward`; :meth:`NumpyLSTM._derivatives`
    overwrites that buffer with the units' curvatures ``D''(a)`` (then ``d``, and ``a`` is None).
    """

    a: np.ndarray | None  # pre-activations [cell inputs | gates] (R)
    g: np.ndarray  # tanh cell inputs (H)
    gates: np.ndarray  # sigmoid gates [input | forget | output] (3 * n_blocks)
    c: np.ndarray  # cell states (H)
    tc: np.ndarray  # tanh(c) (H)
    h: np.ndarray  # cell outputs o * tanh(c) (H)
    s: np.ndarray  # output pre-activations (O)
    d: np.ndarray | None = None  # [1 - g^2 | gates (1 - gates)]: dg/da and d(gates)/da, = D''(a) (R)
    dtc: np.ndarray | None = None  # 1 - tanh(c)^2 (H)


def _sigmoid(a: np.ndarray) -> np.ndarray:
    # exp(-softplus(-a)) never overflows.
    return np.exp(-np.logaddexp(0, -a))


class NumpyLSTM(GatedModel):
    """LSTM with forget gates and a matched output loss, NumPy backend.

    For ``n_blocks`` memory blocks of ``k`` cells (``H = n_blocks * k`` cells in
    all) and ``z_t = [x_t, h_{t-1}]`` (``h_0 = c_0 = 0``)::

        a_t = W_x x_t + W_h h_{t-1} + b                  (R = H + 3 n_blocks rows)
        g_t = tanh(a_t[cell inputs])                      (H)
        i_t, f_t, o_t = sigmoid(a_t[gates])               (n_blocks each; shared by a block's k cells)
        c_t = f_t * c_{t-1} + i_t * g_t                   (gates broadcast to their block's cells)
        h_t = o_t * tanh(c_t)
        s_t = W_y h_t + b_y,   yhat_t = g(s_t)

    (Gers et al. 1999 without peepholes; cell input and output squashing are
    both ``tanh``.) The objective is ``sum_{t,b} m L(s; y) / N + (kappa/2)||theta||^2``
    exactly as in :class:`~hfcore_numpy.rnn.NumpyRNN` (same losses, masks,
    normaliser ``N`` and ``kappa = cfg.l2``).

    **Flat parameter layout** (the blocks of :class:`hfcore.kit.definitions.LSTM`)::

        W_x  (R, I)  row-major   offset 0
        W_h  (R, H)  row-major   offset R*I
        b    (R,)                offset R*I + R*H   (blocks b_cell, b_in, b_forget, b_out)
        W_y  (O, H)  row-major   offset R*(I+H+1)
        b_y  (O,)                then; n_params = R*(I+H+1) + O*(H+1)

    Rows of ``W_x``, ``W_h`` and ``b`` are ordered ``[cell inputs (H) | input
    gates (n_blocks) | forget gates (n_blocks) | output gates (n_blocks)]``;
    cell ``j`` belongs to block ``j // k``. :meth:`init_params` draws ``W_x``, ``W_h`` and ``W_y``
    (in float64, in that order) as the RNN's matrices (``W_x`` further multiplied by ``input_scale``);
    biases are 0 except the forget gates, ``forget_bias`` (:data:`~hfcore.kit.definitions.FORGET_BIAS`).
    With 30 blocks of 10 cells and 225 inputs/outputs (bouncing balls) that is 272 865 parameters, against
    225 825 for the 300-unit RNN.

    :meth:`curvature` binds Gauss-Newton products with structural damping over the
    definition's damped signals (:class:`LSTMCurvature`); they equal the deriving
    backends' :class:`~hfcore.kit.derived.DerivedCurvature` to rounding.

    Parameters
    ----------
    spec : ModelSpec
        Input/output sizes and the output/loss pair.
    cfg : ModelConfig-like
        Read by attribute: ``hidden`` (cells H), ``l2``, ``init``,
        ``num_connections``, ``init_scale``, ``input_scale``, ``normaliser``
        and, if present, ``cells_per_block`` (default
        :data:`~hfcore.kit.definitions.CELLS_PER_BLOCK`, or H itself when H is smaller).
    dtype : numpy dtype, optional
        ``float64`` (default) or ``float32``.
    chunk_size : int, optional
        Sequences processed together; larger batches are split (working memory
        about ``(8 H + 9 n_blocks) * T * chunk_size`` numbers for a gradient).
    definition : hfcore.kit.definitions.LSTM, optional
        The model's definition, when already built (else built from ``spec`` and ``cfg``).

    Raises
    ------
    ValueError
        On an invalid spec or config (one-line message).
    """

    definition_class = LSTM
    bias_blocks = ("b_cell", "b_out")  # the four bias blocks: one (R,) view of them all
    definition: LSTM

    def __init__(self, spec: ModelSpec, cfg: Any, dtype: Any = np.float64, chunk_size: int = 1000,
                 definition: LSTM | None = None) -> None:
        super().__init__(spec, cfg, dtype, chunk_size, definition)
        d = self.definition
        self.cells_per_block, self.n_blocks, self.n_rows = d.cells_per_block, d.n_blocks, d.n_rows
        self.damped: frozenset[str] = frozenset(d.damped_signals)

    # ------------------------------------------------------------------ layout
    def unpack(self, theta: np.ndarray) -> LSTMParams:
        """Views ``(W_x, W_h, b, W_y, b_y)`` into a flat contiguous vector (``b`` spans the four bias blocks)."""
        v = self.layout.unpack(theta)
        return LSTMParams(v["W_x"], v["W_h"], self._bias_view(theta), v["W_y"], v["b_y"])

    def _blocks(self, cells: np.ndarray) -> np.ndarray:
        """A view (..., n_blocks, k) of cell values (..., H): a gate (..., n_blocks, 1) then broadcasts to its cells."""
        return cells.reshape(cells.shape[:-1] + (self.n_blocks, self.cells_per_block))

    def _gate(self, gates: np.ndarray, j: int) -> np.ndarray:
        """Gate ``j`` (0 input, 1 forget, 2 output) of ``gates`` (..., 3 n_blocks) as a view (..., n_blocks, 1)."""
        nb = self.n_blocks
        return gates[..., j * nb:(j + 1) * nb, None]

    # ------------------------------------------------------------------ init
    # ------------------------------------------------------------------ passes

    def _forward(self, p: LSTMParams, x: np.ndarray, ws: Workspace | None = None) -> _Trace:
        """Forward pass over one chunk, keeping what BPTT needs; arrays from ``ws`` when given, else new."""
        T, B, _ = x.shape
        H, R = self.n_hidden, self.n_rows
        ws = Workspace(self.dtype) if ws is None else ws
        a = ws.get("a", (T, B, R))
        np.matmul(x.reshape(T * B, self.n_in), p.W_x.T, out=a.reshape(T * B, R))
        a += p.b
        g, c, tc, h = (ws.get(name, (T, B, H)) for name in ("g", "c", "tc", "h"))
        gates = ws.get("gates", (T, B, R - H))
        tmp, tmp_r = ws.get("tmp", (B, H)), ws.get("tmp_r", (B, R))
        w_h_t = p.W_h.T
        for t in range(T):
            if t > 0:
                np.matmul(h[t - 1], w_h_t, out=tmp_r)
                a[t] += tmp_r
            np.tanh(a[t, :, :H], out=g[t])
            gates[t] = _sigmoid(a[t, :, H:])
            c_t = self._blocks(c[t])
            np.multiply(self._gate(gates[t], 0), self._blocks(g[t]), out=c_t)
            if t > 0:
                np.multiply(self._gate(gates[t], 1), self._blocks(c[t - 1]), out=self._blocks(tmp))
                c[t] += tmp
            np.tanh(c[t], out=tc[t])
            np.multiply(self._gate(gates[t], 2), self._blocks(tc[t]), out=self._blocks(h[t]))
        s = np.matmul(h.reshape(T * B, H), p.W_y.T)
        s += p.b_y
        return _Trace(a, g, gates, c, tc, h, s.reshape(T, B, self.n_out))

    def _derivatives(self, tr: _Trace, ws: Workspace | None = None) -> _Trace:
        """``tr`` with the units' derivatives: ``d = D''(a)`` (written over ``a``) and ``dtc = 1 - tanh(c)^2``."""
        H = self.n_hidden
        d = tr.a
        assert d is not None
        np.multiply(tr.g, tr.g, out=d[..., :H])
        np.subtract(1.0, d[..., :H], out=d[..., :H])
        np.subtract(1.0, tr.gates, out=d[..., H:])
        d[..., H:] *= tr.gates
        dtc = np.empty_like(tr.tc) if ws is None else ws.get("dtc", tr.tc.shape)
        np.multiply(tr.tc, tr.tc, out=dtc)
        np.subtract(1.0, dtc, out=dtc)
        return tr._replace(a=None, d=d, dtc=dtc)

    def _backward(self, p: LSTMParams, x: np.ndarray, tr: _Trace, ds: np.ndarray, da: np.ndarray,
                  out: np.ndarray, ws: Workspace, dh_in: np.ndarray | None = None,
                  dc_in: np.ndarray | None = None) -> None:
        """Linear BPTT over one chunk: the unnormalised ``J' (ds, da)`` written into ``out`` (flat).

        ``ds`` (T, B, O) is the cotangent of the outputs ``s`` (``m (yhat - y)`` for the gradient,
        ``m H_L R s`` for Gv); ``da`` (T, B, R) enters holding a cotangent of the pre-activations
        ``a`` themselves (zeros for the gradient, the structural term for Gv) and leaves holding
        ``dL/da``. ``dh_in`` and ``dc_in`` (T, B, H), when given, are further cotangents of ``h``
        and ``c`` themselves (the structural terms of the ``hidden`` and ``cell`` signals).
        ``tr`` needs :meth:`_derivatives`. Every block of ``out`` is written.
        """
        T, B, _ = x.shape
        H, nb = self.n_hidden, self.n_blocks
        d, dtc = tr.d, tr.dtc
        assert d is not None and dtc is not None
        dh_all = ws.get("dh", (T, B, H))
        np.matmul(ds.reshape(T * B, self.n_out), p.W_y, out=dh_all.reshape(T * B, H))
        if dh_in is not None:
            dh_all += dh_in
        dc, dc_next, tmp = ws.get("dc", (B, H)), ws.get("dc_next", (B, H)), ws.get("tmp", (B, H))
        prods = ws.get("prods", (B, 3, H))  # dc g, dc c_{t-1}, dh tanh(c): summed over each block's cells
        sums, one_minus = ws.get("sums", (B, 3, nb)), ws.get("one_minus", (B, 3, nb))
        w_h = p.W_h
        for t in range(T - 1, -1, -1):
            dh = dh_all[t]
            if t < T - 1:
                np.matmul(da[t + 1], w_h, out=tmp)
                dh += tmp
            # The products keep the order of the BPTT this replaced, so gradients (and the SGD checkpoints
            # written with them) are bit for bit the same: ((dh o) (1 - tanh(c)^2)), (sum * sigma) (1 - sigma).
            np.multiply(self._blocks(dh), self._gate(tr.gates[t], 2), out=self._blocks(dc))
            dc *= dtc[t]
            if t < T - 1:  # c_t reaches c_{t+1} through the forget gate f_{t+1}
                np.multiply(self._gate(tr.gates[t + 1], 1), self._blocks(dc_next), out=self._blocks(tmp))
                dc += tmp
            if dc_in is not None:
                dc += dc_in[t]
            np.multiply(self._gate(tr.gates[t], 0), self._blocks(dc), out=self._blocks(tmp))
            tmp *= d[t, :, :H]
            da[t, :, :H] += tmp
            np.multiply(dc, tr.g[t], out=prods[:, 0])
            if t > 0:
                np.multiply(dc, tr.c[t - 1], out=prods[:, 1])
            else:
                prods[:, 1] = 0.0  # c_0 = 0: the first forget gate has no effect on the loss
            np.multiply(dh, tr.tc[t], out=prods[:, 2])
            np.sum(self._blocks(prods), axis=-1, out=sums)
            gates = tr.gates[t].reshape(B, 3, nb)
            sums *= gates
            np.subtract(1.0, gates, out=one_minus)
            sums *= one_minus
            da[t, :, H:].reshape(B, 3, nb)[...] += sums
            dc, dc_next = dc_next, dc
        self._weight_grads(x, tr.h, ds, da, out)

    def _weight_grads(self, x: np.ndarray, h: np.ndarray, ds: np.ndarray, da: np.ndarray, out: np.ndarray) -> None:
        """The flat ``J'`` of the cotangents ``da`` (of ``a``) and ``ds`` (of ``s``): one GEMM per block."""
        T, B, _ = x.shape
        H, R = self.n_hidden, self.n_rows
        q = self.unpack(out)
        da2 = da.reshape(T * B, R)
        np.matmul(da2.T, x.reshape(T * B, self.n_in), out=q.W_x)
        if T > 1:  # h_0 = 0: step 1 adds nothing to dW_h
            np.matmul(da[1:].reshape((T - 1) * B, R).T, h[:-1].reshape((T - 1) * B, H), out=q.W_h)
        else:
            q.W_h[...] = 0.0
        np.sum(da2, axis=0, out=q.b)
        ds2 = ds.reshape(T * B, self.n_out)
        np.matmul(ds2.T, h.reshape(T * B, H), out=q.W_y)
        np.sum(ds2, axis=0, out=q.b_y)

    # ------------------------------------------------------------------ Model protocol
    def predict(self, theta: np.ndarray, batch: Batch) -> np.ndarray:
        """Outputs ``g(s_t)``, shape (T, B, n_out) (the forward pass only: no loss evaluated)."""
        theta = as_vector(theta, self.n_params, self.dtype, "theta")
        p = self.unpack(theta)
        ws = Workspace(self.dtype)
        outs = [output_activation(self.output, self._forward(p, data.x, ws).s) for data in self._chunks(batch)]
        return join_chunks(outs, self.dtype)

    def preactivations(self, theta: np.ndarray, batch: Batch) -> tuple[np.ndarray, np.ndarray]:
        """``(s, a)``: output pre-activations (T, B, n_out) and the damped signals' pre-activations.

        ``a`` is the chosen signals side by side in the definition's order (as the deriving
        backends report them): by default ``[cell inputs (H) | gates (3 n_blocks)]``, then
        ``c`` (H) and ``h`` (H) when ``cell`` and ``hidden`` are damped.
        """
        theta = as_vector(theta, self.n_params, self.dtype, "theta")
        data = prepare_batch(batch, self.n_in, self.n_out, self.dtype, 1.0)
        tr = self._forward(self.unpack(theta), data.x)
        assert tr.a is not None
        H = self.n_hidden
        parts = {"cell_inputs": tr.a[..., :H], "gates": tr.a[..., H:], "cell": tr.c, "hidden": tr.h}
        chosen = [parts[name] for name in LSTM_SIGNALS if name in self.damped]
        if self.damped == {"cell_inputs", "gates"}:
            return tr.s, tr.a  # already side by side
        return tr.s, np.concatenate(chosen, axis=-1) if chosen else tr.a[..., :0]

    def curvature(self, theta: np.ndarray, batch: Batch) -> LSTMCurvature:
        """Bind Gauss-Newton products at ``theta`` on ``batch`` (forward pass cached)."""
        return LSTMCurvature(self, theta, batch)


class LSTMCurvature(TracedCurvature):
    """``v -> (G_f + kappa I + w G_S) v`` for a :class:`NumpyLSTM`, bound to ``(theta, batch)``.

    The forward pass (states, gates, the units' derivatives and the masked output Hessian
    factors; the inputs are referenced, not copied) is computed once here, per chunk of
    ``chunk_size`` sequences; each :meth:`gv` is one R-forward pass and one linear BPTT pass.
    Products that do not go through the recurrence are GEMMs over all ``T*B`` rows; only the
    products with ``W_h`` (forward) and ``W_h'`` (backward) loop over time.

    Notes
    -----
    ``G_S = sum_k J_k' diag(valid D_k''(a_k)) J_k / N`` over the damped signals that
    :class:`hfcore.kit.definitions.LSTM` declares (``model.damped_signals``, each weight 1):
    any of the cell-input pre-activations (unit tanh, ``D'' = 1 - g^2``), the gate
    pre-activations (unit logistic, ``D'' = sigma (1 - sigma)``), the cell states ``c`` (unit
    tanh, ``D'' = 1 - tanh(c)^2``) and the cell outputs ``h`` (unit identity, ``D'' = 1``), at
    real (non-padding) steps, divided by the loss's N; this is
    :class:`hfcore.kit.derived.DerivedCurvature`'s term. Since ``D''(a) R a`` is the R-forward
    value of the units' outputs, its cotangent ``w valid D'' R a`` joins ``dL/da`` directly; the
    cotangents ``w valid (1 - tanh(c)^2) R c`` and ``w valid R h`` join ``dL/dc`` and ``dL/dh``
    at their step of the same backward pass.
    Bound objects keep about ``(6 H + 6 n_blocks) * T * B`` numbers for the batch (``H * T * B``
    more for each of ``cell`` and ``hidden`` when damped: ``R c`` and ``R h`` kept) and reuse work
    buffers, so one must not be used from several threads at once; results are fresh arrays.
    """

    def _chunk_gv(self, c: TracedChunk, vp: LSTMParams, w: float, out: np.ndarray) -> None:
        """Unnormalised ``(G_f + w G_S) v`` of one chunk into ``out``: R-forward, then :meth:`NumpyLSTM._backward`."""
        m, tr, ws = self.model, c.trace, self._ws
        T, B, H = tr.h.shape
        damp_h, damp_c = w != 0.0 and "hidden" in m.damped, w != 0.0 and "cell" in m.damped
        ra = ws.get("da", (T, B, m.n_rows))
        # "dh" is free again once Rs is formed (the backward pass reuses it), unless R h is damped
        rh = ws.get("rh" if damp_h else "dh", (T, B, H))
        rc_all = ws.get("rc_all", (T, B, H)) if damp_c else None
        self._r_forward(c, vp, ra, rh, rc_all)
        rds = self._output_r(c, vp, rh)
        # ra holds D''(a) R a: the structural cotangent of a, at real steps only, for the damped parts
        self._scale_signals(ra, c.valid * w if w != 0.0 else None)
        if damp_h:  # D'' = 1: the cotangent of h is w valid R h
            rh *= c.valid * w
        if rc_all is not None:  # D'' = 1 - tanh(c)^2
            rc_all *= tr.dtc
            rc_all *= c.valid * w
        m._backward(self.params, c.x, tr, rds, ra, out, ws, rh if damp_h else None, rc_all)

    def _scale_signals(self, ra: np.ndarray, scale: np.ndarray | None) -> None:
        """``ra`` times ``scale`` (``w valid``) where its part (cell inputs, gates) is damped, zero elsewhere."""
        H, damped = self.model.n_hidden, self.model.damped
        if scale is not None and {"cell_inputs", "gates"} <= damped:
            ra *= scale
            return
        for part, name in ((ra[..., :H], "cell_inputs"), (ra[..., H:], "gates")):
            if scale is not None and name in damped:
                part *= scale
            else:
                part.fill(0.0)

    def _r_forward(self, c: TracedChunk, vp: LSTMParams, ra: np.ndarray, rh: np.ndarray,
                   rc_all: np.ndarray | None = None) -> None:
        """R-forward pass of one chunk: ``ra`` (T, B, R) ends as ``D''(a) R a`` (R of [g | gates]), ``rh`` as R h
        and ``rc_all`` (T, B, H), when given, as R c."""
        m, tr, p, ws = self.model, c.trace, self.params, self._ws
        T, B, H = tr.h.shape
        R = m.n_rows
        d = tr.d
        assert d is not None and tr.dtc is not None
        # Whole-batch product first: R a_t = V_h h_{t-1} (+ V_x x_t + v_b + W_h R h_{t-1} step by step).
        ra[0] = 0.0
        if T > 1:
            np.matmul(tr.h[:-1].reshape((T - 1) * B, H), vp.W_h.T, out=ra[1:].reshape((T - 1) * B, R))
        ra += vp.b
        tmp_r, tmp = ws.get("tmp_r", (B, R)), ws.get("tmp", (B, H))
        rc, rc_prev = ws.get("rc", (B, H)), ws.get("rc_prev", (B, H))
        v_x_t, w_h_t = vp.W_x.T, p.W_h.T
        blocks, gate = m._blocks, m._gate
        for t in range(T):
            if rc_all is not None:  # R c kept for every step (the cell signal's structural term)
                rc, rc_prev = rc_all[t], rc_all[t - 1]
            np.matmul(c.x[t], v_x_t, out=tmp_r)
            ra[t] += tmp_r
            if t > 0:
                np.matmul(rh[t - 1], w_h_t, out=tmp_r)
                ra[t] += tmp_r
            ra[t] *= d[t]  # R g and R gates
            rg, rgates = ra[t, :, :H], ra[t, :, H:]
            # R c_t = i R g + R i g (+ R f c_{t-1} + f R c_{t-1}); R h_t = o (1 - tanh(c)^2) R c_t + R o tanh(c_t)
            np.multiply(gate(tr.gates[t], 0), blocks(rg), out=blocks(rc))
            np.multiply(gate(rgates, 0), blocks(tr.g[t]), out=blocks(tmp))
            rc += tmp
            if t > 0:
                np.multiply(gate(rgates, 1), blocks(tr.c[t - 1]), out=blocks(tmp))
                rc += tmp
                np.multiply(gate(tr.gates[t], 1), blocks(rc_prev), out=blocks(tmp))
                rc += tmp
            np.multiply(gate(tr.gates[t], 2), blocks(rc), out=blocks(rh[t]))
            rh[t] *= tr.dtc[t]
            np.multiply(gate(rgates, 2), blocks(tr.tc[t]), out=blocks(tmp))
            rh[t] += tmp
            rc, rc_prev = rc_prev, rc

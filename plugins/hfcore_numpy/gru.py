"""Gated recurrent unit (Cho et al. 2014) in NumPy: loss, BPTT and Gauss-Newton products with structural damping.

The model of :class:`hfcore.kit.definitions.GRU` with hand-written derivatives:
:meth:`NumpyGRU.loss_and_grad` is BPTT, :meth:`NumpyGRU.curvature` binds R-op
Gauss-Newton products with structural damping over the definition's damped
signals (:class:`GRUCurvature`, forward pass cached once per ``(theta, batch)``).

All arrays are time-major ``(T, B, dim)``. Products that do not go through the
recurrence are single GEMMs over all ``T*B`` rows; only the recurrent products
with ``W_h`` and ``W_c`` (forward, R-forward) and their transposes (backward)
loop over time.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from hfcore.kit.batches import Workspace, as_vector, prepare_batch
from hfcore.kit.definitions import (
    GRU,
    GRU_CANDIDATE_WEIGHT,
    GRU_DAMPED_DEFAULT,
    GRU_HIDDEN_WEIGHT,
    GRU_RESET_WEIGHT,
    GRU_SIGNALS,
    GRU_UPDATE_WEIGHT,
)
from hfcore.types import Batch, ModelSpec

from .base import GatedModel
from .chunked import TracedChunk, TracedCurvature


class GRUParams(NamedTuple):
    """Views into a flat parameter vector (see :class:`NumpyGRU` for the layout)."""

    W_x: np.ndarray
    W_h: np.ndarray
    W_c: np.ndarray
    b: np.ndarray
    W_y: np.ndarray
    b_y: np.ndarray


class _Trace(NamedTuple):
    """Forward quantities BPTT and Gv need, all (T, B, .).

    ``a`` holds the pre-activations ``[a_z | a_r | a_c]`` after :meth:`NumpyGRU._forward`;
    :meth:`NumpyGRU._derivatives` overwrites that buffer with the units' curvatures ``D''(a)``
    (then ``d``, and ``a`` is None).
    """

    a: np.ndarray | None  # pre-activations [update | reset | candidate] (3H)
    u: np.ndarray  # unit outputs [z | r | c] (3H)
    q: np.ndarray  # r_t * h_{t-1}, the candidate's recurrent input (H); q_0 = 0
    h: np.ndarray  # states (H)
    s: np.ndarray | None  # output pre-activations (O)
    d: np.ndarray | None = None  # [z (1 - z) | r (1 - r) | 1 - c^2] = D''(a) (3H)


def _sigmoid(a: np.ndarray, out: np.ndarray) -> None:
    """``out = 1 / (1 + exp(-a))`` as the tanh form (never overflows; :class:`hfcore.models.NumpyOps`'s formula)."""
    np.multiply(a, 0.5, out=out)
    np.tanh(out, out=out)
    out *= 0.5
    out += 0.5


class NumpyGRU(GatedModel):
    """Gated recurrent unit with a matched output loss, NumPy backend.

    The equations, blocks and damped signals are those of :class:`hfcore.kit.definitions.GRU`
    (``h_0 = 0``)::

        z_t = sigmoid(W_x[z] x_t + W_h[z] h_{t-1} + b_z)
        r_t = sigmoid(W_x[r] x_t + W_h[r] h_{t-1} + b_r)
        c_t = tanh(W_x[c] x_t + W_c (r_t * h_{t-1}) + b_c)
        h_t = h_{t-1} + z_t * (c_t - h_{t-1}),   s_t = W_y h_t + b_y,   yhat_t = g(s_t)

    The objective is ``sum_{t,b} m L(s; y) / N + (kappa/2)||theta||^2`` as in
    :class:`~hfcore_numpy.rnn.NumpyRNN` (same losses, masks, normaliser ``N``, ``kappa = cfg.l2``).

    **Flat parameter layout**::

        W_x  (3H, I)  rows [update | reset | candidate]   offset 0
        W_h  (2H, H)  rows [update | reset]               offset 3H*I
        W_c  (H, H)                                       offset 3H*I + 2H*H
        b    (3H,)    blocks b_z, b_r, b_c                 offset 3H*(I+H)
        W_y  (O, H), b_y (O,);   n_params = 3H*(I+H+1) + O*(H+1)

    Parameters
    ----------
    spec : ModelSpec
        Input/output sizes and the output/loss pair.
    cfg : GRUConfig-like
        Read by attribute: ``hidden``, ``update_bias``, ``l2``, ``init``, ``num_connections``,
        ``init_scale``, ``input_scale``, ``normaliser`` and, if present, ``damped_signals`` (default
        :data:`~hfcore.kit.definitions.GRU_DAMPED_DEFAULT`).
    dtype : numpy dtype, optional
        ``float64`` (default) or ``float32``.
    chunk_size : int, optional
        Sequences processed together; larger batches are split (working memory about
        ``9 H * T * chunk_size`` numbers for a gradient).
    definition : hfcore.kit.definitions.GRU, optional
        The model's definition, when already built (else built from ``spec`` and ``cfg``).

    Raises
    ------
    ValueError
        On an invalid spec or config (one-line message).
    """

    definition_class = GRU
    bias_blocks = ("b_z", "b_c")  # the three bias blocks: one (3H,) view of them all
    definition: GRU

    def __init__(self, spec: ModelSpec, cfg: Any, dtype: Any = np.float64, chunk_size: int = 1000,
                 definition: GRU | None = None) -> None:
        super().__init__(spec, cfg, dtype, chunk_size, definition)
        self.damped: frozenset[str] = frozenset(self.definition.damped_signals)
        # Each damped signal's weight on its rows of a (the declared weights, in declaration order; 0: not damped).
        H = self.n_hidden
        weights = [weight if name in self.damped else 0.0 for name, weight in
                   (("update", GRU_UPDATE_WEIGHT), ("reset", GRU_RESET_WEIGHT), ("candidate", GRU_CANDIDATE_WEIGHT))]
        self.signal_weights = np.repeat(np.array(weights, dtype=self.dtype), H)
        self.damp_a = any(weights)  # some rows of a are damped

    # ------------------------------------------------------------------ layout
    def unpack(self, theta: np.ndarray) -> GRUParams:
        """Views ``(W_x, W_h, W_c, b, W_y, b_y)`` into a flat contiguous vector (``b`` spans the bias blocks)."""
        v = self.layout.unpack(theta)
        return GRUParams(v["W_x"], v["W_h"], v["W_c"], self._bias_view(theta), v["W_y"], v["b_y"])

    # ------------------------------------------------------------------ passes
    def _forward(self, p: GRUParams, x: np.ndarray, ws: Workspace | None = None) -> _Trace:
        """Forward pass over one chunk, keeping what BPTT needs; arrays from ``ws`` when given, else new."""
        T, B, _ = x.shape
        H = self.n_hidden
        ws = Workspace(self.dtype) if ws is None else ws
        a, u = ws.get("a", (T, B, 3 * H)), ws.get("u", (T, B, 3 * H))
        np.matmul(x.reshape(T * B, self.n_in), p.W_x.T, out=a.reshape(T * B, 3 * H))  # every input term at once
        a += p.b
        q, h = ws.get("q", (T, B, H)), ws.get("h", (T, B, H))
        q[0] = 0.0
        tmp, tmp2 = ws.get("tmp", (B, H)), ws.get("tmp2", (B, 2 * H))
        w_h_t, w_c_t = p.W_h.T, p.W_c.T
        for t in range(T):
            if t > 0:
                np.matmul(h[t - 1], w_h_t, out=tmp2)
                a[t, :, :2 * H] += tmp2
            _sigmoid(a[t, :, :2 * H], u[t, :, :2 * H])
            z, r, c = u[t, :, :H], u[t, :, H:2 * H], u[t, :, 2 * H:]
            if t > 0:
                np.multiply(r, h[t - 1], out=q[t])
                np.matmul(q[t], w_c_t, out=tmp)
                a[t, :, 2 * H:] += tmp
            np.tanh(a[t, :, 2 * H:], out=c)
            if t > 0:  # h_t = h_{t-1} + z (c - h_{t-1})
                np.subtract(c, h[t - 1], out=tmp)
                tmp *= z
                np.add(h[t - 1], tmp, out=h[t])
            else:
                np.multiply(z, c, out=h[0])
        s = np.matmul(h.reshape(T * B, H), p.W_y.T)
        s += p.b_y
        return _Trace(a, u, q, h, s.reshape(T, B, self.n_out))

    def _derivatives(self, tr: _Trace, ws: Workspace | None = None) -> _Trace:
        """``tr`` with ``d = D''(a) = [z (1 - z) | r (1 - r) | 1 - c^2]`` written over ``a`` (``ws`` unused)."""
        H = self.n_hidden
        d = tr.a
        assert d is not None
        np.subtract(1.0, tr.u[..., :2 * H], out=d[..., :2 * H])
        d[..., :2 * H] *= tr.u[..., :2 * H]
        np.multiply(tr.u[..., 2 * H:], tr.u[..., 2 * H:], out=d[..., 2 * H:])
        np.subtract(1.0, d[..., 2 * H:], out=d[..., 2 * H:])
        return tr._replace(a=None, d=d)

    def _backward(self, p: GRUParams, x: np.ndarray, tr: _Trace, ds: np.ndarray, da: np.ndarray,
                  out: np.ndarray, ws: Workspace, dh_in: np.ndarray | None = None) -> None:
        """Linear BPTT over one chunk: the unnormalised ``J' (ds, da)`` written into ``out`` (flat).

        ``ds`` (T, B, O) is the cotangent of the outputs ``s`` (``m (yhat - y)`` for the gradient,
        ``m H_L R s`` for Gv); ``da`` (T, B, 3H) enters holding a cotangent of the pre-activations
        ``a`` themselves (zeros for the gradient, the structural term for Gv) and leaves holding
        ``dL/da``. ``dh_in`` (T, B, H), when given, is a further cotangent of ``h`` itself (the
        structural term of the ``hidden`` signal). ``tr`` needs :meth:`_derivatives`. Every block of
        ``out`` is written.
        """
        T, B, _ = x.shape
        H = self.n_hidden
        d, u, h = tr.d, tr.u, tr.h
        assert d is not None
        dh_all = ws.get("dh", (T, B, H))
        np.matmul(ds.reshape(T * B, self.n_out), p.W_y, out=dh_all.reshape(T * B, H))
        if dh_in is not None:
            dh_all += dh_in
        tmp, dq = ws.get("tmp", (B, H)), ws.get("dq", (B, H))
        for t in range(T - 1, -1, -1):
            dh = dh_all[t]  # complete: step t + 1 added its terms below
            z, r, c = u[t, :, :H], u[t, :, H:2 * H], u[t, :, 2 * H:]
            da_z, da_r, da_c = da[t, :, :H], da[t, :, H:2 * H], da[t, :, 2 * H:]
            np.multiply(dh, z, out=tmp)  # dh z: into the candidate, and taken off the carried dh below
            if t > 0:
                dh_all[t - 1] += dh
                dh_all[t - 1] -= tmp  # dh (1 - z)
            tmp *= d[t, :, 2 * H:]
            da_c += tmp
            if t > 0:
                np.subtract(c, h[t - 1], out=tmp)
                tmp *= dh
            else:
                np.multiply(c, dh, out=tmp)
            tmp *= d[t, :, :H]
            da_z += tmp
            if t > 0:  # r_t and the recurrent products act on h_{t-1}; h_0 = 0 has none
                np.matmul(da_c, p.W_c, out=dq)
                np.multiply(dq, h[t - 1], out=tmp)
                tmp *= d[t, :, H:2 * H]
                da_r += tmp
                dq *= r
                dh_all[t - 1] += dq
                np.matmul(da[t, :, :2 * H], p.W_h, out=tmp)
                dh_all[t - 1] += tmp
        self._weight_grads(x, tr, ds, da, out)

    def _weight_grads(self, x: np.ndarray, tr: _Trace, ds: np.ndarray, da: np.ndarray, out: np.ndarray) -> None:
        """The flat ``J'`` of the cotangents ``da`` (of ``a``) and ``ds`` (of ``s``): one GEMM per block."""
        T, B, _ = x.shape
        H = self.n_hidden
        g = self.unpack(out)
        da2 = da.reshape(T * B, 3 * H)
        np.matmul(da2.T, x.reshape(T * B, self.n_in), out=g.W_x)
        if T > 1:  # h_0 = 0 and q_0 = 0: step 1 adds nothing to dW_h, dW_c
            n = (T - 1) * B
            np.matmul(da[1:, :, :2 * H].reshape(n, 2 * H).T, tr.h[:-1].reshape(n, H), out=g.W_h)
            np.matmul(da[1:, :, 2 * H:].reshape(n, H).T, tr.q[1:].reshape(n, H), out=g.W_c)
        else:
            g.W_h[...] = 0.0
            g.W_c[...] = 0.0
        np.sum(da2, axis=0, out=g.b)
        ds2 = ds.reshape(T * B, self.n_out)
        np.matmul(ds2.T, tr.h.reshape(T * B, H), out=g.W_y)
        np.sum(ds2, axis=0, out=g.b_y)

    # ------------------------------------------------------------------ Model protocol
    def preactivations(self, theta: np.ndarray, batch: Batch) -> tuple[np.ndarray, np.ndarray]:
        """``(s, a)``: output pre-activations (T, B, n_out) and the damped signals' pre-activations.

        ``a`` is the chosen signals side by side in the definition's order (as the deriving
        backends report them): by default ``[update (H) | reset (H) | candidate (H)]``, then
        ``h`` (H) when ``hidden`` is damped.
        """
        theta = as_vector(theta, self.n_params, self.dtype, "theta")
        data = prepare_batch(batch, self.n_in, self.n_out, self.dtype, 1.0)
        tr = self._forward(self.unpack(theta), data.x)
        assert tr.s is not None and tr.a is not None
        if self.damped == set(GRU_DAMPED_DEFAULT):
            return tr.s, tr.a  # already side by side
        H = self.n_hidden
        parts = {"update": tr.a[..., :H], "reset": tr.a[..., H:2 * H], "candidate": tr.a[..., 2 * H:], "hidden": tr.h}
        chosen = [parts[name] for name in GRU_SIGNALS if name in self.damped]
        return tr.s, np.concatenate(chosen, axis=-1) if chosen else tr.a[..., :0]

    def curvature(self, theta: np.ndarray, batch: Batch) -> GRUCurvature:
        """Bind Gauss-Newton products at ``theta`` on ``batch`` (forward pass cached)."""
        return GRUCurvature(self, theta, batch)


class GRUCurvature(TracedCurvature):
    """``v -> (G_f + kappa I + w G_S) v`` for a :class:`NumpyGRU`, bound to ``(theta, batch)``.

    The forward pass (states, unit outputs, ``r * h``, the units' derivatives and the masked
    output Hessian factors; the inputs are referenced, not copied) is computed once here, per
    chunk of ``chunk_size`` sequences; each :meth:`gv` is one R-forward pass and one linear BPTT
    pass. Products that do not go through the recurrence (``V_x x``, ``V_h h``, ``V_c (r h)``,
    ``V_y h``, and every weight cotangent) are GEMMs over all ``T*B`` rows; only the products
    with ``W_h``, ``W_c`` and their transposes loop over time.

    Notes
    -----
    ``G_S = sum_k w_k J_k' diag(valid D_k''(a_k)) J_k / N`` over the damped signals that
    :class:`hfcore.kit.definitions.GRU` declares (``model.damped_signals``): any of the update and
    reset gates (unit logistic, ``D'' = sigma (1 - sigma)``, weights 1 and 0.5), the candidate (unit
    tanh, ``D'' = 1 - c^2``, weight 1) and the state ``h`` (unit identity, ``D'' = 1``, weight 1), at
    real (non-padding) steps, divided by the loss's N; this is
    :class:`hfcore.kit.derived.DerivedCurvature`'s term. Since ``D''(a) R a`` is the R-forward
    value of the units' outputs, its cotangent ``w w_k valid D'' R a`` joins ``dL/da`` directly,
    and ``w w_h valid R h`` joins ``dL/dh`` at its step, in the same backward pass. Bound objects
    keep about ``8 H * T * B`` numbers for the batch (``H * T * B`` more when ``hidden`` is damped:
    ``R h`` kept) and reuse work buffers, so one must not be used from several threads at once;
    results are fresh.
    """

    def _chunk_gv(self, c: TracedChunk, vp: GRUParams, w: float, out: np.ndarray) -> None:
        """Unnormalised ``(G_f + w G_S) v`` of one chunk into ``out``: R-forward, then :meth:`NumpyGRU._backward`."""
        m, tr, ws = self.model, c.trace, self._ws
        T, B, H = tr.h.shape
        damp_h = w != 0.0 and "hidden" in m.damped
        ra = ws.get("da", (T, B, 3 * H))
        # "dh" is free again once Rs is formed (the backward pass reuses it), unless R h is damped
        rh = ws.get("rh" if damp_h else "dh", (T, B, H))
        self._r_forward(c, vp, ra, rh)
        rds = self._output_r(c, vp, rh)
        if w != 0.0 and m.damp_a:  # ra holds D''(a) R a: the structural cotangent of a, at real steps only
            ra *= c.valid * w
            ra *= m.signal_weights
        else:
            ra.fill(0.0)
        if damp_h:  # D'' = 1: the cotangent of h is w w_h valid R h
            rh *= c.valid * (w * GRU_HIDDEN_WEIGHT)
        m._backward(self.params, c.x, tr, rds, ra, out, ws, rh if damp_h else None)

    def _r_forward(self, c: TracedChunk, vp: GRUParams, ra: np.ndarray, rh: np.ndarray) -> None:
        """R-forward pass of one chunk: ``ra`` (T, B, 3H) ends as ``D''(a) R a`` (R of [z | r | c]), ``rh`` as R h."""
        m, tr, p, ws = self.model, c.trace, self.params, self._ws
        T, B, H = tr.h.shape
        d, u, h = tr.d, tr.u, tr.h
        assert d is not None
        n = T * B
        # Whole-batch products first: V_x x + v_b, V_h h_{t-1} and V_c (r h)_t; the W_h, W_c terms step by step.
        np.matmul(c.x.reshape(n, m.n_in), vp.W_x.T, out=ra.reshape(n, 3 * H))
        ra += vp.b
        if T > 1:
            tmp_all = ws.get("tmp_all", (T - 1, B, 2 * H))
            np.matmul(h[:-1].reshape(n - B, H), vp.W_h.T, out=tmp_all.reshape(n - B, 2 * H))
            ra[1:, :, :2 * H] += tmp_all
            np.matmul(tr.q[1:].reshape(n - B, H), vp.W_c.T, out=tmp_all[..., :H].reshape(n - B, H))
            ra[1:, :, 2 * H:] += tmp_all[..., :H]
        tmp, tmp2, rq = ws.get("tmp", (B, H)), ws.get("tmp2", (B, 2 * H)), ws.get("rq", (B, H))
        w_h_t, w_c_t = p.W_h.T, p.W_c.T
        for t in range(T):
            z, r, cc = u[t, :, :H], u[t, :, H:2 * H], u[t, :, 2 * H:]
            if t > 0:
                np.matmul(rh[t - 1], w_h_t, out=tmp2)
                ra[t, :, :2 * H] += tmp2
            ra[t, :, :2 * H] *= d[t, :, :2 * H]  # R z, R r
            rz, rr, rc = ra[t, :, :H], ra[t, :, H:2 * H], ra[t, :, 2 * H:]
            if t > 0:  # R (r h_{t-1}) = R r h_{t-1} + r R h_{t-1}
                np.multiply(rr, h[t - 1], out=rq)
                np.multiply(r, rh[t - 1], out=tmp)
                rq += tmp
                np.matmul(rq, w_c_t, out=tmp)
                rc += tmp
            rc *= d[t, :, 2 * H:]  # R c
            # R h_t = R h_{t-1} + z (R c - R h_{t-1}) + R z (c - h_{t-1})
            if t > 0:
                np.subtract(rc, rh[t - 1], out=tmp)
                tmp *= z
                np.add(rh[t - 1], tmp, out=rh[t])
                np.subtract(cc, h[t - 1], out=tmp)
            else:
                np.multiply(z, rc, out=rh[0])
                tmp[...] = cc
            tmp *= rz
            rh[t] += tmp

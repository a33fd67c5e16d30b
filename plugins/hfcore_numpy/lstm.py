"""LSTM with forget gates (Gers, Schmidhuber & Cummins 1999) in NumPy: loss and hand-written BPTT.

The baseline of M&S 2011 Table 1 (algorithm notes sec. 10): memory blocks of
several cells that share one input, one forget and one output gate, trained
by a first-order optimizer (``optimizer=sgd``). It has no Gauss-Newton product;
:meth:`NumpyLSTM.curvature` raises.

All arrays are time-major ``(T, B, dim)``. Products that do not go through the
recurrence are single GEMMs over all ``T*B`` rows; only the recurrent product
with ``W_h`` (forward) and ``W_h'`` (backward) loops over time.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, NamedTuple

import numpy as np

from hfcore.kit.batches import (
    BatchArrays,
    as_vector,
    batch_norm,
    iter_chunks,
    join_chunks,
    prepare_batch,
    resolve_dtype,
)
from hfcore.kit.definitions import LSTM
from hfcore.kit.layout import ParamLayout
from hfcore.kit.losses import evaluate, output_activation
from hfcore.types import Batch, ModelSpec


class LSTMParams(NamedTuple):
    """Views into a flat parameter vector (see :class:`NumpyLSTM` for the layout)."""

    W_x: np.ndarray
    W_h: np.ndarray
    b: np.ndarray
    W_y: np.ndarray
    b_y: np.ndarray


class _Trace(NamedTuple):
    """Forward quantities BPTT needs, all (T, B, .)."""

    g: np.ndarray  # tanh cell inputs (H)
    gates: np.ndarray  # sigmoid gates [input | forget | output] (3 * n_blocks)
    c: np.ndarray  # cell states (H)
    tc: np.ndarray  # tanh(c) (H)
    h: np.ndarray  # cell outputs o * tanh(c) (H)
    s: np.ndarray  # output pre-activations (O)


def _sigmoid(a: np.ndarray) -> np.ndarray:
    # exp(-softplus(-a)) never overflows.
    return np.exp(-np.logaddexp(0, -a))


class NumpyLSTM:
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
    cell ``j`` belongs to block ``j // k``. With 30 blocks of 10 cells and
    225 inputs/outputs (bouncing balls) that is 272 865 parameters, against
    225 825 for the 300-unit RNN.

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
        about ``(5 H + 3 n_blocks) * T * chunk_size`` numbers).
    definition : hfcore.kit.definitions.LSTM, optional
        The model's definition, when already built (else built from ``spec`` and ``cfg``).

    Raises
    ------
    ValueError
        On an invalid spec or config (one-line message).
    """

    supports_curvature = False
    """No Gauss-Newton product: the LSTM is the first-order baseline (``optimizer=sgd``)."""

    def __init__(self, spec: ModelSpec, cfg: Any, dtype: Any = np.float64, chunk_size: int = 1000,
                 definition: LSTM | None = None) -> None:
        self.definition = LSTM(spec, cfg) if definition is None else definition
        if int(chunk_size) < 1:
            raise ValueError(f"chunk_size must be >= 1, got {chunk_size!r}")
        d = self.definition
        self.layout = ParamLayout(d.blocks())
        self.spec = d.spec
        self.dtype = resolve_dtype(dtype)
        self.output: str = d.spec.output
        self.n_in, self.n_hidden, self.n_out = d.n_in, d.n_hidden, d.n_out
        self.cells_per_block, self.n_blocks, self.n_rows = d.cells_per_block, d.n_blocks, d.n_rows
        self.l2 = float(cfg.l2)
        self.normaliser: str = cfg.normaliser
        self.chunk_size = int(chunk_size)
        self.n_params: int = self.layout.n_params
        # The four bias blocks lie next to each other: one (R,) view of them all.
        self._bias = (self.layout.slices["b_cell"][0], self.layout.slices["b_out"][1])

    # ------------------------------------------------------------------ layout
    def unpack(self, theta: np.ndarray) -> LSTMParams:
        """Views ``(W_x, W_h, b, W_y, b_y)`` into a flat contiguous vector (``b`` spans the four bias blocks)."""
        v = self.layout.unpack(theta)
        return LSTMParams(v["W_x"], v["W_h"], theta[self._bias[0]:self._bias[1]], v["W_y"], v["b_y"])

    def _expand(self, gate: np.ndarray) -> np.ndarray:
        """Block values (..., n_blocks) broadcast to their cells (..., H)."""
        return np.repeat(gate, self.cells_per_block, axis=-1)

    def _block_sum(self, cells: np.ndarray) -> np.ndarray:
        """Sum of cell values (..., H) within each block -> (..., n_blocks)."""
        return cells.reshape(cells.shape[:-1] + (self.n_blocks, self.cells_per_block)).sum(axis=-1)

    # ------------------------------------------------------------------ init
    def init_params(self, rng: np.random.Generator) -> np.ndarray:
        """Initial parameters: the rules of :class:`hfcore.kit.definitions.LSTM`'s blocks, in order.

        ``W_x``, ``W_h`` and ``W_y`` are drawn (in float64, in that order) as the RNN's
        matrices (``W_x`` further multiplied by ``input_scale``); biases are 0 except the
        forget gates, :data:`~hfcore.kit.definitions.FORGET_BIAS`.
        """
        return self.layout.init_params(rng, self.dtype)

    # ------------------------------------------------------------------ passes
    def _chunks(self, batch: Batch) -> Iterator[BatchArrays]:
        """The batch as converted chunks of at most ``chunk_size`` sequences, all divided by the batch's N."""
        norm = batch_norm(batch, self.normaliser)
        for chunk in iter_chunks(batch, self.chunk_size):
            yield prepare_batch(chunk, self.n_in, self.n_out, self.dtype, norm)

    def _forward(self, p: LSTMParams, x: np.ndarray) -> _Trace:
        """Forward pass over one chunk, keeping what BPTT needs."""
        T, B, _ = x.shape
        H, nb = self.n_hidden, self.n_blocks
        a = np.matmul(x.reshape(T * B, self.n_in), p.W_x.T).reshape(T, B, self.n_rows)
        a += p.b
        g = np.empty((T, B, H), dtype=self.dtype)
        gates = np.empty((T, B, 3 * nb), dtype=self.dtype)
        c = np.empty_like(g)
        tc = np.empty_like(g)
        h = np.empty_like(g)
        w_h_t = p.W_h.T
        for t in range(T):
            if t > 0:
                a[t] += h[t - 1] @ w_h_t
            np.tanh(a[t, :, :H], out=g[t])
            gates[t] = _sigmoid(a[t, :, H:])
            i_e = self._expand(gates[t, :, :nb])
            c[t] = i_e * g[t]
            if t > 0:
                c[t] += self._expand(gates[t, :, nb : 2 * nb]) * c[t - 1]
            np.tanh(c[t], out=tc[t])
            np.multiply(self._expand(gates[t, :, 2 * nb :]), tc[t], out=h[t])
        s = np.matmul(h.reshape(T * B, H), p.W_y.T)
        s += p.b_y
        return _Trace(g, gates, c, tc, h, s.reshape(T, B, self.n_out))

    def _backward(self, p: LSTMParams, x: np.ndarray, tr: _Trace, ds: np.ndarray) -> np.ndarray:
        """BPTT for one chunk: the unnormalised gradient (flat) given ``ds = m (yhat - y)``."""
        T, B, _ = x.shape
        H, nb = self.n_hidden, self.n_blocks
        da = np.empty((T, B, self.n_rows), dtype=self.dtype)
        dh_out = np.matmul(ds.reshape(T * B, self.n_out), p.W_y).reshape(T, B, H)
        dc_next = np.zeros((B, H), dtype=self.dtype)  # dL/dc_{t+1} reaching c_t through the forget gate
        f_next = np.zeros((B, H), dtype=self.dtype)
        w_h = p.W_h
        for t in range(T - 1, -1, -1):
            dh = dh_out[t] if t == T - 1 else dh_out[t] + da[t + 1] @ w_h
            i_g = tr.gates[t, :, :nb]
            f_g = tr.gates[t, :, nb : 2 * nb]
            o_g = tr.gates[t, :, 2 * nb :]
            tc = tr.tc[t]
            dc = dh * self._expand(o_g) * (1.0 - tc * tc) + dc_next * f_next
            da[t, :, :H] = dc * self._expand(i_g) * (1.0 - tr.g[t] * tr.g[t])
            da[t, :, H : H + nb] = self._block_sum(dc * tr.g[t]) * i_g * (1.0 - i_g)
            if t > 0:
                da[t, :, H + nb : H + 2 * nb] = self._block_sum(dc * tr.c[t - 1]) * f_g * (1.0 - f_g)
            else:
                da[t, :, H + nb : H + 2 * nb] = 0.0  # c_0 = 0: the first forget gate has no effect
            da[t, :, H + 2 * nb :] = self._block_sum(dh * tc) * o_g * (1.0 - o_g)
            dc_next, f_next = dc, self._expand(f_g)
        grad = np.empty(self.n_params, dtype=self.dtype)
        q = self.unpack(grad)
        da2 = da.reshape(T * B, self.n_rows)
        q.W_x[...] = da2.T @ x.reshape(T * B, self.n_in)
        if T > 1:
            q.W_h[...] = da[1:].reshape((T - 1) * B, self.n_rows).T @ tr.h[:-1].reshape((T - 1) * B, H)
        else:
            q.W_h[...] = 0.0
        q.b[...] = da2.sum(axis=0)
        ds2 = ds.reshape(T * B, self.n_out)
        q.W_y[...] = ds2.T @ tr.h.reshape(T * B, H)
        q.b_y[...] = ds2.sum(axis=0)
        return grad

    def _loss_sum(self, s: np.ndarray, data: BatchArrays) -> tuple[float, np.ndarray]:
        """Masked loss sum (float64 accumulation) and ``yhat``."""
        per_step, yhat = evaluate(self.output, s, data.y)
        return float(np.sum(per_step * data.mask[..., 0], dtype=np.float64)), yhat

    def _l2(self, theta: np.ndarray) -> float:
        return 0.5 * self.l2 * float(np.dot(theta, theta))

    # ------------------------------------------------------------------ Model protocol
    def loss(self, theta: np.ndarray, batch: Batch) -> float:
        """Objective on ``batch`` (forward pass only, in chunks of ``chunk_size`` sequences)."""
        return self.loss_and_predict(theta, batch)[0]

    def loss_and_predict(self, theta: np.ndarray, batch: Batch) -> tuple[float, np.ndarray]:
        """:meth:`loss` and :meth:`predict` from one forward pass (test evaluation)."""
        theta = as_vector(theta, self.n_params, self.dtype, "theta")
        p = self.unpack(theta)
        total, norm, outs = 0.0, 1.0, []
        for data in self._chunks(batch):
            value, yhat = self._loss_sum(self._forward(p, data.x).s, data)
            total += value
            norm = data.norm
            outs.append(yhat)
        return total / norm + self._l2(theta), join_chunks(outs, self.dtype)

    def loss_and_grad(self, theta: np.ndarray, batch: Batch) -> tuple[float, np.ndarray]:
        """Objective and its gradient by hand-written BPTT, in chunks of ``chunk_size`` sequences."""
        theta = as_vector(theta, self.n_params, self.dtype, "theta")
        p = self.unpack(theta)
        grad = np.zeros(self.n_params, dtype=self.dtype)
        total, norm = 0.0, 1.0
        for data in self._chunks(batch):
            tr = self._forward(p, data.x)
            value, ds = self._loss_sum(tr.s, data)
            total += value
            norm = data.norm
            ds -= data.y  # dL/ds = yhat - y for matched pairs
            ds *= data.mask
            grad += self._backward(p, data.x, tr, ds)
        grad *= 1.0 / norm
        grad += self.l2 * theta
        return total / norm + self._l2(theta), grad

    def predict(self, theta: np.ndarray, batch: Batch) -> np.ndarray:
        """Outputs ``g(s_t)``, shape (T, B, n_out)."""
        theta = as_vector(theta, self.n_params, self.dtype, "theta")
        p = self.unpack(theta)
        outs = [output_activation(self.output, self._forward(p, data.x).s) for data in self._chunks(batch)]
        return join_chunks(outs, self.dtype)

    def preactivations(self, theta: np.ndarray, batch: Batch) -> tuple[np.ndarray, np.ndarray]:
        """``(s, t)``: output pre-activations (T, B, n_out) and an empty (T, B, 0) hidden part.

        An LSTM has no tanh hidden units in the sense of structural damping, so
        ``t`` is empty.
        """
        theta = as_vector(theta, self.n_params, self.dtype, "theta")
        data = prepare_batch(batch, self.n_in, self.n_out, self.dtype, 1.0)
        s = self._forward(self.unpack(theta), data.x).s
        return s, np.empty(s.shape[:2] + (0,), dtype=self.dtype)

    def curvature(self, theta: np.ndarray, batch: Batch) -> Any:
        """Not available: the LSTM baseline has no Gauss-Newton product.

        Raises
        ------
        ValueError
            Always.
        """
        raise ValueError("model 'lstm' has no Gauss-Newton product on backend 'numpy': use optimizer=adam, "
                         "optimizer=sgd or backend=autograd")

    def to_numpy(self, v: np.ndarray) -> np.ndarray:
        """A NumPy copy of ``v``."""
        return np.array(v, dtype=self.dtype, copy=True)

    def from_numpy(self, v: np.ndarray) -> np.ndarray:
        """``v`` as a new contiguous array of the model dtype."""
        return np.array(v, dtype=self.dtype, copy=True, order="C")

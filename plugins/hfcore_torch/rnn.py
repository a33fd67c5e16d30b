"""The tanh RNN of Martens & Sutskever (2011) in PyTorch: loss, BPTT gradient and Gauss-Newton products.

The same computation as :mod:`hfcore_numpy.rnn`, on tensors that stay on the
backend's device. Both the gradient and the Gauss-Newton product are written by
hand (an explicit loop cell, no cuDNN RNN): an R-forward pass and a linear BPTT
pass per product, as in M&S 2011 sec. 3.1-3.2. Products that do not go through
the recurrence are single GEMMs over all ``T*B`` rows, against the same
augmented rows as the NumPy backend (``[x_i, h_{i-1}, 1, [i=1]]`` and
``[h_i, 1]``), so inputs and biases ride along in the big GEMMs instead of
costing skinny, memory-bound ones; only the recurrent products (``W_hh``
forward, ``W_hh'`` backward) loop over time.

Why not ``torch.func``: ``jvp`` + a cached ``vjp`` re-runs the forward pass
inside every product and measured 2-3x slower on CPU, and ``linearize`` was no
faster than this hand-written R-op (``shared/reference/perf-anchors.md`` sec. 5),
which is also exactly the NumPy backend's arithmetic.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any, NamedTuple

import numpy as np
import torch

from hfcore.kit.batches import batch_norm, iter_chunks, resolve_dtype
from hfcore.kit.layout import RNNLayout
from hfcore.types import Batch, ModelSpec

from ._common import TORCH_DTYPES, TensorBatch, TorchModelBase, Workspace, resolve_device, to_tensor_batch
from .losses import OutputCurvature, evaluate, output_activation


class RNNParams(NamedTuple):
    """Views into a flat parameter tensor (layout of :class:`hfcore.kit.layout.RNNLayout`)."""

    W_hx: torch.Tensor
    W_hh: torch.Tensor
    W_yh: torch.Tensor
    b_h: torch.Tensor
    b_y: torch.Tensor
    b_init: torch.Tensor


class TorchRNN(TorchModelBase):
    """Tanh RNN with a matched output loss (M&S 2011 eqs. 1-4), PyTorch backend.

    ``t_i = W_hx x_i + W_hh h_{i-1} + b_h`` (at ``i = 1`` the ``W_hh h_0`` term is
    the learned ``b_init``), ``h_i = tanh(t_i)``, ``s_i = W_yh h_i + b_y``,
    ``yhat_i = g(s_i)``. Objective, normalisers, L2 and the flat parameter layout
    are exactly those of :class:`hfcore.kit.layout.RNNLayout`::

        W_hx (H, I), W_hh (H, H), W_yh (O, H), b_h (H,), b_y (O,), b_init (H,)

    all row-major, concatenated in that order.

    Parameters
    ----------
    spec : ModelSpec
        Input/output sizes and the output/loss pair.
    cfg : ModelConfig-like
        Read by attribute, as by :class:`~hfcore.kit.layout.RNNLayout` (which validates it).
    dtype : str or dtype, optional
        ``"float64"`` (default) or ``"float32"``.
    device : str or torch.device, optional
        ``"cpu"`` (default), ``"cuda"``, ``"cuda:N"`` or ``"auto"``.
    chunk_size : int, optional
        Sequences processed together; larger batches are split (results equal up
        to summation order). ``None``: 1000 on CPU (as the NumPy backend, to bound
        working memory), the whole batch on CUDA (fewer kernel launches).

    Raises
    ------
    ValueError
        On an invalid spec, config, dtype or device (one-line message).

    Notes
    -----
    Parameters and vectors are flat 1-D tensors on ``device``; batches arrive as
    NumPy and are moved once per call (once per bind for :meth:`curvature`).
    Initialisation is the NumPy backend's (same draws from the same ``rng``).
    """

    def __init__(
        self,
        spec: ModelSpec,
        cfg: Any,
        dtype: Any = "float64",
        device: str | torch.device = "cpu",
        chunk_size: int | None = None,
    ) -> None:
        self.np_dtype = resolve_dtype(dtype)
        self.dtype = TORCH_DTYPES[self.np_dtype.name]
        # The kit's layout validates spec/cfg and owns the initialisation (shared by every backend).
        self._reference = RNNLayout(spec, cfg, dtype=self.np_dtype)
        self.definition = self._reference.definition  # the model this class has hand-written derivatives for
        self.device = resolve_device(device)
        if chunk_size is not None and int(chunk_size) < 1:
            raise ValueError(f"chunk_size must be >= 1 or None, got {chunk_size!r}")
        if chunk_size is None:
            chunk_size = 1000 if self.device.type == "cpu" else 2**62
        self.chunk_size = int(chunk_size)
        # Sizes and settings are the layout's (one derivation for every backend); only the views are torch's.
        for name in ("spec", "output", "n_in", "n_hidden", "n_out", "l2", "normaliser", "n_params"):
            setattr(self, name, getattr(self._reference, name))
        n_i, n_h, n_o = self.n_in, self.n_hidden, self.n_out
        shapes = [(n_h, n_i), (n_h, n_h), (n_o, n_h), (n_h,), (n_o,), (n_h,)]
        offsets = np.concatenate([[0], np.cumsum([int(np.prod(s)) for s in shapes])]).tolist()
        self._layout = [(offsets[k], offsets[k + 1], shapes[k]) for k in range(len(shapes))]

    # ------------------------------------------------------------------ layout and data
    def unpack(self, theta: torch.Tensor) -> RNNParams:
        """Views ``(W_hx, W_hh, W_yh, b_h, b_y, b_init)`` into a flat contiguous tensor."""
        return RNNParams(*(theta[a:b].view(shape) for a, b, shape in self._layout))

    def _in_cat(self, p: RNNParams) -> torch.Tensor:
        """``[W_hx | W_hh | b_h | b_init]``, shape (H, I+H+2), against rows ``[x_i, h_{i-1}, 1, [i=1]]``."""
        return torch.cat([p.W_hx, p.W_hh, p.b_h[:, None], p.b_init[:, None]], dim=1)

    def _out_cat(self, p: RNNParams) -> torch.Tensor:
        """``[W_yh | b_y]``, shape (O, H+1), against rows ``[h_i, 1]``."""
        return torch.cat([p.W_yh, p.b_y[:, None]], dim=1)

    def _flat_from_cat(self, g_in: torch.Tensor, g_out: torch.Tensor) -> torch.Tensor:
        """The (H, I+H+2) and (O, H+1) accumulations as one new flat tensor in the parameter layout."""
        n_i, n_h = self.n_in, self.n_hidden
        return self._flat(
            [
                g_in[:, :n_i],  # W_hx
                g_in[:, n_i : n_i + n_h],  # W_hh
                g_out[:, :n_h],  # W_yh
                g_in[:, n_i + n_h],  # b_h
                g_out[:, n_h],  # b_y
                g_in[:, n_i + n_h + 1],  # b_init
            ]
        )

    def _chunks(self, batch: Batch) -> Iterator[TensorBatch]:
        """The batch as tensor chunks of at most ``chunk_size`` sequences, all with the batch's N."""
        norm = batch_norm(batch, self.normaliser)
        for chunk in iter_chunks(batch, self.chunk_size):
            yield to_tensor_batch(chunk, self.n_in, self.n_out, self.np_dtype, self.device, norm)

    # ------------------------------------------------------------------ passes
    def _hidden(self, p: RNNParams, x: torch.Tensor, t: torch.Tensor, h: torch.Tensor) -> None:
        """Forward recurrence (M&S 2011 eqs. 1-2) into ``t`` and ``h`` (which may be the same tensor).

        ``x`` (T, B, I) and ``t`` (T, B, H) must be contiguous; ``h`` (T, B, H) may be a strided view.
        """
        T, B, _ = x.shape
        H = self.n_hidden
        torch.addmm(p.b_h, x.reshape(T * B, self.n_in), p.W_hx.T, out=t.view(T * B, H))
        t[0].add_(p.b_init)
        w_hh_t = p.W_hh.T
        torch.tanh(t[0], out=h[0])
        for i in range(1, T):
            t[i].addmm_(h[i - 1], w_hh_t)
            torch.tanh(t[i], out=h[i])

    def _outputs_pre(self, p: RNNParams, h: torch.Tensor) -> torch.Tensor:
        """``s = W_yh h + b_y``, shape (T, B, O)."""
        T, B, H = h.shape
        return torch.addmm(p.b_y, h.reshape(T * B, H), p.W_yh.T).view(T, B, self.n_out)

    def _forward_full(
        self, p: RNNParams, x: torch.Tensor, ws: Workspace | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Forward pass keeping what BPTT and Gv need.

        Tensors come from ``ws`` when given (valid until its next use), else are new.

        Returns
        -------
        z_in : (T, B, I+H+2) rows ``[x_i, h_{i-1}, 1, [i=1]]`` (``h_0 = 0``)
        z_out : (T, B, H+1) rows ``[h_i, 1]``
        d : (T, B, H) ``1 - h_i^2`` (tanh')
        s : (T, B, O) output pre-activations
        """
        T, B, _ = x.shape
        n_i, H = self.n_in, self.n_hidden

        def get(name: str, shape: tuple[int, ...]) -> torch.Tensor:
            return ws.get(name, shape) if ws is not None else torch.empty(shape, dtype=self.dtype, device=self.device)

        z_out = get("z_out", (T, B, H + 1))
        z_out[..., H] = 1.0
        h = z_out[..., :H]  # strided view: h lives inside [h, 1]
        d = get("d", (T, B, H))
        self._hidden(p, x, d, h)  # d holds t for now
        z_in = get("z_in", (T, B, n_i + H + 2))
        z_in[..., :n_i] = x
        z_in[0, :, n_i : n_i + H] = 0.0
        z_in[1:, :, n_i : n_i + H] = h[:-1]
        z_in[..., n_i + H] = 1.0
        z_in[..., n_i + H + 1] = 0.0
        z_in[0, :, n_i + H + 1] = 1.0
        # 1 - h^2 as -(h*h) + 1: the same rounding as the NumPy backend's 1 - h*h (t is not needed again).
        torch.mul(h, h, out=d).neg_().add_(1.0)
        s = (z_out.view(T * B, H + 1) @ self._out_cat(p).T).view(T, B, self.n_out)
        return z_in, z_out, d, s

    def _backward(
        self,
        p: RNNParams,
        ds: torch.Tensor,
        d: torch.Tensor,
        z_in: torch.Tensor,
        z_out: torch.Tensor,
        buf: torch.Tensor,
        extra: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Linear BPTT (notes sec. 2 and 3); returns the unnormalised sums as a new flat tensor.

        ``dt_i = d_i * (W_yh' ds_i + W_hh' dt_{i+1} + extra_i)``. With ``extra = None``
        this is the gradient pass; Gv passes ``extra = w * valid * Rt`` (the structural
        line, notes sec. 3), which is why it is added before the ``d_i`` factor.
        ``buf`` (T, B, H) is overwritten and ends as ``dt``. All input-side sums are one
        GEMM against ``z_in``, all output-side sums one against ``z_out``.
        """
        T, B, n_o = ds.shape
        H = self.n_hidden
        ds2 = ds.reshape(T * B, n_o)
        buf2 = buf.view(T * B, H)
        torch.mm(ds2, p.W_yh, out=buf2)
        if extra is not None:
            buf.add_(extra)
        buf[T - 1].mul_(d[T - 1])
        for i in range(T - 2, -1, -1):
            buf[i].addmm_(buf[i + 1], p.W_hh)
            buf[i].mul_(d[i])
        g_in = buf2.T @ z_in.view(T * B, -1)
        g_out = ds2.T @ z_out.view(T * B, H + 1)
        return self._flat_from_cat(g_in, g_out)

    def _loss_sum(self, s: torch.Tensor, data: TensorBatch) -> tuple[torch.Tensor, torch.Tensor]:
        """Masked loss sum (a float64 scalar tensor, no host sync) and ``yhat``."""
        per_step, yhat = evaluate(self.output, s, data.y)
        return (per_step * data.mask[..., 0]).sum(dtype=torch.float64), yhat

    def _objective(self, total: torch.Tensor, norm: float, theta: torch.Tensor) -> float:
        """``total / N + (kappa/2)||theta||^2`` as a Python float (one host sync)."""
        return float(total / norm + 0.5 * self.l2 * (theta @ theta).to(torch.float64))

    # ------------------------------------------------------------------ Model protocol
    def init_params(self, rng: np.random.Generator) -> torch.Tensor:
        """Initial parameters: :meth:`hfcore.kit.layout.RNNLayout.init_params` with the same ``rng``, as a tensor."""
        return self.from_numpy(self._reference.init_params(rng))

    def loss(self, theta: Any, batch: Batch) -> float:
        """Objective on ``batch`` (forward pass only, in chunks of ``chunk_size`` sequences)."""
        return self._forward_eval(theta, batch, outputs=False)[0]

    @torch.no_grad()
    def loss_and_grad(self, theta: Any, batch: Batch) -> tuple[float, torch.Tensor]:
        """Objective and its gradient by BPTT (notes sec. 2), in chunks of ``chunk_size`` sequences."""
        theta = self._vec(theta, "theta")
        p = self.unpack(theta)
        ws = Workspace(self.dtype, self.device)
        total = torch.zeros((), dtype=torch.float64, device=self.device)
        grad: torch.Tensor | None = None
        norm = 1.0
        for data in self._chunks(batch):
            z_in, z_out, d, s = self._forward_full(p, data.x, ws)
            value, ds = self._loss_sum(s, data)
            total += value
            norm = data.norm
            ds.sub_(data.y).mul_(data.mask)  # dL/ds = yhat - y for matched pairs, masked
            part = self._backward(p, ds, d, z_in, z_out, ws.get("buf", tuple(d.shape)))
            grad = part if grad is None else grad.add_(part)
        assert grad is not None  # iter_chunks yields at least one chunk
        grad.mul_(1.0 / norm)
        grad.add_(theta, alpha=self.l2)
        return self._objective(total, norm, theta), grad

    def predict(self, theta: Any, batch: Batch) -> np.ndarray:
        """Outputs ``g(s_i)``, shape (T, B, n_out), as a NumPy array of the model dtype."""
        return self._forward_eval(theta, batch, loss=False)[1]

    def loss_and_predict(self, theta: Any, batch: Batch) -> tuple[float, np.ndarray]:
        """:meth:`loss` and :meth:`predict` from one forward pass (test evaluation)."""
        return self._forward_eval(theta, batch)

    @torch.no_grad()
    def _forward_eval(self, theta: Any, batch: Batch, loss: bool = True,
                      outputs: bool = True) -> tuple[float, np.ndarray]:
        """Objective (nan unless ``loss``) and outputs as NumPy (empty unless ``outputs``), chunk by chunk."""
        theta = self._vec(theta, "theta")
        p = self.unpack(theta)
        ws = Workspace(self.dtype, self.device)
        total = torch.zeros((), dtype=torch.float64, device=self.device)
        norm, outs = 1.0, []
        for data in self._chunks(batch):
            T, B, _ = data.x.shape
            h = ws.get("h", (T, B, self.n_hidden))
            self._hidden(p, data.x, h, h)
            s = self._outputs_pre(p, h)
            if loss:
                value, yhat = self._loss_sum(s, data)
                total += value
                norm = data.norm
            else:
                yhat = output_activation(self.output, s)
            if outputs:
                outs.append(yhat)
        joined = (outs[0] if len(outs) == 1 else torch.cat(outs, dim=1)).cpu().numpy() if outs else np.empty(0)
        return (self._objective(total, norm, theta) if loss else math.nan), joined

    @torch.no_grad()
    def preactivations(self, theta: Any, batch: Batch) -> tuple[np.ndarray, np.ndarray]:
        """``(s, t)`` with shapes (T, B, n_out) and (T, B, hidden), as NumPy arrays."""
        theta = self._vec(theta, "theta")
        data = to_tensor_batch(batch, self.n_in, self.n_out, self.np_dtype, self.device, 1.0)
        p = self.unpack(theta)
        T, B, _ = data.x.shape
        t = torch.empty((T, B, self.n_hidden), dtype=self.dtype, device=self.device)
        h = torch.empty_like(t)
        self._hidden(p, data.x, t, h)
        return self._outputs_pre(p, h).cpu().numpy(), t.cpu().numpy()

    def curvature(self, theta: Any, batch: Batch) -> TorchRNNCurvature:
        """Bind Gauss-Newton products at ``theta`` on ``batch`` (forward pass cached on the device)."""
        return TorchRNNCurvature(self, theta, batch)


class _ChunkState(NamedTuple):
    """Cached forward quantities of one chunk of sequences (all on the model device)."""

    z_in: torch.Tensor
    z_out: torch.Tensor
    d: torch.Tensor
    out_curv: OutputCurvature
    valid: torch.Tensor


class TorchRNNCurvature:
    """``v -> (G_f + kappa I + w G_S) v`` for a :class:`TorchRNN`, bound to ``(theta, batch)``.

    What is computed once here and reused by every :meth:`gv`, per chunk of
    sequences, all on the device: the augmented rows ``z_in = [x_i, h_{i-1}, 1, [i=1]]``
    and ``z_out = [h_i, 1]`` (the batch's inputs and the hidden states),
    ``d = 1 - h^2``, the masked output-Hessian factors and the validity mask.
    Each :meth:`gv` is then one R-forward pass and one linear BPTT pass (M&S 2011
    sec. 3.1-3.2; notes sec. 3); ``v`` and the result are flat tensors, so CG
    needs no host round trip except for its scalars.

    Notes
    -----
    ``G_S = J_t' diag(1 - h^2) J_t``, restricted to real (non-padding) steps and
    divided by the same N as the loss, as in the NumPy backend; any constant
    such as IS11's 0.25 belongs in ``w``. Two ``T x B x H`` work buffers are
    reused across calls, so one bound object must not be used from several
    threads at once; results are new tensors. Memory: about ``5 * T * B * H``
    numbers while bound (3 cached, 2 work buffers).
    """

    def __init__(self, model: TorchRNN, theta: Any, batch: Batch) -> None:
        self.model = model
        with torch.no_grad():
            self.theta = model._vec(theta, "theta").clone()  # our own copy: the caller may change theirs
            self.params = model.unpack(self.theta)
            self.norm = batch_norm(batch, model.normaliser)
            self.chunks: list[_ChunkState] = []
            for data in model._chunks(batch):
                z_in, z_out, d, s = model._forward_full(self.params, data.x)
                out_curv = OutputCurvature(model.output, s, data.mask)
                self.chunks.append(_ChunkState(z_in, z_out, d, out_curv, data.valid))
        self._ws = Workspace(model.dtype, model.device)

    @torch.no_grad()
    def gv(self, v: Any, structural_weight: float = 0.0) -> torch.Tensor:
        """Return ``(G_f + kappa I + structural_weight * G_S) v`` (see class notes).

        Parameters
        ----------
        v : Tensor, shape (n_params,)
            Direction in the flat layout (other array types are converted); not modified.
        structural_weight : float
            Coefficient ``w`` of ``G_S`` (M&S 2011 eq. 10, sec. 3.2).

        Returns
        -------
        Tensor, shape (n_params,)
            A new tensor of the model dtype on the model device, normalised like the loss.
        """
        m = self.model
        v = m._vec(v, "v")
        vp = m.unpack(v)
        v_in, v_out = m._in_cat(vp), m._out_cat(vp)
        w = float(structural_weight)
        out: torch.Tensor | None = None
        for chunk in self.chunks:
            part = self._chunk_gv(chunk, v_in, v_out, w)
            out = part if out is None else out.add_(part)
        assert out is not None
        out.mul_(1.0 / self.norm)
        if m.l2:
            out.add_(v, alpha=m.l2)
        return out

    def _chunk_gv(self, c: _ChunkState, v_in: torch.Tensor, v_out: torch.Tensor, w: float) -> torch.Tensor:
        """Unnormalised ``(G_f + w G_S) v`` of one chunk as a new flat tensor (notes sec. 3)."""
        m, p = self.model, self.params
        T, B, H = c.d.shape
        d = c.d
        rt = self._ws.get("rt", (T, B, H))
        rh = self._ws.get("rh", (T, B, H))
        # R-forward, all but the recurrence in one GEMM: Rt = [x, h_prev, 1, first] [V_hx|V_hh|v_bh|v_init]'.
        torch.mm(c.z_in.view(T * B, -1), v_in.T, out=rt.view(T * B, H))
        # Recurrent part: Rt_i += W_hh Rh_{i-1}, Rh_i = (1 - h_i^2) Rt_i.
        w_hh_t = p.W_hh.T
        torch.mul(d[0], rt[0], out=rh[0])
        for i in range(1, T):
            rt[i].addmm_(rh[i - 1], w_hh_t)
            torch.mul(d[i], rt[i], out=rh[i])
        # Rs_i = [h_i, 1] [V_yh | v_by]' + W_yh Rh_i, then the masked output Hessian.
        rs = c.z_out.view(T * B, H + 1) @ v_out.T
        rs.addmm_(rh.view(T * B, H), p.W_yh.T)
        rds = c.out_curv.apply(rs.view(T, B, m.n_out))
        extra = None
        if w != 0.0:
            # Structural damping only at real steps: Rt <- w * valid * Rt (Rt is not needed after this).
            rt.mul_(c.valid * w)
            extra = rt
        # rh is free now; the backward pass reuses it for Rdt.
        return m._backward(p, rds, d, c.z_in, c.z_out, rh, extra=extra)

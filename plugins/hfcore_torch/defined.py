"""Any declared model (:class:`hfcore.models.ModelDefinition`) on torch, derivatives by ``torch.func``.

A plugin writes only the forward map ``(params, x, ops) -> (s, signals)``; this module
runs it on tensors (:class:`TorchOps`) and derives the rest:

* the objective ``sum m L(s; y) / N + (kappa/2) ||theta||^2`` and its gradient by reverse mode
  (``torch.func.grad_and_value``), chunk by chunk;
* Gauss-Newton products with structural damping over the declared signals
  (:class:`TorchDefinedCurvature`), from a linearisation recorded once per bound ``(theta, batch)``.

The built-in ``rnn`` and ``linear`` models keep their hand-written classes
(:mod:`hfcore_torch.rnn`, :mod:`hfcore_torch.linear`), which are faster; this class is used for
every other definition.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from typing import Any, NamedTuple

import numpy as np
import torch
from torch.func import grad_and_value, vjp

from hfcore.kit.batches import batch_norm, iter_chunks, resolve_dtype
from hfcore.kit.layout import ParamLayout
from hfcore.models import DampedSignal, ModelDefinition, unit_curvature
from hfcore.types import NORMALISERS, Batch

from ._common import TORCH_DTYPES, TensorBatch, TorchModelBase, resolve_device, to_tensor_batch
from .losses import OutputCurvature, evaluate, output_activation


class TorchOps:
    """:class:`hfcore.models.Ops` on torch tensors (works under ``torch.func`` transforms)."""

    @staticmethod
    def tanh(a: torch.Tensor) -> torch.Tensor:
        return torch.tanh(a)

    @staticmethod
    def sigmoid(a: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(a)

    @staticmethod
    def stack(arrays: Sequence[torch.Tensor], axis: int = 0) -> torch.Tensor:
        return torch.stack(list(arrays), dim=axis)

    @staticmethod
    def concatenate(arrays: Sequence[torch.Tensor], axis: int = 0) -> torch.Tensor:
        return torch.cat(list(arrays), dim=axis)


OPS = TorchOps()


class TorchDefinedModel(TorchModelBase):
    """The :class:`hfcore.interfaces.Model` of any definition, on torch tensors.

    Parameters
    ----------
    definition : ModelDefinition
        Blocks, forward map and damped signals; ``definition.spec`` gives the sizes and the
        output/loss pair.
    model_cfg : ModelConfig-like
        Read by attribute: ``l2`` and ``normaliser``.
    dtype : str or dtype, optional
        ``"float64"`` (default) or ``"float32"``.
    device : str or torch.device, optional
        ``"cpu"`` (default), ``"cuda"``, ``"cuda:N"`` or ``"auto"``.
    chunk_size : int, optional
        Sequences processed together; larger batches are split (results equal up to summation
        order). ``None``: 1000 on CPU, the whole batch on CUDA (as :class:`~hfcore_torch.rnn.TorchRNN`).

    Raises
    ------
    ValueError
        On an invalid dtype, device, chunk size, normaliser, l2 or parameter layout.

    Notes
    -----
    The flat layout and the initial draws are :class:`hfcore.kit.layout.ParamLayout`'s, so every
    backend of one definition starts from the same parameters. :meth:`preactivations` returns the
    declared signals' pre-activations concatenated along the last axis as ``t``.
    """

    def __init__(self, definition: ModelDefinition, model_cfg: Any, dtype: Any = "float64",
                 device: str | torch.device = "cpu", chunk_size: int | None = None) -> None:
        self.definition = definition
        self.spec = definition.spec
        self.np_dtype = resolve_dtype(dtype)
        self.dtype = TORCH_DTYPES[self.np_dtype.name]
        self.device = resolve_device(device)
        if chunk_size is not None and int(chunk_size) < 1:
            raise ValueError(f"chunk_size must be >= 1 or None, got {chunk_size!r}")
        self.chunk_size = int(chunk_size) if chunk_size is not None else (
            1000 if self.device.type == "cpu" else 2**62)
        self.layout = ParamLayout(definition.blocks())
        self.n_params: int = self.layout.n_params
        self.output: str = self.spec.output
        self.n_in, self.n_out = int(self.spec.n_in), int(self.spec.n_out)
        self.l2 = float(model_cfg.l2)
        if not self.l2 >= 0.0:
            raise ValueError(f"l2 must be >= 0, got {model_cfg.l2!r}")
        self.normaliser: str = model_cfg.normaliser
        if self.normaliser not in NORMALISERS:
            raise ValueError(f"unknown normaliser {self.normaliser!r}; expected one of {', '.join(NORMALISERS)}")

    # ------------------------------------------------------------------ the forward map
    def net(self, theta: torch.Tensor, x: torch.Tensor) -> tuple[torch.Tensor, list[DampedSignal]]:
        """``(s, signals)`` of the definition at flat ``theta`` for inputs ``x`` (T, B, n_in)."""
        s, signals = self.definition.forward(self.layout.unpack(theta), x, OPS)
        return s, list(signals)

    def _chunks(self, batch: Batch) -> Iterator[TensorBatch]:
        """Tensor chunks of at most ``chunk_size`` sequences, each carrying the whole batch's N."""
        norm = batch_norm(batch, self.normaliser)
        for chunk in iter_chunks(batch, self.chunk_size):
            yield to_tensor_batch(chunk, self.n_in, self.n_out, self.np_dtype, self.device, norm)

    def _loss_sum(self, s: torch.Tensor, data: TensorBatch) -> tuple[torch.Tensor, torch.Tensor]:
        """Masked loss sum of one chunk (a scalar tensor) and the outputs ``g(s)``."""
        per_step, yhat = evaluate(self.output, s, data.y)
        return (per_step * data.mask[..., 0]).sum(), yhat

    def _regulariser(self, theta: torch.Tensor) -> torch.Tensor:
        return 0.5 * self.l2 * (theta @ theta)

    # ------------------------------------------------------------------ Model protocol
    def init_params(self, rng: np.random.Generator) -> torch.Tensor:
        """Each block's init rule in layout order (:meth:`ParamLayout.init_params`), as a tensor."""
        return self.from_numpy(self.layout.init_params(rng, self.np_dtype))

    def loss(self, theta: Any, batch: Batch) -> float:
        """Objective on ``batch`` (forward pass only)."""
        return self._forward_eval(theta, batch, outputs=False)[0]

    def predict(self, theta: Any, batch: Batch) -> np.ndarray:
        """Outputs ``g(s_i)``, shape (T, B, n_out), as NumPy of the model dtype."""
        return self._forward_eval(theta, batch, loss=False)[1]

    def loss_and_predict(self, theta: Any, batch: Batch) -> tuple[float, np.ndarray]:
        """:meth:`loss` and :meth:`predict` from one forward pass (test evaluation)."""
        return self._forward_eval(theta, batch)

    @torch.no_grad()
    def _forward_eval(self, theta: Any, batch: Batch, loss: bool = True,
                      outputs: bool = True) -> tuple[float, np.ndarray]:
        theta = self._vec(theta, "theta")
        total = torch.zeros((), dtype=torch.float64, device=self.device)
        norm, outs = 1.0, []
        for data in self._chunks(batch):
            s, _ = self.net(theta, data.x)
            if loss:
                value, yhat = self._loss_sum(s, data)
                total += value.to(torch.float64)
                norm = data.norm
            else:
                yhat = output_activation(self.output, s)
            if outputs:
                outs.append(yhat)
        joined = torch.cat(outs, dim=1).cpu().numpy() if outs else np.empty(0)
        value = float(total / norm + self._regulariser(theta).to(torch.float64)) if loss else math.nan
        return value, joined

    def loss_and_grad(self, theta: Any, batch: Batch) -> tuple[float, torch.Tensor]:
        """Objective and gradient by ``torch.func.grad_and_value``, chunk by chunk."""
        theta = self._vec(theta, "theta")
        total, grad = 0.0, None
        for k, data in enumerate(self._chunks(batch)):

            def objective(th: torch.Tensor, data: TensorBatch = data, first: bool = k == 0) -> torch.Tensor:
                value = self._loss_sum(self.net(th, data.x)[0], data)[0] / data.norm
                return value + self._regulariser(th) if first else value  # L2 once, so chunks sum

            g, value = grad_and_value(objective)(theta)
            total += float(value)
            grad = g if grad is None else grad.add_(g)
        assert grad is not None  # iter_chunks yields at least one chunk
        return total, grad.detach()

    @torch.no_grad()
    def preactivations(self, theta: Any, batch: Batch) -> tuple[np.ndarray, np.ndarray]:
        """``(s, t)``: output pre-activations and the damped signals' pre-activations side by side."""
        theta = self._vec(theta, "theta")
        data = to_tensor_batch(batch, self.n_in, self.n_out, self.np_dtype, self.device, 1.0)
        s, signals = self.net(theta, data.x)
        t = (torch.cat([sig.preactivation for sig in signals], dim=-1) if signals
             else s.new_zeros(s.shape[:2] + (0,)))
        return s.cpu().numpy(), t.cpu().numpy()

    def curvature(self, theta: Any, batch: Batch) -> TorchDefinedCurvature:
        """Bind Gauss-Newton products at ``theta`` on ``batch`` (linearisation recorded once)."""
        return TorchDefinedCurvature(self, theta, batch)


class _Linearisation(NamedTuple):
    """One chunk's recorded linearisation of ``theta -> (s, a_1, ..., a_K)`` and its fixed factors."""

    jvp: Callable[[torch.Tensor], tuple[torch.Tensor, ...]]  # v -> (J_s v, J_1 v, ..., J_K v)
    vjp: Callable[[tuple[torch.Tensor, ...]], tuple[torch.Tensor]]  # cotangents -> (J' u,)
    out_curv: OutputCurvature  # u -> m H_L(s) u
    structural: tuple[torch.Tensor, ...]  # w_k * valid * D_uk''(a_k), one per signal
    zeros: tuple[torch.Tensor, ...]  # the signals' cotangents when the structural weight is 0


class TorchDefinedCurvature:
    """``v -> (G_f + kappa I + w G_S) v`` for a :class:`TorchDefinedModel`, bound to ``(theta, batch)``.

    ``gv(v, w) = [J_s' (m H_L (J_s v)) + w sum_k w_k J_k' (valid D_k'' (J_k v))] / N + kappa v``
    over the declared signals ``a_k`` (unit ``u_k``, weight ``w_k``), with the matched-loss
    curvature :func:`hfcore.models.unit_curvature`; padding steps are left out of ``G_S`` and
    ``G_S`` is divided by the loss's N, as in the NumPy backend (M&S 2011 eqs. 7, 10).

    Notes
    -----
    At bind time, per chunk, ``torch.func.vjp`` runs the forward map once and keeps its graph:
    its ``vjp_fn`` is ``u -> J' u``. ``vjp_fn`` is linear in ``u`` and differentiable (torch.func
    builds it with ``create_graph``), so a second ``torch.func.vjp`` of ``vjp_fn`` itself, at
    ``u = 0``, records the backward pass once, and *its* vjp is ``v -> J v`` ("jvp by double
    vjp"). The masked output-Hessian factors and ``w_k valid D_k''(a_k)`` are computed then too.
    (``torch.func.linearize`` was tried for ``J v``: its ``make_fx`` trace took about 12 s to
    bind a T = 30 GRU on CPU, against 0.2 s for the double vjp, for the same products.)

    *Reused* by every :meth:`gv` of one HF step (all CG iterations): the forward values (every
    activation and every operand the graphs saved), both graphs, and the curvature factors.
    *Not reused*: each product replays two reverse sweeps op by op (one over the recorded
    backward graph for ``J v``, one over the forward graph for ``J' u``) and allocates fresh
    intermediates; the forward map itself is never rerun. Memory while bound: the saved tensors
    of the forward and of the backward graph, per chunk.
    """

    def __init__(self, model: TorchDefinedModel, theta: Any, batch: Batch) -> None:
        self.model = model
        self.theta = model._vec(theta, "theta").clone()  # our own copy: the caller may change theirs
        self.norm = batch_norm(batch, model.normaliser)
        self.chunks = [self._linearise(data) for data in model._chunks(batch)]

    def _linearise(self, data: TensorBatch) -> _Linearisation:
        m = self.model
        declared: list[DampedSignal] = []  # units and weights, kept from the one traced forward pass

        def pre(th: torch.Tensor) -> tuple[torch.Tensor, ...]:
            s, signals = m.net(th, data.x)
            declared[:] = signals
            return (s, *(sig.preactivation for sig in signals))

        outs, vjp_fn = vjp(pre, self.theta)
        # vjp_fn is linear in its cotangents: its own vjp (at zero cotangents) is v -> J v.
        zeros = tuple(torch.zeros_like(o) for o in outs)
        _, vjp_of_vjp = vjp(vjp_fn, zeros)

        def jvp_fn(v: torch.Tensor) -> tuple[torch.Tensor, ...]:
            return vjp_of_vjp((v,))[0]

        with torch.no_grad():
            structural = tuple(
                (float(sig.weight) * data.valid) * unit_curvature(sig.unit, a.detach(), OPS)
                for sig, a in zip(declared, outs[1:], strict=True)
            )
        zeros = tuple(torch.zeros_like(a) for a in outs[1:])
        return _Linearisation(jvp_fn, vjp_fn, OutputCurvature(m.output, outs[0].detach(), data.mask),
                              structural, zeros)

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
        w = float(structural_weight)
        out: torch.Tensor | None = None
        for c in self.chunks:
            js, *ja = c.jvp(v)
            signal_cot = tuple(w * f * j for f, j in zip(c.structural, ja, strict=True)) if w != 0.0 else c.zeros
            (part,) = c.vjp((c.out_curv.apply(js), *signal_cot))
            out = part if out is None else out.add_(part)
        assert out is not None
        out = out * (1.0 / self.norm)  # a new tensor: never a view of a graph value
        if m.l2:
            out.add_(v, alpha=m.l2)
        return out

"""Any declared model (:class:`hfcore.models.ModelDefinition`) on torch: the torch pieces of the core template.

A plugin writes only the forward map ``(params, x, ops) -> (s, signals)``; the core template
(:class:`hfcore.kit.derived.DerivedModel`) owns the chunk loop, the objective, the structural
factors and the Gauss-Newton assembly. This module supplies what only torch can do: tensors
on a device (:class:`TorchOps`, batch and vector conversion), the matched loss on tensors,
the gradient by ``torch.func.grad_and_value`` and the linearisation by ``torch.func.vjp``
(see :meth:`TorchDefinedModel.linearise`).

The built-in ``rnn`` and ``linear`` models keep their hand-written classes
(:mod:`hfcore_torch.rnn`, :mod:`hfcore_torch.linear`), which are faster; this class is used for
every other definition.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch.func import grad_and_value, vjp

from hfcore.kit.derived import DerivedModel, Linearisation
from hfcore.models import ModelDefinition
from hfcore.types import Batch

from ._common import TORCH_DTYPES, TensorBatch, TorchModelBase, resolve_device, to_tensor_batch
from .losses import OutputCurvature, evaluate, output_activation


class _Stack(torch.autograd.Function):
    """``torch.stack`` whose backward is one ``unbind`` (O(T) when differentiated again), not T selects.

    ``torch.stack``'s backward takes ``grad.select(dim, i)`` per input; the double vjp of
    :meth:`TorchDefinedModel.linearise` differentiates that backward, and each
    ``SelectBackward0`` zero-fills a tensor as large as the whole stack: T such fills per
    product for a stack of T steps, so the Gv cost grew as T^2 (about 70 % of a torch LSTM/GRU
    Gv at T = 30; benchmarks/results/2026-12-07-gv-torch.md). ``unbind``'s own backward is one
    ``stack``. Values and derivatives are bit-identical to ``torch.stack``'s.
    """

    generate_vmap_rule = True

    @staticmethod
    def forward(dim: int, *arrays: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return torch.stack(arrays, dim=dim)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: torch.Tensor) -> None:
        first = inputs[1]
        ctx.dim, ctx.zero_like = inputs[0], (first.shape, first.dtype, first.device)  # a missing tangent's

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[Any, ...]:  # type: ignore[override]
        return (None, *grad.unbind(ctx.dim))

    @staticmethod
    def jvp(ctx: Any, _dim: Any, *tangents: torch.Tensor | None) -> torch.Tensor:  # type: ignore[override]
        shape, dtype, device = ctx.zero_like
        return torch.stack([torch.zeros(shape, dtype=dtype, device=device) if t is None else t for t in tangents],
                           dim=ctx.dim)


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
        return _Stack.apply(axis, *arrays)

    @staticmethod
    def concatenate(arrays: Sequence[torch.Tensor], axis: int = 0) -> torch.Tensor:
        return torch.cat(list(arrays), dim=axis)


OPS = TorchOps()




class TorchDefinedModel(TorchModelBase, DerivedModel):
    """The :class:`hfcore.interfaces.Model` of any definition, on torch tensors.

    ``definition``, ``model_cfg`` (read: ``l2``, ``normaliser``) and ``dtype`` (``"float64"``,
    default, or ``"float32"``) are :class:`~hfcore.kit.derived.DerivedModel`'s. ``device`` is
    ``"cpu"`` (default), ``"cuda"``, ``"cuda:N"`` or ``"auto"``. ``chunk_size`` is how many
    sequences are processed together (results equal up to summation order); ``None``: 1000 on
    CPU, the whole batch on CUDA (as :class:`~hfcore_torch.rnn.TorchRNN`).

    Raises
    ------
    ValueError
        On an invalid dtype, device, chunk size, normaliser, l2 or parameter layout.

    Notes
    -----
    :attr:`dtype` is the torch dtype, :attr:`np_dtype` the NumPy one. Vectors are tensors on
    the model device; :meth:`to_numpy` and :meth:`from_numpy` convert (``TorchModelBase``).
    """

    ops = OPS

    def __init__(self, definition: ModelDefinition, model_cfg: Any, dtype: Any = "float64",
                 device: str | torch.device = "cpu", chunk_size: int | None = None) -> None:
        self.device = resolve_device(device)
        if chunk_size is not None and int(chunk_size) < 1:
            raise ValueError(f"chunk_size must be >= 1 or None, got {chunk_size!r}")
        default = 1000 if self.device.type == "cpu" else 2**62
        super().__init__(definition, model_cfg, dtype, default if chunk_size is None else int(chunk_size))
        self.dtype = TORCH_DTYPES[self.np_dtype.name]

    # ------------------------------------------------------------------ arrays
    def as_vector(self, v: Any, what: str = "vector") -> torch.Tensor:
        """``v`` as a flat contiguous tensor of the model dtype and device (no copy when already right)."""
        return self._vec(v, what)

    def prepare(self, batch: Batch, norm: float) -> TensorBatch:
        """Validate ``batch`` (the kit's rules) and move it to the model device once."""
        return to_tensor_batch(batch, self.n_in, self.n_out, self.np_dtype, self.device, norm)

    def no_tape(self) -> Any:
        return torch.no_grad()

    # ------------------------------------------------------------------ the matched loss on tensors
    def loss_sum(self, s: torch.Tensor, data: TensorBatch) -> torch.Tensor:
        """Masked loss sum of one chunk (a scalar tensor)."""
        return (evaluate(self.output, s, data.y)[0] * data.mask[..., 0]).sum()

    def output_activation(self, s: torch.Tensor) -> torch.Tensor:
        return output_activation(self.output, s)

    def output_curvature(self, s: torch.Tensor, mask: torch.Tensor) -> OutputCurvature:
        return OutputCurvature(self.output, s, mask)

    # ------------------------------------------------------------------ derivatives
    def value_and_grad(self, objective: Callable[[torch.Tensor], torch.Tensor],
                       theta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``torch.func.grad_and_value`` of ``objective`` at ``theta``."""
        grad, value = grad_and_value(objective)(theta)
        return value, grad

    def linearise(self, fn: Callable[[torch.Tensor], tuple[torch.Tensor, ...]],
                  theta: torch.Tensor) -> Linearisation:
        """``fn``'s values and ``J v`` / ``J' u`` at ``theta``, each graph recorded once.

        ``torch.func.vjp`` runs the forward map once and keeps its graph: its ``vjp_fn`` is
        ``u -> J' u``. ``vjp_fn`` is linear in ``u`` and differentiable (torch.func builds it with
        ``create_graph``), so a second ``torch.func.vjp`` of ``vjp_fn`` itself, at ``u = 0``,
        records the backward pass once, and *its* vjp is ``v -> J v`` ("jvp by double vjp").
        (``torch.func.linearize`` was tried for ``J v``: its ``make_fx`` trace took about 12 s to
        bind a T = 30 GRU on CPU, against 0.2 s for the double vjp, for the same products.)
        Each product replays two reverse sweeps op by op and allocates fresh intermediates; the
        forward map itself is never rerun. The sweeps are O(T) because :meth:`TorchOps.stack`'s
        backward is one ``unbind`` (``torch.stack``'s per-step selects made them O(T^2)).
        Forward mode (``torch.func.jvp`` rerunning the forward map per product, with the same
        ``vjp_fn``) works on these cells, binds faster, but its Gv measured 1.2-1.3x slower for
        the LSTM, the GRU and the tanh RNN definition at H = 100, B = 1000, T = 100 on one CPU
        thread (benchmarks/results/2026-12-07-gv-torch-after.md). Memory while bound: the saved
        tensors of the forward and of the backward graph, per chunk.
        """
        outs, vjp_fn = vjp(fn, theta)
        zeros = tuple(torch.zeros_like(o) for o in outs)
        _, vjp_of_vjp = vjp(vjp_fn, zeros)

        def jvp_fn(v: torch.Tensor) -> Sequence[torch.Tensor]:
            return vjp_of_vjp((v,))[0]

        def vjp_one(u: Sequence[torch.Tensor]) -> torch.Tensor:
            return vjp_fn(tuple(u))[0]

        return Linearisation(jvp_fn, vjp_one, tuple(o.detach() for o in outs), zeros)

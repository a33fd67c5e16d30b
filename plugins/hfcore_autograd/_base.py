"""The autograd backend's pieces of the core template (:class:`hfcore.kit.derived.DerivedModel`).

A :class:`hfcore.models.ModelDefinition` supplies only its parameter blocks and its forward
map; the template owns the chunk loop, the objective, the structural factors and the
Gauss-Newton assembly. This module supplies what only autograd can do: the forward map runs
on autograd boxes (:class:`~hfcore_autograd._ops.AutogradOps`), the gradient is
``autograd.value_and_grad`` of the chunk objective, and the linearisation is recorded with
``autograd.core.make_vjp`` (see :meth:`AutogradModel.linearise`). Arrays are plain NumPy, so
the template's conversions, outputs and output-Hessian products are used as they are.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from hfcore.kit.derived import DerivedModel, Linearisation

from ._deps import ag_tuple, anp, make_vjp, value_and_grad
from ._ops import AutogradOps
from .losses import loss_terms


class AutogradModel(DerivedModel):
    """The :class:`~hfcore.interfaces.Model` protocol for any definition, derivatives by autograd.

    Parameters are :class:`~hfcore.kit.derived.DerivedModel`'s; ``chunk_size`` bounds the
    autograd tape, which holds every intermediate. :attr:`dtype` is the NumPy dtype.

    Notes
    -----
    For the tanh RNN the forward map is a Python loop over steps, each recording a few nodes,
    with ``x_i W_hx'`` taken on the data slice ``x[i]`` (data is never traced). A bound
    :meth:`curvature` keeps both autograd tapes, about ``6 * T * B * H`` numbers per chunk for
    the RNN (measured; the NumPy backend keeps 3).
    """

    ops = AutogradOps()

    def __init__(self, definition: Any, cfg: Any, dtype: Any = np.float64, chunk_size: int = 1000) -> None:
        super().__init__(definition, cfg, dtype, chunk_size)
        self.dtype: np.dtype = self.np_dtype

    def loss_sum(self, s: Any, data: Any) -> Any:
        """``sum m L(s; y)`` written with ``autograd.numpy`` (traceable)."""
        return anp.sum(loss_terms(self.output, s, data.y) * data.mask[..., 0])

    def value_and_grad(self, objective: Callable[[Any], Any], theta: Any) -> tuple[Any, Any]:
        """``autograd.value_and_grad`` of ``objective`` at ``theta``."""
        return value_and_grad(objective)(theta)

    def linearise(self, fn: Callable[[Any], tuple[Any, ...]], theta: Any) -> Linearisation:
        """``fn``'s values and ``J v`` / ``J' u`` at ``theta``, each tape recorded once.

        ``autograd.core.make_vjp`` runs the forward pass of ``fn`` once and keeps its tape; its
        ``vjp`` gives ``u -> J' u``. The vjp is linear in ``u``, so a second ``make_vjp`` of the
        vjp itself (at ``u = 0``, "jvp via double vjp", as in
        ``autograd.differential_operators.make_jvp_reversemode``) records the backward pass once
        and its vjp is ``v -> J v``. Each product then costs two reverse sweeps, walked by
        autograd in Python (one closure call per recorded primitive, about ``5 T`` nodes for the
        RNN), with fresh intermediates; forward-mode ``make_jvp`` was not used because it
        re-traces, i.e. recomputes, the whole forward pass on every call.
        """
        # autograd's tuple lets one traced function return every output without a copy.
        vjp, outs = make_vjp(lambda th: ag_tuple(fn(th)), theta)
        # Read-only broadcast zeros: the linearisation point of the (linear) vjp, and the signals'
        # cotangents when there is no structural term, without holding T*B*k zeros in memory.
        zeros = tuple(np.broadcast_to(np.zeros((), dtype=a.dtype), a.shape) for a in outs)
        jvp, _ = make_vjp(vjp, zeros)
        return Linearisation(jvp, vjp, tuple(np.asarray(a) for a in outs), zeros)

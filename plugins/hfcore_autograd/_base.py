"""The generic autograd model: objective, gradient and Gauss-Newton products of any model definition.

A :class:`hfcore.models.ModelDefinition` supplies only its parameter blocks and its
forward map ``(params, x, ops) -> (s, signals)``; this module runs the map on autograd
boxes (:class:`~hfcore_autograd._ops.AutogradOps`) and derives everything else:

* the gradient is ``autograd.value_and_grad`` of the objective;
* Gauss-Newton products use the linearisation of ``theta -> (s, a_1, ..., a_K)`` (output
  and damped-signal pre-activations), recorded once per bound ``(theta, batch)`` (see
  :class:`AutogradCurvature`), with the structural term summed over the declared signals.

Validation of the keys every model has, batch conversion, outputs ``g(s)``, the output-Hessian
products and the flat layout come from the core kit (:mod:`hfcore.kit`), so every backend
agrees on all conventions by construction.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
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
    validate_common,
)
from hfcore.kit.layout import ParamLayout
from hfcore.kit.losses import OutputCurvature, output_activation
from hfcore.models import DampedSignal, NumpyOps, unit_curvature
from hfcore.types import Batch

from ._deps import ag_tuple, anp, make_vjp, value_and_grad
from ._ops import AutogradOps
from .losses import loss_terms

OPS = AutogradOps()
"""The functions forward maps call on this backend."""


class AutogradModel:
    """The :class:`~hfcore.interfaces.Model` protocol for any definition, derivatives by autograd.

    Parameters
    ----------
    definition : ModelDefinition
        The model: blocks (flat layout and initialisation, :class:`hfcore.kit.layout.ParamLayout`)
        and forward map, with its spec (sizes and output/loss pair).
    cfg : ModelConfig-like
        Read by attribute: ``l2`` and ``normaliser`` (validated here).
    dtype : numpy dtype, optional
        ``float64`` (default) or ``float32``.
    chunk_size : int, optional
        Sequences processed together (default 1000); larger batches are split (results equal up
        to summation order). Bounds the autograd tape, which holds every intermediate.

    Raises
    ------
    ValueError
        On an invalid spec, config or chunk size (one line).

    Notes
    -----
    For the tanh RNN the forward map is a Python loop over steps, each recording a few nodes,
    with ``x_i W_hx'`` taken on the data slice ``x[i]`` (data is never traced). A bound
    :meth:`curvature` keeps both autograd tapes, about ``6 * T * B * H`` numbers per chunk for
    the RNN (measured; the NumPy backend keeps 3).
    """

    def __init__(self, definition: Any, cfg: Any, dtype: Any = np.float64, chunk_size: int = 1000) -> None:
        if int(chunk_size) < 1:  # checked first, as by the NumPy backend
            raise ValueError(f"chunk_size must be >= 1, got {chunk_size!r}")
        validate_common(definition.spec, cfg)
        self.definition = definition
        self.layout = ParamLayout(definition.blocks())
        self.spec = definition.spec
        self.dtype: np.dtype = resolve_dtype(dtype)
        self.output: str = self.spec.output
        self.n_in: int = int(self.spec.n_in)
        self.n_out: int = int(self.spec.n_out)
        self.l2: float = float(cfg.l2)
        self.normaliser: str = cfg.normaliser
        self.n_params: int = self.layout.n_params
        self.chunk_size = int(chunk_size)

    def _net(self, theta: Any, x: np.ndarray) -> tuple[Any, Sequence[DampedSignal]]:
        """The definition's forward map on ``theta`` (traceable): ``(s, signals)``. ``x`` is data."""
        return self.definition.forward(self.layout.unpack(theta), x, OPS)

    # ------------------------------------------------------------------ shared pieces
    def unpack(self, theta: Any) -> dict[str, Any]:
        """Named views of the parameter blocks (works on autograd boxes)."""
        return self.layout.unpack(theta)

    def init_params(self, rng: np.random.Generator) -> np.ndarray:
        """Each block's init rule in order (float64 draws), cast to the model dtype."""
        return self.layout.init_params(rng, self.dtype)

    def _chunks(self, batch: Batch) -> Iterator[BatchArrays]:
        """Converted chunks of at most ``chunk_size`` sequences, each divided by the whole batch's N."""
        norm = batch_norm(batch, self.normaliser)
        for chunk in iter_chunks(batch, self.chunk_size):
            yield prepare_batch(chunk, self.n_in, self.n_out, self.dtype, norm)

    def _objective(self, theta: Any, data: BatchArrays, with_l2: bool) -> Any:
        """``sum m L(s; y) / N`` of one chunk, plus ``kappa/2 ||theta||^2`` when ``with_l2``.

        The L2 term is added for the first chunk only, so that the chunk objectives sum to the
        objective. Called on plain arrays it is the forward pass; under autograd, the gradient.
        """
        return self._objective_of(theta, self._net(theta, data.x)[0], data, with_l2)

    def _objective_of(self, theta: Any, s: Any, data: BatchArrays, with_l2: bool) -> Any:
        """:meth:`_objective` from the chunk's output pre-activations ``s``."""
        value = anp.sum(loss_terms(self.output, s, data.y) * data.mask[..., 0]) / data.norm
        if with_l2 and self.l2:
            value = value + 0.5 * self.l2 * anp.dot(theta, theta)
        return value

    # ------------------------------------------------------------------ Model protocol
    def loss(self, theta: np.ndarray, batch: Batch) -> float:
        """Objective on ``batch`` (forward pass only, plain NumPy; no tape is recorded)."""
        theta = as_vector(theta, self.n_params, self.dtype, "theta")
        total = 0.0
        for k, data in enumerate(self._chunks(batch)):
            total += float(self._objective(theta, data, k == 0))
        return total

    def loss_and_grad(self, theta: np.ndarray, batch: Batch) -> tuple[float, np.ndarray]:
        """Objective and gradient by ``autograd.value_and_grad``, chunk by chunk."""
        theta = as_vector(theta, self.n_params, self.dtype, "theta")
        value_grad = value_and_grad(self._objective)
        total, grad = 0.0, None
        for k, data in enumerate(self._chunks(batch)):
            value, g = value_grad(theta, data, k == 0)
            total += float(value)
            grad = g if grad is None else grad + g
        return total, np.ascontiguousarray(grad, dtype=self.dtype)

    def predict(self, theta: np.ndarray, batch: Batch) -> np.ndarray:
        """Outputs ``g(s_i)``, shape (T, B, n_out)."""
        theta = as_vector(theta, self.n_params, self.dtype, "theta")
        outs = [output_activation(self.output, self._net(theta, data.x)[0]) for data in self._chunks(batch)]
        return join_chunks(outs, self.dtype)

    def loss_and_predict(self, theta: np.ndarray, batch: Batch) -> tuple[float, np.ndarray]:
        """:meth:`loss` and :meth:`predict` from one forward pass per chunk (test evaluation)."""
        theta = as_vector(theta, self.n_params, self.dtype, "theta")
        total, outs = 0.0, []
        for k, data in enumerate(self._chunks(batch)):
            s = self._net(theta, data.x)[0]
            total += float(self._objective_of(theta, s, data, k == 0))
            outs.append(output_activation(self.output, s))
        return total, join_chunks(outs, self.dtype)

    def preactivations(self, theta: np.ndarray, batch: Batch) -> tuple[np.ndarray, np.ndarray]:
        """``s`` (T, B, n_out) and the damped signals' pre-activations side by side (T, B, sum of widths).

        The second array is empty (T, B, 0) for a model without damped signals.
        """
        theta = as_vector(theta, self.n_params, self.dtype, "theta")
        data = prepare_batch(batch, self.n_in, self.n_out, self.dtype, 1.0)
        s, signals = self._net(theta, data.x)
        s = np.asarray(s, dtype=self.dtype)
        parts = [np.asarray(g.preactivation, dtype=self.dtype) for g in signals]
        t = np.concatenate(parts, axis=-1) if parts else np.zeros(s.shape[:2] + (0,), dtype=self.dtype)
        return s, t

    def curvature(self, theta: np.ndarray, batch: Batch) -> AutogradCurvature:
        """Bind Gauss-Newton products at ``theta`` on ``batch`` (linearisation recorded once)."""
        return AutogradCurvature(self, theta, batch)

    def to_numpy(self, v: np.ndarray) -> np.ndarray:
        """A NumPy copy of ``v``."""
        return np.array(v, dtype=self.dtype, copy=True)

    def from_numpy(self, v: np.ndarray) -> np.ndarray:
        """``v`` as a new contiguous array of the model dtype."""
        return np.array(v, dtype=self.dtype, copy=True, order="C")


class _Linearisation(NamedTuple):
    """One chunk's recorded linearisation of ``theta -> (s, a_1, ..., a_K)`` and fixed curvature factors."""

    jvp: Callable[[np.ndarray], Any]  # v -> (J_s v, J_1 v, ..., J_K v)
    vjp: Callable[[Any], np.ndarray]  # (u_s, u_1, ..., u_K) -> J' u
    out_curv: OutputCurvature  # u -> m H_L(s) u
    structural: tuple[np.ndarray, ...]  # w_k * valid * D_k''(a_k), one per damped signal
    zeros: tuple[np.ndarray, ...]  # the signals' cotangents when the structural weight is 0


class AutogradCurvature:
    """``v -> (G_f + kappa I + w G_S) v`` for an autograd model, bound to ``(theta, batch)``.

    ``gv(v, w) = [J_s' (m H_L (J_s v)) + w sum_k w_k J_k' (valid D_k''(a_k) (J_k v))] / N + kappa v``
    over the definition's damped signals ``a_k`` (unit curvature ``D_k''`` from
    :func:`hfcore.models.unit_curvature`, relative weight ``w_k``); for the tanh RNN's one
    signal, its hidden pre-activations ``t`` with ``1 - tanh(t)^2`` and weight 1, this is
    exactly the NumPy backend's term (notes sec. 3; M&S 2011 eqs. 7, 10).

    Notes
    -----
    At bind time, per chunk, ``autograd.core.make_vjp`` runs the forward pass of
    ``theta -> (s, a_1, ..., a_K)`` once and keeps its tape; its ``vjp`` gives ``u -> J' u``.
    The vjp is linear in ``u``, so a second ``make_vjp`` of the vjp itself (at ``u = 0``,
    "jvp via double vjp", as in ``autograd.differential_operators.make_jvp_reversemode``)
    records the backward pass once and its vjp is ``v -> J v``.

    *Reused* by every :meth:`gv` call of one HF step (all CG iterations): the forward
    values (activations, their derivatives, every matmul operand), both tapes, the masked
    output-Hessian factors and the signals' ``w_k valid D_k''``. *Not reused*: autograd
    still walks each tape in Python (a topological sort and one closure call per recorded
    primitive, about ``5 T`` nodes for the RNN) and allocates fresh arrays for every
    intermediate; each product costs two reverse sweeps (one over the backward tape for
    ``J v``, one over the forward tape for ``J' u``). Forward-mode ``make_jvp`` was not used
    because it re-traces, i.e. recomputes, the whole forward pass on every call.
    """

    def __init__(self, model: AutogradModel, theta: np.ndarray, batch: Batch) -> None:
        self.model = model
        self.theta = as_vector(theta, model.n_params, model.dtype, "theta").copy()
        self.norm = batch_norm(batch, model.normaliser)
        self.chunks: list[_Linearisation] = []
        for data in model._chunks(batch):
            self.chunks.append(self._linearise(data))

    def _linearise(self, data: BatchArrays) -> _Linearisation:
        m = self.model
        declared: list[tuple[str, float]] = []

        def net(theta: Any) -> Any:
            s, signals = m._net(theta, data.x)
            declared[:] = [(g.unit, float(g.weight)) for g in signals]
            # autograd's tuple lets one traced function return every output without a copy.
            return ag_tuple((s,) + tuple(g.preactivation for g in signals))

        vjp, outs = make_vjp(net, self.theta)
        # Read-only broadcast zeros: the linearisation point of the (linear) vjp, and the signals'
        # cotangents when there is no structural term, without holding T*B*k zeros in memory.
        zeros = tuple(np.broadcast_to(np.zeros((), dtype=a.dtype), a.shape) for a in outs)
        jvp, _ = make_vjp(vjp, zeros)
        structural = tuple(weight * (data.valid * unit_curvature(unit, np.asarray(a), NumpyOps))
                           for (unit, weight), a in zip(declared, outs[1:], strict=True))  # at real steps only
        return _Linearisation(jvp, vjp, OutputCurvature(m.output, outs[0], data.mask), structural, zeros[1:])

    def gv(self, v: np.ndarray, structural_weight: float = 0.0) -> np.ndarray:
        """Return ``(G_f + kappa I + structural_weight * G_S) v`` (see class notes).

        Parameters
        ----------
        v : ndarray, shape (n_params,)
            Direction in the flat layout; not modified.
        structural_weight : float
            Coefficient ``w`` of ``G_S`` (M&S 2011 eq. 10, sec. 3.2); ignored without damped signals.

        Returns
        -------
        ndarray, shape (n_params,)
            A new array of the model dtype, normalised like the loss.
        """
        m = self.model
        v = as_vector(v, m.n_params, m.dtype, "v")
        w = float(structural_weight)
        out = None
        for c in self.chunks:
            js, *ja = c.jvp(v)
            signals = (tuple(j * (w * f) for j, f in zip(ja, c.structural, strict=True)) if w != 0.0 else c.zeros)
            part = c.vjp((c.out_curv.apply(js),) + signals)
            out = part if out is None else out + part
        out = out * (1.0 / self.norm)  # a new array: never a view of a tape value
        if m.l2:
            out += m.l2 * v
        return np.ascontiguousarray(out, dtype=m.dtype)

"""What the autograd RNN and linear models share: objective, gradient, Gauss-Newton products.

A concrete model only supplies the network map ``theta -> (s, t)`` (output and hidden
pre-activations, :meth:`AutogradModel._net`) written with ``autograd.numpy``. Everything
else is derived from it by autograd:

* the gradient is ``autograd.value_and_grad`` of the objective;
* Gauss-Newton products use the linearisation of ``theta -> (s, t)``, recorded once per
  bound ``(theta, batch)`` (see :class:`AutogradCurvature`).

Validation, the flat parameter layout, initialisation, batch conversion, outputs ``g(s)``
and the output-Hessian products come from the NumPy backend's twin model
(:mod:`hfcore_numpy`), so the two backends agree on all conventions by construction.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

import numpy as np

from hfcore.kit.batches import BatchArrays, as_vector, batch_norm, iter_chunks, join_chunks, prepare_batch
from hfcore.kit.losses import OutputCurvature, output_activation
from hfcore.types import Batch

from ._deps import ag_tuple, anp, make_vjp, value_and_grad
from .losses import loss_terms


class AutogradModel:
    """Base of the autograd models: the Model protocol on top of :meth:`_net`.

    Parameters
    ----------
    reference : hfcore.kit.layout.RNNLayout or LinearLayout
        The model's layout built from the spec and config. It has already validated
        them and provides ``dtype``, sizes, ``l2``, ``normaliser``, the flat layout
        (``unpack`` slices and reshapes, which autograd traces) and ``init_params``.
    chunk_size : int
        Sequences processed together; larger batches are split (results equal up to
        summation order). Bounds the autograd tape, which holds every intermediate.
    """

    def __init__(self, reference: Any, chunk_size: int) -> None:
        if int(chunk_size) < 1:
            raise ValueError(f"chunk_size must be >= 1, got {chunk_size!r}")
        self._ref = reference
        self.spec = reference.spec
        self.dtype: np.dtype = reference.dtype
        self.output: str = reference.output
        self.n_in: int = reference.n_in
        self.n_out: int = reference.n_out
        self.n_hidden: int = reference.n_hidden
        self.l2: float = reference.l2
        self.normaliser: str = reference.normaliser
        self.n_params: int = reference.n_params
        self.chunk_size = int(chunk_size)

    # ------------------------------------------------------------------ to be supplied
    def _net(self, theta: Any, x: np.ndarray) -> tuple[Any, Any]:
        """Pre-activations ``(s, t)``, shapes (T, B, n_out) and (T, B, n_hidden), traceable.

        ``t`` is ``None`` for models without hidden units. ``x`` is data (never traced).
        """
        raise NotImplementedError

    # ------------------------------------------------------------------ shared pieces
    def unpack(self, theta: Any) -> Any:
        """Views of the parameter blocks (the NumPy backend's layout; works on autograd boxes)."""
        return self._ref.unpack(theta)

    def init_params(self, rng: np.random.Generator) -> np.ndarray:
        """The NumPy backend's initialisation (same draws, same order, same dtype)."""
        return self._ref.init_params(rng)

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
        """``(s, t)`` with shapes (T, B, n_out) and (T, B, n_hidden) (``n_hidden`` may be 0)."""
        theta = as_vector(theta, self.n_params, self.dtype, "theta")
        data = prepare_batch(batch, self.n_in, self.n_out, self.dtype, 1.0)
        s, t = self._net(theta, data.x)
        if t is None:
            t = np.zeros(s.shape[:2] + (0,), dtype=self.dtype)
        return np.asarray(s, dtype=self.dtype), np.asarray(t, dtype=self.dtype)

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
    """One chunk's recorded linearisation of ``theta -> (s, t)`` and fixed curvature factors."""

    jvp: Callable[[np.ndarray], Any]  # v -> J v  (tuple (J_s v, J_t v) with hidden units, else J_s v)
    vjp: Callable[[Any], np.ndarray]  # u -> J' u (same structure as jvp's output)
    out_curv: OutputCurvature  # u -> m H_L(s) u
    structural: np.ndarray | None  # valid * (1 - h^2), (T, B, H); None without hidden units
    zero_t: np.ndarray | None  # cotangent for t when the structural weight is 0


class AutogradCurvature:
    """``v -> (G_f + kappa I + w G_S) v`` for an autograd model, bound to ``(theta, batch)``.

    ``gv(v, w) = [J_s' (m H_L (J_s v)) + w J_t' (valid (1 - h^2) (J_t v))] / N + kappa v``,
    the same matrices, mask, padding rule and normaliser as the NumPy backend
    (notes sec. 3; M&S 2011 eqs. 7, 10).

    Notes
    -----
    At bind time, per chunk, ``autograd.core.make_vjp`` runs the forward pass of
    ``theta -> (s, t)`` once and keeps its tape; its ``vjp`` gives ``u -> J' u``. The
    vjp is linear in ``u``, so a second ``make_vjp`` of the vjp itself (at ``u = 0``,
    "jvp via double vjp", as in ``autograd.differential_operators.make_jvp_reversemode``)
    records the backward pass once and its vjp is ``v -> J v``.

    *Reused* by every :meth:`gv` call of one HF step (all CG iterations): the forward
    values (``h``, ``tanh'`` factors, every matmul operand), both tapes, the masked
    output-Hessian factors and ``valid (1 - h^2)``. *Not reused*: autograd still walks
    each tape in Python (a topological sort and one closure call per recorded primitive,
    about ``5 T`` nodes for the RNN) and allocates fresh arrays for every intermediate;
    each product costs two reverse sweeps (one over the backward tape for ``J v``, one
    over the forward tape for ``J' u``). Forward-mode ``make_jvp`` was not used because it
    re-traces, i.e. recomputes, the whole forward pass on every call.
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
        hidden = m.n_hidden > 0

        def net(theta: Any) -> Any:
            s, t = m._net(theta, data.x)
            # autograd's tuple lets one traced function return both outputs without a copy.
            return ag_tuple((s, t)) if hidden else s

        vjp, out = make_vjp(net, self.theta)
        s, t = out if hidden else (out, None)
        # Read-only broadcast zeros: the linearisation point of the (linear) vjp, and the t cotangent
        # when there is no structural term, without holding T*B*H zeros in memory.
        zero_s = np.broadcast_to(np.zeros((), dtype=s.dtype), s.shape)
        zero = (zero_s, np.broadcast_to(np.zeros((), dtype=t.dtype), t.shape)) if hidden else zero_s
        jvp, _ = make_vjp(vjp, zero)
        structural = zero_t = None
        if hidden:
            h = np.tanh(t)
            structural = data.valid * (1.0 - h * h)  # (D o e)'' at real steps only
            zero_t = zero[1]
        return _Linearisation(jvp, vjp, OutputCurvature(m.output, s, data.mask), structural, zero_t)

    def gv(self, v: np.ndarray, structural_weight: float = 0.0) -> np.ndarray:
        """Return ``(G_f + kappa I + structural_weight * G_S) v`` (see class notes).

        Parameters
        ----------
        v : ndarray, shape (n_params,)
            Direction in the flat layout; not modified.
        structural_weight : float
            Coefficient ``w`` of ``G_S`` (M&S 2011 eq. 10, sec. 3.2); ignored without hidden units.

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
            if c.structural is None:
                part = c.vjp(c.out_curv.apply(c.jvp(v)))
            else:
                js, jt = c.jvp(v)
                ut = jt * (w * c.structural) if w != 0.0 else c.zero_t
                part = c.vjp((c.out_curv.apply(js), ut))
            out = part if out is None else out + part
        out = out * (1.0 / self.norm)  # a new array: never a view of a tape value
        if m.l2:
            out += m.l2 * v
        return np.ascontiguousarray(out, dtype=m.dtype)

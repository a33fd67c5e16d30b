"""The backend template: a :class:`~hfcore.interfaces.Model` of any definition from a few backend pieces.

A backend that can differentiate (autograd, torch, JAX, ...) turns any
:class:`hfcore.models.ModelDefinition` into a model by subclassing :class:`DerivedModel`
and supplying only what depends on its arrays and its derivatives. The template owns
everything else, so every such backend agrees on all conventions by construction:

* validation (:func:`~hfcore.kit.batches.validate_common`), the flat layout and the initial
  draws (:class:`~hfcore.kit.layout.ParamLayout`);
* the chunk loop (:func:`~hfcore.kit.batches.iter_chunks`), each chunk divided by the *whole*
  batch's normaliser N, so chunk objectives, gradients and products sum to the batch's;
* the objective ``sum m L(s; y) / N`` plus ``(kappa/2) ||theta||^2`` on the first chunk only;
* ``loss``, ``loss_and_grad``, ``predict``, ``loss_and_predict`` and ``preactivations``;
* Gauss-Newton products with structural damping over the declared signals
  (:class:`DerivedCurvature`): the fixed factors ``w_k * valid * D_k''(a_k)``
  (:func:`hfcore.models.unit_curvature`) and the assembly
  ``J'(m H_L J_s v, sum_k w factors_k * J_k v) / N + kappa v``.

The cut
-------
A subclass must supply three things, each of which only a backend can do:

``ops``
    The :class:`hfcore.models.Ops` its forward maps run on (class attribute).
:meth:`DerivedModel.value_and_grad`
    Reverse mode of a scalar function of the flat parameters (the chunk objective).
:meth:`DerivedModel.linearise`
    The linearisation of ``theta -> (s, a_1, ..., a_K)`` at a point: its values and the
    products ``v -> J v`` and ``u -> J' u``, recorded once and reused by every CG iteration.

The gradient is a backend piece of its own (not ``J_s'`` of the output residual) so that a
backend keeps its reverse mode's exact numbers and never records the tape twice. Everything
else has a NumPy default that a backend on other arrays overrides: the array conversions
(:meth:`~DerivedModel.as_vector`, :meth:`~DerivedModel.to_numpy`,
:meth:`~DerivedModel.from_numpy`, :meth:`~DerivedModel.prepare`) and the matched loss on its
arrays (:meth:`~DerivedModel.loss_sum`, :meth:`~DerivedModel.output_activation`,
:meth:`~DerivedModel.output_curvature`); the loss is a piece because the gradient traces it.
A NumPy-array backend overrides ``ops``, ``value_and_grad``, ``linearise`` and, if its
derivatives trace the loss, ``loss_sum``. See ``docs/writing-a-plugin.md`` ("Writing a
backend").
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import Any, NamedTuple

import numpy as np

from hfcore.models import DampedSignal, NumpyOps, Ops, unit_curvature
from hfcore.types import Batch

from .batches import as_vector, batch_norm, iter_chunks, join_chunks, prepare_batch, resolve_dtype, validate_common
from .layout import ParamLayout
from .losses import OutputCurvature, evaluate, output_activation

__all__ = ["DerivedCurvature", "DerivedModel", "Linearisation"]


class Linearisation(NamedTuple):
    """What :meth:`DerivedModel.linearise` returns: a function's values and its linear maps at one point.

    Attributes
    ----------
    outputs : tuple of arrays
        The values ``(s, a_1, ..., a_K)``, off any tape (plain arrays of the backend).
    jvp : callable
        ``v -> (J_s v, J_1 v, ..., J_K v)`` for a flat direction ``v``.
    vjp : callable
        ``(u_s, u_1, ..., u_K) -> J' u``, a flat vector.
    zeros : tuple of arrays
        Zero cotangents shaped like ``outputs`` (may be read-only broadcasts).
    """

    jvp: Callable[[Any], Sequence[Any]]
    vjp: Callable[[Sequence[Any]], Any]
    outputs: tuple[Any, ...]
    zeros: tuple[Any, ...]


class DerivedModel:
    """The :class:`~hfcore.interfaces.Model` of any definition; a backend supplies the pieces (module docstring).

    Parameters
    ----------
    definition : ModelDefinition
        Blocks, forward map and damped signals; ``definition.spec`` gives the sizes and the
        output/loss pair.
    cfg : ModelConfig-like
        Read by attribute: ``l2`` and ``normaliser`` (validated here).
    dtype : numpy dtype or name, optional
        ``float64`` (default) or ``float32``; kept as :attr:`np_dtype`.
    chunk_size : int, optional
        Sequences processed together (default 1000); larger batches are split (results equal
        up to summation order), which bounds what a tape holds.

    Raises
    ------
    ValueError
        On an invalid chunk size, spec, config or dtype (one line).
    """

    ops: Ops = NumpyOps()
    """The functions forward maps call on this backend's arrays."""

    def __init__(self, definition: Any, cfg: Any, dtype: Any = np.float64, chunk_size: int = 1000) -> None:
        if int(chunk_size) < 1:
            raise ValueError(f"chunk_size must be >= 1, got {chunk_size!r}")
        validate_common(definition.spec, cfg)
        self.definition = definition
        self.spec = definition.spec
        self.layout = ParamLayout(definition.blocks())
        self.np_dtype: np.dtype = resolve_dtype(dtype)
        self.output: str = self.spec.output
        self.n_in: int = int(self.spec.n_in)
        self.n_out: int = int(self.spec.n_out)
        self.l2: float = float(cfg.l2)
        self.normaliser: str = cfg.normaliser
        self.n_params: int = self.layout.n_params
        self.chunk_size = int(chunk_size)

    # ------------------------------------------------------------------ backend pieces: derivatives
    def value_and_grad(self, objective: Callable[[Any], Any], theta: Any) -> tuple[Any, Any]:
        """``(objective(theta), grad objective(theta))`` by the backend's reverse mode; a subclass supplies it.

        ``objective`` maps a flat parameter vector to a scalar, written with the backend's arrays.
        """
        raise NotImplementedError(f"{type(self).__name__} must implement value_and_grad")

    def linearise(self, fn: Callable[[Any], tuple[Any, ...]], theta: Any) -> Linearisation:
        """Record the linearisation of ``fn`` (flat parameters -> tuple of arrays) at ``theta``; a subclass supplies it.

        Called once per chunk when a curvature is bound; its ``jvp`` and ``vjp`` are then called
        by every Gauss-Newton product, so they should reuse the recorded forward pass.
        """
        raise NotImplementedError(f"{type(self).__name__} must implement linearise")

    # ------------------------------------------------------------------ backend pieces: arrays (NumPy defaults)
    def as_vector(self, v: Any, what: str = "vector") -> Any:
        """``v`` as a flat contiguous vector of the model dtype (no copy when already right)."""
        return as_vector(v, self.n_params, self.np_dtype, what)

    def to_numpy(self, v: Any) -> np.ndarray:
        """A NumPy copy of ``v``."""
        return np.array(v, dtype=self.np_dtype, copy=True)

    def from_numpy(self, v: Any) -> Any:
        """``v`` (NumPy, or the backend's own vector) as a new contiguous vector of the model dtype."""
        return np.array(v, dtype=self.np_dtype, copy=True, order="C")

    def prepare(self, batch: Batch, norm: float) -> Any:
        """A validated chunk with ``x``, ``y``, ``mask``, ``valid`` (backend arrays) and ``norm``."""
        return prepare_batch(batch, self.n_in, self.n_out, self.np_dtype, norm)

    def loss_sum(self, s: Any, data: Any) -> Any:
        """``sum m L(s; y)`` over one chunk, a scalar (traced by :meth:`value_and_grad`)."""
        return np.sum(evaluate(self.output, s, data.y, outputs=False)[0] * data.mask[..., 0])

    def output_activation(self, s: Any) -> Any:
        """Outputs ``g(s)`` of pre-activations ``s`` (off the tape)."""
        return output_activation(self.output, s)

    def output_curvature(self, s: Any, mask: Any) -> Any:
        """``u -> m H_L(s) u`` at fixed ``s`` (an object with ``apply``)."""
        return OutputCurvature(self.output, s, mask)

    def no_tape(self) -> AbstractContextManager[Any]:
        """A context in which nothing is recorded for differentiation (a no-op by default)."""
        return nullcontext()

    # ------------------------------------------------------------------ the template
    def net(self, theta: Any, x: Any) -> tuple[Any, Sequence[DampedSignal]]:
        """The definition's forward map at flat ``theta`` (traceable): ``(s, signals)``. ``x`` is data."""
        return self.definition.forward(self.layout.unpack(theta), x, self.ops)

    def unpack(self, theta: Any) -> dict[str, Any]:
        """Named views of the parameter blocks."""
        return self.layout.unpack(theta)

    def chunks(self, batch: Batch) -> Iterator[Any]:
        """Prepared chunks of at most ``chunk_size`` sequences, each divided by the whole batch's N."""
        norm = batch_norm(batch, self.normaliser)
        for chunk in iter_chunks(batch, self.chunk_size):
            yield self.prepare(chunk, norm)

    def objective(self, theta: Any, s: Any, data: Any, first: bool) -> Any:
        """``sum m L(s; y) / N`` of one chunk, plus ``(kappa/2) ||theta||^2`` when ``first`` (so chunks sum)."""
        value = self.loss_sum(s, data) / data.norm
        if first and self.l2:
            value = value + 0.5 * self.l2 * (theta @ theta)
        return value

    def init_params(self, rng: np.random.Generator) -> Any:
        """Each block's init rule in layout order (float64 draws), cast to the model dtype."""
        return self.from_numpy(self.layout.init_params(rng, self.np_dtype))

    def loss(self, theta: Any, batch: Batch) -> float:
        """Objective on ``batch`` (forward pass only)."""
        return self._evaluate(theta, batch, outputs=False)[0]

    def loss_and_grad(self, theta: Any, batch: Batch) -> tuple[float, Any]:
        """Objective and gradient by :meth:`value_and_grad`, chunk by chunk."""
        theta = self.as_vector(theta, "theta")
        total, grad = 0.0, None
        for k, data in enumerate(self.chunks(batch)):

            def objective(th: Any, data: Any = data, first: bool = k == 0) -> Any:
                return self.objective(th, self.net(th, data.x)[0], data, first)

            value, g = self.value_and_grad(objective, theta)
            total += float(value)
            grad = g if grad is None else grad + g
        return total, self.as_vector(grad, "gradient")

    def predict(self, theta: Any, batch: Batch) -> np.ndarray:
        """Outputs ``g(s_i)``, shape (T, B, n_out), as NumPy of the model dtype."""
        return self._evaluate(theta, batch, loss=False)[1]

    def loss_and_predict(self, theta: Any, batch: Batch) -> tuple[float, np.ndarray]:
        """:meth:`loss` and :meth:`predict` from one forward pass per chunk (test evaluation)."""
        return self._evaluate(theta, batch)

    def _evaluate(self, theta: Any, batch: Batch, loss: bool = True, outputs: bool = True) -> tuple[float, np.ndarray]:
        theta = self.as_vector(theta, "theta")
        total, outs = 0.0, []
        with self.no_tape():
            for k, data in enumerate(self.chunks(batch)):
                s = self.net(theta, data.x)[0]
                if loss:
                    total += float(self.objective(theta, s, data, k == 0))
                if outputs:
                    outs.append(self.to_numpy(self.output_activation(s)))
        return (total if loss else float("nan")), join_chunks(outs, self.np_dtype)

    def preactivations(self, theta: Any, batch: Batch) -> tuple[np.ndarray, np.ndarray]:
        """``s`` (T, B, n_out) and the damped signals' pre-activations side by side (T, B, sum of widths).

        The second array is empty (T, B, 0) for a model without damped signals.
        """
        theta = self.as_vector(theta, "theta")
        with self.no_tape():
            s, signals = self.net(theta, self.prepare(batch, 1.0).x)
            s = self.to_numpy(s)
            parts = [self.to_numpy(g.preactivation) for g in signals]
        t = np.concatenate(parts, axis=-1) if parts else np.zeros(s.shape[:2] + (0,), dtype=self.np_dtype)
        return s, t

    def curvature(self, theta: Any, batch: Batch) -> DerivedCurvature:
        """Bind Gauss-Newton products at ``theta`` on ``batch`` (linearisation recorded once per chunk)."""
        return DerivedCurvature(self, theta, batch)


class _Chunk(NamedTuple):
    """One chunk's recorded linearisation and its fixed curvature factors."""

    jvp: Callable[[Any], Sequence[Any]]
    vjp: Callable[[Sequence[Any]], Any]
    out_curv: Any  # u -> m H_L(s) u
    structural: tuple[Any, ...]  # w_k * valid * D_k''(a_k), one per damped signal
    zeros: tuple[Any, ...]  # the signals' cotangents when the structural weight is 0


class DerivedCurvature:
    """``v -> (G_f + kappa I + w G_S) v`` for a :class:`DerivedModel`, bound to ``(theta, batch)``.

    ``gv(v, w) = [J_s' (m H_L (J_s v)) + w sum_k w_k J_k' (valid D_k''(a_k) (J_k v))] / N + kappa v``
    over the definition's damped signals ``a_k`` (unit curvature ``D_k''`` from
    :func:`hfcore.models.unit_curvature`, relative weight ``w_k``); padding steps are left out of
    ``G_S``, and ``G_S`` is divided by the loss's N (notes sec. 3; M&S 2011 eqs. 7, 10). For the
    tanh RNN's one signal (its hidden pre-activations, weight 1) this is the paper's term.

    At bind time each chunk is linearised once (:meth:`DerivedModel.linearise`) and the output
    Hessian factors and the structural factors are computed; every :meth:`gv` of the HF step
    (all CG iterations) reuses them.
    """

    def __init__(self, model: DerivedModel, theta: Any, batch: Batch) -> None:
        self.model = model
        self.theta = model.from_numpy(model.as_vector(theta, "theta"))  # our own copy: the caller may change theirs
        self.norm = batch_norm(batch, model.normaliser)
        self.chunks = [self._linearise(data) for data in model.chunks(batch)]

    def _linearise(self, data: Any) -> _Chunk:
        m = self.model
        declared: list[tuple[str, float]] = []  # units and weights, kept from the one traced forward pass

        def pre(theta: Any) -> tuple[Any, ...]:
            s, signals = m.net(theta, data.x)
            declared[:] = [(g.unit, float(g.weight)) for g in signals]
            return (s, *(g.preactivation for g in signals))

        lin = m.linearise(pre, self.theta)
        s, *signals = lin.outputs
        with m.no_tape():
            structural = tuple(weight * (data.valid * unit_curvature(unit, a, m.ops))  # at real steps only
                               for (unit, weight), a in zip(declared, signals, strict=True))
            out_curv = m.output_curvature(s, data.mask)
        return _Chunk(lin.jvp, lin.vjp, out_curv, structural, tuple(lin.zeros[1:]))

    def gv(self, v: Any, structural_weight: float = 0.0) -> Any:
        """Return ``(G_f + kappa I + structural_weight * G_S) v`` (see the class notes).

        Parameters
        ----------
        v : vector, shape (n_params,)
            Direction in the flat layout (converted by :meth:`DerivedModel.as_vector`); not modified.
        structural_weight : float
            Coefficient ``w`` of ``G_S`` (M&S 2011 eq. 10, sec. 3.2); ignored without damped signals.

        Returns
        -------
        vector, shape (n_params,)
            A new vector of the model's array type and dtype, normalised like the loss.
        """
        m = self.model
        v = m.as_vector(v, "v")
        w = float(structural_weight)
        out = None
        with m.no_tape():
            for c in self.chunks:
                js, *ja = c.jvp(v)
                signals = tuple(j * (w * f) for j, f in zip(ja, c.structural, strict=True)) if w != 0.0 else c.zeros
                part = c.vjp((c.out_curv.apply(js), *signals))
                out = part if out is None else out + part
            out = out * (1.0 / self.norm)  # a new array: never a view of a tape value
            if m.l2:
                out += m.l2 * v
        return m.as_vector(out, "gv")


"""The interfaces of hfcore, as small structural protocols.

The core (CG, damping, the HF loop) talks to plugins only through these.
Parameters always cross an interface as one flat vector.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

import numpy as np

from hfcore.state import OptimizerState
from hfcore.types import Batch, CGResult, ModelSpec, StepInfo, Vector


@runtime_checkable
class CurvatureProduct(Protocol):
    """Gauss-Newton products bound to one parameter vector and one batch.

    Created by :meth:`Model.curvature`, which runs and caches the forward
    pass; every :meth:`gv` call then costs one R-forward and one backward
    pass (M&S 2011 sec. 3.1, 3.2).
    """

    def gv(self, v: Vector, structural_weight: float = 0.0) -> Vector:
        """Return ``(G_f + kappa I + structural_weight * G_S) v``.

        Parameters
        ----------
        v : Vector
            Direction, flat, same layout as the parameters.
        structural_weight : float
            Coefficient of the structural-damping matrix
            ``G_S = J_t' (D o e)'' J_t`` (M&S 2011 eq. 10, sec. 3.2), added in
            the same pass. The damping passes ``lambda * mu * c_D``.

        Returns
        -------
        Vector
            The product, normalised exactly as the model's loss (same divisor)
            and including the model's own L2 curvature ``kappa v``. Tikhonov
            ``lambda v`` is *not* included: the core adds it.
        """
        ...


@runtime_checkable
class Model(Protocol):
    """A differentiable sequence model with a matched output loss.

    The objective is the masked loss divided by the model's normaliser
    (active targets by default) plus ``kappa/2 ||theta||^2``.

    Optional capabilities are separate protocols: :class:`SupportsLossAndPredict`
    (one forward pass for the objective and the outputs),
    :class:`DeclaresCurvatureSupport` (a model without a Gauss-Newton product) and
    :class:`HasGradientSquares` (the empirical Fisher diagonal, for HF's CG preconditioner).
    """

    n_params: int

    def init_params(self, rng: np.random.Generator) -> Vector:
        """Draw initial parameters from ``rng`` (the only randomness used)."""
        ...

    def loss(self, theta: Vector, batch: Batch) -> float:
        """Objective on ``batch`` (forward pass only)."""
        ...

    def loss_and_grad(self, theta: Vector, batch: Batch) -> tuple[float, Vector]:
        """Objective and its gradient (forward pass + BPTT)."""
        ...

    def predict(self, theta: Vector, batch: Batch) -> np.ndarray:
        """Outputs ``g(s_i)`` for every step, shape (T, B, n_out), as NumPy."""
        ...

    def curvature(self, theta: Vector, batch: Batch) -> CurvatureProduct:
        """Bind a curvature product at ``theta`` on ``batch`` (forward cached)."""
        ...

    def preactivations(self, theta: Vector, batch: Batch) -> tuple[np.ndarray, np.ndarray]:
        """Output and hidden pre-activations ``(s, t)`` as NumPy arrays.

        ``s`` has shape (T, B, n_out), ``t`` shape (T, B, n_hidden) (``n_hidden``
        may be 0 for models without hidden state). Used by
        :mod:`hfcore.testing` to build dense ``J' H_L J`` and ``G_S`` matrices
        by finite differences.
        """
        ...

    def to_numpy(self, v: Vector) -> np.ndarray:
        """A host NumPy copy of a parameter-shaped vector (for checkpoints)."""
        ...

    def from_numpy(self, v: np.ndarray) -> Vector:
        """The backend's vector type from a NumPy array."""
        ...


@runtime_checkable
class SupportsLossAndPredict(Protocol):
    """Optional model capability: the objective and :meth:`Model.predict`'s outputs from one forward pass.

    Test evaluation uses it when present (see :func:`loss_and_predict`), and
    two passes (``loss`` and ``predict``, same values) otherwise.
    """

    def loss_and_predict(self, theta: Vector, batch: Batch) -> tuple[float, np.ndarray]:
        """``(objective, outputs)``: the value of :meth:`Model.loss` and the outputs, shape (T, B, n_out)."""
        ...


@runtime_checkable
class HasGradientSquares(Protocol):
    """Optional model capability: the empirical Fisher diagonal with the gradient, from one backward pass.

    Needed by HF's diagonal preconditioner (``hf.preconditioner=empirical_fisher``, Martens 2010 sec. 4.7).
    """

    def loss_grad_and_squares(self, theta: Vector, batch: Batch) -> tuple[float, Vector, Vector]:
        """``(objective, gradient, squares)``: :meth:`Model.loss_and_grad`'s values and ``diag(F)``.

        With the objective's data term written as ``sum_i c_i`` over the ``N`` sequences of ``batch``
        (``c_i`` sequence ``i``'s share of the normalised loss, whatever the normaliser),
        ``squares = (1/N) sum_i (N grad c_i)**2 = N sum_i (grad c_i)**2``: the mean squared per-sequence
        gradient on the objective's scale. The L2 term is not part of it. Same array type as the gradient.
        """
        ...


@runtime_checkable
class DeclaresCurvatureSupport(Protocol):
    """Optional model capability: whether :meth:`Model.curvature` works.

    A model whose ``supports_curvature`` is False (a plugin's first-order-only
    model) can only be trained with a first-order optimiser; the run is refused before any work
    when it is paired with Hessian-free. A model without the attribute is
    taken to support curvature.
    """

    supports_curvature: bool


@runtime_checkable
class HasLowPrecisionCurvature(Protocol):
    """Optional model capability: Gauss-Newton products computed in a lower precision than the model's.

    :class:`hfcore.mixed_precision.MixedPrecisionModel` has it (a float32 twin of a float64 model);
    Hessian-free uses it while ``hf.float32_gv_above_lambda`` says so.
    """

    def low_precision_curvature(self, theta: Vector, batch: Batch) -> CurvatureProduct:
        """Like :meth:`Model.curvature`, but computed in the lower precision.

        ``theta`` and the product's input and output vectors are this model's own (full-precision)
        vectors; only the forward pass and the products run in the lower precision.
        """
        ...


def loss_and_predict(model: Model, theta: Vector, batch: Batch) -> tuple[float, np.ndarray]:
    """The objective on ``batch`` and the outputs ``g(s)`` as NumPy, shape (T, B, n_out).

    One forward pass when the model is :class:`SupportsLossAndPredict`;
    otherwise ``model.loss`` and ``model.predict`` (two passes, same values).
    """
    if isinstance(model, SupportsLossAndPredict):
        value, outputs = model.loss_and_predict(theta, batch)
        return float(value), np.asarray(outputs)
    return float(model.loss(theta, batch)), np.asarray(model.predict(theta, batch))


@runtime_checkable
class Task(Protocol):
    """Where sequences come from and how success is judged."""

    name: str
    spec: ModelSpec

    def sample(self, rng: np.random.Generator, n: int) -> Batch:
        """Draw ``n`` training sequences using only ``rng``."""
        ...

    def test_batch(self) -> Batch:
        """The fixed test set (the same for every call)."""
        ...

    def error(self, outputs: np.ndarray, batch: Batch) -> float:
        """Task error of ``outputs`` (as from :meth:`Model.predict`) on ``batch``."""
        ...

    def solved(self, test_error: float) -> bool:
        """Whether a test error meets the task's success criterion."""
        ...


@runtime_checkable
class HasDefaultLambda0(Protocol):
    """Optional task capability: the task's own initial Tikhonov lambda.

    Used when ``damping.lambda0`` is null (IS11's per-task values); without
    it the core takes IS11's general rule ``0.01 * spec.n_out``.
    """

    default_lambda0: float


@runtime_checkable
class HasMaxSample(Protocol):
    """Optional task capability: the largest ``n`` that :meth:`Task.sample` accepts.

    A finite data set (e.g. the quadratic task's fixed training set) declares
    it, so a run whose batch sizes exceed it is refused before any work. The
    value None means no limit.
    """

    max_sample: int | None


@runtime_checkable
class HasExtraMetrics(Protocol):
    """Optional task capability: metrics logged beside ``loss`` and ``error`` at each evaluation."""

    def extra_metrics(self, outputs: np.ndarray, batch: Batch) -> dict[str, float]:
        """Named values for ``outputs`` (as from :meth:`Model.predict`) on ``batch``.

        The names ``loss`` and ``error`` are reserved: the core's values win.
        """
        ...


@runtime_checkable
class PlotsPredictions(Protocol):
    """Optional task capability: a picture of a model's predictions, saved with the run."""

    def plot_predictions(self, outputs: np.ndarray, batch: Batch) -> Any:
        """A matplotlib ``Figure`` of ``outputs`` (as from :meth:`Model.predict`) on ``batch`` (one window)."""
        ...


@runtime_checkable
class Solver(Protocol):
    """Approximately minimise ``phi(x) = 0.5 x'Ax - b'x``."""

    def solve(self, matvec: Callable[[Vector], Vector], b: Vector, x0: Vector | None,
              preconditioner: Vector | None = None) -> CGResult:
        """Run from ``x0`` (None: from zero), preconditioned by the diagonal ``preconditioner`` when given;
        return the saved iterates and why it stopped."""
        ...


@runtime_checkable
class Damping(Protocol):
    """Tikhonov lambda with Levenberg-Marquardt adaptation, plus structural weight."""

    lambda0: float

    def structural_weight(self, lam: float) -> float:
        """Coefficient of ``G_S`` passed to :meth:`CurvatureProduct.gv`."""
        ...

    def update(self, lam: float, rho: float) -> float:
        """The next lambda given the reduction ratio ``rho`` (NaN counts as bad)."""
        ...


@runtime_checkable
class Optimizer(Protocol):
    """A training method with its own state, optax-style: :class:`hfcore.hf.HessianFree` or a first-order one.

    ``init`` makes the state; ``step`` takes it and returns the next one. The state is a frozen
    :class:`hfcore.state.OptimizerState` subclass, opaque to the loop, which keeps it in
    :attr:`hfcore.state.RunState.optimizer` and checkpoints it generically (name, vectors, scalars).
    ``needs_curvature`` says whether it calls :meth:`Model.curvature` (a model without a Gauss-Newton
    product is refused before any work when it does).
    """

    needs_curvature: bool

    def init(self, theta: Vector) -> OptimizerState:
        """The state before the first iteration at parameters ``theta``."""
        ...

    def step(self, state: OptimizerState, theta: Vector, model: Model, task: Task, rng: np.random.Generator,
             iteration: int) -> tuple[Vector, OptimizerState, StepInfo]:
        """Take iteration number ``iteration`` (1-based, for messages) from ``theta``.

        All randomness comes from ``rng``, the run's data stream. Returns the new parameters, the
        new state and what happened; ``StepInfo.counters`` holds this iteration's own cost, which
        the loop adds to the run's counters.
        """
        ...

    def batch_sizes(self) -> dict[str, int]:
        """The largest batches one iteration samples, keyed by their config keys (checked against a task's
        ``max_sample`` before any work)."""
        ...


@runtime_checkable
class Communicator(Protocol):
    """The processes of one data-parallel run (:mod:`hfcore.parallel`).

    Every rank holds the parameters and the CG vectors; only partial sums over
    batch shards cross this seam. The serial implementation has one rank.
    """

    rank: int
    size: int
    name: str

    def allgather_rows(self, rows: np.ndarray, counts: list[int]) -> np.ndarray:
        """Concatenate every rank's ``rows`` along axis 0, in rank order.

        Parameters
        ----------
        rows : ndarray, shape (counts[rank], ...)
            This rank's rows (C-contiguous float64); the trailing shape is the same on every rank.
        counts : list of int
            Rows held by each rank (known to every rank in advance).

        Returns
        -------
        ndarray, shape (sum(counts), ...)
        """
        ...

    def barrier(self) -> None:
        """Wait for every rank."""
        ...

    def abort(self, code: int) -> None:
        """End every rank of the job now with exit status ``code`` (never returns)."""
        ...

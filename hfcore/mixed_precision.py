"""Gauss-Newton products in float32 while lambda is large, in float64 once it is small.

A float32 Gv costs about half a float64 one, and CG needs the same number of steps with it early in
training. Late in training (small lambda, an ill-conditioned quadratic) CG with float32 products runs
to its cap where float64 stops at half of it, because the float32 product (its cached forward pass)
is not accurate enough for the small curvature directions that then matter. So a run switches by
lambda (``hf.float32_gv_above_lambda``): :func:`use_float32_gv` is the rule, a pure function of
HF's state, and :class:`MixedPrecisionModel` pairs the run's float64 model with a float32 twin
built by the same backend. Everything but CG's products (theta, the gradient, losses, CG's
vectors, backtracking, the line search, rho) stays in the float64 model.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hfcore.interfaces import CurvatureProduct, HasLowPrecisionCurvature, Model
from hfcore.types import Batch, Vector


def use_float32_gv(threshold: float | None, lam: float) -> bool:
    """Whether this iteration's Gv products run in float32: ``lam >= threshold`` (never when it is None)."""
    return threshold is not None and lam >= threshold


class CastCurvature:
    """A curvature product of the low-precision model, taking and returning the full-precision model's vectors.

    Parameters
    ----------
    inner : CurvatureProduct
        The low-precision model's product, bound to theta and a batch.
    down, up : callable
        Vector conversions: full precision to low, and back.
    """

    def __init__(self, inner: CurvatureProduct, down: Any, up: Any) -> None:
        self.inner = inner
        self.down = down
        self.up = up

    def gv(self, v: Vector, structural_weight: float = 0.0) -> Vector:
        """``(G + kappa I + structural_weight G_S) v`` computed in low precision, returned in full precision."""
        return self.up(self.inner.gv(self.down(v), structural_weight))


class MixedPrecisionModel:
    """A model (the full-precision ``model``) that can also bind curvature products of ``low``, its twin.

    Every :class:`~hfcore.interfaces.Model` method, and any backend extra, is ``model``'s;
    :meth:`low_precision_curvature` (:class:`~hfcore.interfaces.HasLowPrecisionCurvature`) is ``low``'s.

    Parameters
    ----------
    model : Model
        The run's model (float64).
    low : Model
        The same definition built by the same backend with ``dtype=float32``.
    """

    def __init__(self, model: Model, low: Model) -> None:
        if low.n_params != model.n_params:
            raise ValueError(f"the float32 twin has {low.n_params} parameters, the model {model.n_params}")
        self.model = model
        self.low = low

    def __getattr__(self, name: str) -> Any:  # backend extras (supports_curvature, dtype, loss_and_predict, ...)
        return getattr(self.model, name)

    @property
    def n_params(self) -> int:
        """Number of parameters (both models have the same)."""
        return self.model.n_params

    def init_params(self, rng: np.random.Generator) -> Vector:
        """As the full-precision model."""
        return self.model.init_params(rng)

    def loss(self, theta: Vector, batch: Batch) -> float:
        """As the full-precision model."""
        return self.model.loss(theta, batch)

    def loss_and_grad(self, theta: Vector, batch: Batch) -> tuple[float, Vector]:
        """As the full-precision model."""
        return self.model.loss_and_grad(theta, batch)

    def predict(self, theta: Vector, batch: Batch) -> np.ndarray:
        """As the full-precision model."""
        return self.model.predict(theta, batch)

    def curvature(self, theta: Vector, batch: Batch) -> CurvatureProduct:
        """The full-precision model's product."""
        return self.model.curvature(theta, batch)

    def preactivations(self, theta: Vector, batch: Batch) -> tuple[np.ndarray, np.ndarray]:
        """As the full-precision model."""
        return self.model.preactivations(theta, batch)

    def to_numpy(self, v: Vector) -> np.ndarray:
        """As the full-precision model."""
        return self.model.to_numpy(v)

    def from_numpy(self, v: np.ndarray) -> Vector:
        """As the full-precision model."""
        return self.model.from_numpy(v)

    def _down(self, v: Vector) -> Vector:
        # Through host NumPy: the one conversion every backend has. A copy of a parameter vector each way costs
        # far less than the product (a forward-sized R pass and a backward pass over the batch).
        return self.low.from_numpy(self.model.to_numpy(v))

    def _up(self, v: Vector) -> Vector:
        return self.model.from_numpy(self.low.to_numpy(v))

    def low_precision_curvature(self, theta: Vector, batch: Batch) -> CastCurvature:
        """The float32 twin's product at ``theta`` (rounded to float32) on ``batch``, in the model's vectors."""
        return CastCurvature(self.low.curvature(self._down(theta), batch), self._down, self._up)


def float32_curvature(model: Model, theta: Vector, batch: Batch) -> CurvatureProduct:
    """``model``'s low-precision product at ``theta`` on ``batch``.

    Raises
    ------
    TypeError
        If ``model`` has no :class:`~hfcore.interfaces.HasLowPrecisionCurvature` (a model built outside
        :func:`hfcore.build.build_run` without its float32 twin).
    """
    if not isinstance(model, HasLowPrecisionCurvature):
        raise TypeError("hf.float32_gv_above_lambda needs a model with low_precision_curvature "
                        "(hfcore.mixed_precision.MixedPrecisionModel, which build_run makes)")
    return model.low_precision_curvature(theta, batch)

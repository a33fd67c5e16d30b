"""First-order baseline: Adam with bias correction and gradient-norm clipping.

Kingma & Ba (2015), "Adam: A Method for Stochastic Optimization", Algorithm 1, on the gradient of a
fresh batch clipped to norm ``clip_norm`` (Pascanu et al. 2013) before it enters the moments. It is
an :class:`Optimizer` like HF and SGD (``optimizer=adam``), so it trains every model on every task
and backend through the same CLI, counted in the same paper units (gradient evaluations only).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from hfcore.config import AdamConfig
from hfcore.firstorder import FirstOrder
from hfcore.state import OptimizerState
from hfcore.types import Vector


@dataclass(frozen=True)
class AdamState(OptimizerState):
    """Adam's own state: the moment estimates ``m`` and ``v`` and the number ``t`` of steps taken.

    All three start at zero; ``t`` counts the steps that updated the moments (bias correction).
    """

    name: ClassVar[str] = "adam"
    m: Vector
    v: Vector
    t: int


@dataclass(frozen=True)
class Adam(FirstOrder):
    """Adam (Kingma & Ba 2015) with bias correction and norm clipping.

    Parameters
    ----------
    config : AdamConfig
        Its settings (:class:`hfcore.config.AdamConfig`, where the defaults live; a copy is kept):
        ``learning_rate`` ``alpha`` (> 0); ``beta1``, ``beta2`` in [0, 1); ``eps`` (> 0);
        ``clip_norm``: rescale ``g`` to this norm when ``||g||`` exceeds it, 0 disables;
        ``batch_size``: fresh sequences per iteration.

    Notes
    -----
    With ``g`` the clipped gradient and ``t`` counted from 1::

        m <- beta1 m + (1 - beta1) g
        v <- beta2 v + (1 - beta2) g * g
        theta <- theta - alpha * (m / (1 - beta1**t)) / (sqrt(v / (1 - beta2**t)) + eps)

    ``eps`` is added to the root of the bias-corrected second moment, as in the paper's Algorithm 1.
    A non-finite loss or gradient skips the step and leaves ``m``, ``v`` and ``t`` as they were.
    The vectors are the backend's (NumPy arrays or torch tensors): only arithmetic operators are used,
    the elementwise root being ``** 0.5``.
    """

    config: AdamConfig = field(default_factory=AdamConfig)

    def __post_init__(self) -> None:
        self._own_config()

    def _check_own(self, c: AdamConfig) -> None:
        for key in ("beta1", "beta2"):
            if not 0 <= getattr(c, key) < 1:
                raise ValueError(f"optimizer.{key} must be in [0, 1), got {getattr(c, key)}")
        if not c.eps > 0:
            raise ValueError(f"optimizer.eps must be > 0, got {c.eps}")

    def init(self, theta: Vector) -> AdamState:
        """Zero moments, no step taken."""
        return AdamState(m=theta * 0.0, v=theta * 0.0, t=0)

    def _update(self, state: AdamState, theta: Vector, grad: Vector,
                scale: float) -> tuple[Vector, AdamState, Vector]:
        c = self.config
        g = scale * grad if scale != 1.0 else grad
        t = state.t + 1
        m = c.beta1 * state.m + (1.0 - c.beta1) * g
        v = c.beta2 * state.v + (1.0 - c.beta2) * (g * g)
        m_hat = m / (1.0 - c.beta1**t)
        v_hat = v / (1.0 - c.beta2**t)
        step = -c.learning_rate * m_hat / (v_hat**0.5 + c.eps)
        return theta + step, AdamState(m=m, v=v, t=t), step

    def _skip(self, state: AdamState) -> AdamState:
        return state

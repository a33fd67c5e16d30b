"""First-order baseline: SGD with (classical or Nesterov) momentum and gradient-norm clipping.

Pascanu, Mikolov & Bengio (2013), "On the difficulty of training recurrent
neural networks": rescale the gradient to norm ``clip_norm`` when it is
larger, then take a momentum step: classical, or Nesterov's (``optimizer.nesterov=true``,
Sutskever et al. 2013). It is an :class:`Optimizer`
like HF (``optimizer=sgd``), so it runs on every task through the same CLI and is counted in the
same paper units (1000 sequences per minibatch, gradient evaluations only).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from hfcore.config import SGDConfig
from hfcore.firstorder import FirstOrder
from hfcore.state import OptimizerState
from hfcore.types import Vector


@dataclass(frozen=True)
class SGDState(OptimizerState):
    """Momentum SGD's own state: its velocity ``v`` (zero at the start and after a non-finite step)."""

    name: ClassVar[str] = "sgd"
    velocity: Vector


@dataclass(frozen=True)
class MomentumSGD(FirstOrder):
    """SGD with classical or Nesterov momentum and norm clipping.

    Parameters
    ----------
    config : SGDConfig
        Its settings (:class:`hfcore.config.SGDConfig`, where the defaults live; a copy is kept):
        ``learning_rate`` ``eta`` (> 0); ``momentum`` ``mu`` in ``v <- mu v - eta g`` (in [0, 1));
        ``nesterov``: Nesterov's accelerated gradient instead of classical momentum;
        ``clip_norm``: rescale ``g`` to this norm when ``||g||`` exceeds it, 0 disables;
        ``batch_size``: fresh sequences per iteration.

    Notes
    -----
    Classical momentum: ``v <- mu v - eta g(theta)``, ``theta <- theta + v``.

    Nesterov momentum in the form of Sutskever, Martens, Dahl & Hinton (2013), eq. (3)-(4):
    ``v <- mu v - eta g(theta + mu v)``, ``theta <- theta + v``, which takes its gradient at the
    look-ahead point ``theta + mu v``. To need one gradient per step, at the parameters the step
    starts from, the optimiser keeps the look-ahead point ``phi = theta + mu v`` as its parameters
    (Bengio, Boulanger-Lewandowski & Pascanu 2013): ``v' = mu v - eta g(phi)`` and
    ``phi' = theta' + mu v' = phi + mu v' - eta g(phi)``. With ``v = 0`` at the start both agree;
    afterwards the parameters (and the test error) are those of ``phi``, where the next gradient
    is taken. Clipping rescales ``g(phi)``.

    A non-finite loss or gradient skips the step and zeroes the velocity.
    """

    config: SGDConfig = field(default_factory=SGDConfig)

    def __post_init__(self) -> None:
        self._own_config()

    def _check_own(self, c: SGDConfig) -> None:
        if not 0 <= c.momentum < 1:
            raise ValueError(f"optimizer.momentum must be in [0, 1), got {c.momentum}")

    def init(self, theta: Vector) -> SGDState:
        """Zero velocity."""
        return SGDState(velocity=theta * 0.0)

    def _update(self, state: SGDState, theta: Vector, grad: Vector,
                scale: float) -> tuple[Vector, SGDState, Vector]:
        c = self.config
        descent = (c.learning_rate * scale) * grad
        velocity = c.momentum * state.velocity - descent
        step = c.momentum * velocity - descent if c.nesterov else velocity
        return theta + step, SGDState(velocity=velocity), step

    def _skip(self, state: SGDState) -> SGDState:
        return SGDState(velocity=state.velocity * 0.0)

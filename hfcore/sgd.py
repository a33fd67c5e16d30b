"""First-order baseline: SGD with momentum and gradient-norm clipping.

Pascanu, Mikolov & Bengio (2013), "On the difficulty of training recurrent
neural networks": rescale the gradient to norm ``clip_norm`` when it is
larger, then take a classical momentum step. It is an :class:`Optimizer`
like HF (``optimizer=sgd``), so it runs on every task through the same CLI and is counted in the
same paper units (1000 sequences per minibatch, gradient evaluations only).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, replace
from typing import ClassVar

import numpy as np

from hfcore.config import SGDConfig
from hfcore.interfaces import Model, Task
from hfcore.state import OptimizerState
from hfcore.types import Counters, StepInfo, Vector


@dataclass(frozen=True)
class SGDState(OptimizerState):
    """Momentum SGD's own state: its velocity ``v`` (zero at the start and after a non-finite step)."""

    name: ClassVar[str] = "sgd"
    velocity: Vector


@dataclass(frozen=True)
class MomentumSGD:
    """SGD with classical momentum and norm clipping.

    Parameters
    ----------
    config : SGDConfig
        Its settings (:class:`hfcore.config.SGDConfig`, where the defaults live; a copy is kept):
        ``learning_rate`` ``eta`` (> 0); ``momentum`` ``mu`` in ``v <- mu v - eta g`` (in [0, 1));
        ``clip_norm``: rescale ``g`` to this norm when ``||g||`` exceeds it, 0 disables;
        ``batch_size``: fresh sequences per iteration.

    Notes
    -----
    A non-finite loss or gradient skips the step and zeroes the velocity.
    """

    config: SGDConfig = field(default_factory=SGDConfig)
    needs_curvature: ClassVar[bool] = False

    def __post_init__(self) -> None:
        c = replace(self.config)  # our own copy: a schema instance is mutable
        object.__setattr__(self, "config", c)
        if not c.learning_rate > 0:
            raise ValueError(f"optimizer.learning_rate must be > 0, got {c.learning_rate}")
        if not 0 <= c.momentum < 1:
            raise ValueError(f"optimizer.momentum must be in [0, 1), got {c.momentum}")
        if c.clip_norm < 0:
            raise ValueError(f"optimizer.clip_norm must be >= 0, got {c.clip_norm}")
        if c.batch_size < 1:
            raise ValueError(f"optimizer.batch_size must be >= 1, got {c.batch_size}")

    def init(self, theta: Vector) -> SGDState:
        """Zero velocity."""
        return SGDState(velocity=theta * 0.0)

    def batch_sizes(self) -> dict[str, int]:
        """The batch one iteration samples, by config key."""
        return {"optimizer.batch_size": self.config.batch_size}

    def step(self, state: SGDState, theta: Vector, model: Model, task: Task, rng: np.random.Generator,
             iteration: int) -> tuple[Vector, SGDState, StepInfo]:
        """One momentum step on a fresh batch."""
        c = self.config
        start = time.perf_counter()
        batch = task.sample(rng, c.batch_size)
        loss, grad = model.loss_and_grad(theta, batch)
        loss = float(loss)
        norm = math.sqrt(float(grad @ grad))
        finite = math.isfinite(loss) and math.isfinite(norm)
        if finite:
            scale = c.clip_norm / norm if 0 < c.clip_norm < norm else 1.0
            velocity = c.momentum * state.velocity - (c.learning_rate * scale) * grad
            theta = theta + velocity
            step_norm = math.sqrt(float(velocity @ velocity))
        else:
            velocity, step_norm = state.velocity * 0.0, 0.0
        info = StepInfo(
            iteration=iteration, train_loss=loss, new_train_loss=loss, lam=float("nan"), rho=float("nan"),
            cg_iterations=0, cg_reason="none", backtrack_index=-1, step_size=c.learning_rate,
            delta_norm=step_norm, accepted=finite, nonfinite=not finite, wall_time=time.perf_counter() - start,
            counters=Counters(gradient_evals=1, sequences_gradient=batch.size),
        )
        return theta, SGDState(velocity=velocity), info

"""What the first-order optimisers (``optimizer=sgd``, ``optimizer=adam``) share.

Each step draws ``batch_size`` fresh sequences from the run's data stream, takes the loss and
gradient there, rescales the gradient to norm ``clip_norm`` when it is larger (Pascanu, Mikolov &
Bengio 2013; 0 disables), and hands it to the optimiser's own update rule. A non-finite loss or
gradient skips the step (the optimiser decides what its state becomes). The step is reported
in the same :class:`~hfcore.types.StepInfo` as an HF iteration, with HF's columns (lambda, rho,
CG) left empty, and counted in the same paper units (gradient evaluations only).
"""

from __future__ import annotations

import math
import time
from dataclasses import replace
from typing import Any, ClassVar

import numpy as np

from hfcore.interfaces import Model, Task
from hfcore.state import OptimizerState
from hfcore.types import Counters, StepInfo, Vector


class FirstOrder:
    """Base of the first-order optimisers: batch draw, clipping, validation and the :class:`StepInfo`.

    A subclass is a frozen dataclass with a ``config`` field whose schema has ``learning_rate``,
    ``clip_norm`` and ``batch_size``; it calls :meth:`_own_config` from ``__post_init__`` and
    implements :meth:`init`, :meth:`_update` and :meth:`_skip`.
    """

    config: Any
    needs_curvature: ClassVar[bool] = False

    def _own_config(self) -> None:
        """Keep our own copy of the config (a schema instance is mutable) and check it.

        Raises
        ------
        ValueError
            Naming the first bad key: ``learning_rate`` <= 0, then the optimiser's own keys
            (:meth:`_check_own`), then ``clip_norm`` < 0 or ``batch_size`` < 1.
        """
        c = replace(self.config)
        object.__setattr__(self, "config", c)
        if not c.learning_rate > 0:
            raise ValueError(f"optimizer.learning_rate must be > 0, got {c.learning_rate}")
        self._check_own(c)
        if c.clip_norm < 0:
            raise ValueError(f"optimizer.clip_norm must be >= 0, got {c.clip_norm}")
        if c.batch_size < 1:
            raise ValueError(f"optimizer.batch_size must be >= 1, got {c.batch_size}")

    def _check_own(self, c: Any) -> None:
        """Check the optimiser's own keys (raise ``ValueError`` naming the key); none by default."""

    def batch_sizes(self) -> dict[str, int]:
        """The batch one iteration samples, by config key."""
        return {"optimizer.batch_size": self.config.batch_size}

    def init(self, theta: Vector) -> OptimizerState:  # pragma: no cover - every subclass defines it
        """The state before the first step."""
        raise NotImplementedError

    def _update(self, state: Any, theta: Vector, grad: Vector,
                scale: float) -> tuple[Vector, OptimizerState, Vector]:
        """The new parameters, the new state and the step taken, from the gradient ``grad`` and its clip
        factor ``scale`` (1.0 when unclipped; the clipped gradient is ``scale * grad``)."""
        raise NotImplementedError  # pragma: no cover

    def _skip(self, state: Any) -> OptimizerState:
        """The state after a step skipped for a non-finite loss or gradient."""
        raise NotImplementedError  # pragma: no cover

    def step(self, state: OptimizerState, theta: Vector, model: Model, task: Task, rng: np.random.Generator,
             iteration: int) -> tuple[Vector, OptimizerState, StepInfo]:
        """One step on a fresh batch: gradient, clipping, the subclass's update, the report."""
        c = self.config
        start = time.perf_counter()
        batch = task.sample(rng, c.batch_size)
        loss, grad = model.loss_and_grad(theta, batch)
        loss = float(loss)
        norm = math.sqrt(float(grad @ grad))
        finite = math.isfinite(loss) and math.isfinite(norm)
        if finite:
            scale = c.clip_norm / norm if 0 < c.clip_norm < norm else 1.0
            theta, state, taken = self._update(state, theta, grad, scale)
            step_norm = math.sqrt(float(taken @ taken))
        else:
            state, step_norm = self._skip(state), 0.0
        info = StepInfo(
            iteration=iteration, train_loss=loss, new_train_loss=loss, lam=float("nan"), rho=float("nan"),
            cg_iterations=0, cg_reason="none", backtrack_index=-1, step_size=c.learning_rate,
            delta_norm=step_norm, accepted=finite, nonfinite=not finite, wall_time=time.perf_counter() - start,
            counters=Counters(gradient_evals=1, sequences_gradient=batch.size),
        )
        return theta, state, info

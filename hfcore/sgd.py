"""First-order baseline: SGD with momentum and gradient-norm clipping.

Pascanu, Mikolov & Bengio (2013), "On the difficulty of training recurrent
neural networks": rescale the gradient to norm ``clip_norm`` when it is
larger, then take a classical momentum step. It is an :class:`Optimizer`
like HF, so it runs on every task through the same CLI and is counted in the
same paper units (1000 sequences per minibatch, gradient evaluations only).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from hfcore.interfaces import Model, Task
from hfcore.state import RunState
from hfcore.types import StepInfo


@dataclass(frozen=True)
class MomentumSGD:
    """SGD with classical momentum and norm clipping.

    Parameters
    ----------
    learning_rate : float
        Step size ``eta`` (> 0).
    momentum : float
        ``mu`` in ``v <- mu v - eta g`` (in [0, 1)).
    clip_norm : float
        Rescale ``g`` to this norm when ``||g||`` exceeds it; 0 disables.
    batch_size : int
        Fresh sequences per iteration.

    Notes
    -----
    The velocity is carried in ``RunState.warm_start`` (for HF that slot holds
    CG's warm start), so checkpoints and resume need nothing new. A non-finite
    loss or gradient skips the step and zeroes the velocity.
    """

    learning_rate: float = 0.01
    momentum: float = 0.9
    clip_norm: float = 1.0
    batch_size: int = 100

    def __post_init__(self) -> None:
        if not self.learning_rate > 0:
            raise ValueError(f"solver.learning_rate must be > 0, got {self.learning_rate}")
        if not 0 <= self.momentum < 1:
            raise ValueError(f"solver.momentum must be in [0, 1), got {self.momentum}")
        if self.clip_norm < 0:
            raise ValueError(f"solver.clip_norm must be >= 0, got {self.clip_norm}")
        if self.batch_size < 1:
            raise ValueError(f"solver.batch_size must be >= 1, got {self.batch_size}")

    def step(self, state: RunState, model: Model, task: Task) -> tuple[RunState, StepInfo]:
        """One momentum step on a fresh batch."""
        start = time.perf_counter()
        rng = state.data_generator()
        batch = task.sample(rng, self.batch_size)
        loss, grad = model.loss_and_grad(state.theta, batch)
        loss = float(loss)
        counters = state.counters.add(gradient_evals=1, sequences_gradient=batch.size)
        norm = math.sqrt(float(grad @ grad))
        finite = math.isfinite(loss) and math.isfinite(norm)
        if finite:
            scale = self.clip_norm / norm if 0 < self.clip_norm < norm else 1.0
            velocity = self.momentum * state.warm_start - (self.learning_rate * scale) * grad
            theta = state.theta + velocity
            step_norm = math.sqrt(float(velocity @ velocity))
        else:
            velocity, theta, step_norm = state.warm_start * 0.0, state.theta, 0.0
        wall = time.perf_counter() - start
        new_state = state.evolve(
            iteration=state.iteration + 1, theta=theta, warm_start=velocity, data_rng=rng.bit_generator.state,
            counters=counters, elapsed=state.elapsed + wall,
        )
        info = StepInfo(
            iteration=new_state.iteration, train_loss=loss, new_train_loss=loss, lam=state.lam, rho=float("nan"),
            cg_iterations=0, cg_reason="none", backtrack_index=-1, step_size=self.learning_rate,
            delta_norm=step_norm, accepted=finite, nonfinite=not finite, wall_time=wall, counters=counters,
        )
        return new_state, info

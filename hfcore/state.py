"""The run state: everything needed to continue a run exactly.

:class:`RunState` is what the training loop owns (parameters, data stream, counters, clocks);
the optimiser's own state is one opaque field of it, an :class:`OptimizerState` that each
optimiser defines for itself (optax's shape: ``init(theta) -> state``, ``step(state, ...)``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from typing import Any, ClassVar

import numpy as np

from hfcore.types import Counters, Vector

Scalar = bool | int | float


@dataclass(frozen=True)
class OptimizerState:
    """Base of every optimiser's state: a frozen dataclass whose fields are vectors or scalars.

    A subclass sets the class attribute ``name`` (the optimiser's, e.g. ``"hf"``); defining it
    registers the type, so a checkpoint (which stores the name, the vectors and the scalars) is
    read back into the same type by :meth:`restore`. Fields holding a Python ``bool``, ``int``
    or ``float`` are scalars; every other field is a parameter-shaped vector.
    """

    name: ClassVar[str] = ""
    _types: ClassVar[dict[str, type[OptimizerState]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.__dict__.get("name"):
            OptimizerState._types[cls.name] = cls

    def arrays(self) -> dict[str, Vector]:
        """The vector fields, by name."""
        return {f.name: v for f in fields(self) if not isinstance(v := getattr(self, f.name), Scalar)}

    def scalars(self) -> dict[str, Scalar]:
        """The scalar fields, by name."""
        return {f.name: v for f in fields(self) if isinstance(v := getattr(self, f.name), Scalar)}

    def map_arrays(self, convert: Callable[[Vector], Vector]) -> OptimizerState:
        """A copy with ``convert`` applied to every vector (e.g. a backend's ``from_numpy``)."""
        return replace(self, **{k: convert(v) for k, v in self.arrays().items()})

    @staticmethod
    def restore(name: str, arrays: dict[str, Vector], scalars: dict[str, Scalar]) -> OptimizerState:
        """The state of optimiser ``name`` from its vectors and scalars.

        Raises
        ------
        KeyError
            If no loaded module defines a state type of that name.
        """
        return OptimizerState._types[name](**arrays, **scalars)


@dataclass(frozen=True)
class RunState:
    """A plain value holding the whole state of a run.

    Parameters
    ----------
    iteration : int
        Iterations completed.
    theta : Vector
        Current parameters.
    optimizer : OptimizerState
        The optimiser's own state (HF: lambda and CG's warm start; SGD: its velocity), opaque to
        the loop.
    data_rng : dict
        ``numpy.random.Generator.bit_generator.state`` of the training-data
        stream. Parameter initialisation uses its own stream, spent before
        iteration 0; the test set has a fixed seed in the task config.
    counters : Counters
        Compute spent so far.
    elapsed : float
        Wall-clock seconds spent in iterations so far (across resumes).
    cpu_seconds : float
        CPU seconds this process (all its threads) spent in iterations and
        test evaluations so far (across resumes). On a shared machine it
        measures the work done, where ``elapsed`` also counts waiting.
    test_error : float
        Test error at the last evaluation (NaN before the first).
    solved : bool
        Whether the task's success criterion has been met.
    """

    iteration: int
    theta: Vector
    optimizer: OptimizerState
    data_rng: dict
    counters: Counters = field(default_factory=Counters)
    elapsed: float = 0.0
    cpu_seconds: float = 0.0
    test_error: float = float("nan")
    solved: bool = False

    def data_generator(self) -> np.random.Generator:
        """A generator positioned exactly at the saved data-stream state."""
        bit_generator = getattr(np.random, self.data_rng["bit_generator"])()
        bit_generator.state = self.data_rng
        return np.random.Generator(bit_generator)

    def map_vectors(self, convert: Callable[[Vector], Vector]) -> RunState:
        """A copy with ``convert`` applied to ``theta`` and the optimiser's vectors (host/device moves)."""
        return replace(self, theta=convert(self.theta), optimizer=self.optimizer.map_arrays(convert))

    def evolve(self, **changes: Any) -> RunState:
        """A copy with ``changes`` applied."""
        return replace(self, **changes)


def seed_streams(seed: int) -> tuple[np.random.Generator, np.random.Generator]:
    """Independent (init, data) generators derived from one integer seed."""
    init_seq, data_seq = np.random.SeedSequence(seed).spawn(2)
    return np.random.default_rng(init_seq), np.random.default_rng(data_seq)

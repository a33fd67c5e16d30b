"""The XOR problem of Martens & Sutskever (2011, sec. 4.1, problem 3) as an hfcore task.

Not an HS97 experiment (MS11 cites HS97 sec. 5.6 only for its difficulty) and
not in P13, so the only variant is the release form, ``ms2011`` (algorithm
notes sec. 9b "XOR"): the addition generator with fair bits as values, at
**half** the length:

- target step ``T' ~ randint(f(50), f(55))`` with ``f(x) = int(x T / 100)``
  (widened to ``{f(50)}`` where that range is empty, e.g. ``T = 10``, where
  the release's ``randint`` would raise); the sequence has ``T' + 1`` steps,
  so lengths run ``f(50) + 1 .. f(55)``;
- ``I ~ randint(f(1), f(10))``, ``J ~ randint(f(15), f(25))``;
- inputs (bit, marker); marker ``-1`` at step 0 and at the end signal ``T'-3``,
  ``+1`` at ``I`` and ``J`` (shared with addition,
  :func:`hfcore_tasks._marked.draw_ms2011`);
- target ``A xor B`` at step ``T'``; logistic output with cross-entropy.

The release scores ``sign(s) != [y > 0.5]`` on the pre-activation ``s``. The
model's ``predict`` returns ``g(s) = sigmoid(s)``, so the same rule reads
``[p > 0.5] != [y > 0.5]`` (``s > 0`` iff ``p > 0.5``); non-finite outputs
count as wrong. Success: IS11's test zero-one rate below ``success_threshold``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from hfcore.config import TaskConfig
from hfcore.kit.tasks import SequenceTask
from hfcore.types import Batch, ModelSpec
from hfcore_tasks._common import end_target_batch, randint_range, scale
from hfcore_tasks._marked import MIN_T, bits, draw_ms2011, validate

SPECS = ("ms2011",)
"""Known generator variants (``XorConfig.spec``)."""

__all__ = ["MIN_T", "SPECS", "XorConfig", "XorTask", "make_xor"]


@dataclass
class XorConfig(TaskConfig):
    """Config schema of the XOR task.

    Parameters
    ----------
    name : str
        Registry name, ``"xor"``.
    T : int
        Nominal length, >= 10; real lengths are about ``T/2`` (see module docstring).
    spec : str
        ``"ms2011"`` only.
    test_size, test_seed, success_threshold
        Inherited from :class:`hfcore.config.TaskConfig`.
    """

    name: str = "xor"
    T: int = 30
    spec: str = "ms2011"


class XorTask(SequenceTask):
    """XOR of two marked bits in a sequence of random bits.

    Parameters
    ----------
    T : int
        Nominal length, at least :data:`MIN_T`.
    variant : str
        ``"ms2011"``.
    test_size, test_seed, success_threshold
        As for :class:`hfcore_tasks.addition.AdditionTask`.

    Attributes
    ----------
    spec : ModelSpec
        2 inputs, 1 output, ``"logistic"`` (cross-entropy).
    default_lambda0 : float
        0.01 (IS11, notes sec. 6).
    """

    name: str = "xor"

    def __init__(
        self,
        T: int = 30,
        variant: str = "ms2011",
        test_size: int = 10000,
        test_seed: int = 12345,
        success_threshold: float = 0.001,
    ) -> None:
        validate(self.name, T, variant, SPECS, test_size, success_threshold)
        super().__init__(T, variant, test_size, test_seed, success_threshold)
        self.spec = ModelSpec(n_in=2, n_out=1, output="logistic")
        self._lambda0 = 0.01
        # Target step T' ~ randint(f(50), f(55)); sequences have T' + 1 steps (the release's M[T'] = 1).
        self._ends = randint_range(scale(50, self.T), scale(55, self.T))
        self._len = (self._ends[0] + 1, self._ends[1] + 1)
        self.max_length = self._len[1] - 1

    @property
    def length_range(self) -> tuple[int, int]:
        """Inclusive ``(min, max)`` of the real sequence lengths."""
        return self._len[0], self._len[1] - 1

    def marker_ranges(self) -> tuple[tuple[int, int], tuple[int, int]]:
        """Inclusive ranges ``((I_min, I_max), (J_min, J_max))`` of the marked steps."""
        T = self.T
        return (scale(1, T), scale(10, T) - 1), (scale(15, T), scale(25, T) - 1)

    def _sample(self, rng: np.random.Generator, n: int) -> Batch:
        T = self.T
        d = draw_ms2011(rng, n, self.max_length, self._ends, (scale(1, T), scale(10, T)),
                        (scale(15, T), scale(25, T)), bits)
        a, b = d.marked()
        target = np.logical_xor(a > 0.5, b > 0.5).astype(np.float64)
        return end_target_batch(np.stack([d.values, d.marker], axis=-1), target, d.lengths)

    def _wrong(self, outputs: np.ndarray, batch: Batch) -> np.ndarray:
        # IS11 zero_one_loss_sigm on g(s): p > 0.5 iff s > 0. NaN compares False, so flag it explicitly.
        bad = ~np.all(np.isfinite(outputs), axis=-1)
        return np.any((outputs > 0.5) != (batch.targets > 0.5), axis=-1) | bad


def make_xor(cfg: XorConfig | Any) -> XorTask:
    """Build an :class:`XorTask` from its config (dataclass or OmegaConf node).

    Raises
    ------
    ValueError
        If ``T < 10``, ``spec`` is not ``"ms2011"``, ``test_size < 1`` or
        ``success_threshold`` is outside (0, 1].
    """
    return XorTask(
        T=cfg.T,
        variant=cfg.spec,
        test_size=cfg.test_size,
        test_seed=cfg.test_seed,
        success_threshold=cfg.success_threshold,
    )

"""The multiplication problem (Hochreiter & Schmidhuber 1997, Exp. 5) as an hfcore task.

"Precisely analogous to the addition problem except for the different
operation" (MS11 sec. 4.1). Marker placement, lengths, inputs and the error rule
are those of :mod:`hfcore_tasks.addition` (shared in :mod:`hfcore_tasks._marked`);
only the values and the target differ:

``ms2011`` (default, notes sec. 9b "Mult")
    values ``~U[0, 1]``, target ``A * B``.
``hs1997`` (notes sec. 9a, HS97 Exp. 5)
    values ``~U[0, 1]``; ``X1 = 1.0`` when the very first pair is marked (set
    in the input too); target ``X1 * X2``.
``pascanu2013`` (notes sec. 9c)
    P13 inputs (marker, value); target ``a * b``; wrong when the *squared*
    error exceeds ``tolerance``.

Linear output with half squared error; ``|y_hat - y| > 0.04`` counts as wrong
(``(y_hat - y)^2 > 0.04`` for P13). Success: IS11's test zero-one rate below
``success_threshold`` (0.001). HS97's own stopping rule was on training
sequences (fewer than 140 or 13 of the last 2000 wrong, i.e. a rate of 0.07 or
0.0065); set ``success_threshold`` to those to mimic it on the test set.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from hfcore.config import TaskConfig
from hfcore_tasks._marked import MIN_T, MarkedPairTask, uniform01

SPECS = MarkedPairTask.SPECS
"""Known generator variants (``MultiplicationConfig.spec``)."""

__all__ = ["MIN_T", "SPECS", "MultiplicationConfig", "MultiplicationTask", "make_multiplication"]


@dataclass
class MultiplicationConfig(TaskConfig):
    """Config schema of the multiplication task.

    Parameters
    ----------
    name : str
        Registry name, ``"multiplication"``.
    T : int
        Nominal sequence length, >= 10; lengths as for addition.
    spec : str
        Generator variant, one of :data:`SPECS`.
    tolerance : float
        Per-target threshold on ``|y_hat - y|`` (on the squared error for
        ``pascanu2013``); 0.04 in all three papers.
    test_size, test_seed, success_threshold
        Inherited from :class:`hfcore.config.TaskConfig`.
    """

    name: str = "multiplication"
    T: int = 30
    spec: str = "ms2011"
    tolerance: float = 0.04


class MultiplicationTask(MarkedPairTask):
    """Multiplication problem: output the product of two marked values at the end.

    Parameters
    ----------
    T, variant, tolerance, test_size, test_seed, success_threshold
        As for :class:`hfcore_tasks.addition.AdditionTask`.

    Attributes
    ----------
    name : str
        ``"multiplication"``.
    spec : ModelSpec
        2 inputs, 1 output, ``"linear"``.
    default_lambda0 : float
        0.01 (IS11, notes sec. 6).
    """

    name: str = "multiplication"
    hs1997_values = staticmethod(uniform01)  # HS97 Exp. 5: values ~U[0, 1]
    hs1997_first_value = 1.0  # HS97 Exp. 5: X1 := 1.0 when the first pair is marked

    def _target(self, x1: np.ndarray, x2: np.ndarray) -> np.ndarray:
        return x1 * x2


def make_multiplication(cfg: MultiplicationConfig | Any) -> MultiplicationTask:
    """Build a :class:`MultiplicationTask` from its config (dataclass or OmegaConf node).

    Raises
    ------
    ValueError
        If ``T < 10``, ``spec`` is unknown, ``test_size < 1``,
        ``tolerance <= 0`` or ``success_threshold`` is outside (0, 1].
    """
    return MultiplicationTask(
        T=cfg.T,
        variant=cfg.spec,
        tolerance=getattr(cfg, "tolerance", 0.04),
        test_size=cfg.test_size,
        test_seed=cfg.test_seed,
        success_threshold=cfg.success_threshold,
    )

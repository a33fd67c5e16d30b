"""The addition problem (Hochreiter & Schmidhuber 1997, Exp. 4) as an hfcore task.

Three generators are provided, chosen by ``AdditionConfig.spec``:

``ms2011`` (default)
    The form of Sutskever's 2011 HF-RNN release used for Martens & Sutskever
    (2011), algorithm notes sec. 9b ("Add").
``hs1997``
    The original of Hochreiter & Schmidhuber (1997), Exp. 4, notes sec. 9a
    ("Adding").
``pascanu2013``
    The form of Pascanu, Mikolov & Bengio (2013), notes sec. 9c.

All give a 2-d input (value and marker) per step, one scalar target at the
last real step of each sequence and a linear output with half squared error. A
target counts as wrong when ``|y_hat - y| > tolerance`` (``ms2011``,
``hs1997``) or ``(y_hat - y)^2 > tolerance`` (``pascanu2013``), 0.04 in all
three papers; the task is solved when fewer than ``success_threshold`` of the
fixed test targets are wrong (IS11 criterion, notes sec. 9b; P13 asks for zero
wrong, i.e. ``success_threshold`` = :data:`~hfcore_tasks._common.P13_SUCCESS_THRESHOLD`).
Marker placement is shared with multiplication and XOR (:mod:`hfcore_tasks._marked`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from hfcore.config import TaskConfig
from hfcore_tasks._marked import MIN_T, MarkedPairTask, uniform11

SPECS = MarkedPairTask.SPECS
"""Known generator variants (``AdditionConfig.spec``)."""

__all__ = ["MIN_T", "SPECS", "AdditionConfig", "AdditionTask", "make_addition"]


@dataclass
class AdditionConfig(TaskConfig):
    """Config schema of the addition task.

    Parameters
    ----------
    name : str
        Registry name, ``"addition"``.
    T : int
        Nominal sequence length (real lengths are drawn in
        ``[T + 1, 1.1 T]`` for ``ms2011``, ``[T, T + T//10]`` for ``hs1997`` and
        ``[T, T + T//10)`` for ``pascanu2013``).
    spec : str
        Generator variant, one of :data:`SPECS`.
    tolerance : float
        A target is wrong when ``|y_hat - y| > tolerance`` (squared error for
        ``pascanu2013``).
    test_size, test_seed, success_threshold
        Inherited from :class:`hfcore.config.TaskConfig`.
    """

    name: str = "addition"
    T: int = 30
    spec: str = "ms2011"
    tolerance: float = 0.04


class AdditionTask(MarkedPairTask):
    """Addition problem: output the sum of two marked values at the end.

    Parameters
    ----------
    T : int
        Nominal length, at least :data:`MIN_T`.
    variant : str
        ``"ms2011"``, ``"hs1997"`` or ``"pascanu2013"`` (see module docstring).
    tolerance : float
        Per-target error threshold, > 0.
    test_size : int
        Number of fixed test sequences, >= 1.
    test_seed : int
        Seed of the fixed test set (``np.random.default_rng(test_seed)``).
    success_threshold : float
        Solved when the test error rate is below this, in (0, 1].

    Attributes
    ----------
    name : str
        ``"addition"``.
    spec : ModelSpec
        2 inputs, 1 output, ``"linear"`` output with half squared error.
    variant : str
        The generator variant (called ``spec`` in the config; renamed here
        because the :class:`hfcore.interfaces.Task` protocol reserves ``spec``
        for the :class:`~hfcore.types.ModelSpec`).
    max_length : int
        Array length ``T_max`` of every batch (the longest possible sequence).
    default_lambda0 : float
        0.01 (IS11: ``0.01 * num_outputs``, notes sec. 6).

    Notes
    -----
    ``ms2011`` (notes sec. 9b, IS11 ``pathological.py``), with
    ``f(x) = int(x T / 100)`` and ``randint(a, b)`` an integer in ``[a, b-1]``:

    - target step ``T' ~ randint(T, int(1.1 T))``, computed as ``(11 T) // 10``;
      the upper end is raised to ``T + 1`` should the range be empty (only for
      ``T < 10``, which validation rejects), so ``T' >= T``. At ``T = 10`` the
      range is ``{10}``. As in the release (``M[T'] = 1`` in arrays of
      ``int(1.1 T)`` steps) the sequence has ``T' + 1`` steps, so lengths run
      ``T + 1 .. 1.1 T`` and :attr:`max_length` is ``int(1.1 T)``;
    - ``I ~ randint(f(1), f(10))``, ``J ~ randint(f(10), f(50))``. For ``T >= 10``
      both ranges are non-empty and ``I < f(10) <= J``, so ``I != J`` always
      (no rejection step is needed);
    - channel 0: value ``~U[0, 1]`` at every real step; channel 1 (marker):
      ``-1`` at step 0 and at the end signal ``T'-3``, ``+1`` at steps ``I``
      and ``J``. ``+1`` is written after the step-0 ``-1``, so it wins where
      ``I = 0``. ``J <= T/2 - 1 < T' - 3`` for ``T >= 10``, so ``J`` never
      meets the end signal;
    - target ``A + B`` (the two marked values, unscaled) at step ``T'`` (the
      last real step), three steps after the end signal.

    ``hs1997`` (notes sec. 9a, HS97 Exp. 4):

    - length ``L`` uniform in ``[T, T + T//10]`` (inclusive);
    - first mark ``p1`` uniform among steps ``0..9``; if ``p1 = 0`` its value
      ``X1`` is set to 0 *in the input as well*, so the target stays readable
      from the inputs;
    - second mark uniform among the first ``T//2 - 1`` steps that are not
      ``p1`` (draw ``k`` in ``[0, T//2 - 1)``, then step ``k + (k >= p1)``);
    - values ``~U[-1, 1]``; marker ``-1`` on the first and last steps, written
      before the ``+1`` marks so that the marks win on collision (possible at
      step 0, and at step ``L-1 = 9`` when ``T = 10``);
    - target ``0.5 + (X1 + X2) / 4`` at step ``L-1``.

    ``pascanu2013`` (notes sec. 9c, P13 ``addition.py``): channel 0 marker
    (0/1), channel 1 value ``~U[0, 1]``; ``L = T + randint(T//10)`` per
    sequence; ``p0 ~ randint(L//10)``, ``p1 = L//10 + randint((4 L)//10)``;
    target ``(X1 + X2) / 2``; wrong when the squared error exceeds
    ``tolerance``.

    Padding steps (at or beyond a sequence's length) are zero in inputs,
    targets and mask. The random stream consumed per batch does not depend on
    the drawn lengths (values are drawn for all ``T_max`` steps, then zeroed),
    so batches are reproducible from the generator state alone.
    """

    name: str = "addition"
    hs1997_values = staticmethod(uniform11)  # HS97 Exp. 4: values ~U[-1, 1]
    hs1997_first_value = 0.0  # HS97 Exp. 4: X1 := 0 when the first pair is marked

    def _target(self, x1: np.ndarray, x2: np.ndarray) -> np.ndarray:
        if self.variant == "hs1997":
            return 0.5 + (x1 + x2) / 4.0
        if self.variant == "pascanu2013":
            return (x1 + x2) / 2.0
        return x1 + x2


def make_addition(cfg: AdditionConfig | Any) -> AdditionTask:
    """Build an :class:`AdditionTask` from its config (dataclass or OmegaConf node).

    Parameters
    ----------
    cfg : AdditionConfig or DictConfig
        Needs ``T``, ``spec``, ``tolerance``, ``test_size``, ``test_seed`` and
        ``success_threshold``; a missing ``tolerance`` falls back to 0.04.

    Returns
    -------
    AdditionTask

    Raises
    ------
    ValueError
        If ``T < 10``, ``spec`` is unknown, ``test_size < 1``,
        ``tolerance <= 0`` or ``success_threshold`` is outside (0, 1].
    """
    return AdditionTask(
        T=cfg.T,
        variant=cfg.spec,
        tolerance=getattr(cfg, "tolerance", 0.04),
        test_size=cfg.test_size,
        test_seed=cfg.test_seed,
        success_threshold=cfg.success_threshold,
    )

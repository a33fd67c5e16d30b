"""The random permutation problem (HS97 task 2b; MS11 problem 6) as an hfcore task.

The first symbol of a sequence is one of two "key" symbols; the remaining
steps are random distractors; the network predicts the next symbol at every
step, and only the last prediction (the key again) is learnable. Despite the
name the distractors are drawn independently, not as a permutation (IS11's
docstring says so too).

Variants (``spec``)
-------------------
``ms2011`` (default; IS11 ``perm_mem``, algorithm notes sec. 9b)
    ``symbols``-d one-hot input and output (100 in the release); fixed length
    ``T``; step 0 is the key ``a`` in ``{0, 1}``, steps ``1..T-1`` uniform over
    ``{2, ..., symbols-1}``. Target at every step: the next input symbol, and at
    the last step the key. All ``T`` steps carry loss (softmax, cross-entropy),
    but only the last step counts for the error (arg-max wrong). Keys are
    balanced by batch index as in the release (sequence ``b`` has key
    ``b mod 2``; deterministic, independent of the batch size).
``hs1997`` (HS97 2b, notes sec. 9a)
    ``p + 1`` symbols with ``p = T``: keys x = 0 and y = 1, distractors
    ``a_1..a_{p-1}`` = ``2..T``; the input is ``(key, a_i1, ..., a_i(p-1))`` and
    the targets are the next symbols, the last one the key (the sequence
    ``(key, ..., key)`` of length ``p + 1`` shifted by one). ``symbols`` is
    ignored: the alphabet grows with ``T`` as in HS97. Keys drawn at random.
    HS97 used sigmoid output units: ``logistic`` output; a sequence is correct
    when the absolute error of **every** output unit is below 0.25 at the end.
``pascanu2013`` (P13 ``permutation.py``, notes sec. 9c)
    As ``ms2011`` but the key is drawn at random and the only target (and the
    only loss) is the key at the last step. P13 counts the task solved at
    zero test errors.

``default_lambda0`` is IS11's ``0.01 * T`` (its ``num_outputs = T``, notes sec. 6).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from hfcore.config import TaskConfig
from hfcore.kit.tasks import SequenceTask, argmax_wrong, check_common, check_int, check_spec, check_T
from hfcore.types import Batch, ModelSpec
from hfcore_tasks._common import balanced_classes, last_step_mask, one_hot

SPECS = ("ms2011", "hs1997", "pascanu2013")
"""Known generator variants (``RandomPermutationConfig.spec``)."""

MIN_T = 2
"""Smallest supported ``T``: at least one distractor step between the key and its recall."""

HS97_TOLERANCE = 0.25
"""HS97 2b: correct when the maximal absolute output error at the sequence end is below this."""


@dataclass
class RandomPermutationConfig(TaskConfig):
    """Config schema of the random permutation task.

    Parameters
    ----------
    name : str
        Registry name, ``"random_permutation"``.
    T : int
        Sequence length (fixed), >= 2.
    spec : str
        Generator variant, one of :data:`SPECS`.
    symbols : int
        Alphabet size of ``ms2011`` / ``pascanu2013`` (100 in both releases),
        >= 3; ``hs1997`` uses ``T + 1``.
    test_size, test_seed, success_threshold
        Inherited from :class:`hfcore.config.TaskConfig`.
    """

    name: str = "random_permutation"
    T: int = 30
    spec: str = "ms2011"
    symbols: int = 100


class RandomPermutationTask(SequenceTask):
    """Recall the first of ``T`` random symbols at the last step.

    Parameters
    ----------
    T : int
        Sequence length, at least :data:`MIN_T`.
    variant : str
        One of :data:`SPECS`.
    symbols : int
        Alphabet size (``ms2011``, ``pascanu2013``), >= 3.
    test_size, test_seed, success_threshold
        As for :class:`hfcore_tasks.addition.AdditionTask`.

    Attributes
    ----------
    spec : ModelSpec
        ``n_in = n_out = symbols`` (``T + 1`` for ``hs1997``); ``"softmax"``
        (``"logistic"`` for ``hs1997``).
    n_symbols : int
        The alphabet size in use.
    default_lambda0 : float
        ``0.01 * T`` (IS11, notes sec. 6).
    """

    name: str = "random_permutation"
    _repr_fields = ("n_symbols",)

    def __init__(
        self,
        T: int = 30,
        variant: str = "ms2011",
        symbols: int = 100,
        test_size: int = 10000,
        test_seed: int = 12345,
        success_threshold: float = 0.001,
    ) -> None:
        check_T(self.name, T, MIN_T, "at least one distractor must separate the key from its recall")
        check_spec(self.name, variant, SPECS)
        check_int(self.name, "symbols", symbols, 3)
        check_common(self.name, test_size, success_threshold)
        super().__init__(T, variant, test_size, test_seed, success_threshold)
        self.n_symbols = self.T + 1 if self.variant == "hs1997" else int(symbols)
        output = "logistic" if self.variant == "hs1997" else "softmax"
        self.spec = ModelSpec(n_in=self.n_symbols, n_out=self.n_symbols, output=output)
        self.max_length = self.T
        self._lambda0 = 0.01 * self.T

    def _sample(self, rng: np.random.Generator, n: int) -> Batch:
        T = self.T
        # Draw order: key (unless balanced), distractors.
        key = balanced_classes(n, 2) if self.variant == "ms2011" else rng.integers(0, 2, size=n)
        seq = np.empty((T + 1, n), dtype=np.int64)
        seq[0] = key
        seq[1:T] = rng.integers(2, self.n_symbols, size=(T - 1, n))
        seq[T] = key  # the symbol after the last input: the key again
        inputs = one_hot(seq[:T], self.n_symbols)
        targets = one_hot(seq[1:], self.n_symbols)  # next-symbol prediction at every step
        lengths = np.full(n, T, dtype=np.int64)
        mask = np.ones((T, n))
        if self.variant == "pascanu2013":  # P13: the key at the last step is the only target
            targets[: T - 1] = 0.0
            mask[: T - 1] = 0.0
        return Batch(inputs=inputs, targets=targets, mask=mask, lengths=lengths)

    def _scored(self, batch: Batch) -> np.ndarray:
        """Only the last step counts for the error (IS11 ``zero_one_loss_softmax_last``, HS97, P13)."""
        return last_step_mask(batch) & (np.asarray(batch.mask) > 0)

    def _wrong(self, outputs: np.ndarray, batch: Batch) -> np.ndarray:
        if self.variant == "hs1997":
            return ~np.all(np.abs(outputs - batch.targets) < HS97_TOLERANCE, axis=-1)
        return argmax_wrong(outputs, batch.targets)


def make_random_permutation(cfg: RandomPermutationConfig | Any) -> RandomPermutationTask:
    """Build a :class:`RandomPermutationTask` from its config (dataclass or OmegaConf node).

    Raises
    ------
    ValueError
        If ``T < 2``, ``spec`` is unknown, ``symbols < 3``, ``test_size < 1`` or
        ``success_threshold`` is outside (0, 1].
    """
    return RandomPermutationTask(T=cfg.T, variant=cfg.spec, symbols=getattr(cfg, "symbols", 100),
                                 test_size=cfg.test_size, test_seed=cfg.test_seed,
                                 success_threshold=cfg.success_threshold)

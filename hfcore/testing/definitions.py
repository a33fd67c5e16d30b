"""Conformance checks of a :class:`hfcore.models.ModelDefinition` itself, independent of any backend.

A backend that derives a model from its definition computes ``G_S`` from the signals the
definition declares, and the dense reference matrices are built from the same declaration, so
a *wrong declaration* (a post-activation reported as a pre-activation, the wrong unit kind) or
an init rule that does not draw from the run's generator passes every product check. These
checks catch them by running the forward map on NumPy with :class:`RecordingOps`, which keeps
every argument the map passes to ``tanh`` and ``sigmoid``.

Examples
--------
>>> check_definition(definition, theta, x)  # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hfcore.kit.layout import ParamLayout
from hfcore.models import UNITS, ModelDefinition, NumpyOps

__all__ = ["RecordingOps", "check_definition", "check_init_rules", "check_signals"]


class RecordingOps(NumpyOps):
    """:class:`~hfcore.models.NumpyOps` that records the arguments of ``tanh`` and ``sigmoid`` by unit kind."""

    def __init__(self) -> None:
        self.fed: dict[str, list[np.ndarray]] = {"tanh": [], "logistic": []}

    def tanh(self, a: Any) -> Any:
        self.fed["tanh"].append(np.array(a, dtype=np.float64))
        return NumpyOps.tanh(a)

    def sigmoid(self, a: Any) -> Any:
        self.fed["logistic"].append(np.array(a, dtype=np.float64))
        return NumpyOps.sigmoid(a)


def _fed(signal: np.ndarray, args: list[np.ndarray]) -> bool:
    """Whether ``signal`` (T, B, k) was passed whole, or step by step, to the recorded function."""
    if any(a.shape == signal.shape and np.array_equal(a, signal) for a in args):
        return True
    return all(any(a.shape == step.shape and np.array_equal(a, step) for a in args) for step in signal)


def check_signals(definition: ModelDefinition, theta: np.ndarray, x: np.ndarray, seed: int = 0) -> int:
    """Check each declared damped signal against what the forward map does with it.

    Every signal must have a known unit, a weight >= 0 and shape (T, B, k); a ``tanh`` or
    ``logistic`` signal must be exactly the argument the forward map passes to ``ops.tanh`` or
    ``ops.sigmoid`` (whole, or one step at a time), so that its matched-loss curvature
    (:func:`hfcore.models.unit_curvature`) is the curvature of that unit; and every signal must
    change when the parameters do (a signal not computed from the parameters has no Jacobian).

    Parameters
    ----------
    definition : ModelDefinition
    theta : ndarray, shape (n_params,)
        Parameters (float64) at which to run the forward map.
    x : ndarray, shape (T, B, n_in)
        Inputs.
    seed : int
        Seed of the parameter perturbation.

    Returns
    -------
    int
        The number of signals checked.
    """
    layout = ParamLayout(definition.blocks())
    ops = RecordingOps()
    _, signals = definition.forward(layout.unpack(np.asarray(theta, np.float64)), x, ops)
    moved = np.asarray(theta, np.float64) + 1e-3 * np.random.default_rng(seed).standard_normal(layout.n_params)
    _, signals_moved = definition.forward(layout.unpack(moved), x, NumpyOps())
    for sig, sig_moved in zip(signals, signals_moved, strict=True):
        a = np.asarray(sig.preactivation, np.float64)
        assert sig.unit in UNITS, f"signal {sig.name!r}: unknown unit {sig.unit!r}; expected one of {UNITS}"
        assert float(sig.weight) >= 0.0, f"signal {sig.name!r}: weight {sig.weight} must be >= 0"
        assert a.ndim == 3 and a.shape[:2] == x.shape[:2], (
            f"signal {sig.name!r}: shape {a.shape}, expected (T, B, k) with (T, B) = {x.shape[:2]}")
        if sig.unit != "identity":
            op = "ops.tanh" if sig.unit == "tanh" else "ops.sigmoid"
            assert _fed(a, ops.fed[sig.unit]), (
                f"signal {sig.name!r} (unit {sig.unit}) is not what the forward map passes to {op}: "
                f"declare the pre-activation fed to the unit, with that unit's kind")
        assert not np.array_equal(a, np.asarray(sig_moved.preactivation, np.float64)), (
            f"signal {sig.name!r} does not change with the parameters: it must be computed from them")
    return len(signals)


def check_init_rules(definition: ModelDefinition, seed: int = 0) -> int:
    """Check that every block's init rule draws only from the generator it is given.

    The same generator state must give the same values (a rule drawing from global state
    fails), float64 of the block's shape; a rule whose values are not all equal must give
    other values from another generator state (a rule with its own fixed seed fails).

    Returns
    -------
    int
        The number of blocks checked.
    """
    blocks = list(definition.blocks())
    for block in blocks:
        shape = tuple(int(d) for d in block.shape)
        first = block.init(np.random.default_rng(seed), shape)
        again = block.init(np.random.default_rng(seed), shape)
        assert np.shape(first) == shape and np.asarray(first).dtype == np.float64, (
            f"block {block.name!r}: init gave {np.asarray(first).dtype} of shape {np.shape(first)}, "
            f"expected float64 of shape {shape}")
        assert np.array_equal(first, again), (
            f"block {block.name!r}: init rule gave different values from the same generator state "
            f"(it draws from somewhere other than the rng it is given)")
        if np.unique(first).size > 1:
            other = block.init(np.random.default_rng(seed + 1), shape)
            assert not np.array_equal(first, other), (
                f"block {block.name!r}: init rule draws the same values from every generator (it ignores rng)")
    return len(blocks)


def check_definition(definition: ModelDefinition, theta: np.ndarray, x: np.ndarray) -> dict[str, int]:
    """:func:`check_init_rules` and :func:`check_signals`; returns what each checked."""
    return {"init_rules": check_init_rules(definition), "signals": check_signals(definition, theta, x)}

"""Model definitions: what a plugin writes to add a network to hfcore.

A model is declared once, independently of any backend:

* its parameters, as named blocks, each with a shape and an initialisation rule
  (:class:`ParamBlock`, rules in :mod:`hfcore.kit.init`); the flat parameter
  vector is the blocks in order (:class:`hfcore.kit.layout.ParamLayout`);
* its forward map ``(params, x, ops) -> (s, signals)``: output pre-activations
  ``s`` (T, B, n_out) for inputs ``x`` (T, B, n_in), and the internal signals
  that structural damping penalises (:class:`DampedSignal`). The map is written
  with array methods and operators (``@``, ``+``, ``*``, ``.T``, indexing of data)
  and the few functions in :class:`Ops`, so every backend can run it on its own
  arrays: autograd boxes, torch tensors, or plain NumPy;
* its config schema, a subclass of :class:`hfcore.config.ModelConfig`.

A plugin registers a factory ``factory(spec, model_cfg) -> ModelDefinition``
with ``registry.add_model(name, factory, config)`` in its
``hfcore_register_models`` hook; ``hf-train model=<name>`` selects it. A backend
then turns the definition into a :class:`hfcore.interfaces.Model` (gradient and
Gauss-Newton products derived from the forward map, or hand-written for the
built-in models).

Structural damping (M&S 2011 sec. 3.2, eq. 10) over declared signals: each
signal ``a`` of unit kind ``u`` and weight ``w`` adds
``w * J_a' diag(valid * D_u''(a)) J_a`` to ``G_S``, with the matched-loss
curvature ``D_u''`` of :func:`unit_curvature` (tanh: ``1 - tanh(a)^2``,
logistic: ``p (1 - p)``, identity: 1). The tanh RNN declares one signal, its
hidden pre-activations ``t`` with weight 1, which is the paper's term.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

from hfcore.kit.init import InitRule, Zeros
from hfcore.types import ModelSpec

UNITS = ("tanh", "logistic", "identity")
"""Unit kinds a damped signal may declare (the nonlinearity its pre-activation feeds)."""


@dataclass(frozen=True)
class ParamBlock:
    """One named block of parameters.

    Parameters
    ----------
    name : str
        Key of the block in the mapping the forward map receives.
    shape : tuple of int
        Shape of the block; it occupies ``prod(shape)`` entries of the flat vector, row-major.
    init : InitRule
        How the block is initialised (default: zeros).
    """

    name: str
    shape: tuple[int, ...]
    init: InitRule = Zeros()


@dataclass(frozen=True)
class DampedSignal:
    """An internal signal penalised by structural damping.

    Parameters
    ----------
    name : str
        A label (for messages and metrics).
    preactivation : array, shape (T, B, k)
        The pre-activation ``a`` that feeds a unit of kind ``unit`` at every step, in the
        backend's array type (it must be computed from the parameters, so that backends can
        differentiate it).
    unit : str
        One of :data:`UNITS`: the nonlinearity applied to ``a`` in the forward map.
    weight : float
        Relative weight of this signal's term (>= 0).
    """

    name: str
    preactivation: Any
    unit: str = "tanh"
    weight: float = 1.0


@runtime_checkable
class Ops(Protocol):
    """The functions a forward map may call, supplied by the backend that runs it.

    Everything else is written with array methods and operators, which NumPy arrays,
    autograd boxes and torch tensors share.
    """

    def tanh(self, a: Any) -> Any:
        """Elementwise tanh."""
        ...

    def sigmoid(self, a: Any) -> Any:
        """Elementwise logistic ``1 / (1 + exp(-a))``."""
        ...

    def stack(self, arrays: Sequence[Any], axis: int = 0) -> Any:
        """Stack equally shaped arrays along a new axis."""
        ...

    def concatenate(self, arrays: Sequence[Any], axis: int = 0) -> Any:
        """Join arrays along an existing axis."""
        ...


class NumpyOps:
    """:class:`Ops` on NumPy arrays (reference forward passes, the conformance kit)."""

    @staticmethod
    def tanh(a: Any) -> Any:
        return np.tanh(a)

    @staticmethod
    def sigmoid(a: Any) -> Any:
        # The tanh form never overflows and equals 1 / (1 + exp(-a)) to rounding.
        return 0.5 * (1.0 + np.tanh(0.5 * a))

    @staticmethod
    def stack(arrays: Sequence[Any], axis: int = 0) -> Any:
        return np.stack(arrays, axis=axis)

    @staticmethod
    def concatenate(arrays: Sequence[Any], axis: int = 0) -> Any:
        return np.concatenate(arrays, axis=axis)


@runtime_checkable
class ModelDefinition(Protocol):
    """A network declared once for every backend (see the module docstring).

    Attributes
    ----------
    name : str
        The registered model name (``model=<name>``).
    spec : ModelSpec
        Input/output sizes and the output/loss pair, from the task.
    """

    name: str
    spec: ModelSpec

    def blocks(self) -> Sequence[ParamBlock]:
        """The parameter blocks, in flat-vector order."""
        ...

    def forward(self, params: Mapping[str, Any], x: Any, ops: Ops) -> tuple[Any, Sequence[DampedSignal]]:
        """Output pre-activations ``s`` (T, B, n_out) and the damped signals for inputs ``x`` (T, B, n_in).

        ``params`` maps each block name to a view of that block, in the backend's array
        type; ``x`` is data (never differentiated).
        """
        ...


def unit_curvature(unit: str, preactivation: Any, ops: Ops) -> Any:
    """``D_u''(a)``: curvature of the loss matched to a unit of kind ``unit`` at pre-activation ``a``.

    tanh: ``1 - tanh(a)^2``; logistic: ``p (1 - p)`` with ``p = sigmoid(a)``;
    identity: 1 (returned as ``a * 0 + 1``, so shape and array type follow ``a``).
    """
    if unit == "tanh":
        h = ops.tanh(preactivation)
        return 1.0 - h * h
    if unit == "logistic":
        p = ops.sigmoid(preactivation)
        return p * (1.0 - p)
    if unit == "identity":
        return preactivation * 0.0 + 1.0
    raise ValueError(f"unknown unit kind {unit!r}; expected one of {', '.join(UNITS)}")

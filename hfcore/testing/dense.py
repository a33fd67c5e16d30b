"""Dense reference matrices for any :class:`hfcore.interfaces.Model`, by finite differences.

``G_f`` is built from :meth:`Model.preactivations` and the model's
``to_numpy`` / ``from_numpy`` only, with an output-Hessian table written
independently of any backend; ``G_S`` from the damped signals the model's
definition declares, its forward map run with NumPy. A backend's analytic Gv
is checked against them. Intended for tiny float64 models (cost: ``2 * n_params`` forward
passes).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from hfcore.kit.layout import ParamLayout
from hfcore.models import DampedSignal, NumpyOps, unit_curvature
from hfcore.types import Batch, ModelSpec

__all__ = [
    "dense_gauss_newton",
    "dense_jacobians",
    "dense_structural",
    "normaliser_value",
    "output_hessians",
    "signal_jacobians",
]


def normaliser_value(batch: Batch, normaliser: str = "targets") -> float:
    """The objective's divisor N: active targets (``"targets"``) or B (``"sequences"``), at least 1."""
    if normaliser == "targets":
        n = float(np.sum(np.asarray(batch.mask, dtype=np.float64)))
    elif normaliser == "sequences":
        n = float(batch.size)
    else:
        raise ValueError(f"unknown normaliser {normaliser!r}; expected 'targets' or 'sequences'")
    return max(n, 1.0)


def output_hessians(output: str, s: np.ndarray) -> np.ndarray:
    """``H_L = d^2 L / ds^2`` for every step, shape (..., O, O).

    Parameters
    ----------
    output : str
        ``linear`` (``I``), ``logistic`` (``diag(p(1-p))``) or ``softmax``
        (``diag(p) - p p'``); M&S 2011 sec. 3.1, notes sec. 1 table.
    s : ndarray, shape (..., O)
        Output pre-activations.
    """
    s = np.asarray(s, dtype=np.float64)
    n_out = s.shape[-1]
    eye = np.eye(n_out)
    if output == "linear":
        return np.broadcast_to(eye, s.shape + (n_out,)).copy()
    if output == "logistic":
        p = 1.0 / (1.0 + np.exp(-s))
        return (p * (1.0 - p))[..., None] * eye
    if output == "softmax":
        e = np.exp(s - s.max(axis=-1, keepdims=True))
        p = e / e.sum(axis=-1, keepdims=True)
        return p[..., None] * eye - p[..., :, None] * p[..., None, :]
    raise ValueError(f"unknown output {output!r}; expected linear, logistic or softmax")


def dense_jacobians(model: Any, theta: Any, batch: Batch, eps: float = 1e-5) -> tuple[np.ndarray, np.ndarray]:
    """Jacobians of the pre-activations by central differences.

    Parameters
    ----------
    model : Model
        Any backend; only ``preactivations``, ``to_numpy`` and ``from_numpy`` are used.
    theta : Vector
        Point of evaluation (backend vector type).
    batch : Batch
        Data.
    eps : float
        Step of the central differences (error ``O(eps^2)`` plus roundoff ``O(1e-16/eps)``).

    Returns
    -------
    J_s : ndarray, shape (T*B*O, P)
        Rows in C order of ``s`` (T, B, O).
    J_t : ndarray, shape (T*B*H, P)
        Rows in C order of ``t`` (T, B, H); zero rows when ``H = 0``.
    """
    th = np.asarray(model.to_numpy(theta), dtype=np.float64).ravel()
    s0, t0 = model.preactivations(model.from_numpy(th), batch)
    n_params = th.size
    js = np.empty((np.size(s0), n_params))
    jt = np.empty((np.size(t0), n_params))
    for j in range(n_params):
        plus, minus = th.copy(), th.copy()
        plus[j] += eps
        minus[j] -= eps
        sp, tp = model.preactivations(model.from_numpy(plus), batch)
        sm, tm = model.preactivations(model.from_numpy(minus), batch)
        js[:, j] = (np.asarray(sp, np.float64) - np.asarray(sm, np.float64)).ravel() / (2 * eps)
        jt[:, j] = (np.asarray(tp, np.float64) - np.asarray(tm, np.float64)).ravel() / (2 * eps)
    return js, jt


def dense_gauss_newton(
    model: Any,
    theta: Any,
    batch: Batch,
    spec: ModelSpec,
    l2: float = 0.0,
    normaliser: str = "targets",
    eps: float = 1e-5,
    jacobians: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """Dense ``G_f + kappa I`` with ``G_f = sum_{i,b} m J_s' H_L J_s / N`` (M&S 2011 eq. 7).

    Parameters
    ----------
    model, theta, batch
        As in :func:`dense_jacobians`.
    spec : ModelSpec
        Gives the output/loss pair.
    l2 : float
        ``kappa``, the model's L2 coefficient.
    normaliser : {"targets", "sequences"}
        How the model divides the loss (see :func:`normaliser_value`).
    eps : float
        Finite-difference step.
    jacobians : tuple, optional
        ``(J_s, J_t)`` from :func:`dense_jacobians`, to avoid recomputing them.

    Returns
    -------
    ndarray, shape (P, P)
    """
    js = dense_jacobians(model, theta, batch, eps)[0] if jacobians is None else jacobians[0]
    s, _ = model.preactivations(theta, batch)
    s = np.asarray(s, dtype=np.float64)
    n_steps, n_seq, n_out = s.shape
    n_params = js.shape[1]
    hl = output_hessians(spec.output, s) * np.asarray(batch.mask, np.float64)[..., None, None]
    jsr = js.reshape(n_steps, n_seq, n_out, n_params)
    hj = np.einsum("tbok,tbkp->tbop", hl, jsr)
    g = np.einsum("tbop,tboq->pq", jsr, hj) / normaliser_value(batch, normaliser)
    return g + l2 * np.eye(n_params)


def _definition_forward(definition: Any, theta: np.ndarray, x: np.ndarray, ops: Any) -> tuple[Any, Any]:
    return definition.forward(ParamLayout(definition.blocks()).unpack(theta), x, ops)


def signal_jacobians(
    model: Any, theta: Any, batch: Batch, eps: float = 1e-5
) -> list[tuple[DampedSignal, np.ndarray]]:
    """Each declared damped signal at ``theta`` and the Jacobian of its pre-activation, by central differences.

    The signals come from ``model.definition``'s forward map run with :class:`~hfcore.models.NumpyOps`
    on float64 (not from the backend), so a backend's structural term is checked against the
    model's own declaration.

    Parameters
    ----------
    model : Model
        A built model exposing ``definition`` (a :class:`~hfcore.models.ModelDefinition`).
    theta : Vector
        Point of evaluation (backend vector type).
    batch : Batch
        Data.
    eps : float
        Step of the central differences.

    Returns
    -------
    list of (DampedSignal, ndarray)
        Per signal: the signal with a float64 NumPy pre-activation (T, B, k), and its Jacobian,
        shape (T*B*k, P), rows in C order.
    """
    definition = model.definition
    th = np.asarray(model.to_numpy(theta), dtype=np.float64).ravel()
    x = np.asarray(batch.inputs, dtype=np.float64)
    _, signals = _definition_forward(definition, th, x, NumpyOps)
    jacobians = [np.empty((np.size(g.preactivation), th.size)) for g in signals]
    for j in range(th.size):
        plus, minus = th.copy(), th.copy()
        plus[j] += eps
        minus[j] -= eps
        _, sp = _definition_forward(definition, plus, x, NumpyOps)
        _, sm = _definition_forward(definition, minus, x, NumpyOps)
        for jac, a, b in zip(jacobians, sp, sm, strict=True):
            jac[:, j] = (np.asarray(a.preactivation) - np.asarray(b.preactivation)).ravel() / (2 * eps)
    return [(replace(g, preactivation=np.asarray(g.preactivation, dtype=np.float64)), jac)
            for g, jac in zip(signals, jacobians, strict=True)]


def dense_structural(
    model: Any,
    theta: Any,
    batch: Batch,
    normaliser: str = "targets",
    eps: float = 1e-5,
    jacobians: list[tuple[DampedSignal, np.ndarray]] | None = None,
) -> np.ndarray:
    """Dense ``G_S = sum_k w_k sum_{i,b} valid J_k' diag(D_k''(a_k)) J_k / N`` over the declared signals.

    The structural-damping matrix of M&S 2011 eq. 10 generalised to the damped signals a model
    declares (:class:`~hfcore.models.DampedSignal`): signal ``k`` with pre-activation ``a_k``, unit
    curvature ``D_k''`` (:func:`~hfcore.models.unit_curvature`: ``1 - tanh(a)^2`` for the tanh RNN's
    one signal, notes sec. 3) and weight ``w_k``, counted only at real (non-padding) steps. Zero
    for a model without damped signals.

    Parameters
    ----------
    model, theta, batch
        As in :func:`signal_jacobians`.
    normaliser : {"targets", "sequences"}
        How the model divides the loss.
    eps : float
        Finite-difference step.
    jacobians : list, optional
        :func:`signal_jacobians`' result, to avoid recomputing it.

    Returns
    -------
    ndarray, shape (P, P)
    """
    signals = signal_jacobians(model, theta, batch, eps) if jacobians is None else jacobians
    n_params = np.asarray(model.to_numpy(theta)).size
    valid = np.asarray(batch.valid_steps(), np.float64)[..., None]
    gs = np.zeros((n_params, n_params))
    for signal, jac in signals:
        d = valid * unit_curvature(signal.unit, signal.preactivation, NumpyOps)
        gs += signal.weight * ((jac.T * np.broadcast_to(d, signal.preactivation.shape).ravel()) @ jac)
    return gs / normaliser_value(batch, normaliser)

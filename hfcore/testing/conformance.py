"""Backend-agnostic conformance checks for :class:`hfcore.interfaces.Model`.

Run them against a tiny float64 instance of a backend (say I=3, H=4, O=2, T=5,
B=3) on a batch with sparse masks and padding. Each check raises
``AssertionError`` with a readable message on failure and otherwise returns
the error it measured. Only the Model protocol (plus ``to_numpy`` /
``from_numpy`` and ``definition``, the model's :class:`~hfcore.models.ModelDefinition`)
and NumPy are used: the structural term is checked against the damped signals the
definition declares (:func:`check_gv`), and the declaration itself against its forward
map (:func:`check_signals`), so a model that reports ``tanh(t)`` where it means ``t``
fails either way.

Examples
--------
>>> check_all(model, theta, batch, spec, l2=cfg.l2, normaliser=cfg.normaliser)  # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hfcore.interfaces import SupportsLossAndPredict
from hfcore.kit.layout import ParamLayout
from hfcore.models import UNITS, NumpyOps
from hfcore.testing.dense import dense_gauss_newton, dense_jacobians, dense_structural
from hfcore.types import Batch, ModelSpec

__all__ = [
    "check_all",
    "check_bind_consistency",
    "check_gradient",
    "check_gv",
    "check_signals",
    "check_symmetric_psd",
    "gv_matrix",
    "relative_error",
]


def relative_error(a: np.ndarray, b: np.ndarray) -> float:
    """``||a - b|| / max(||a||, ||b||)`` (Frobenius; 0 when both are 0)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    scale = max(np.linalg.norm(a), np.linalg.norm(b))
    return 0.0 if scale == 0.0 else float(np.linalg.norm(a - b) / scale)


def _np(model: Any, v: Any) -> np.ndarray:
    return np.asarray(model.to_numpy(v), dtype=np.float64).ravel()


def check_gradient(model: Any, theta: Any, batch: Batch, eps: float = 1e-6, rtol: float = 1e-6) -> float:
    """Compare ``loss_and_grad`` with central differences of ``loss`` in every coordinate.

    Also checks that ``loss_and_grad``'s value equals ``loss``.

    Parameters
    ----------
    model : Model
        Backend under test.
    theta : Vector
        Point of evaluation.
    batch : Batch
        Data.
    eps : float
        Finite-difference step.
    rtol : float
        Largest accepted relative error ``||g - g_fd|| / max(||g||, ||g_fd||)``.

    Returns
    -------
    float
        The relative error.

    Notes
    -----
    Backpropagation through time, M&S 2011 sec. 2 / notes sec. 2.
    """
    th = _np(model, theta)
    f, g = model.loss_and_grad(model.from_numpy(th), batch)
    f_only = model.loss(model.from_numpy(th), batch)
    assert abs(float(f) - float(f_only)) <= 1e-10 * max(1.0, abs(float(f_only))), (
        f"loss_and_grad value {float(f)!r} differs from loss {float(f_only)!r}"
    )
    g = _np(model, g)
    assert g.shape == th.shape, f"gradient has shape {g.shape}, expected {th.shape}"
    g_fd = np.empty_like(th)
    for j in range(th.size):
        plus, minus = th.copy(), th.copy()
        plus[j] += eps
        minus[j] -= eps
        g_fd[j] = (model.loss(model.from_numpy(plus), batch) - model.loss(model.from_numpy(minus), batch)) / (
            2 * eps
        )
    err = relative_error(g, g_fd)
    worst = int(np.argmax(np.abs(g - g_fd)))
    assert err <= rtol, (
        f"gradient disagrees with central differences: rel err {err:.3e} > {rtol:.1e} "
        f"(worst coordinate {worst}: analytic {g[worst]:.6e}, numeric {g_fd[worst]:.6e})"
    )
    return err


def gv_matrix(model: Any, curvature: Any, n_params: int, structural_weight: float = 0.0) -> np.ndarray:
    """The dense matrix of a bound curvature product, column ``j`` = ``gv(e_j)``."""
    cols = [
        _np(model, curvature.gv(model.from_numpy(e), structural_weight)) for e in np.eye(n_params)
    ]
    return np.stack(cols, axis=1)


def check_gv(
    model: Any,
    theta: Any,
    batch: Batch,
    spec: ModelSpec,
    l2: float,
    normaliser: str = "targets",
    structural_weights: tuple[float, ...] = (0.0, 0.7),
    rtol: float = 1e-6,
    eps: float = 1e-5,
) -> float:
    """Compare ``curvature(theta, batch).gv`` with dense finite-difference matrices.

    For each ``w`` in ``structural_weights`` the full matrix of ``gv(., w)`` must
    match ``G_f + kappa I + w G_S`` (:func:`~hfcore.testing.dense.dense_gauss_newton`;
    :func:`~hfcore.testing.dense.dense_structural`, built from the damped signals that
    ``model.definition`` declares). For ``w != 0`` the structural
    part alone, ``gv(., w) - gv(., 0)``, must also match ``w G_S`` (it may be small
    next to ``G_f`` and would otherwise hide inside the tolerance).

    Parameters
    ----------
    model, theta, batch, spec
        As in :func:`~hfcore.testing.dense.dense_gauss_newton`.
    l2 : float
        The model's ``kappa``.
    normaliser : {"targets", "sequences"}
        The model's loss divisor.
    structural_weights : tuple of float
        Values of ``w`` to test.
    rtol : float
        Largest accepted relative (Frobenius) error.
    eps : float
        Finite-difference step for the Jacobians.

    Returns
    -------
    float
        The largest relative error found.

    Notes
    -----
    M&S 2011 eq. 7 (``G_f``), eq. 10 and sec. 3.2 (``G_S``); notes sec. 3.
    """
    jac = dense_jacobians(model, theta, batch, eps)
    n_params = jac[0].shape[1]
    g_dense = dense_gauss_newton(model, theta, batch, spec, l2, normaliser, eps, jacobians=jac)
    gs_dense = dense_structural(model, theta, batch, normaliser, eps)
    curv = model.curvature(theta, batch)
    worst = 0.0
    base = gv_matrix(model, curv, n_params, 0.0)
    for w in structural_weights:
        got = base if w == 0.0 else gv_matrix(model, curv, n_params, w)
        err = relative_error(got, g_dense + w * gs_dense)
        assert err <= rtol, (
            f"gv(v, structural_weight={w}) disagrees with dense G_f + kappa I + w G_S: "
            f"rel err {err:.3e} > {rtol:.1e}"
        )
        worst = max(worst, err)
        if w != 0.0:
            err_s = relative_error(got - base, w * gs_dense)
            assert err_s <= rtol, (
                f"structural part gv(v, {w}) - gv(v, 0) disagrees with dense w G_S: "
                f"rel err {err_s:.3e} > {rtol:.1e}"
            )
            worst = max(worst, err_s)
    return worst


def check_symmetric_psd(
    model: Any,
    theta: Any,
    batch: Batch,
    structural_weight: float = 0.0,
    sym_tol: float = 1e-10,
    psd_tol: float = 1e-10,
) -> tuple[float, float]:
    """Check that the matrix of ``gv(., structural_weight)`` is symmetric and PSD.

    Parameters
    ----------
    model, theta, batch
        As in :func:`check_gv`.
    structural_weight : float
        ``w`` (must be >= 0 for PSD to hold).
    sym_tol : float
        Largest accepted ``||M - M'|| / ||M||``.
    psd_tol : float
        Largest accepted ``-lambda_min(M) / ||M||_2``.

    Returns
    -------
    (float, float)
        Relative asymmetry and ``-lambda_min / ||M||_2`` (negative when positive definite).

    Notes
    -----
    ``G_f`` and ``G_S`` are Gauss-Newton matrices ``J' H J`` with ``H >= 0``
    (M&S 2011 sec. 3.1-3.2), so CG sees a symmetric PSD operator.
    """
    n_params = _np(model, theta).size
    mat = gv_matrix(model, model.curvature(theta, batch), n_params, structural_weight)
    scale = np.linalg.norm(mat)
    asym = 0.0 if scale == 0.0 else float(np.linalg.norm(mat - mat.T) / scale)
    assert asym <= sym_tol, f"gv matrix (w={structural_weight}) is not symmetric: rel asym {asym:.3e}"
    eig = np.linalg.eigvalsh(0.5 * (mat + mat.T))
    top = max(abs(eig[0]), abs(eig[-1]), np.finfo(float).tiny)
    neg = float(-eig[0] / top)
    assert neg <= psd_tol, (
        f"gv matrix (w={structural_weight}) is not PSD: lambda_min {eig[0]:.3e}, lambda_max {eig[-1]:.3e}"
    )
    return asym, neg


def check_bind_consistency(
    model: Any, theta: Any, batch: Batch, structural_weight: float = 0.5, seed: int = 0
) -> float:
    """Check that bound curvature products are pure functions of ``v``.

    Two calls on one bound object, with another vector in between, and one call on a
    freshly bound object must give identical results; an earlier result must not be
    changed by a later call (no aliasing of work buffers); ``v`` and ``theta`` must not
    be modified.

    Parameters
    ----------
    model, theta, batch
        As in :func:`check_gv`.
    structural_weight : float
        ``w`` used in the calls (the cached structural path is exercised too).
    seed : int
        Seed of the random directions.

    Returns
    -------
    float
        The largest absolute difference seen (0.0 for a conforming backend).
    """
    rng = np.random.default_rng(seed)
    th = _np(model, theta)
    n_params = th.size
    theta_in = model.from_numpy(th)
    v_np, u_np = rng.standard_normal(n_params), rng.standard_normal(n_params)
    v, u = model.from_numpy(v_np), model.from_numpy(u_np)
    worst = 0.0

    def same(what: str, a: Any, b: np.ndarray) -> None:
        nonlocal worst
        diff = float(np.max(np.abs(_np(model, a) - b)))
        assert diff == 0.0, f"bind consistency: {what} differs by {diff:.3e}"
        worst = max(worst, diff)

    curv = model.curvature(theta_in, batch)
    r1 = curv.gv(v, structural_weight)
    r1_copy = _np(model, r1)
    same("v after gv (mutated input)", v, v_np)
    curv.gv(u, 2.0 * structural_weight + 1.0)
    same("u after gv (mutated input)", u, u_np)
    same("an earlier result after a later gv call (aliased buffer?)", r1, r1_copy)
    same("a second call on the same bound object", curv.gv(v, structural_weight), r1_copy)
    fresh = model.curvature(theta_in, batch)
    same("a call on a freshly bound object", fresh.gv(v, structural_weight), r1_copy)
    same("theta after curvature/gv (mutated input)", theta_in, th)
    return worst


class RecordingOps(NumpyOps):
    """:class:`~hfcore.models.NumpyOps` that keep a copy of every argument passed to ``tanh`` and ``sigmoid``."""

    def __init__(self) -> None:
        self.arguments: dict[str, list[np.ndarray]] = {"tanh": [], "sigmoid": []}

    def tanh(self, a: Any) -> Any:
        self.arguments["tanh"].append(np.array(a, dtype=np.float64))
        return np.tanh(a)

    def sigmoid(self, a: Any) -> Any:
        self.arguments["sigmoid"].append(np.array(a, dtype=np.float64))
        return NumpyOps.sigmoid(a)


def check_signals(model: Any, theta: Any, batch: Batch) -> int:
    """Check the damped signals ``model.definition`` declares against its own forward map.

    The forward map is run with NumPy ops that record their arguments. Each declared signal
    must have a known unit, a weight >= 0 and shape (T, B, k); a ``tanh`` (``logistic``) signal's
    pre-activation must be what the map passed to ``ops.tanh`` (``ops.sigmoid``): every one of
    its values must be among those arguments, exactly. A signal that is the unit's *output*
    (``tanh(t)`` reported for ``t``), or declared with the wrong unit, fails. (Values are
    compared as a set: a signal whose steps are reordered is not caught here.)

    Parameters
    ----------
    model, theta, batch
        As in :func:`check_gv`.

    Returns
    -------
    int
        The number of signals checked.
    """
    definition = model.definition
    th = _np(model, theta)
    x = np.asarray(batch.inputs, dtype=np.float64)
    ops = RecordingOps()
    _, signals = definition.forward(ParamLayout(definition.blocks()).unpack(th), x, ops)
    for g in signals:
        a = np.asarray(g.preactivation, dtype=np.float64)
        assert g.unit in UNITS, f"damped signal {g.name!r}: unknown unit {g.unit!r}; expected one of {UNITS}"
        assert float(g.weight) >= 0.0, f"damped signal {g.name!r}: weight {g.weight} < 0"
        assert a.ndim == 3 and a.shape[:2] == x.shape[:2], (
            f"damped signal {g.name!r} has shape {a.shape}, expected (T, B, k) = {x.shape[:2]} + (k,)")
        if g.unit == "identity":
            continue
        op = "tanh" if g.unit == "tanh" else "sigmoid"
        passed = ops.arguments[op]
        seen = np.concatenate([p.ravel() for p in passed]) if passed else np.empty(0)
        missing = int(np.count_nonzero(~np.isin(a, seen)))
        assert missing == 0, (
            f"damped signal {g.name!r} declares unit {g.unit!r}, but {missing} of its {a.size} values were never "
            f"passed to ops.{op} by the forward map (a unit's output reported as its pre-activation?)")
    return len(signals)


def check_loss_and_predict(model: Any, theta: Any, batch: Batch, rtol: float = 1e-12) -> float:
    """Check a model's optional ``loss_and_predict`` against ``loss`` and ``predict``.

    Parameters
    ----------
    model, theta, batch
        As in :func:`check_gv`.
    rtol : float
        Largest relative difference allowed in the loss and in the outputs.

    Returns
    -------
    float
        The largest relative difference (0.0 also when the model has no ``loss_and_predict``).
    """
    if not isinstance(model, SupportsLossAndPredict):
        return 0.0
    value, outputs = model.loss_and_predict(theta, batch)
    loss, predicted = float(model.loss(theta, batch)), np.asarray(model.predict(theta, batch))
    outputs = np.asarray(outputs)
    assert outputs.shape == predicted.shape, f"loss_and_predict: outputs {outputs.shape}, predict {predicted.shape}"
    errors = (abs(float(value) - loss) / max(abs(loss), 1e-300), relative_error(outputs, predicted))
    assert max(errors) <= rtol, f"loss_and_predict: loss differs by {errors[0]:.3e}, outputs by {errors[1]:.3e}"
    return max(errors)


def check_all(
    model: Any,
    theta: Any,
    batch: Batch,
    spec: ModelSpec,
    l2: float,
    normaliser: str = "targets",
    structural_weight: float = 0.7,
    grad_rtol: float = 1e-6,
    gv_rtol: float = 1e-6,
) -> dict[str, Any]:
    """Run every check; return their measured errors by name."""
    return {
        "signals": check_signals(model, theta, batch),
        "gradient": check_gradient(model, theta, batch, rtol=grad_rtol),
        "gv": check_gv(model, theta, batch, spec, l2, normaliser, (0.0, structural_weight), rtol=gv_rtol),
        "symmetric_psd": check_symmetric_psd(model, theta, batch, 0.0),
        "symmetric_psd_structural": check_symmetric_psd(model, theta, batch, structural_weight),
        "bind_consistency": check_bind_consistency(model, theta, batch, structural_weight),
        "loss_and_predict": check_loss_and_predict(model, theta, batch),
    }

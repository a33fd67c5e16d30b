"""Matched output/loss pairs in NumPy, shared by every backend (M&S 2011 sec. 3.1; notes sec. 1).

Every pair is written in terms of the output pre-activation ``s`` so that it is
numerically stable for any ``s`` and so that ``dL/ds = g(s) - y`` holds exactly:

========  ===========================  ======================  =========================
output    ``L(s; y)``                  ``g(s)``                ``H_L u``
========  ===========================  ======================  =========================
linear    ``0.5 ||s - y||^2``          ``s``                   ``u``
logistic  ``sum softplus(s) - y*s``    ``sigmoid(s)``          ``p (1-p) u``
softmax   ``logsumexp(s) - y's``       ``softmax(s)``          ``p u - p (p'u)``
========  ===========================  ======================  =========================

``softplus(s) - y s`` is the binary cross-entropy ``-y log p - (1-y) log(1-p)``;
``logsumexp(s) - y's`` equals ``-sum y log p`` for targets that sum to one
(one-hot rows), and keeps ``dL/ds = p - y`` exact for any target.

Arrays are time-major, ``(T, B, n_out)``; everything keeps the dtype of ``s``.
"""

from __future__ import annotations

import numpy as np

from hfcore.types import OUTPUT_LOSSES

__all__ = ["OUTPUT_LOSSES", "OutputCurvature", "check_output", "evaluate", "output_activation"]


def check_output(output: str) -> None:
    """Raise ``ValueError`` unless ``output`` names a matched output/loss pair."""
    if output not in OUTPUT_LOSSES:
        raise ValueError(f"unknown output {output!r}; expected one of {', '.join(OUTPUT_LOSSES)}")


def _sigmoid(s: np.ndarray) -> np.ndarray:
    # exp(-softplus(-s)) never overflows and keeps tiny probabilities accurate.
    return np.exp(-np.logaddexp(0, -s))


def _softmax_parts(s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(p, lse)``: softmax over the last axis and log-sum-exp (kept dim)."""
    mx = np.max(s, axis=-1, keepdims=True)
    e = np.exp(s - mx)
    z = np.sum(e, axis=-1, keepdims=True)
    e /= z
    return e, mx + np.log(z)


def output_activation(output: str, s: np.ndarray) -> np.ndarray:
    """Outputs ``g(s)`` (M&S 2011 eq. 4) for pre-activations ``s`` (..., n_out)."""
    if output == "linear":
        return s.copy()
    if output == "logistic":
        return _sigmoid(s)
    if output == "softmax":
        return _softmax_parts(s)[0]
    check_output(output)
    raise AssertionError("unreachable")


def evaluate(output: str, s: np.ndarray, y: np.ndarray, outputs: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
    """Per-step loss and outputs.

    Parameters
    ----------
    output : str
        One of :data:`OUTPUT_LOSSES`.
    s : ndarray, shape (..., n_out)
        Output pre-activations.
    y : ndarray, shape (..., n_out)
        Targets (any finite values where the mask is 0).
    outputs : bool
        Also return ``g(s)``; a loss-only caller (line search, backtracking)
        skips that pass over the outputs.

    Returns
    -------
    loss : ndarray, shape (...)
        ``L(s; y)`` summed over the output units, unmasked.
    yhat : ndarray, shape (..., n_out), or None
        ``g(s)``; ``yhat - y`` is ``dL/ds``. None when ``outputs`` is False.
    """
    if output == "linear":
        r = s - y
        return 0.5 * np.einsum("...k,...k->...", r, r), s.copy() if outputs else None
    if output == "logistic":
        loss = np.sum(np.logaddexp(0, s) - y * s, axis=-1)
        return loss, _sigmoid(s) if outputs else None
    if output == "softmax":
        p, lse = _softmax_parts(s)
        return lse[..., 0] - np.einsum("...k,...k->...", y, s), p
    check_output(output)
    raise AssertionError("unreachable")


class OutputCurvature:
    """Masked output Hessian ``u -> m * H_L(s) u``, with ``s`` fixed at bind time.

    The mask is folded into the cached factors so that :meth:`apply` is one or
    two passes over ``u`` (notes sec. 3, "Output curvature").

    Parameters
    ----------
    output : str
        One of :data:`OUTPUT_LOSSES`.
    s : ndarray, shape (T, B, n_out)
        Output pre-activations at the bound parameters.
    mask : ndarray, shape (T, B, 1)
        Loss mask, same dtype as ``s``.
    """

    def __init__(self, output: str, s: np.ndarray, mask: np.ndarray) -> None:
        check_output(output)
        self.output = output
        self._p: np.ndarray | None = None
        if output == "linear":
            self._w = mask
        elif output == "logistic":
            # p (1 - p) = exp(-(softplus(-s) + softplus(s))): both factors exact (1 - p loses digits when
            # p -> 1), built in place so that binding needs one output-sized temporary, not four.
            w = np.logaddexp(0, -s)
            w += np.logaddexp(0, s)
            np.negative(w, out=w)
            np.exp(w, out=w)
            w *= mask
            self._w = w
        else:
            p = _softmax_parts(s)[0]
            self._p = p
            self._w = mask * p

    def apply(self, u: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """Return ``m * H_L u``: a new array, or ``out`` (which may be ``u`` itself) filled in place."""
        if self._p is None:
            # linear (H_L = I) and logistic (diagonal H_L)
            return np.multiply(u, self._w, out=out)
        # softmax: m (p*u - p (p'u)) = (m p) * (u - p'u)
        pu = np.einsum("...k,...k->...", self._p, u)[..., None]
        result = np.subtract(u, pu, out=out)
        result *= self._w
        return result

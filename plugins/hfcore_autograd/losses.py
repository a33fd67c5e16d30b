"""Matched output/loss pairs written with ``autograd.numpy`` (M&S 2011 sec. 3.1; notes sec. 1).

Only the per-step loss ``L(s; y)`` is needed here: autograd differentiates it for
the gradient, while outputs ``g(s)`` and the output Hessian products ``m H_L u`` of
the Gauss-Newton matrix are exactly those of the NumPy backend
(:func:`hfcore.kit.losses.output_activation`, :class:`hfcore.kit.losses.OutputCurvature`),
evaluated on plain arrays at bind time. The formulas are the NumPy backend's
(``0.5 ||s - y||^2``, ``softplus(s) - y s``, ``logsumexp(s) - y's``), so values agree
to rounding and ``dL/ds = g(s) - y`` holds exactly.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hfcore.kit.losses import check_output

from ._deps import anp, getval

__all__ = ["loss_terms"]


def loss_terms(output: str, s: Any, y: np.ndarray) -> Any:
    """Per-step loss summed over output units, unmasked; traceable by autograd.

    Parameters
    ----------
    output : str
        One of :data:`hfcore.types.OUTPUT_LOSSES`.
    s : array or autograd box, shape (..., n_out)
        Output pre-activations.
    y : ndarray, shape (..., n_out)
        Targets (finite everywhere; :func:`hfcore.kit.batches.prepare_batch` zeroes masked ones).

    Returns
    -------
    array or autograd box, shape (...)
        ``L(s; y)`` at every step.
    """
    if output == "linear":
        r = s - y
        return 0.5 * anp.sum(r * r, axis=-1)
    if output == "logistic":
        # autograd's logaddexp vjp is exp(s - softplus(s)) = sigmoid(s): stable for any s.
        return anp.sum(anp.logaddexp(0.0, s) - y * s, axis=-1)
    if output == "softmax":
        # The max shift is a constant (getval): it cancels in the value, so keeping it out of
        # the tape makes the gradient exactly softmax(s) - y instead of summing canceling terms.
        mx = np.max(getval(s), axis=-1, keepdims=True)
        lse = mx[..., 0] + anp.log(anp.sum(anp.exp(s - mx), axis=-1))
        return lse - anp.sum(y * s, axis=-1)
    check_output(output)
    raise AssertionError("unreachable")

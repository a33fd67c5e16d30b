"""Matched output/loss pairs in torch (M&S 2011 sec. 3.1; notes sec. 1).

The same formulas as :mod:`hfcore.kit.losses`, written in terms of the output
pre-activation ``s`` so that they are stable for any ``s`` and ``dL/ds = g(s) - y``
holds exactly:

========  ===========================  ======================  =========================
output    ``L(s; y)``                  ``g(s)``                ``H_L u``
========  ===========================  ======================  =========================
linear    ``0.5 ||s - y||^2``          ``s``                   ``u``
logistic  ``sum softplus(s) - y*s``    ``sigmoid(s)``          ``p (1-p) u``
softmax   ``logsumexp(s) - y's``       ``softmax(s)``          ``p u - p (p'u)``
========  ===========================  ======================  =========================

``softplus`` is ``logaddexp(0, s)``, not ``torch.nn.functional.softplus``: the
latter switches to ``s`` above a threshold (20), an absolute error of about
``2e-9`` that would break equality with the NumPy backend.
"""

from __future__ import annotations

import torch

from hfcore.kit.losses import check_output

__all__ = ["OutputCurvature", "evaluate", "output_activation"]


def _softplus(s: torch.Tensor) -> torch.Tensor:
    return torch.logaddexp(torch.zeros((), dtype=s.dtype, device=s.device), s)


def output_activation(output: str, s: torch.Tensor) -> torch.Tensor:
    """Outputs ``g(s)`` (M&S 2011 eq. 4) for pre-activations ``s`` (..., n_out), as a new tensor."""
    if output == "linear":
        return s.clone()
    if output == "logistic":
        return torch.sigmoid(s)
    if output == "softmax":
        return torch.softmax(s, dim=-1)
    check_output(output)
    raise AssertionError("unreachable")


def evaluate(output: str, s: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-step loss and outputs.

    Parameters
    ----------
    output : str
        One of :data:`hfcore.types.OUTPUT_LOSSES`.
    s : Tensor, shape (..., n_out)
        Output pre-activations.
    y : Tensor, shape (..., n_out)
        Targets (finite everywhere).

    Returns
    -------
    loss : Tensor, shape (...)
        ``L(s; y)`` summed over the output units, unmasked.
    yhat : Tensor, shape (..., n_out)
        ``g(s)`` (a new tensor); ``yhat - y`` is ``dL/ds``.
    """
    if output == "linear":
        r = s - y
        return 0.5 * (r * r).sum(dim=-1), s.clone()
    if output == "logistic":
        return (_softplus(s) - y * s).sum(dim=-1), torch.sigmoid(s)
    if output == "softmax":
        return torch.logsumexp(s, dim=-1) - (y * s).sum(dim=-1), torch.softmax(s, dim=-1)
    check_output(output)
    raise AssertionError("unreachable")


class OutputCurvature:
    """Masked output Hessian ``u -> m * H_L(s) u``, with ``s`` fixed at bind time.

    The mask is folded into the cached factors, so :meth:`apply` is one or two
    elementwise passes over ``u`` (notes sec. 3, "Output curvature").

    Parameters
    ----------
    output : str
        One of :data:`hfcore.types.OUTPUT_LOSSES`.
    s : Tensor, shape (T, B, n_out)
        Output pre-activations at the bound parameters.
    mask : Tensor, shape (T, B, 1)
        Loss mask, same dtype and device as ``s``.
    """

    def __init__(self, output: str, s: torch.Tensor, mask: torch.Tensor) -> None:
        check_output(output)
        self.output = output
        self._p: torch.Tensor | None = None
        if output == "linear":
            self._w = mask
        elif output == "logistic":
            # p (1 - p) with both factors computed directly: 1 - p loses digits when p -> 1.
            self._w = mask * torch.sigmoid(s) * torch.sigmoid(-s)
        else:
            p = torch.softmax(s, dim=-1)
            self._p = p
            self._w = mask * p

    def apply(self, u: torch.Tensor) -> torch.Tensor:
        """Return ``m * H_L u`` as a new tensor of the shape of ``u``."""
        if self._p is None:
            # linear (H_L = I) and logistic (diagonal H_L)
            return u * self._w
        # softmax: m (p*u - p (p'u)) = (m p) * (u - p'u)
        pu = (self._p * u).sum(dim=-1, keepdim=True)
        return self._w * (u - pu)

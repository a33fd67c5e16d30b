"""Tikhonov damping with the Levenberg-Marquardt rule, and structural damping.

M&S 2011 sec. 3.2: the damped quadratic is
``q(d) = M(d) + lambda R(d)`` with ``R = 0.5||d||^2 + mu S(d)``; CG's matrix is
``A = G_f + lambda mu G_S + lambda I`` (plus the model's own L2 curvature).
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class LevenbergMarquardt:
    """Tikhonov lambda adapted by the reduction ratio, with optional structural term.

    Parameters
    ----------
    lambda0 : float
        Initial lambda (> 0).
    mu : float
        Structural-damping weight relative to lambda (0 for plain Tikhonov).
    hessian_scale : float
        ``c_D``: scale of ``(D o e)'' = c_D (1 - h^2)``; 0.25 reproduces IS11.
    rho_low : float
        ``rho < rho_low`` (or NaN) raises lambda by ``boost`` (Martens 2010: 1/4, 3/2).
    rho_high : float
        ``rho > rho_high`` lowers lambda by ``drop`` (Martens 2010: 3/4, 2/3).
    boost : float
        Factor (> 1) on lambda after a poor step.
    drop : float
        Factor (in (0, 1)) on lambda after a good step.
    min_lambda : float
        Floor, so lambda never underflows to 0.
    """

    lambda0: float
    mu: float = 0.0
    hessian_scale: float = 0.25
    rho_low: float = 0.25
    rho_high: float = 0.75
    boost: float = 1.5
    drop: float = 2.0 / 3.0
    min_lambda: float = 1e-12

    def __post_init__(self) -> None:
        checks = [
            (self.lambda0 > 0 and math.isfinite(self.lambda0), f"damping.lambda0 must be > 0, got {self.lambda0}"),
            (self.mu >= 0, f"damping.mu must be >= 0, got {self.mu}"),
            (self.hessian_scale >= 0, f"damping.hessian_scale must be >= 0, got {self.hessian_scale}"),
            (self.rho_low <= self.rho_high, "damping.rho_low must be <= damping.rho_high"),
            (self.boost > 1, f"damping.boost must be > 1, got {self.boost}"),
            (0 < self.drop < 1, f"damping.drop must be in (0, 1), got {self.drop}"),
            (self.min_lambda > 0, f"damping.min_lambda must be > 0, got {self.min_lambda}"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)

    def structural_weight(self, lam: float) -> float:
        """``lambda * mu * c_D``: the coefficient of ``G_S`` in the Gv product."""
        return lam * self.mu * self.hessian_scale

    def update(self, lam: float, rho: float) -> float:
        """Levenberg-Marquardt: raise on poor (or NaN) rho, lower on good rho."""
        if math.isnan(rho) or rho < self.rho_low:
            return lam * self.boost
        if rho > self.rho_high:
            return max(lam * self.drop, self.min_lambda)
        return lam

"""Tikhonov damping with the Levenberg-Marquardt rule, and structural damping.

M&S 2011 sec. 3.2: the damped quadratic is
``q(d) = M(d) + lambda R(d)`` with ``R = 0.5||d||^2 + mu S(d)``; CG's matrix is
``A = G_f + lambda mu G_S + lambda I`` (plus the model's own L2 curvature).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from hfcore.config import DampingConfig


@dataclass(frozen=True)
class LevenbergMarquardt:
    """Tikhonov lambda adapted by the reduction ratio, with optional structural term.

    Parameters
    ----------
    config : DampingConfig
        Its settings (:class:`hfcore.config.DampingConfig`, where the defaults live; a copy is
        kept), with ``lambda0`` resolved to a number: ``lambda0 > 0``; ``mu`` the structural
        weight relative to lambda (0 for plain Tikhonov, :class:`hfcore.config.TikhonovConfig`);
        ``hessian_scale`` ``c_D`` in ``(D o e)'' = c_D (1 - h^2)`` (0.25 reproduces IS11);
        ``rho < rho_low`` (or NaN) raises lambda by ``boost`` (> 1), ``rho > rho_high`` lowers it
        by ``drop`` (in (0, 1)) (Martens 2010: 1/4, 3/2 and 3/4, 2/3); ``min_lambda`` is its floor.
    """

    config: DampingConfig

    def __post_init__(self) -> None:
        c = replace(self.config)  # our own copy: a schema instance is mutable
        object.__setattr__(self, "config", c)
        lambda0 = c.lambda0
        checks = [
            (lambda0 is not None and lambda0 > 0 and math.isfinite(lambda0),
             f"damping.lambda0 must be > 0, got {lambda0}"),
            (c.mu >= 0, f"damping.mu must be >= 0, got {c.mu}"),
            (c.hessian_scale >= 0, f"damping.hessian_scale must be >= 0, got {c.hessian_scale}"),
            (c.rho_low <= c.rho_high, "damping.rho_low must be <= damping.rho_high"),
            (c.boost > 1, f"damping.boost must be > 1, got {c.boost}"),
            (0 < c.drop < 1, f"damping.drop must be in (0, 1), got {c.drop}"),
            (c.min_lambda > 0, f"damping.min_lambda must be > 0, got {c.min_lambda}"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)

    @property
    def lambda0(self) -> float:
        """The initial lambda."""
        return float(self.config.lambda0)

    def structural_weight(self, lam: float) -> float:
        """``lambda * mu * c_D``: the coefficient of ``G_S`` in the Gv product."""
        return lam * self.config.mu * self.config.hessian_scale

    def update(self, lam: float, rho: float) -> float:
        """Levenberg-Marquardt: raise on poor (or NaN) rho, lower on good rho."""
        c = self.config
        if math.isnan(rho) or rho < c.rho_low:
            return lam * c.boost
        if rho > c.rho_high:
            return max(lam * c.drop, c.min_lambda)
        return lam

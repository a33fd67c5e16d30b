"""The fixed damping: a constant Tikhonov lambda that never adapts, and a constant structural weight."""

from __future__ import annotations

import math
from dataclasses import dataclass

from hfcore.config import DampingConfig


@dataclass
class FixedDampingConfig(DampingConfig):
    """Options of ``damping=fixed``.

    ``lambda0`` (inherited; null means the task's default) is the constant lambda. The Levenberg-Marquardt
    keys inherited from DampingConfig (rho_low, rho_high, boost, drop, min_lambda) are not used.
    """

    name: str = "fixed"  # must equal the name given to registry.add_damping
    mu: float = 0.0  # not used: set weight instead
    weight: float = 0.0  # new key damping.weight: the coefficient of G_S passed to Gv, at every iteration


@dataclass(frozen=True)
class FixedDamping:
    """Implements the hfcore.interfaces.Damping protocol: lambda0, structural_weight, update."""

    lambda0: float
    weight: float = 0.0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.lambda0) and self.lambda0 > 0):
            raise ValueError(f"damping.lambda0 must be > 0, got {self.lambda0}")
        if not (math.isfinite(self.weight) and self.weight >= 0):
            raise ValueError(f"damping.weight must be >= 0, got {self.weight}")

    def structural_weight(self, lam: float) -> float:
        """The same weight whatever lambda is."""
        return self.weight

    def update(self, lam: float, rho: float) -> float:
        """Lambda never changes, whatever rho is (NaN included)."""
        return lam


def make_fixed(cfg: FixedDampingConfig) -> FixedDamping:
    """The factory registered with ``registry.add_damping``; hfcore has already resolved a null lambda0."""
    if cfg.mu != 0:
        raise ValueError(f"damping.mu={cfg.mu} is not used by the fixed damping; set damping.weight instead")
    return FixedDamping(lambda0=float(cfg.lambda0), weight=float(cfg.weight))

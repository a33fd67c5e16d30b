"""The core's own components (CG, Tikhonov and structural damping), registered
through the same hooks as any plugin."""

from __future__ import annotations

from dataclasses import dataclass

from hfcore.cg import ConjugateGradient
from hfcore.config import DampingConfig, SolverConfig, fields_from
from hfcore.damping import LevenbergMarquardt
from hfcore.hookspecs import hookimpl


def make_structural(cfg) -> LevenbergMarquardt:
    """Tikhonov + structural damping (M&S 2011 sec. 3.2), ``mu`` from the config.

    ``lambda0 = None`` is resolved to the task's default before this is called.
    """
    return fields_from(LevenbergMarquardt, cfg)


def make_tikhonov(cfg) -> LevenbergMarquardt:
    """Plain Tikhonov damping with LM adaptation: ``mu`` is forced to 0."""
    return fields_from(LevenbergMarquardt, cfg, mu=0.0)


def make_cg(cfg) -> ConjugateGradient:
    """Martens' CG from a :class:`~hfcore.config.SolverConfig`."""
    return fields_from(ConjugateGradient, cfg)


@dataclass
class TikhonovConfig(DampingConfig):
    """Plain Tikhonov damping (structural weight 0)."""

    name: str = "tikhonov"
    mu: float = 0.0


@hookimpl
def hfcore_register_dampings(registry) -> None:
    registry.add_damping("structural", make_structural, DampingConfig())
    registry.add_damping("tikhonov", make_tikhonov, TikhonovConfig())


@hookimpl
def hfcore_register_solvers(registry) -> None:
    registry.add_solver("cg", make_cg, SolverConfig())

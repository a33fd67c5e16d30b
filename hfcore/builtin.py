"""The core's own components (CG, Tikhonov and structural damping), registered
through the same hooks as any plugin."""

from __future__ import annotations

from dataclasses import dataclass

from hfcore.cg import ConjugateGradient
from hfcore.config import DampingConfig, SolverConfig
from hfcore.damping import LevenbergMarquardt
from hfcore.hookspecs import hookimpl


def _damping(cfg, mu: float) -> LevenbergMarquardt:
    # lambda0 = None is resolved to the task's default by the caller before this.
    return LevenbergMarquardt(
        lambda0=cfg.lambda0,
        mu=mu,
        hessian_scale=cfg.hessian_scale,
        rho_low=cfg.rho_low,
        rho_high=cfg.rho_high,
        boost=cfg.boost,
        drop=cfg.drop,
        min_lambda=cfg.min_lambda,
    )


def make_structural(cfg) -> LevenbergMarquardt:
    """Tikhonov + structural damping (M&S 2011 sec. 3.2), ``mu`` from the config."""
    return _damping(cfg, cfg.mu)


def make_tikhonov(cfg) -> LevenbergMarquardt:
    """Plain Tikhonov damping with LM adaptation: ``mu`` is forced to 0."""
    return _damping(cfg, 0.0)


def make_cg(cfg) -> ConjugateGradient:
    """Martens' CG from a :class:`~hfcore.config.SolverConfig`."""
    return ConjugateGradient(
        max_iters=cfg.max_iters,
        min_iters=cfg.min_iters,
        progress_tol=cfg.progress_tol,
        residual_tol=cfg.residual_tol,
        save_first=cfg.save_first,
        save_ratio=cfg.save_ratio,
    )


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

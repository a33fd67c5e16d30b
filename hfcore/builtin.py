"""The core's own components (the tanh RNN, LSTM and affine models, CG, SGD baseline, Tikhonov and
structural damping, the serial communicator), registered through the same hooks as any plugin."""

from __future__ import annotations

from dataclasses import dataclass

from hfcore.cg import ConjugateGradient
from hfcore.config import (
    CGConfig,
    DampingConfig,
    LinearConfig,
    LSTMConfig,
    ParallelConfig,
    RNNConfig,
    SGDConfig,
    fields_from,
)
from hfcore.damping import LevenbergMarquardt
from hfcore.hookspecs import hookimpl
from hfcore.kit.definitions import LSTM, Linear, TanhRNN
from hfcore.parallel import SerialComm
from hfcore.sgd import MomentumSGD


@hookimpl
def hfcore_register_models(registry) -> None:
    """The built-in models: each definition class is its own factory ``(spec, model_cfg)``."""
    registry.add_model(TanhRNN.name, TanhRNN, RNNConfig())
    registry.add_model(Linear.name, Linear, LinearConfig())
    registry.add_model(LSTM.name, LSTM, LSTMConfig())


def make_structural(cfg) -> LevenbergMarquardt:
    """Tikhonov + structural damping (M&S 2011 sec. 3.2), ``mu`` from the config.

    ``lambda0 = None`` is resolved to the task's default before this is called.
    """
    return fields_from(LevenbergMarquardt, cfg)


def make_tikhonov(cfg) -> LevenbergMarquardt:
    """Plain Tikhonov damping with LM adaptation (no structural term)."""
    if cfg.mu != 0:
        raise ValueError(f"has no structural term but damping.mu={cfg.mu}; use damping=structural for mu > 0")
    return fields_from(LevenbergMarquardt, cfg)


def make_cg(cfg) -> ConjugateGradient:
    """Martens' CG from a :class:`~hfcore.config.CGConfig`."""
    return fields_from(ConjugateGradient, cfg)


def make_sgd(cfg) -> MomentumSGD:
    """The first-order baseline from a :class:`~hfcore.config.SGDConfig`."""
    return fields_from(MomentumSGD, cfg)


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
    registry.add_solver("cg", make_cg, CGConfig())
    registry.add_solver("sgd", make_sgd, SGDConfig())


def make_serial(cfg) -> SerialComm:
    """The one-process communicator (``parallel=serial``)."""
    return SerialComm()


@hookimpl
def hfcore_register_communicators(registry) -> None:
    registry.add_communicator("serial", make_serial, ParallelConfig())

"""The core's own components (the tanh RNN, LSTM, GRU and affine models, HF and the SGD and Adam baselines, CG,
Tikhonov and structural damping, the serial communicator), registered through the same hooks as any plugin."""

from __future__ import annotations

from typing import Any

from hfcore.adam import Adam
from hfcore.cg import ConjugateGradient
from hfcore.config import (
    AdamConfig,
    CGConfig,
    DampingConfig,
    GRUConfig,
    HFConfig,
    HFOptimizerConfig,
    LinearConfig,
    LSTMConfig,
    ParallelConfig,
    RNNConfig,
    SGDConfig,
    TikhonovConfig,
)
from hfcore.damping import LevenbergMarquardt
from hfcore.hf import HessianFree
from hfcore.hookspecs import hookimpl
from hfcore.kit.definitions import GRU, LSTM, Linear, TanhRNN
from hfcore.parallel import SerialComm
from hfcore.sgd import MomentumSGD


@hookimpl
def hfcore_register_models(registry) -> None:
    """The built-in models: each definition class is its own factory ``(spec, model_cfg)``."""
    registry.add_model(TanhRNN.name, TanhRNN, RNNConfig())
    registry.add_model(Linear.name, Linear, LinearConfig())
    registry.add_model(LSTM.name, LSTM, LSTMConfig())
    registry.add_model(GRU.name, GRU, GRUConfig())


def make_structural(cfg: DampingConfig) -> LevenbergMarquardt:
    """Tikhonov + structural damping (M&S 2011 sec. 3.2), ``mu`` from the config.

    ``lambda0 = None`` is resolved to the task's default before this is called.
    """
    return LevenbergMarquardt(cfg)


def make_tikhonov(cfg: DampingConfig) -> LevenbergMarquardt:
    """Plain Tikhonov damping with LM adaptation (no structural term)."""
    if cfg.mu != 0:
        raise ValueError(f"has no structural term but damping.mu={cfg.mu}; use damping=structural for mu > 0")
    return LevenbergMarquardt(cfg)


def make_cg(cfg: CGConfig) -> ConjugateGradient:
    """Martens' CG from a :class:`~hfcore.config.CGConfig`."""
    return ConjugateGradient(cfg)


def make_hf(cfg: HFOptimizerConfig, context: Any) -> HessianFree:
    """Hessian-free from the ``damping``, ``solver`` and ``hf`` groups.

    ``context`` is the :class:`hfcore.build.OptimizerContext` that builds them.
    """
    return HessianFree(context.damping(), context.component("solver"), context.schema("hf", HFConfig))


def make_sgd(cfg: SGDConfig, context: Any) -> MomentumSGD:
    """The first-order baseline from a :class:`~hfcore.config.SGDConfig`."""
    return MomentumSGD(cfg)


def make_adam(cfg: AdamConfig, context: Any) -> Adam:
    """The Adam baseline from a :class:`~hfcore.config.AdamConfig`."""
    return Adam(cfg)


@hookimpl
def hfcore_register_dampings(registry) -> None:
    registry.add_damping("structural", make_structural, DampingConfig())
    registry.add_damping("tikhonov", make_tikhonov, TikhonovConfig())


@hookimpl
def hfcore_register_solvers(registry) -> None:
    registry.add_solver("cg", make_cg, CGConfig())


@hookimpl
def hfcore_register_optimizers(registry) -> None:
    registry.add_optimizer("hf", make_hf, HFOptimizerConfig())
    registry.add_optimizer("sgd", make_sgd, SGDConfig())
    registry.add_optimizer("adam", make_adam, AdamConfig())


def make_serial(cfg) -> SerialComm:
    """The one-process communicator (``parallel=serial``)."""
    return SerialComm()


@hookimpl
def hfcore_register_communicators(registry) -> None:
    registry.add_communicator("serial", make_serial, ParallelConfig())

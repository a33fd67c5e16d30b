"""hfcore: Hessian-free optimisation of recurrent neural networks.

Martens & Sutskever (2011), "Learning Recurrent Neural Networks with
Hessian-Free Optimization", ICML. The core is backend-agnostic: models,
tasks and backends arrive as plugins (see :mod:`hfcore.hookspecs`).
``import hfcore`` imports no backend, Hydra, OmegaConf or MLflow.
"""

from hfcore.adam import Adam, AdamState
from hfcore.cg import ConjugateGradient, save_schedule
from hfcore.damping import LevenbergMarquardt
from hfcore.hf import HessianFree, HFState, hf_step
from hfcore.interfaces import CurvatureProduct, Damping, Model, Optimizer, Solver, Task
from hfcore.run import Run, RunResult
from hfcore.sgd import MomentumSGD, SGDState
from hfcore.state import OptimizerState, RunState
from hfcore.training import StopRule, initial_state, train
from hfcore.types import Batch, CGResult, Counters, ModelSpec, StepInfo

__version__ = "0.1.0"

__all__ = [
    "Adam", "AdamState", "Batch", "CGResult", "ConjugateGradient", "Counters", "CurvatureProduct", "Damping",
    "HessianFree",
    "HFState", "LevenbergMarquardt", "Model", "MomentumSGD", "Optimizer", "OptimizerState", "ModelSpec", "Run",
    "RunResult", "RunState", "SGDState", "Solver", "StepInfo", "StopRule", "Task", "hf_step", "initial_state",
    "save_schedule", "train",
    "__version__",
]

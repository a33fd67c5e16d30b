"""Train a tanh RNN on the addition problem with Hessian-free optimisation, from Python, without Hydra.

Run it with ``python examples/train_in_python.py`` (a few minutes on one core); the walkthrough is in
``docs/python-api.md``, and ``tests/test_python_example.py`` runs it at tiny sizes.
"""

from __future__ import annotations

from hfcore import ConjugateGradient, HessianFree, LevenbergMarquardt, Run, RunResult, StopRule
from hfcore.config import DampingConfig, HFConfig, RNNConfig, StopConfig
from hfcore.kit.definitions import TanhRNN
from hfcore_numpy.plugin import NumpyBackendConfig, make_model
from hfcore_tasks.addition import AdditionConfig, make_addition


def train_addition(T: int = 30, hidden: int = 100, test_size: int = 10000, batches: tuple[int, int] = (10000, 1000),
                   max_iterations: int | None = None, output_dir: str | None = "runs/addition") -> RunResult:
    """Train on the addition problem of length ``T`` until it is solved; ``batches``: gradient, curvature."""
    task = make_addition(AdditionConfig(name="addition", T=T, test_size=test_size))
    model_cfg = RNNConfig(hidden=hidden)
    model = make_model(TanhRNN(task.spec, model_cfg), model_cfg, NumpyBackendConfig())  # hand-written R-op
    damping = LevenbergMarquardt(DampingConfig(lambda0=task.default_lambda0, mu=0.03))  # Tikhonov + structural
    settings = HFConfig(gradient_batch=batches[0], curvature_batch=batches[1])
    hf = HessianFree(damping, ConjugateGradient(), settings)
    run = Run(model, task, hf, StopRule(StopConfig(max_iterations=max_iterations)), seed=0, blas_threads=1,
              output_dir=output_dir, label=f"task=addition T={T} seed=0")
    return run.train()


if __name__ == "__main__":
    print(train_addition().line())

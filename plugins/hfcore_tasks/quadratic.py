"""An exactly-quadratic regression task for testing the HF engine.

Paired with the model kind ``linear`` (an affine map ``s = W x + b`` at every
step, linear output, half squared error) the training objective

    L(theta) = sum_n 0.5 ||W x_n + b - y_n||^2 / N + (l2 / 2) ||theta||^2

is an exact quadratic in ``theta = [vec(W), b]``. Its Gauss-Newton matrix
equals its Hessian, so CG on the HF model should reach the minimiser returned
by :meth:`QuadraticTask.minimiser` and the reduction ratio ``rho`` of an
undamped step is exactly 1. This makes it a cheap end-to-end check of the
engine (algorithm notes sec. 1 objective, sec. 4 CG, sec. 5 rho).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from hfcore.config import TaskConfig
from hfcore.types import Batch, ModelSpec

SPECS = ("gaussian",)
"""Known data variants: Gaussian inputs, affine targets plus Gaussian noise."""


@dataclass
class QuadraticConfig(TaskConfig):
    """Config schema of the quadratic test task.

    Parameters
    ----------
    name : str
        Registry name, ``"quadratic"``.
    T : int
        Must be 1 (single-step sequences).
    spec : str
        Data variant, one of :data:`SPECS`.
    n_in, n_out : int
        Input and output dimensions.
    n_train : int
        Size of the fixed training set.
    data_seed : int
        Seed of ``A``, ``c`` and the training set.
    noise : float
        Standard deviation of the target noise.
    test_size : int
        Size of the fixed test set.
    success_threshold : float
        Solved when the test mean squared error is below this. The default,
        0.02, is twice the noise variance at the default ``noise = 0.1``
        (the best reachable test MSE is about ``noise**2``); raise it with
        ``noise``.
    """

    name: str = "quadratic"
    T: int = 1
    spec: str = "gaussian"
    n_in: int = 3
    n_out: int = 2
    n_train: int = 64
    data_seed: int = 0
    noise: float = 0.1
    test_size: int = 1000
    success_threshold: float = 0.02


class QuadraticTask:
    """Noisy affine regression on single-step sequences.

    Parameters
    ----------
    n_in, n_out : int
        Dimensions, >= 1.
    n_train : int
        Training-set size, >= 1.
    data_seed : int
        Seeds ``A`` (n_out x n_in), ``c`` (n_out) and the training set.
    noise : float
        Target noise standard deviation, >= 0.
    test_size : int
        Test-set size, >= 1.
    test_seed : int
        Mixed with ``data_seed`` to seed the test inputs and noise, so the
        test set differs from the training set even if the two seeds agree.
    success_threshold : float
        Threshold on the test MSE, > 0.

    Attributes
    ----------
    spec : ModelSpec
        ``n_in`` inputs, ``n_out`` outputs, ``"linear"`` output.
    A, c : ndarray
        The true map; targets are ``A x + c + noise * eps``, ``eps ~ N(0, I)``.

    Notes
    -----
    ``sample`` ignores its generator and returns the first ``n`` sequences of
    the fixed training set, so the objective of the engine's gradient batch is
    one fixed quadratic and :meth:`minimiser` is its exact optimum.
    """

    name: str = "quadratic"

    def __init__(
        self,
        n_in: int = 3,
        n_out: int = 2,
        n_train: int = 64,
        data_seed: int = 0,
        noise: float = 0.1,
        test_size: int = 1000,
        test_seed: int = 12345,
        success_threshold: float = 0.02,
    ) -> None:
        for field_name, value in (("n_in", n_in), ("n_out", n_out), ("n_train", n_train),
                                  ("test_size", test_size)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"quadratic: {field_name}={value!r} must be an integer >= 1")
        if not (isinstance(noise, (int, float, np.floating)) and np.isfinite(noise) and noise >= 0):
            raise ValueError(f"quadratic: noise={noise!r} must be a finite number >= 0")
        if not (isinstance(success_threshold, (int, float, np.floating)) and success_threshold > 0):
            raise ValueError(f"quadratic: success_threshold={success_threshold!r} must be > 0")
        self.n_in, self.n_out, self.n_train = int(n_in), int(n_out), int(n_train)
        self.data_seed, self.test_seed = int(data_seed), int(test_seed)
        self.noise = float(noise)
        self.test_size = int(test_size)
        self.success_threshold = float(success_threshold)
        self.spec = ModelSpec(n_in=self.n_in, n_out=self.n_out, output="linear")

        rng = np.random.default_rng(self.data_seed)
        self.A = rng.standard_normal((self.n_out, self.n_in))
        self.c = rng.standard_normal(self.n_out)
        self._train = self._draw(rng, self.n_train)
        # A seed list differs from the single data_seed, so the streams are independent.
        self._test = self._draw(np.random.default_rng([self.data_seed, self.test_seed]), self.test_size)

    def _draw(self, rng: np.random.Generator, n: int) -> Batch:
        """``n`` single-step sequences ``(x, A x + c + noise)``; arrays read-only."""
        x = rng.standard_normal((n, self.n_in))
        y = x @ self.A.T + self.c + self.noise * rng.standard_normal((n, self.n_out))
        batch = Batch(
            inputs=x[None, :, :],
            targets=y[None, :, :],
            mask=np.ones((1, n)),
            lengths=np.ones(n, dtype=np.int64),
        )
        for arr in (batch.inputs, batch.targets, batch.mask, batch.lengths):
            arr.flags.writeable = False  # shared, cached data: nobody may edit it in place
        return batch

    def sample(self, rng: np.random.Generator, n: int) -> Batch:
        """The first ``n`` sequences of the fixed training set.

        Parameters
        ----------
        rng : numpy.random.Generator
            Ignored and not advanced (the data set is fixed).
        n : int
            1 <= n <= n_train.

        Returns
        -------
        Batch
            Views into the fixed set, shapes (1, n, n_in), (1, n, n_out),
            (1, n), (n,).
        """
        n = int(n)
        if not 1 <= n <= self.n_train:
            raise ValueError(f"quadratic: n={n} must be in [1, n_train={self.n_train}]")
        return self._train.subset(0, n)

    @property
    def max_sample(self) -> int:
        """The largest ``n`` :meth:`sample` accepts (the core checks batch sizes against it before a run)."""
        return self.n_train

    def test_batch(self) -> Batch:
        """The fixed test set (same object on every call)."""
        return self._test

    def error(self, outputs: np.ndarray, batch: Batch) -> float:
        """Mean squared error over active targets and output units.

        Parameters
        ----------
        outputs : ndarray, shape (T, B, n_out)
            Network outputs.
        batch : Batch
            Supplies targets and mask.

        Returns
        -------
        float
            ``sum(mask * ||y_hat - y||^2) / (n_active * n_out)``.
        """
        outputs = np.asarray(outputs)
        if outputs.shape != batch.targets.shape:
            raise ValueError(
                f"quadratic: outputs shape {outputs.shape} != targets shape {batch.targets.shape}"
            )
        mask = np.asarray(batch.mask)
        n_active = float(mask.sum())
        if n_active <= 0:
            raise ValueError("quadratic: batch has no active targets (mask is all zero)")
        sq = ((outputs - batch.targets) ** 2).sum(axis=-1)
        return float((sq * mask).sum() / (n_active * self.n_out))

    def solved(self, test_error: float) -> bool:
        """``test_error < success_threshold``."""
        return bool(test_error < self.success_threshold)

    def minimiser(self, l2: float, n: int | None = None) -> np.ndarray:
        """Exact minimiser of the training objective of the ``linear`` model.

        Parameters
        ----------
        l2 : float
            L2 coefficient ``kappa`` >= 0 on all parameters (weights and bias).
        n : int, optional
            Use the first ``n`` training sequences (as :meth:`sample` returns);
            default all ``n_train``.

        Returns
        -------
        ndarray, shape (n_out * n_in + n_out,)
            ``W`` (n_out x n_in, row-major) then ``b``, minimising
            ``sum_n 0.5 ||W x_n + b - y_n||^2 / N + (l2 / 2) ||theta||^2``.

        Notes
        -----
        With ``X~ = [X, 1]`` (N x (n_in+1)) and ``Theta = [W, b]``, the normal
        equations are ``(X~' X~ + N l2 I) Theta' = X~' Y``. They are solved as
        the stacked least-squares problem ``[X~; sqrt(N l2) I] Theta' ~ [Y; 0]``,
        which is better conditioned than forming ``X~' X~`` and also gives the
        minimum-norm solution when ``l2 = 0`` and ``N <= n_in``.
        """
        if not (np.isfinite(l2) and l2 >= 0):
            raise ValueError(f"quadratic: l2={l2!r} must be a finite number >= 0")
        batch = self._train if n is None else self.sample(None, n)  # type: ignore[arg-type]  # rng unused
        X = batch.inputs[0]
        Y = batch.targets[0]
        N = X.shape[0]
        Xa = np.hstack([X, np.ones((N, 1))])
        d = Xa.shape[1]
        lhs = np.vstack([Xa, np.sqrt(N * l2) * np.eye(d)])
        rhs = np.vstack([Y, np.zeros((d, self.n_out))])
        theta_t, *_ = np.linalg.lstsq(lhs, rhs, rcond=None)  # (n_in+1, n_out) = [W, b]'
        W = theta_t[:-1].T
        b = theta_t[-1]
        return np.concatenate([W.ravel(), b])

    def __repr__(self) -> str:
        return (
            f"QuadraticTask(n_in={self.n_in}, n_out={self.n_out}, n_train={self.n_train}, "
            f"data_seed={self.data_seed}, noise={self.noise}, test_size={self.test_size})"
        )


def make_quadratic(cfg: QuadraticConfig | Any) -> QuadraticTask:
    """Build a :class:`QuadraticTask` from its config (dataclass or OmegaConf node).

    Raises
    ------
    ValueError
        If ``T != 1``, ``spec`` is unknown, or any size, ``noise`` or
        ``success_threshold`` is out of range.
    """
    if cfg.T != 1:
        raise ValueError(f"quadratic: T={cfg.T!r} must be 1 (the task has single-step sequences)")
    if cfg.spec not in SPECS:
        raise ValueError(f"quadratic: spec={cfg.spec!r} is not one of {', '.join(SPECS)}")
    return QuadraticTask(
        n_in=cfg.n_in,
        n_out=cfg.n_out,
        n_train=cfg.n_train,
        data_seed=cfg.data_seed,
        noise=cfg.noise,
        test_size=cfg.test_size,
        test_seed=cfg.test_seed,
        success_threshold=cfg.success_threshold,
    )

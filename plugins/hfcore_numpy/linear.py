"""A per-step affine model ``s_i = W x_i + b`` with a matched output loss (NumPy backend).

It has no hidden state, so its Gauss-Newton matrix is exact and, with the
``linear`` output, equals the Hessian of an exactly quadratic objective: the
test bed for the CG / damping core.
"""

from __future__ import annotations

import numpy as np

from hfcore.kit.batches import BatchArrays, as_vector, batch_norm, prepare_batch
from hfcore.kit.layout import LinearLayout, LinearParams
from hfcore.kit.losses import OutputCurvature, evaluate, output_activation
from hfcore.types import Batch

from .base import NumpyArrays
from .squares import add_squares, by_sequence, group_size


class NumpyLinear(NumpyArrays, LinearLayout):
    """``s_i = W x_i + b`` at every step, ``yhat_i = g(s_i)``; objective as :class:`~hfcore_numpy.rnn.NumpyRNN`.

    **Flat parameter layout** ``W`` (O, I) row-major, then ``b`` (O,), validation and
    :meth:`init_params` are those of :class:`hfcore.kit.layout.LinearLayout`.

    Parameters
    ----------
    spec : ModelSpec
        Input/output sizes and the output/loss pair.
    cfg : ModelConfig-like
        Read by attribute: ``l2``, ``init_scale``, ``normaliser`` (``init`` is
        validated but the model is always initialised dense, ``hidden`` is unused).
    dtype : numpy dtype, optional
        ``float64`` (default) or ``float32``.

    Raises
    ------
    ValueError
        On an invalid spec or config.

    Notes
    -----
    :meth:`preactivations` returns ``t`` with shape (T, B, 0) and ``gv`` ignores the
    structural weight (``G_S = 0`` without hidden units; M&S 2011 eq. 10).
    """

    def _cat(self, p: LinearParams) -> np.ndarray:
        """``[W | b]``, shape (O, I+1), used against rows ``[x_i, 1]``."""
        w = np.empty((self.n_out, self.n_in + 1), dtype=self.dtype)
        w[:, : self.n_in] = p.W
        w[:, self.n_in] = p.b
        return w

    def _design(self, x: np.ndarray) -> np.ndarray:
        """Rows ``[x_i, 1]`` as a (T*B, I+1) matrix."""
        T, B, n_i = x.shape
        z = np.empty((T * B, n_i + 1), dtype=self.dtype)
        z[:, :n_i] = x.reshape(T * B, n_i)
        z[:, n_i] = 1.0
        return z

    def _accumulate(self, ds2: np.ndarray, z: np.ndarray, out: np.ndarray) -> None:
        """Unnormalised ``sum_i ds_i [x_i, 1]'`` into the flat layout."""
        g = ds2.T @ z
        q = self.unpack(out)
        q.W[...] = g[:, : self.n_in]
        q.b[...] = g[:, self.n_in]

    def _prepare(self, batch: Batch) -> BatchArrays:
        return prepare_batch(batch, self.n_in, self.n_out, self.dtype, batch_norm(batch, self.normaliser))

    def _pre(self, theta: np.ndarray, x: np.ndarray) -> np.ndarray:
        T, B, n_i = x.shape
        p = self.unpack(theta)
        s = np.matmul(x.reshape(T * B, n_i), p.W.T)
        s += p.b
        return s.reshape(T, B, self.n_out)

    def _objective(self, s: np.ndarray, data: BatchArrays, theta: np.ndarray) -> tuple[float, np.ndarray]:
        per_step, yhat = evaluate(self.output, s, data.y)
        total = float(np.sum(per_step * data.mask[..., 0], dtype=np.float64))
        return total / data.norm + 0.5 * self.l2 * float(np.dot(theta, theta)), yhat

    def loss(self, theta: np.ndarray, batch: Batch) -> float:
        """Objective on ``batch``."""
        theta = as_vector(theta, self.n_params, self.dtype, "theta")
        data = self._prepare(batch)
        return self._objective(self._pre(theta, data.x), data, theta)[0]

    def loss_and_grad(self, theta: np.ndarray, batch: Batch) -> tuple[float, np.ndarray]:
        """Objective and gradient ``sum m (yhat - y) [x, 1]' / N + kappa theta``."""
        value, grad, _ = self._gradient(theta, batch, False)
        return value, grad

    def loss_grad_and_squares(self, theta: np.ndarray, batch: Batch) -> tuple[float, np.ndarray, np.ndarray]:
        """:meth:`loss_and_grad` and the empirical Fisher diagonal ``N sum_i (grad c_i)**2`` (no L2 term), see
        :class:`hfcore.interfaces.HasGradientSquares`; sequence ``i``'s gradient is ``ds_i' [x_i, 1] / N``."""
        return self._gradient(theta, batch, True)

    def _gradient(self, theta: np.ndarray, batch: Batch,
                  squares: bool) -> tuple[float, np.ndarray, np.ndarray | None]:
        theta = as_vector(theta, self.n_params, self.dtype, "theta")
        data = self._prepare(batch)
        value, ds = self._objective(self._pre(theta, data.x), data, theta)
        ds -= data.y
        ds *= data.mask
        z = self._design(data.x)
        grad = np.empty(self.n_params, dtype=self.dtype)
        self._accumulate(ds.reshape(-1, self.n_out), z, grad)
        grad *= 1.0 / data.norm
        grad += self.l2 * theta
        return value, grad, (self._squares(ds, z, data.norm) if squares else None)

    def _squares(self, ds: np.ndarray, z: np.ndarray, norm: float) -> np.ndarray:
        """``N sum_i (ds_i' z_i / norm)**2`` in the flat layout, by batched GEMMs over groups of sequences."""
        T, B, n_o = ds.shape
        z = z.reshape(T, B, self.n_in + 1)
        sq = np.zeros((n_o, self.n_in + 1), dtype=self.dtype)
        step = group_size(B, n_o, self.n_in + 1, T)
        for a in range(0, B, step):
            e = min(a + step, B)
            add_squares(sq, np.matmul(by_sequence(ds, a, e, True), by_sequence(z, a, e, False)))
        out = np.empty(self.n_params, dtype=self.dtype)
        q = self.unpack(out)
        q.W[...] = sq[:, : self.n_in]
        q.b[...] = sq[:, self.n_in]
        out *= B / norm**2
        return out

    def predict(self, theta: np.ndarray, batch: Batch) -> np.ndarray:
        """Outputs ``g(s_i)``, shape (T, B, n_out)."""
        return output_activation(self.output, self.preactivations(theta, batch)[0])

    def preactivations(self, theta: np.ndarray, batch: Batch) -> tuple[np.ndarray, np.ndarray]:
        """``(s, t)`` with ``t`` of shape (T, B, 0)."""
        theta = as_vector(theta, self.n_params, self.dtype, "theta")
        data = self._prepare(batch)
        s = self._pre(theta, data.x)
        return s, np.zeros(s.shape[:2] + (0,), dtype=self.dtype)

    def curvature(self, theta: np.ndarray, batch: Batch) -> LinearCurvature:
        """Bind exact Gauss-Newton products at ``theta`` on ``batch``."""
        return LinearCurvature(self, theta, batch)


class LinearCurvature:
    """``v -> (J' m H_L J / N + kappa I) v`` for a :class:`NumpyLinear` (exact; ``G_S = 0``)."""

    def __init__(self, model: NumpyLinear, theta: np.ndarray, batch: Batch) -> None:
        self.model = model
        self.theta = as_vector(theta, model.n_params, model.dtype, "theta").copy()
        self.data = model._prepare(batch)
        self.z = model._design(self.data.x)
        s = model._pre(self.theta, self.data.x)
        self.out_curv = OutputCurvature(model.output, s, self.data.mask)

    def gv(self, v: np.ndarray, structural_weight: float = 0.0) -> np.ndarray:
        """Return ``(G + kappa I) v``; ``structural_weight`` has no effect (no hidden units)."""
        m = self.model
        v = as_vector(v, m.n_params, m.dtype, "v")
        rs = self.z @ m._cat(m.unpack(v)).T
        rds = self.out_curv.apply(rs.reshape(self.data.x.shape[:2] + (m.n_out,)))
        out = np.empty(m.n_params, dtype=m.dtype)
        m._accumulate(rds.reshape(-1, m.n_out), self.z, out)
        out *= 1.0 / self.data.norm
        if m.l2:
            out += m.l2 * v
        return out

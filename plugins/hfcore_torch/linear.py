"""A per-step affine model ``s_i = W x_i + b`` with a matched output loss (PyTorch backend).

The torch twin of :mod:`hfcore_numpy.linear`: no hidden state, so its
Gauss-Newton matrix is exact and, with the ``linear`` output, equals the Hessian
of an exactly quadratic objective.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import torch

from hfcore.kit.batches import batch_norm, resolve_dtype
from hfcore.kit.layout import LinearLayout
from hfcore.types import Batch, ModelSpec

from ._common import TORCH_DTYPES, TensorBatch, TorchModelBase, resolve_device, to_tensor_batch
from .losses import OutputCurvature, evaluate, output_activation


class LinearParams(NamedTuple):
    """Views into a flat parameter tensor (see :class:`TorchLinear`)."""

    W: torch.Tensor
    b: torch.Tensor


class TorchLinear(TorchModelBase):
    """``s_i = W x_i + b`` at every step, ``yhat_i = g(s_i)``; objective as :class:`~hfcore_torch.rnn.TorchRNN`.

    **Flat parameter layout** (as :class:`hfcore.kit.layout.LinearLayout`): ``W`` (O, I)
    row-major, then ``b`` (O,); ``n_params = O*I + O``.

    Parameters
    ----------
    spec : ModelSpec
        Input/output sizes and the output/loss pair.
    cfg : ModelConfig-like
        Read by attribute: ``l2``, ``init_scale``, ``normaliser`` (validated by the NumPy model).
    dtype : str or dtype, optional
        ``"float64"`` (default) or ``"float32"``.
    device : str or torch.device, optional
        ``"cpu"`` (default), ``"cuda"``, ``"cuda:N"`` or ``"auto"``.

    Raises
    ------
    ValueError
        On an invalid spec, config, dtype or device.

    Notes
    -----
    :meth:`preactivations` returns ``t`` with shape (T, B, 0) and ``gv`` ignores the
    structural weight (``G_S = 0`` without hidden units; M&S 2011 eq. 10).
    """

    def __init__(
        self, spec: ModelSpec, cfg: Any, dtype: Any = "float64", device: str | torch.device = "cpu"
    ) -> None:
        self.np_dtype = resolve_dtype(dtype)
        self.dtype = TORCH_DTYPES[self.np_dtype.name]
        self._reference = LinearLayout(spec, cfg, dtype=self.np_dtype)  # validation and init
        self.definition = self._reference.definition  # the model this class has hand-written derivatives for
        self.device = resolve_device(device)
        # Sizes and settings are the layout's (one derivation for every backend).
        for name in ("spec", "output", "n_in", "n_hidden", "n_out", "l2", "normaliser", "n_params"):
            setattr(self, name, getattr(self._reference, name))

    def unpack(self, theta: torch.Tensor) -> LinearParams:
        """Views ``(W, b)`` into a flat contiguous tensor."""
        k = self.n_out * self.n_in
        return LinearParams(theta[:k].view(self.n_out, self.n_in), theta[k:])

    def _prepare(self, batch: Batch) -> TensorBatch:
        norm = batch_norm(batch, self.normaliser)
        return to_tensor_batch(batch, self.n_in, self.n_out, self.np_dtype, self.device, norm)

    def _pre(self, p: LinearParams, x: torch.Tensor) -> torch.Tensor:
        """``s = W x + b`` for all ``T*B`` rows at once, shape (T, B, O)."""
        T, B, n_i = x.shape
        return torch.addmm(p.b, x.reshape(T * B, n_i), p.W.T).view(T, B, self.n_out)

    def _accumulate(self, ds: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Unnormalised ``sum_i ds_i [x_i, 1]'`` as a new flat tensor."""
        ds2 = ds.reshape(-1, self.n_out)
        return self._flat([ds2.T @ x.reshape(-1, self.n_in), ds2.sum(dim=0)])

    def _objective(self, s: torch.Tensor, data: TensorBatch, theta: torch.Tensor) -> tuple[float, torch.Tensor]:
        per_step, yhat = evaluate(self.output, s, data.y)
        total = (per_step * data.mask[..., 0]).sum(dtype=torch.float64)
        value = float(total / data.norm + 0.5 * self.l2 * (theta @ theta).to(torch.float64))
        return value, yhat

    def init_params(self, rng: np.random.Generator) -> torch.Tensor:
        """Initial parameters: :meth:`hfcore.kit.layout.LinearLayout.init_params` with the same ``rng``."""
        return self.from_numpy(self._reference.init_params(rng))

    @torch.no_grad()
    def loss(self, theta: Any, batch: Batch) -> float:
        """Objective on ``batch``."""
        theta = self._vec(theta, "theta")
        data = self._prepare(batch)
        return self._objective(self._pre(self.unpack(theta), data.x), data, theta)[0]

    @torch.no_grad()
    def loss_and_grad(self, theta: Any, batch: Batch) -> tuple[float, torch.Tensor]:
        """Objective and gradient ``sum m (yhat - y) [x, 1]' / N + kappa theta``."""
        theta = self._vec(theta, "theta")
        data = self._prepare(batch)
        value, ds = self._objective(self._pre(self.unpack(theta), data.x), data, theta)
        ds.sub_(data.y).mul_(data.mask)
        grad = self._accumulate(ds, data.x)
        grad.mul_(1.0 / data.norm)
        grad.add_(theta, alpha=self.l2)
        return value, grad

    @torch.no_grad()
    def predict(self, theta: Any, batch: Batch) -> np.ndarray:
        """Outputs ``g(s_i)``, shape (T, B, n_out), as a NumPy array."""
        theta = self._vec(theta, "theta")
        data = self._prepare(batch)
        return output_activation(self.output, self._pre(self.unpack(theta), data.x)).cpu().numpy()

    @torch.no_grad()
    def preactivations(self, theta: Any, batch: Batch) -> tuple[np.ndarray, np.ndarray]:
        """``(s, t)`` as NumPy arrays, with ``t`` of shape (T, B, 0)."""
        theta = self._vec(theta, "theta")
        data = self._prepare(batch)
        s = self._pre(self.unpack(theta), data.x).cpu().numpy()
        return s, np.zeros(s.shape[:2] + (0,), dtype=self.np_dtype)

    def curvature(self, theta: Any, batch: Batch) -> TorchLinearCurvature:
        """Bind exact Gauss-Newton products at ``theta`` on ``batch``."""
        return TorchLinearCurvature(self, theta, batch)


class TorchLinearCurvature:
    """``v -> (J' m H_L J / N + kappa I) v`` for a :class:`TorchLinear` (exact; ``G_S = 0``).

    The batch tensors and the masked output-Hessian factors are computed once
    here; each :meth:`gv` is two GEMMs and an elementwise pass, on the device.
    """

    def __init__(self, model: TorchLinear, theta: Any, batch: Batch) -> None:
        self.model = model
        with torch.no_grad():
            self.theta = model._vec(theta, "theta").clone()
            self.data = model._prepare(batch)
            s = model._pre(model.unpack(self.theta), self.data.x)
            self.out_curv = OutputCurvature(model.output, s, self.data.mask)

    @torch.no_grad()
    def gv(self, v: Any, structural_weight: float = 0.0) -> torch.Tensor:
        """Return ``(G + kappa I) v`` as a new tensor; ``structural_weight`` has no effect (no hidden units)."""
        m = self.model
        v = m._vec(v, "v")
        rds = self.out_curv.apply(m._pre(m.unpack(v), self.data.x))
        out = m._accumulate(rds, self.data.x)
        out.mul_(1.0 / self.data.norm)
        if m.l2:
            out.add_(v, alpha=m.l2)
        return out

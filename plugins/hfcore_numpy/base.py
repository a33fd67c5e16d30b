"""What the NumPy backend's hand-written models share: array conversion, chunked batches, the gated models' plumbing.

:class:`NumpyArrays` is every model's ``to_numpy`` / ``from_numpy``; :class:`ChunkedModel` adds the
walk over a batch in chunks of ``chunk_size`` sequences (:class:`~hfcore_numpy.rnn.NumpyRNN` and the
gated models); :class:`GatedModel` adds what :class:`~hfcore_numpy.lstm.NumpyLSTM` and
:class:`~hfcore_numpy.gru.NumpyGRU` do alike: one view of the adjacent bias blocks, and the chunked
loss, outputs and BPTT gradient around each model's own ``_forward``, ``_derivatives`` and ``_backward``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from hfcore.kit.batches import BatchArrays, Workspace, as_vector, batch_norm, iter_chunks, join_chunks, prepare_batch
from hfcore.kit.layout import DefinitionLayout
from hfcore.kit.losses import evaluate
from hfcore.types import Batch, ModelSpec


class NumpyArrays:
    """``to_numpy`` and ``from_numpy`` of a model whose vectors are NumPy arrays of its ``dtype``."""

    dtype: np.dtype

    def to_numpy(self, v: np.ndarray) -> np.ndarray:
        """A NumPy copy of ``v``."""
        return np.array(v, dtype=self.dtype, copy=True)

    def from_numpy(self, v: np.ndarray) -> np.ndarray:
        """``v`` as a new contiguous array of the model dtype."""
        return np.array(v, dtype=self.dtype, copy=True, order="C")


class ChunkedModel(NumpyArrays, DefinitionLayout):
    """A built-in model (:class:`hfcore.kit.layout.DefinitionLayout`) that walks a batch in chunks of sequences.

    Parameters
    ----------
    spec : ModelSpec
        Input/output sizes and the output/loss pair.
    cfg : ModelConfig-like
        The model's config, read by the definition; ``l2`` and ``normaliser`` are kept.
    dtype : numpy dtype, optional
        ``float64`` (default) or ``float32``.
    chunk_size : int, optional
        Sequences processed together; larger batches are split, which bounds the working memory.
    definition : ModelDefinition, optional
        An already built definition of the subclass's ``definition_class`` (else built from ``spec`` and ``cfg``).

    Raises
    ------
    ValueError
        On ``chunk_size < 1`` (checked first), an invalid spec or config (one-line message).
    """

    def __init__(self, spec: ModelSpec, cfg: Any, dtype: Any = np.float64, chunk_size: int = 1000,
                 definition: Any = None) -> None:
        if int(chunk_size) < 1:
            raise ValueError(f"chunk_size must be >= 1, got {chunk_size!r}")
        super().__init__(spec, cfg, dtype, definition)
        self.chunk_size = int(chunk_size)

    def _chunks(self, batch: Batch) -> Iterator[BatchArrays]:
        """The batch as converted chunks of at most ``chunk_size`` sequences, all divided by the batch's N."""
        norm = batch_norm(batch, self.normaliser)
        for chunk in iter_chunks(batch, self.chunk_size):
            yield prepare_batch(chunk, self.n_in, self.n_out, self.dtype, norm)

    def _loss_sum(self, s: np.ndarray, data: BatchArrays, outputs: bool = True) -> tuple[float, np.ndarray | None]:
        """Masked loss sum (float64 accumulation) and ``yhat`` (None unless ``outputs``)."""
        per_step, yhat = evaluate(self.output, s, data.y, outputs)
        return float(np.sum(per_step * data.mask[..., 0], dtype=np.float64)), yhat

    def _l2(self, theta: np.ndarray) -> float:
        """The L2 term ``(kappa/2) ||theta||^2``."""
        return 0.5 * self.l2 * float(np.dot(theta, theta))


class GatedModel(ChunkedModel):
    """What the gated models share around their own passes (parameters as :class:`ChunkedModel`).

    A subclass names ``definition_class`` and ``bias_blocks`` (the first and last of its adjacent
    bias blocks, which :meth:`_bias_view` spans) and writes ``unpack``, ``_forward(p, x, ws)``
    (a trace with ``s``), ``_derivatives(tr, ws)`` (the trace with ``d = D''(a)``) and
    ``_backward(p, x, tr, ds, da, out, ws)`` (the unnormalised ``J' (ds, da)``).
    """

    bias_blocks: tuple[str, str] = ("", "")

    def __init__(self, spec: ModelSpec, cfg: Any, dtype: Any = np.float64, chunk_size: int = 1000,
                 definition: Any = None) -> None:
        super().__init__(spec, cfg, dtype, chunk_size, definition)
        first, last = self.bias_blocks
        self._bias = (self.layout.slices[first][0], self.layout.slices[last][1])

    def _bias_view(self, theta: np.ndarray) -> np.ndarray:
        """One view of all the bias blocks of a flat vector (they lie next to each other)."""
        return theta[self._bias[0]:self._bias[1]]

    def _forward(self, p: Any, x: np.ndarray, ws: Workspace | None = None) -> Any:
        raise NotImplementedError

    def _derivatives(self, tr: Any, ws: Workspace | None = None) -> Any:
        raise NotImplementedError

    def _backward(self, p: Any, x: np.ndarray, tr: Any, ds: np.ndarray, da: np.ndarray, out: np.ndarray,
                  ws: Workspace) -> None:
        raise NotImplementedError

    def loss(self, theta: np.ndarray, batch: Batch) -> float:
        """Objective on ``batch`` (forward pass only, in chunks of ``chunk_size`` sequences)."""
        return self.loss_and_predict(theta, batch)[0]

    def loss_and_predict(self, theta: np.ndarray, batch: Batch) -> tuple[float, np.ndarray]:
        """:meth:`loss` and :meth:`predict` from one forward pass (test evaluation)."""
        theta = as_vector(theta, self.n_params, self.dtype, "theta")
        p = self.unpack(theta)
        ws = Workspace(self.dtype)
        total, norm, outs = 0.0, 1.0, []
        for data in self._chunks(batch):
            s = self._forward(p, data.x, ws).s
            assert s is not None
            value, yhat = self._loss_sum(s, data)
            total += value
            norm = data.norm
            outs.append(yhat)
        return total / norm + self._l2(theta), join_chunks(outs, self.dtype)

    def loss_and_grad(self, theta: np.ndarray, batch: Batch) -> tuple[float, np.ndarray]:
        """Objective and its gradient by hand-written BPTT, in chunks of ``chunk_size`` sequences."""
        theta = as_vector(theta, self.n_params, self.dtype, "theta")
        p = self.unpack(theta)
        ws = Workspace(self.dtype)
        grad = np.zeros(self.n_params, dtype=self.dtype)
        part = np.empty(self.n_params, dtype=self.dtype)
        total, norm = 0.0, 1.0
        for data in self._chunks(batch):
            tr = self._derivatives(self._forward(p, data.x, ws), ws)
            assert tr.s is not None and tr.d is not None
            value, ds = self._loss_sum(tr.s, data)
            assert ds is not None
            total += value
            norm = data.norm
            ds -= data.y  # dL/ds = yhat - y for matched pairs
            ds *= data.mask
            da = ws.get("da", tr.d.shape)
            da.fill(0.0)  # the loss reaches a only through s
            self._backward(p, data.x, tr, ds, da, part, ws)
            grad += part
        grad *= 1.0 / norm
        grad += self.l2 * theta
        return total / norm + self._l2(theta), grad

    def predict(self, theta: np.ndarray, batch: Batch) -> np.ndarray:
        """Outputs ``g(s_t)``, shape (T, B, n_out)."""
        return self.loss_and_predict(theta, batch)[1]

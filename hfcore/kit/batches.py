"""Backend-neutral batch helpers shared by every backend (NumPy, autograd, torch, third-party).

Config validation, dtype resolution, the objective normaliser, chunking and the
one-time conversion of a :class:`~hfcore.types.Batch` into contiguous arrays of
the model dtype. NumPy only: importing this module loads no backend.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from hfcore.types import NORMALISERS, Batch, ModelSpec, normaliser_count

from .losses import check_output

DTYPES = ("float32", "float64")


def resolve_dtype(dtype: Any) -> np.dtype:
    """``np.dtype`` of ``dtype``, which must be float32 or float64."""
    try:
        dt = np.dtype(dtype)
    except TypeError as exc:
        raise ValueError(f"unsupported dtype {dtype!r}; expected one of {', '.join(DTYPES)}") from exc
    if dt.name not in DTYPES:
        raise ValueError(f"unsupported dtype {dt.name!r}; expected one of {', '.join(DTYPES)}")
    return dt


def validate_common(spec: ModelSpec, cfg: Any) -> None:
    """Checks of a spec and of the keys every model config has (:class:`hfcore.config.ModelConfig`).

    ``normaliser`` and ``l2``; a model's own keys are checked by its definition.
    """
    if int(spec.n_in) < 1 or int(spec.n_out) < 1:
        raise ValueError(f"spec needs n_in >= 1 and n_out >= 1, got n_in={spec.n_in}, n_out={spec.n_out}")
    check_output(spec.output)
    if cfg.normaliser not in NORMALISERS:
        raise ValueError(f"unknown normaliser {cfg.normaliser!r}; expected one of {', '.join(NORMALISERS)}")
    if not float(cfg.l2) >= 0.0:
        raise ValueError(f"l2 must be >= 0, got {cfg.l2!r}")


@dataclass(frozen=True)
class BatchArrays:
    """A batch converted once to contiguous arrays of the model dtype.

    Attributes
    ----------
    x : ndarray, shape (T, B, n_in)
    y : ndarray, shape (T, B, n_out)
        Targets, zeroed where the mask is 0 (so stray values there cannot leak NaNs).
    mask : ndarray, shape (T, B, 1)
    valid : ndarray, shape (T, B, 1)
        1 at real steps, 0 at padding (``Batch.valid_steps``).
    norm : float
        The objective's divisor N (at least 1).
    """

    x: np.ndarray
    y: np.ndarray
    mask: np.ndarray
    valid: np.ndarray
    norm: float


def batch_norm(batch: Batch, normaliser: str) -> float:
    """The objective's divisor N for the whole batch: active targets or sequences, at least 1."""
    return max(normaliser_count(batch, normaliser), 1.0)


def prepare_batch(batch: Batch, n_in: int, n_out: int, dtype: np.dtype, norm: float) -> BatchArrays:
    """Validate shapes and convert ``batch`` to :class:`BatchArrays` (no copy when already right).

    ``norm`` is passed in because a chunk of a batch is divided by the whole batch's N.
    """
    x = np.ascontiguousarray(batch.inputs, dtype=dtype)
    if x.ndim != 3 or x.shape[2] != n_in:
        raise ValueError(f"batch.inputs must have shape (T, B, {n_in}), got {np.shape(batch.inputs)}")
    T, B = x.shape[:2]
    if T < 1 or B < 1:
        raise ValueError(f"batch must have T >= 1 and B >= 1, got T={T}, B={B}")
    mask_in = np.asarray(batch.mask)
    if mask_in.shape != (T, B):
        raise ValueError(f"batch.mask must have shape ({T}, {B}), got {mask_in.shape}")
    y_in = np.asarray(batch.targets)
    if y_in.shape != (T, B, n_out):
        raise ValueError(f"batch.targets must have shape ({T}, {B}, {n_out}), got {y_in.shape}")
    if np.shape(batch.lengths) != (B,):
        raise ValueError(f"batch.lengths must have shape ({B},), got {np.shape(batch.lengths)}")
    mask = np.ascontiguousarray(mask_in, dtype=dtype)[..., None]
    if np.all(mask_in > 0):  # nothing to zero: no copy (a full-size one at the music size) unless the dtype differs
        y = np.ascontiguousarray(y_in, dtype=dtype)
    else:
        y = np.ascontiguousarray(np.where(mask > 0, y_in, 0), dtype=dtype)
    valid = np.ascontiguousarray(batch.valid_steps(), dtype=dtype)[..., None]
    return BatchArrays(x=x, y=y, mask=mask, valid=valid, norm=norm)


def iter_chunks(batch: Batch, chunk_size: int) -> Iterator[Batch]:
    """Consecutive groups of at most ``chunk_size`` sequences (views; one chunk if the batch is small)."""
    size = int(np.shape(batch.inputs)[1])
    if size <= chunk_size:
        yield batch
        return
    for start in range(0, size, chunk_size):
        yield batch.subset(start, min(start + chunk_size, size))


def join_chunks(outputs: list[np.ndarray], dtype: np.dtype) -> np.ndarray:
    """Per-chunk outputs (T, B_k, n_out) joined along the batch axis; an empty array if none."""
    if not outputs:
        return np.empty(0, dtype=dtype)
    return outputs[0] if len(outputs) == 1 else np.concatenate(outputs, axis=1)


class Workspace:
    """Reusable scratch memory handing out C-contiguous views of any shape.

    Reusing one block per name avoids re-faulting hundreds of MB of fresh pages
    for every chunk or every Gv call.
    """

    def __init__(self, dtype: np.dtype) -> None:
        self.dtype = dtype
        self._blocks: dict[str, np.ndarray] = {}

    def get(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        """A contiguous array of ``shape`` backed by block ``name`` (contents undefined)."""
        n = int(np.prod(shape))
        block = self._blocks.get(name)
        if block is None or block.size < n:
            block = np.empty(n, dtype=self.dtype)
            self._blocks[name] = block
        return block[:n].reshape(shape)


def as_vector(v: Any, n_params: int, dtype: np.dtype, what: str = "vector") -> np.ndarray:
    """``v`` as a flat contiguous array of ``dtype`` (no copy when already right)."""
    a = np.ascontiguousarray(v, dtype=dtype)
    if a.shape != (n_params,):
        raise ValueError(f"{what} must have shape ({n_params},), got {np.shape(v)}")
    return a

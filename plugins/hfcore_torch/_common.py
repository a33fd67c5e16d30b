"""Helpers shared by :mod:`hfcore_torch.rnn` and :mod:`hfcore_torch.linear`.

Device resolution, the dtype map, the one-time conversion of a NumPy
:class:`~hfcore.types.Batch` into tensors, and a small base class that gives
every torch model the same vector handling (``to_numpy`` / ``from_numpy`` and
input validation). Batch validation itself is the NumPy backend's
:func:`hfcore.kit.batches.prepare_batch`, reused so both backends reject the
same inputs with the same messages.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from hfcore.kit.batches import prepare_batch
from hfcore.types import Batch

TORCH_DTYPES: dict[str, torch.dtype] = {"float32": torch.float32, "float64": torch.float64}
"""Backend dtype names -> torch dtypes (the same names as the NumPy backend's :data:`~hfcore.kit.batches.DTYPES`)."""


def resolve_device(device: str | torch.device) -> torch.device:
    """The torch device named by a backend config.

    Parameters
    ----------
    device : str or torch.device
        ``"auto"`` (CUDA when available, else CPU), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.

    Returns
    -------
    torch.device

    Raises
    ------
    ValueError
        For any other name, or a CUDA device when CUDA is unavailable or ``N`` is out of range.
    """
    name = str(device).strip().lower()
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cpu":
        return torch.device("cpu")
    if name == "cuda" or name.startswith("cuda:"):
        try:
            dev = torch.device(name)
        except RuntimeError as exc:
            raise ValueError(f"torch backend: invalid device {device!r}; expected 'cuda' or 'cuda:N'") from exc
        if not torch.cuda.is_available():
            raise ValueError(
                f"torch backend: device {device!r} requested but CUDA is not available "
                f"(torch {torch.__version__}, cuda build: {torch.version.cuda}); use device='cpu' or 'auto'"
            )
        count = torch.cuda.device_count()
        if dev.index is None:
            # Pin the index so tensors' devices compare equal to the model's (cuda:0 != cuda).
            return torch.device("cuda", torch.cuda.current_device())
        if not 0 <= dev.index < count:
            raise ValueError(f"torch backend: device {device!r} out of range; {count} CUDA device(s) visible")
        return dev
    raise ValueError(f"torch backend: unknown device {device!r}; expected 'auto', 'cpu', 'cuda' or 'cuda:N'")


@dataclass(frozen=True)
class TensorBatch:
    """A batch (or a chunk of one) as tensors of the model dtype on the model device.

    Attributes
    ----------
    x : Tensor, shape (T, B, n_in)
    y : Tensor, shape (T, B, n_out)
        Targets, zeroed where the mask is 0 (no stray NaNs).
    mask : Tensor, shape (T, B, 1)
    valid : Tensor, shape (T, B, 1)
        1 at real steps, 0 at padding.
    norm : float
        The objective's divisor N of the whole batch (at least 1).
    """

    x: torch.Tensor
    y: torch.Tensor
    mask: torch.Tensor
    valid: torch.Tensor
    norm: float


def to_tensor_batch(
    batch: Batch, n_in: int, n_out: int, np_dtype: np.dtype, device: torch.device, norm: float
) -> TensorBatch:
    """Validate ``batch`` (NumPy backend rules) and move it to ``device`` once.

    On CPU the tensors share memory with the validated NumPy arrays (no copy
    when the batch already has the right dtype); they are only ever read.
    Read-only arrays (tasks freeze their fixed test sets) are copied first,
    since torch cannot wrap them without a warning; they are ``n_in`` or
    ``n_out`` wide, small next to the ``H``-wide hidden states.
    """
    data = prepare_batch(batch, n_in, n_out, np_dtype, norm)

    def move(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(a if a.flags.writeable else a.copy()).to(device)

    return TensorBatch(move(data.x), move(data.y), move(data.mask), move(data.valid), norm)


class TorchModelBase:
    """Vector handling shared by the torch models.

    Subclasses set ``n_params``, ``device``, ``dtype`` (torch) and ``np_dtype`` (NumPy).
    """

    n_params: int
    device: torch.device
    dtype: torch.dtype
    np_dtype: np.dtype

    def _vec(self, v: Any, what: str = "vector") -> torch.Tensor:
        """``v`` as a flat contiguous tensor of the model dtype and device (no copy when already right).

        Accepts tensors (any dtype/device, converted) and anything NumPy can read.
        """
        if isinstance(v, torch.Tensor):
            t = v.detach()
            if t.dtype != self.dtype or t.device != self.device:
                t = t.to(device=self.device, dtype=self.dtype)
        else:
            t = torch.as_tensor(np.asarray(v, dtype=self.np_dtype), device=self.device)
        if tuple(t.shape) != (self.n_params,):
            raise ValueError(f"{what} must have shape ({self.n_params},), got {tuple(t.shape)}")
        return t.contiguous()

    def to_numpy(self, v: Any) -> np.ndarray:
        """A host NumPy copy of ``v`` (model dtype)."""
        if isinstance(v, torch.Tensor):
            return v.detach().to(device="cpu", dtype=self.dtype).numpy().copy()
        return np.array(v, dtype=self.np_dtype, copy=True)

    def from_numpy(self, v: np.ndarray) -> torch.Tensor:
        """``v`` as a new tensor of the model dtype on the model device (a tensor ``v`` is copied too)."""
        if isinstance(v, torch.Tensor):  # e.g. init_params(rng) + noise: NumPy cannot take a tensor's copy= keyword
            return v.detach().to(device=self.device, dtype=self.dtype).clone(memory_format=torch.contiguous_format)
        a = np.array(v, dtype=self.np_dtype, copy=True, order="C")
        return torch.from_numpy(a).to(self.device)

    def _flat(self, parts: list[torch.Tensor]) -> torch.Tensor:
        """Concatenate parameter-shaped pieces in layout order into one new flat tensor."""
        return torch.cat([p.reshape(-1) for p in parts])


class Workspace:
    """Reusable scratch tensors handing out contiguous views of any shape.

    Reusing one block per name avoids allocating (on CPU: page-faulting) fresh
    ``T x B x H`` buffers for every chunk or every Gv call.
    """

    def __init__(self, dtype: torch.dtype, device: torch.device) -> None:
        self.dtype = dtype
        self.device = device
        self._blocks: dict[str, torch.Tensor] = {}

    def get(self, name: str, shape: tuple[int, ...]) -> torch.Tensor:
        """A contiguous tensor of ``shape`` backed by block ``name`` (contents undefined)."""
        n = int(np.prod(shape))
        block = self._blocks.get(name)
        if block is None or block.numel() < n:
            block = torch.empty(n, dtype=self.dtype, device=self.device)
            self._blocks[name] = block
        return block[:n].view(shape)

"""Parameter layouts and initialisation of the built-in models, shared by every backend.

Each layout class validates a model's spec and config (one-line ``ValueError``),
fixes the order of the named parameter blocks in the flat vector, slices a
flat vector into those blocks (:meth:`RNNLayout.unpack`, which works on any array type
that supports slicing and ``reshape``, autograd boxes included) and draws the
initial parameters. A backend builds its model on top of one of these, so that
every backend has the same layout and the same initial parameters, draw for
draw. NumPy only.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from hfcore.kit.batches import resolve_dtype, validate_common
from hfcore.types import ModelSpec


class RNNParams(NamedTuple):
    """Views into a flat parameter vector (see :class:`RNNLayout` for the layout)."""

    W_hx: Any
    W_hh: Any
    W_yh: Any
    b_h: Any
    b_y: Any
    b_init: Any


class LinearParams(NamedTuple):
    """Views into a flat parameter vector (see :class:`LinearLayout`)."""

    W: Any
    b: Any


class RNNLayout:
    """Config, flat layout and initialisation of the tanh RNN (M&S 2011 eqs. 1-4).

    **Flat parameter layout** (every backend uses this order)::

        W_hx   (H, I)  row-major   offset 0
        W_hh   (H, H)  row-major   offset H*I
        W_yh   (O, H)  row-major   offset H*I + H*H
        b_h    (H,)                offset H*I + H*H + O*H
        b_y    (O,)                then
        b_init (H,)                then; n_params = H*I + H*H + O*H + 2*H + O

    Parameters
    ----------
    spec : ModelSpec
        Input/output sizes and the output/loss pair.
    cfg : ModelConfig-like
        Read by attribute: ``hidden``, ``l2``, ``init``, ``num_connections``,
        ``init_scale``, ``input_scale``, ``normaliser``.
    dtype : numpy dtype, optional
        ``float64`` (default) or ``float32``: the dtype of :meth:`init_params`.

    Raises
    ------
    ValueError
        On an invalid spec or config (one-line message).
    """

    def __init__(self, spec: ModelSpec, cfg: Any, dtype: Any = np.float64) -> None:
        validate_common(spec, cfg)
        if int(cfg.hidden) < 1:
            raise ValueError(f"rnn needs hidden >= 1, got {cfg.hidden!r}")
        if int(cfg.num_connections) < 1:
            raise ValueError(f"num_connections must be >= 1, got {cfg.num_connections!r}")
        self.spec = spec
        self.dtype = resolve_dtype(dtype)
        self.output: str = spec.output
        self.n_in = n_i = int(spec.n_in)
        self.n_hidden = n_h = int(cfg.hidden)
        self.n_out = n_o = int(spec.n_out)
        self.l2 = float(cfg.l2)
        self.normaliser: str = cfg.normaliser
        self.init: str = cfg.init
        self.num_connections = int(cfg.num_connections)
        self.init_scale = float(cfg.init_scale)
        self.input_scale = float(cfg.input_scale)
        shapes = [(n_h, n_i), (n_h, n_h), (n_o, n_h), (n_h,), (n_o,), (n_h,)]
        sizes = [int(np.prod(s)) for s in shapes]
        offsets = np.concatenate([[0], np.cumsum(sizes)]).tolist()
        self._layout = [(offsets[k], offsets[k + 1], shapes[k]) for k in range(len(shapes))]
        self.n_params: int = offsets[-1]

    def unpack(self, theta: Any) -> RNNParams:
        """Views ``(W_hx, W_hh, W_yh, b_h, b_y, b_init)`` into a flat contiguous vector."""
        return RNNParams(*(theta[a:b].reshape(shape) for a, b, shape in self._layout))

    def init_params(self, rng: np.random.Generator) -> np.ndarray:
        """Draw initial parameters (notes sec. 7).

        ``init="sparse"`` (IS11): each row of ``W_hx``, ``W_hh``, ``W_yh`` keeps exactly
        ``min(num_connections, fan_in)`` weights at positions drawn without replacement,
        valued ``N(0, 1) * init_scale / sqrt(num_connections)``. ``init="dense"``:
        ``N(0, init_scale^2 / fan_in)``. In both, ``W_hx`` is further multiplied by
        ``input_scale``; ``b_h``, ``b_y``, ``b_init`` are 0. Draws happen in float64 in
        the order ``W_hx, W_hh, W_yh`` (so float32 and float64 models agree), then cast.
        """
        theta = np.zeros(self.n_params)
        p = self.unpack(theta)
        n_i, n_h, n_o = self.n_in, self.n_hidden, self.n_out
        draw = self._sparse_matrix if self.init == "sparse" else self._dense_matrix
        p.W_hx[...] = draw(rng, n_h, n_i) * self.input_scale
        p.W_hh[...] = draw(rng, n_h, n_h)
        p.W_yh[...] = draw(rng, n_o, n_h)
        return theta.astype(self.dtype)

    def _sparse_matrix(self, rng: np.random.Generator, rows: int, fan_in: int) -> np.ndarray:
        k = min(self.num_connections, fan_in)
        # argsort of iid keys = an independent uniform k-subset per row, without a Python loop.
        idx = np.argsort(rng.random((rows, fan_in)), axis=1)[:, :k]
        vals = rng.standard_normal((rows, k)) * (self.init_scale / np.sqrt(self.num_connections))
        w = np.zeros((rows, fan_in))
        np.put_along_axis(w, idx, vals, axis=1)
        return w

    def _dense_matrix(self, rng: np.random.Generator, rows: int, fan_in: int) -> np.ndarray:
        return rng.standard_normal((rows, fan_in)) * (self.init_scale / np.sqrt(fan_in))


class LinearLayout:
    """Config, flat layout and initialisation of the per-step affine model ``s_i = W x_i + b``.

    **Flat parameter layout**: ``W`` (O, I) row-major, then ``b`` (O,);
    ``n_params = O*I + O``.

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
    """

    def __init__(self, spec: ModelSpec, cfg: Any, dtype: Any = np.float64) -> None:
        validate_common(spec, cfg)
        self.spec = spec
        self.dtype = resolve_dtype(dtype)
        self.output: str = spec.output
        self.n_in = int(spec.n_in)
        self.n_out = int(spec.n_out)
        self.n_hidden = 0
        self.l2 = float(cfg.l2)
        self.normaliser: str = cfg.normaliser
        self.init_scale = float(cfg.init_scale)
        self.n_params: int = self.n_out * self.n_in + self.n_out

    def unpack(self, theta: Any) -> LinearParams:
        """Views ``(W, b)`` into a flat contiguous vector."""
        k = self.n_out * self.n_in
        return LinearParams(theta[:k].reshape(self.n_out, self.n_in), theta[k:])

    def init_params(self, rng: np.random.Generator) -> np.ndarray:
        """``W ~ N(0, init_scale^2 / n_in)`` (drawn in float64, then cast), ``b = 0``."""
        theta = np.zeros(self.n_params)
        p = self.unpack(theta)
        p.W[...] = rng.standard_normal(p.W.shape) * (self.init_scale / np.sqrt(self.n_in))
        return theta.astype(self.dtype)


class ParamLayout:
    """The flat parameter vector of a model declared as named blocks (:class:`hfcore.models.ParamBlock`).

    The blocks lie in the given order, each row-major; :meth:`unpack` slices a flat
    vector into views (any array type with slicing and ``reshape``: NumPy arrays,
    autograd boxes, torch tensors) and :meth:`init_params` runs each block's rule in
    order, in float64, then casts.

    Parameters
    ----------
    blocks : sequence of ParamBlock
        Names must be unique; every dimension >= 1.

    Raises
    ------
    ValueError
        On a duplicate name or an empty dimension.
    """

    def __init__(self, blocks: Any) -> None:
        self.blocks = tuple(blocks)
        names = [b.name for b in self.blocks]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"parameter block names must be unique; repeated: {', '.join(duplicates)}")
        self.slices: dict[str, tuple[int, int, tuple[int, ...]]] = {}
        offset = 0
        for block in self.blocks:
            shape = tuple(int(d) for d in block.shape)
            if any(d < 1 for d in shape):
                raise ValueError(f"parameter block {block.name!r} has an empty dimension: shape {shape}")
            size = int(np.prod(shape)) if shape else 1
            self.slices[block.name] = (offset, offset + size, shape)
            offset += size
        self.n_params: int = offset

    def unpack(self, theta: Any) -> dict[str, Any]:
        """``{name: view}`` of a flat vector of length :attr:`n_params`."""
        return {name: theta[a:b].reshape(shape) for name, (a, b, shape) in self.slices.items()}

    def init_params(self, rng: np.random.Generator, dtype: Any = np.float64) -> np.ndarray:
        """Initial flat parameters: each block's rule in order (float64 draws), cast to ``dtype``."""
        theta = np.zeros(self.n_params)
        views = self.unpack(theta)
        for block in self.blocks:
            views[block.name][...] = block.init(rng, views[block.name].shape)
        return theta.astype(resolve_dtype(dtype))

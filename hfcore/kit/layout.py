"""Flat parameter layouts, shared by every backend.

:class:`ParamLayout` is the one derivation: the blocks of a
:class:`~hfcore.models.ModelDefinition` in order, each row-major; it slices a flat
vector into named views (any array type that supports slicing and ``reshape``,
autograd boxes and torch tensors included) and draws the initial parameters.
:class:`RNNLayout` and :class:`LinearLayout` put a built-in definition
(:mod:`hfcore.kit.definitions`) together with its layout and dtype for the
hand-written backend models, so that every backend has the same layout and the
same initial parameters, draw for draw. NumPy only.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from hfcore.kit.batches import resolve_dtype
from hfcore.kit.definitions import Linear, TanhRNN
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


class DefinitionLayout:
    """A built-in model's definition with its flat layout and dtype: what a hand-written backend model builds on.

    Subclasses name the definition class and the views type; sizes and settings are the
    definition's, the layout is :class:`ParamLayout` of its blocks (one derivation for every
    backend), so :meth:`unpack` and :meth:`init_params` agree with any generic backend.

    Parameters
    ----------
    spec : ModelSpec
        Input/output sizes and the output/loss pair.
    cfg : ModelConfig-like
        The model's config, read by the definition; ``l2`` and ``normaliser`` are kept here.
    dtype : numpy dtype, optional
        ``float64`` (default) or ``float32``: the dtype of :meth:`init_params`.
    definition : ModelDefinition, optional
        An already built definition of the right class (else built from ``spec`` and ``cfg``).

    Raises
    ------
    ValueError
        On an invalid spec or config (one-line message).
    """

    definition_class: Any = None
    views: Any = dict

    def __init__(self, spec: ModelSpec, cfg: Any, dtype: Any = np.float64, definition: Any = None) -> None:
        self.definition = self.definition_class(spec, cfg) if definition is None else definition
        self.layout = ParamLayout(self.definition.blocks())
        self.spec = self.definition.spec
        self.dtype = resolve_dtype(dtype)
        self.output: str = self.spec.output
        self.n_in: int = self.definition.n_in
        self.n_hidden: int = self.definition.n_hidden
        self.n_out: int = self.definition.n_out
        self.l2 = float(cfg.l2)
        self.normaliser: str = cfg.normaliser
        self.n_params: int = self.layout.n_params

    def unpack(self, theta: Any) -> Any:
        """Named views of the blocks of a flat contiguous vector (any array type with slicing and ``reshape``)."""
        return self.views(**self.layout.unpack(theta))

    def init_params(self, rng: np.random.Generator) -> np.ndarray:
        """Initial parameters: each block's rule in order, drawn in float64, cast to :attr:`dtype`."""
        return self.layout.init_params(rng, self.dtype)


class RNNLayout(DefinitionLayout):
    """Layout of the tanh RNN (:class:`hfcore.kit.definitions.TanhRNN`, M&S 2011 eqs. 1-4).

    **Flat parameter layout** (every backend uses this order)::

        W_hx   (H, I)  row-major   offset 0
        W_hh   (H, H)  row-major   offset H*I
        W_yh   (O, H)  row-major   offset H*I + H*H
        b_h    (H,)                offset H*I + H*H + O*H
        b_y    (O,)                then
        b_init (H,)                then; n_params = H*I + H*H + O*H + 2*H + O

    :meth:`unpack` gives :class:`RNNParams`; ``init``, ``num_connections``, ``init_scale`` and
    ``input_scale`` are the definition's. Parameters as :class:`DefinitionLayout`.
    """

    definition_class = TanhRNN
    views = RNNParams

    def __init__(self, spec: ModelSpec, cfg: Any, dtype: Any = np.float64, definition: Any = None) -> None:
        super().__init__(spec, cfg, dtype, definition)
        weights = self.definition.weights
        self.init: str = weights.init
        self.num_connections: int = weights.num_connections
        self.init_scale: float = weights.init_scale
        self.input_scale: float = weights.input_scale


class LinearLayout(DefinitionLayout):
    """Layout of the per-step affine model ``s_i = W x_i + b`` (:class:`hfcore.kit.definitions.Linear`).

    **Flat parameter layout**: ``W`` (O, I) row-major, then ``b`` (O,);
    ``n_params = O*I + O``. :meth:`unpack` gives :class:`LinearParams`.
    Parameters as :class:`DefinitionLayout`.
    """

    definition_class = Linear
    views = LinearParams

    def __init__(self, spec: ModelSpec, cfg: Any, dtype: Any = np.float64, definition: Any = None) -> None:
        super().__init__(spec, cfg, dtype, definition)
        self.init_scale: float = self.definition.init_scale


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

"""Conformance check of a :class:`hfcore.models.ModelDefinition`'s init rules, independent of any backend.

The product checks of :mod:`hfcore.testing.conformance` start from given parameters, so an init
rule that does not draw from the run's generator (NumPy's global generator, or one with its own
fixed seed) passes them; runs would then not be reproducible from their seed, nor resume to the same
initial point. :func:`check_init_rules` catches it.

Examples
--------
>>> check_init_rules(model.definition)  # doctest: +SKIP
"""

from __future__ import annotations

import numpy as np

from hfcore.models import ModelDefinition

__all__ = ["check_init_rules"]


def check_init_rules(definition: ModelDefinition, seed: int = 0) -> int:
    """Check that every block's init rule draws only from the generator it is given.

    The same generator state must give the same values, float64 of the block's shape (a rule
    drawing from global state fails); a rule whose values are not all equal must give other
    values from another generator state (a rule with its own fixed seed fails). Constant rules
    (``Zeros``, ``Constant``) pass.

    Parameters
    ----------
    definition : ModelDefinition
    seed : int
        Seed of the generators the rules are called with.

    Returns
    -------
    int
        The number of blocks checked.
    """
    blocks = list(definition.blocks())
    for block in blocks:
        shape = tuple(int(d) for d in block.shape)
        first = block.init(np.random.default_rng(seed), shape)
        again = block.init(np.random.default_rng(seed), shape)
        assert np.shape(first) == shape and np.asarray(first).dtype == np.float64, (
            f"block {block.name!r}: init gave {np.asarray(first).dtype} of shape {np.shape(first)}, "
            f"expected float64 of shape {shape}")
        assert np.array_equal(first, again), (
            f"block {block.name!r}: init rule gave different values from the same generator state "
            f"(it draws from somewhere other than the rng it is given)")
        if np.unique(first).size > 1:
            other = block.init(np.random.default_rng(seed + 1), shape)
            assert not np.array_equal(first, other), (
                f"block {block.name!r}: init rule draws the same values from every generator (it ignores rng)")
    return len(blocks)

"""Small batches that exercise every corner of the batch contract: padding, sparse masks, NaN targets."""

from __future__ import annotations

import numpy as np

from hfcore.types import Batch, ModelSpec


def masked_batch(rng: np.random.Generator, spec: ModelSpec, steps: int, size: int) -> Batch:
    """A batch with variable lengths (padding), sparse masks inside the real steps and NaN targets where unmasked.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of every value.
    spec : ModelSpec
        Input and output widths, and the output loss (targets drawn to suit it).
    steps, size : int
        ``T`` and ``B``; the first sequence is full length and the last two steps long.

    Returns
    -------
    Batch
    """
    lengths = rng.integers(2, steps + 1, size)
    lengths[0] = steps
    lengths[-1] = 2
    valid = np.arange(steps)[:, None] < lengths[None, :]
    x = rng.standard_normal((steps, size, spec.n_in)) * valid[..., None]
    mask = (rng.random((steps, size)) < 0.4) & valid
    mask[lengths - 1, np.arange(size)] = True  # every sequence has at least its last step
    if spec.output == "linear":
        y = rng.standard_normal((steps, size, spec.n_out))
    elif spec.output == "logistic":
        y = rng.random((steps, size, spec.n_out))
    else:
        y = np.eye(spec.n_out)[rng.integers(0, spec.n_out, (steps, size))]
    y[~mask] = np.nan  # "only read where mask is 1"
    return Batch(x, y, mask.astype(float), lengths)

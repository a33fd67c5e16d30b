"""Three autograd primitives with derivatives chosen for the HF inner loop.

The backend's :class:`~hfcore.models.Ops` (:class:`AutogradOps`) are built on them.
Every Gauss-Newton product sweeps the recorded tapes twice (:class:`~hfcore.kit.derived.DerivedCurvature`),
so the cost of each primitive's vjp is paid on every CG iteration:

* :func:`tanh` -- derivative ``1 - h^2`` computed once when the forward pass records the
  node, then a single multiply per sweep (autograd's own ``tanh`` recomputes
  ``cosh(t)^2`` on every sweep, and overflows for ``|t| > 710``).
* :func:`stack_steps` / :func:`take_step` -- stack per-step arrays along a new axis 0.
  ``autograd.numpy.stack`` is built from ``expand_dims`` + ``concatenate``, whose vjp slices the
  cotangent with ``__getitem__``; sweeping *that* slice backwards (the "jvp via double vjp")
  scatters each step with ``numpy.ufunc.at``, which at T=100, B=1000, H=100 took about half
  of a Gv product's time. :func:`take_step`'s vjp instead adds its slice in place into one
  accumulator with a plain basic-index ``+=``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._deps import SparseObject, anp, defvjp, defvjp_argnum, primitive, vspace

__all__ = ["AutogradOps", "stack_steps", "take_step", "tanh"]


@primitive
def tanh(t: np.ndarray) -> np.ndarray:
    """``tanh(t)``; its vjp multiplies by ``1 - h^2`` (computed once per recorded node)."""
    return np.tanh(t)


def _tanh_vjp(ans: np.ndarray, t: np.ndarray) -> Any:
    d = 1.0 - ans * ans  # evaluated when the node is recorded, reused by every sweep
    return lambda g: g * d


defvjp(tanh, _tanh_vjp)


@primitive
def take_step(a: np.ndarray, i: int) -> np.ndarray:
    """``a[i]`` (a view) for an integer ``i``; the vjp scatters with a plain ``+=``."""
    return a[i]


def _take_step_vjp(ans: np.ndarray, a: np.ndarray, i: int) -> Any:
    vs = vspace(a)

    def vjp(g: Any) -> Any:
        def add_into(acc: np.ndarray) -> np.ndarray:
            acc[i] += g  # basic index: no duplicates, so this equals ufunc.at, in place
            return acc

        return SparseObject(vs, add_into)

    return vjp


defvjp(take_step, _take_step_vjp)


@primitive
def stack_steps(*steps: np.ndarray) -> np.ndarray:
    """``numpy.stack(steps)`` along a new leading axis."""
    return np.stack(steps)


def _stack_steps_vjp(argnum: int, ans: np.ndarray, args: tuple, kwargs: dict) -> Any:
    return lambda g: take_step(g, argnum)


defvjp_argnum(stack_steps, _stack_steps_vjp)


class AutogradOps:
    """:class:`hfcore.models.Ops` for forward maps traced by autograd (plain arrays work too).

    ``tanh`` and ``stack`` along axis 0 are the primitives above; ``sigmoid`` is
    ``(1 + tanh(a / 2)) / 2``, which never overflows and reuses :func:`tanh`'s cheap vjp.
    """

    @staticmethod
    def tanh(a: Any) -> Any:
        return tanh(a)

    @staticmethod
    def sigmoid(a: Any) -> Any:
        return 0.5 * (1.0 + tanh(0.5 * a))

    @staticmethod
    def stack(arrays: Any, axis: int = 0) -> Any:
        return stack_steps(*arrays) if axis == 0 else anp.stack(list(arrays), axis=axis)

    @staticmethod
    def concatenate(arrays: Any, axis: int = 0) -> Any:
        return anp.concatenate(list(arrays), axis=axis)

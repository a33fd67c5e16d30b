"""Linear conjugate gradient as used by Hessian-free optimisation (Martens 2010).

Plain (M&S 2011 sec. 3) or diagonally preconditioned (Martens 2010 sec. 4.7) CG
on ``phi(x) = 0.5 x'Ax - b'x`` with Martens' relative-progress stopping rule and a geometric schedule of
saved iterates for backtracking. Vectors may be any array type that supports
``+``, ``-``, ``*`` by a scalar and ``@`` (dot product), so GPU arrays never
leave the device except for scalars (the preconditioner divides elementwise, ``/``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from hfcore.config import CGConfig
from hfcore.types import CGResult, Vector


def save_schedule(max_iters: int, first: int = 5, ratio: float = 1.3) -> list[int]:
    """Iterations at which iterates are saved: ``ceil(first * ratio**j)`` (M10c).

    Parameters
    ----------
    max_iters : int
        Largest iteration number to include.
    first : int
        The schedule ``ceil(first * ratio**j)``, j = 0, 1, ..., deduplicated.
    ratio : float
        Its growth factor.

    Returns
    -------
    list of int
        Increasing iteration numbers <= ``max_iters`` (5, 7, 9, 11, 15, 19, 25, ...).
    """
    out: list[int] = []
    j = 0
    while True:
        i = math.ceil(first * ratio**j - 1e-9)  # guard the float rounding of exact powers
        if i > max_iters:
            return out
        if not out or i > out[-1]:
            out.append(i)
        j += 1


class _Saved:
    """The iterates kept for backtracking, with their CG iteration numbers and ``phi`` values."""

    def __init__(self) -> None:
        self.iterates: list[Vector] = []
        self.indices: list[int] = []
        self.phis: list[float] = []

    def add(self, x: Vector, i: int, phi: float) -> None:
        if self.indices and self.indices[-1] == i:
            return
        self.iterates.append(x)
        self.indices.append(i)
        self.phis.append(phi)

    def result(self, x: Vector, phis: list[float], i: int, reason: str) -> CGResult:
        return CGResult(x, tuple(self.iterates), tuple(self.indices), tuple(self.phis), tuple(phis), i, reason)


@dataclass(frozen=True)
class ConjugateGradient:
    """Martens' CG (the ``Solver`` interface).

    Parameters
    ----------
    config : CGConfig
        Its settings (:class:`hfcore.config.CGConfig`, where the defaults live; a copy is kept):
        ``max_iters`` hard cap on iterations (250, M10); ``min_iters`` before which the progress
        test is not applied; ``progress_tol`` the progress test's ``epsilon`` (5e-4);
        ``residual_tol``: stop when ``||r||`` is below it (IS11's guard); ``save_first`` and
        ``save_ratio``: the saved-iterate schedule of :func:`save_schedule`.

    Notes
    -----
    Stop at iteration ``i`` when ``i > k``, ``phi_{i-k} < 0`` and
    ``(phi_i - phi_{i-k}) / phi_i < k * eps`` with ``k = max(10, ceil(0.1 i))``
    (Martens 2010 sec. 4.4). The sign is tested on ``phi_{i-k}`` as in Martens'
    code (``conjgrad_1.m``); since CG decreases ``phi`` monotonically this implies
    ``phi_i < 0`` (algorithm notes sec. 4). ``phi`` is tracked from the
    residual at no extra cost: ``phi = 0.5 (r - b)'x`` with ``r = Ax - b``.
    A direction with ``p'Ap <= 0`` ends the solve ("negative_curvature"): the
    iterates saved so far are returned and the step is never taken along it.
    """

    config: CGConfig = field(default_factory=CGConfig)

    def __post_init__(self) -> None:
        c = replace(self.config)  # our own copy: a schema instance is mutable
        object.__setattr__(self, "config", c)
        if c.max_iters < 1:
            raise ValueError(f"solver.max_iters must be >= 1, got {c.max_iters}")
        if c.progress_tol <= 0:
            raise ValueError(f"solver.progress_tol must be > 0, got {c.progress_tol}")
        if c.save_first < 1 or c.save_ratio <= 1:
            raise ValueError("solver.save_first must be >= 1 and solver.save_ratio > 1")

    def _progress_stop(self, phis: list[float], i: int) -> bool:
        """Martens' relative-progress test at iteration ``i`` (see the class notes)."""
        k = max(10, math.ceil(0.1 * i))
        phi = phis[i]
        return (i > k and i >= self.config.min_iters and phis[i - k] < 0
                and (phi - phis[i - k]) / phi < k * self.config.progress_tol)

    def solve(self, matvec: Callable[[Vector], Vector], b: Vector, x0: Vector | None,
              preconditioner: Vector | None = None) -> CGResult:
        """Minimise ``0.5 x'Ax - b'x`` from ``x0``.

        Parameters
        ----------
        matvec : callable
            ``v -> A v`` for a symmetric positive-definite ``A``.
        b : Vector
            Right-hand side (``-gradient`` in HF).
        x0 : Vector or None
            Starting point (HF's decayed warm start); None starts from zero
            without spending a product on the initial residual.
        preconditioner : Vector or None
            The diagonal ``d`` of ``M``, all entries > 0: standard PCG with ``z = r / d``. ``phi``, the progress
            rule and the saved iterates are unchanged (``phi`` is ``A``'s, not ``M``'s). None: plain CG.

        Returns
        -------
        CGResult
        """
        c = self.config
        schedule = set(save_schedule(c.max_iters, c.save_first, c.save_ratio))
        if x0 is None:
            x0 = b * 0.0
            r = -b
        else:
            r = matvec(x0) - b
        x = x0
        phi = float(0.5 * ((r - b) @ x))
        phis = [phi]
        saved = _Saved()
        z = r if preconditioner is None else r / preconditioner
        p = -z
        rr = float(r @ r)
        rz = rr if preconditioner is None else float(r @ z)
        reason = "max_iters"
        i = 0
        if not math.isfinite(phi) or not math.isfinite(rz):
            return CGResult(x, (x,), (0,), (phi,), tuple(phis), 0, "nonfinite")
        while i < c.max_iters:
            if math.sqrt(rr) < c.residual_tol:
                reason = "residual"
                break
            Ap = matvec(p)
            pAp = float(p @ Ap)
            if not math.isfinite(pAp) or pAp <= 0:
                reason = "nonfinite" if not math.isfinite(pAp) else "negative_curvature"
                break
            alpha = rz / pAp
            x = x + alpha * p
            r = r + alpha * Ap
            z = r if preconditioner is None else r / preconditioner
            rr = float(r @ r)
            rz_new = rr if preconditioner is None else float(r @ z)
            i += 1
            phis.append(float(0.5 * ((r - b) @ x)))
            if not math.isfinite(phis[-1]) or not math.isfinite(rz_new):
                reason = "nonfinite"
                break
            if i in schedule:
                saved.add(x, i, phis[-1])
            if self._progress_stop(phis, i):
                reason = "progress"
                break
            p = -z + (rz_new / rz) * p
            rz = rz_new
        if reason == "nonfinite":
            # The last update produced NaN/Inf: fall back to the last finite state.
            if not saved.iterates:
                return CGResult(x0, (x0,), (0,), (phis[0],), tuple(phis), i, reason)
            return saved.result(saved.iterates[-1], phis, i, reason)
        saved.add(x, i, phis[-1])
        return saved.result(x, phis, i, reason)

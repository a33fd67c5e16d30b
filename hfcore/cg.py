"""Linear conjugate gradient as used by Hessian-free optimisation (Martens 2010).

Plain (unpreconditioned, M&S 2011 sec. 3) CG on ``phi(x) = 0.5 x'Ax - b'x``
with Martens' relative-progress stopping rule and a geometric schedule of
saved iterates for backtracking. Vectors may be any array type that supports
``+``, ``-``, ``*`` by a scalar and ``@`` (dot product), so GPU arrays never
leave the device except for scalars.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

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


@dataclass(frozen=True)
class ConjugateGradient:
    """Martens' CG (the ``Solver`` interface).

    Parameters
    ----------
    max_iters : int
        Hard cap on iterations (default 250, M10).
    min_iters : int
        The progress test is not applied before this many iterations.
    progress_tol : float
        ``epsilon`` of the progress test (5e-4).
    residual_tol : float
        Stop when ``||r|| <`` this (IS11's guard).
    save_first : int
        Saved-iterate schedule: ``first`` of :func:`save_schedule`.
    save_ratio : float
        Saved-iterate schedule: ``ratio`` of :func:`save_schedule`.

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

    max_iters: int = 250
    min_iters: int = 1
    progress_tol: float = 5e-4
    residual_tol: float = 1e-10
    save_first: int = 5
    save_ratio: float = 1.3

    def __post_init__(self) -> None:
        if self.max_iters < 1:
            raise ValueError(f"solver.max_iters must be >= 1, got {self.max_iters}")
        if self.progress_tol <= 0:
            raise ValueError(f"solver.progress_tol must be > 0, got {self.progress_tol}")
        if self.save_first < 1 or self.save_ratio <= 1:
            raise ValueError("solver.save_first must be >= 1 and solver.save_ratio > 1")

    def solve(self, matvec: Callable[[Vector], Vector], b: Vector, x0: Vector | None) -> CGResult:
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

        Returns
        -------
        CGResult
        """
        schedule = set(save_schedule(self.max_iters, self.save_first, self.save_ratio))
        if x0 is None:
            x0 = b * 0.0
            r = -b
        else:
            r = matvec(x0) - b
        x = x0
        phi = float(0.5 * ((r - b) @ x))
        phis = [phi]
        iterates: list[Vector] = []
        indices: list[int] = []
        it_phis: list[float] = []

        def save(i: int) -> None:
            if indices and indices[-1] == i:
                return
            iterates.append(x)
            indices.append(i)
            it_phis.append(phis[-1])

        p = -r
        rr = float(r @ r)
        reason = "max_iters"
        i = 0
        if not math.isfinite(phi) or not math.isfinite(rr):
            return CGResult(x, (x,), (0,), (phi,), tuple(phis), 0, "nonfinite")
        while i < self.max_iters:
            if math.sqrt(rr) < self.residual_tol:
                reason = "residual"
                break
            Ap = matvec(p)
            pAp = float(p @ Ap)
            if not math.isfinite(pAp):
                reason = "nonfinite"
                break
            if pAp <= 0:
                reason = "negative_curvature"
                break
            alpha = rr / pAp
            x = x + alpha * p
            r = r + alpha * Ap
            rr_new = float(r @ r)
            i += 1
            phi = float(0.5 * ((r - b) @ x))
            phis.append(phi)
            if not math.isfinite(phi) or not math.isfinite(rr_new):
                reason = "nonfinite"
                break
            if i in schedule:
                save(i)
            k = max(10, math.ceil(0.1 * i))
            if (i > k and i >= self.min_iters and phis[i - k] < 0
                    and (phi - phis[i - k]) / phi < k * self.progress_tol):
                reason = "progress"
                break
            p = -r + (rr_new / rr) * p
            rr = rr_new
        if reason == "nonfinite":
            # The last update produced NaN/Inf: fall back to the last finite state.
            if not iterates:
                return CGResult(x0, (x0,), (0,), (phis[0],), tuple(phis), i, reason)
            return CGResult(iterates[-1], tuple(iterates), tuple(indices), tuple(it_phis), tuple(phis), i, reason)
        save(i)
        return CGResult(x, tuple(iterates), tuple(indices), tuple(it_phis), tuple(phis), i, reason)

"""Data parallelism inside one run: batch shards fixed by sequence index, partials summed in a fixed order.

Every rank holds the parameters, samples the same batches (the data stream is
part of the replicated run state) and runs the same CG arithmetic. Only the
batch work is split. A batch of ``B`` sequences is cut into ``K`` contiguous
shards by sequence index (:func:`shard_bounds`); ``K`` is a setting
(``parallel.shards``), not the number of ranks. Rank ``r`` of ``P`` computes
the shards in :func:`owned_shards`. Each shard's loss, gradient or Gv is the
model's own normalised value on that shard, weighted by the shard's share of
the batch normaliser. All ranks gather the weighted partials of every shard
and add them in shard order.

The sum is then the same floating-point sum on 1, 2 or ``K`` ranks, so the
trajectory is bit-identical for any rank count that divides the work into the
same ``K`` shards. The weights make the sum exact in exact arithmetic: with
``L_s = S_s / n_s + r(theta)`` (summed loss over the shard's normaliser plus
the L2 term) and ``w_s = n_s / N``, ``sum_s w_s L_s = S / N + r(theta)``
because the weights sum to one. Backends therefore need no change.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, cast

import numpy as np

from hfcore.interfaces import Communicator, CurvatureProduct, HasGradientSquares, Model, loss_and_predict
from hfcore.mixed_precision import float32_curvature
from hfcore.types import Batch, Vector, normaliser_count

_FAILED, _STOP = 1.0, 2.0  # flags carried in the last column of every exchanged row

LAUNCHER_SIZE_VARIABLES = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "WORLD_SIZE")
"""Environment variables through which MPICH, Open MPI and torchrun announce the number of processes."""


class RankFailure(RuntimeError):
    """Another rank of this run failed; every rank stops together."""


class StopRequested(KeyboardInterrupt):
    """A signal (Ctrl-C, SIGTERM) reached some rank; every rank stops at the same exchange."""


class SerialComm:
    """The communicator of a single-process run (the default)."""

    rank = 0
    size = 1
    name = "serial"

    def allgather_rows(self, rows: np.ndarray, counts: list[int]) -> np.ndarray:
        """Return ``rows`` (one rank holds them all)."""
        if len(counts) != 1 or rows.shape[0] != counts[0]:
            raise ValueError(f"serial allgather: {rows.shape[0]} rows for counts {counts}")
        return rows

    def barrier(self) -> None:
        """Nothing to wait for."""

    def abort(self, code: int) -> None:
        """End the process with ``code``."""
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def launched_size() -> int:
    """How many processes a launcher (mpiexec, srun via PMI, torchrun) says this job has; 1 if none."""
    for name in LAUNCHER_SIZE_VARIABLES:
        value = os.environ.get(name, "")
        if value.isdigit() and int(value) > 1:
            return int(value)
    return 1


def shard_bounds(n: int, shards: int) -> list[tuple[int, int]]:
    """Contiguous ``[start, stop)`` ranges cutting ``n`` sequences into ``min(shards, n)`` non-empty shards.

    Sizes differ by at most one; the first ``n % k`` shards are the longer ones.
    """
    if shards < 1:
        raise ValueError(f"shards must be >= 1, got {shards}")
    k = max(1, min(shards, n))
    base, extra = divmod(n, k)
    bounds, start = [], 0
    for s in range(k):
        stop = start + base + (1 if s < extra else 0)
        bounds.append((start, stop))
        start = stop
    return bounds


def owned_shards(n_shards: int, rank: int, size: int) -> range:
    """The contiguous block of shard indices that ``rank`` of ``size`` computes."""
    return range(rank * n_shards // size, (rank + 1) * n_shards // size)


def ordered_sum(rows: np.ndarray) -> np.ndarray:
    """``rows[0] + rows[1] + ...`` strictly left to right (the order never depends on the rank count)."""
    total = np.array(rows[0], dtype=np.float64, copy=True)
    for row in rows[1:]:
        total += row
    return total


@dataclass(frozen=True)
class _Plan:
    """How one batch is split: every shard's bounds and weight, and which ranks hold which."""

    bounds: list[tuple[int, int]]
    weights: np.ndarray
    counts: list[int]  # shards per rank
    sequences: list[int]  # sequences per rank
    mine: range


class ShardedCurvature:
    """Gauss-Newton products summed over the shards of one batch (forward passes cached per shard)."""

    def __init__(self, owner: ShardedModel, plan: _Plan, parts: Sequence[CurvatureProduct]) -> None:
        self.owner = owner
        self.plan = plan
        self.parts = parts

    def gv(self, v: Vector, structural_weight: float = 0.0) -> Vector:
        """The whole batch's ``(G + kappa I + structural_weight G_S) v``."""
        model = self.owner.model
        parts = dict(zip(self.plan.mine, self.parts, strict=True))
        total = self.owner._sum(self.plan, self.owner.n_params,
                                lambda s: model.to_numpy(parts[s].gv(v, structural_weight)))
        return model.from_numpy(total)


class ShardedModel:
    """A :class:`~hfcore.interfaces.Model` whose batch work is split into fixed shards over ranks.

    Parameters
    ----------
    model : Model
        The backend's model; it sees one shard at a time.
    comm : Communicator
        The ranks of the run (:class:`SerialComm` computes every shard in this process).
    shards : int
        ``K``, the number of shards each batch is cut into (at most one per sequence).
    normaliser : str
        The model's loss divisor (``targets`` or ``sequences``), used for the shard weights.
    """

    def __init__(self, model: Model, comm: Communicator, shards: int, normaliser: str = "targets") -> None:
        if shards < 1:
            raise ValueError(f"parallel.shards must be >= 1, got {shards}")
        self.model = model
        self.comm = comm
        self.shards = shards
        self.normaliser = normaliser
        self.stop_signal: int | None = None  # set by request_stop; every rank raises at the next exchange
        self._width: int | None = None

    def request_stop(self, signum: int, frame: Any = None) -> None:
        """Signal handler for multi-rank runs: stop at the next exchange instead of raising mid-collective.

        Raising at once would leave this rank out of the exchange the others wait in, and they could never
        react (a rank blocked inside MPI runs no Python signal handler). Instead the request rides on the
        next exchange, and every rank raises :class:`StopRequested` together.
        """
        self.stop_signal = signum

    def __getattr__(self, name: str) -> Any:  # backend extras (supports_curvature, dtype, ...)
        return getattr(self.model, name)

    @property
    def n_params(self) -> int:
        """Number of parameters of the wrapped model."""
        return self.model.n_params

    def plan(self, batch: Batch) -> _Plan:
        """Shards, weights and rank ownership for ``batch``."""
        bounds = shard_bounds(batch.size, self.shards)
        n = np.array([normaliser_count(batch.subset(a, b), self.normaliser) for a, b in bounds])
        total = float(n.sum())
        weights = n / total if total > 0 else np.full(len(bounds), 1.0 / len(bounds))
        size, rank = self.comm.size, self.comm.rank
        blocks = [owned_shards(len(bounds), r, size) for r in range(size)]
        sequences = [sum(bounds[s][1] - bounds[s][0] for s in block) for block in blocks]
        return _Plan(bounds, weights, [len(b) for b in blocks], sequences, blocks[rank])

    def exchange(self, counts: list[int], n_rows: int, width: int,
                 fill: Callable[[np.ndarray], None]) -> np.ndarray:
        """Gather every rank's rows, ``fill``-ed here into an ``(n_rows, width)`` array, in rank order.

        A rank whose ``fill`` raises still joins the gather, with a failure flag on its rows, so that every
        rank learns of the failure in the same collective and raises (the failing rank its own exception,
        the others :class:`RankFailure`). No rank is left waiting and rank 0 can close its run cleanly.
        """
        rows = np.zeros((n_rows, width + 1))
        error = None
        try:
            fill(rows[:, :width])
        except Exception as exc:  # re-raised below, after the other ranks have been told
            error = exc
            rows[:, width] = _FAILED
        if error is None and self.stop_signal is not None:
            rows[:, width] = _STOP
        gathered = self.comm.allgather_rows(rows, counts)
        if error is not None:
            error.hfcore_shared = True  # every rank knows: no need to abort the job
            raise error
        flags = gathered[:, width]
        owners = np.repeat(np.arange(len(counts)), counts)

        def ranks_with(flag: float) -> str:
            return ", ".join(str(r) for r in sorted(set(owners[flags == flag].tolist())))

        if (flags == _FAILED).any():
            raise RankFailure(f"rank {ranks_with(_FAILED)} of {self.comm.size} failed (its error is printed "
                              f"above); rank {self.comm.rank} stops with it")
        if (flags == _STOP).any():
            stop = StopRequested(f"a signal reached rank {ranks_with(_STOP)}")
            stop.hfcore_shared = True
            raise stop
        return gathered[:, :width]

    def _sum(self, plan: _Plan, width: int, shard_value: Callable[[int], np.ndarray]) -> np.ndarray:
        """``sum_s w_s * shard_value(s)`` over every shard, in shard order."""

        def fill(rows: np.ndarray) -> None:
            for row, s in zip(rows, plan.mine, strict=True):
                row[:] = plan.weights[s] * np.asarray(shard_value(s), np.float64)

        return ordered_sum(self.exchange(plan.counts, len(plan.mine), width, fill))

    def _shard(self, batch: Batch, plan: _Plan, s: int) -> Batch:
        return batch.subset(*plan.bounds[s])

    def init_params(self, rng: np.random.Generator) -> Vector:
        """As the wrapped model (every rank draws the same parameters from the same seed)."""
        return self.model.init_params(rng)

    def loss(self, theta: Vector, batch: Batch) -> float:
        """Objective on ``batch``, summed over shards."""
        plan = self.plan(batch)
        total = self._sum(plan, 1, lambda s: [float(self.model.loss(theta, self._shard(batch, plan, s)))])
        return float(total[0])

    def loss_and_grad(self, theta: Vector, batch: Batch) -> tuple[float, Vector]:
        """Objective and gradient on ``batch``, summed over shards (the loss rides in column 0)."""
        plan = self.plan(batch)

        def value(s: int) -> np.ndarray:
            f, g = self.model.loss_and_grad(theta, self._shard(batch, plan, s))
            return np.concatenate([[float(f)], np.asarray(self.model.to_numpy(g), np.float64)])

        total = self._sum(plan, 1 + self.n_params, value)
        return float(total[0]), self.model.from_numpy(total[1:])

    def loss_grad_and_squares(self, theta: Vector, batch: Batch) -> tuple[float, Vector, Vector]:
        """Objective, gradient and empirical Fisher diagonal on ``batch``, summed over shards.

        A shard's ``c_i`` is the whole batch's times ``1 / w_s``, so its squares (``B_s sum (grad c_i)^2`` on
        its own scale) enter the batch's ``B sum_i (grad c_i)^2`` as ``w_s^2 B / B_s`` times themselves:
        the row carries ``w_s B / B_s`` times them and :meth:`_sum` applies the other ``w_s``. Only called
        when the wrapped model has the capability (build checks it).
        """
        plan = self.plan(batch)
        n = self.n_params

        def value(s: int) -> np.ndarray:
            shard = self._shard(batch, plan, s)
            f, g, sq = cast(HasGradientSquares, self.model).loss_grad_and_squares(theta, shard)
            scale = plan.weights[s] * batch.size / shard.size
            return np.concatenate([[float(f)], np.asarray(self.model.to_numpy(g), np.float64),
                                   scale * np.asarray(self.model.to_numpy(sq), np.float64)])

        total = self._sum(plan, 1 + 2 * n, value)
        return float(total[0]), self.model.from_numpy(total[1:1 + n]), self.model.from_numpy(total[1 + n:])

    def curvature(self, theta: Vector, batch: Batch) -> ShardedCurvature:
        """Bind one curvature product per owned shard (each caches its forward pass)."""
        plan = self.plan(batch)
        return ShardedCurvature(self, plan, [self.model.curvature(theta, self._shard(batch, plan, s))
                                             for s in plan.mine])

    def low_precision_curvature(self, theta: Vector, batch: Batch) -> ShardedCurvature:
        """As :meth:`curvature`, from the wrapped model's low-precision products (a
        :class:`~hfcore.mixed_precision.MixedPrecisionModel`'s float32 twin), cut into the same shards."""
        plan = self.plan(batch)
        return ShardedCurvature(self, plan, [float32_curvature(self.model, theta, self._shard(batch, plan, s))
                                             for s in plan.mine])

    def predict(self, theta: Vector, batch: Batch) -> np.ndarray:
        """Outputs for the whole batch, shape (T, B, n_out): every rank's shards, gathered in order."""
        plan = self.plan(batch)
        width = self._n_out(theta, batch)

        def mine() -> list[np.ndarray]:
            return [np.asarray(self.model.predict(theta, self._shard(batch, plan, s))) for s in plan.mine]

        return self._gather(plan, batch, width, mine)

    def loss_and_predict(self, theta: Vector, batch: Batch) -> tuple[float, np.ndarray]:
        """:meth:`loss` and :meth:`predict` with one forward pass per shard (the wrapped model's
        ``loss_and_predict`` where it has one); the outputs wait for the loss's exchange."""
        plan = self.plan(batch)
        width = self._n_out(theta, batch)
        outputs: dict[int, np.ndarray] = {}

        def value(s: int) -> list[float]:
            f, outputs[s] = loss_and_predict(self.model, theta, self._shard(batch, plan, s))
            return [f]

        total = self._sum(plan, 1, value)
        return float(total[0]), self._gather(plan, batch, width, lambda: [outputs[s] for s in plan.mine])

    def _gather(self, plan: _Plan, batch: Batch, n_out: int, my_parts: Callable[[], list[np.ndarray]]) -> np.ndarray:
        """Every rank's shard outputs (T, B_s, n_out), gathered in shard order into (T, B, n_out)."""
        T = batch.steps

        def fill(rows: np.ndarray) -> None:  # one row per sequence, so the gather concatenates along B
            parts = my_parts()
            if parts:
                rows[:] = np.concatenate(parts, axis=1).transpose(1, 0, 2).reshape(len(rows), T * n_out)

        n_mine = plan.sequences[self.comm.rank]
        gathered = self.exchange(plan.sequences, n_mine, T * n_out, fill)
        return gathered.reshape(batch.size, T, n_out).transpose(1, 0, 2)

    def _n_out(self, theta: Vector, batch: Batch) -> int:
        # The gather needs the output width on every rank, also one without shards; one sequence tells it.
        if self._width is None:
            self._width = int(np.asarray(self.model.predict(theta, batch.subset(0, 1))).shape[2])
        return self._width

    def preactivations(self, theta: Vector, batch: Batch) -> tuple[np.ndarray, np.ndarray]:
        """As the wrapped model, on the whole batch in this process (used by dense test matrices)."""
        return self.model.preactivations(theta, batch)

    def to_numpy(self, v: Vector) -> np.ndarray:
        """As the wrapped model."""
        return self.model.to_numpy(v)

    def from_numpy(self, v: np.ndarray) -> Vector:
        """As the wrapped model."""
        return self.model.from_numpy(v)

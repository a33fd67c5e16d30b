"""Bouncing balls (M&S 2011 sec. 4.2, Table 1; algorithm notes sec. 10): next-frame prediction of 15x15 videos.

Three balls of equal mass and radius move in a square box with elastic
collisions against the walls and each other; each frame is rendered at
``resolution x resolution`` pixels (225-d for 15x15) with values in [0, 1].
The model sees frames ``x_1 .. x_T`` and predicts ``x_2 .. x_{T+1}`` with
linear outputs and squared error.

Simulation (vectorised over sequences)
--------------------------------------
Positions live in pixel units in ``[0, resolution]^2``. Every ball starts at
a uniform position with no overlap (rejection sampling) and a velocity of
norm ``speed`` pixels per frame in a uniform direction. Each frame is
``substeps`` Euler steps; after each step a ball past a wall is reflected
back (position mirrored, that velocity component negated) and every pair of
overlapping, approaching balls exchanges the velocity components along the
line of centres (elastic collision, equal masses), so kinetic energy is
conserved exactly up to rounding.

Rendering: pixel ``(r, c)`` (centre ``(r + 0.5, c + 0.5)``) has intensity
``clip(radius + 0.5 - d, 0, 1)`` for a ball at distance ``d`` (a disc with a
one-pixel anti-aliased rim), the maximum over balls. Frames are stored as
8-bit values (``round(255 v)``), so data values are multiples of 1/255.

Error
-----
:meth:`BouncingBallsTask.error` is the squared error summed over the 225
pixels of a predicted frame and averaged over all predicted frames (the
active targets) of the batch. A trivial predictor that outputs the current
frame scores about twice a ball's pixel mass per frame; the paper's Table 1
normalisation is not known (notes sec. 10), so compare our two methods with
each other, not with the paper's 22 / 35.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from hfcore.kit.tasks import check_int, check_positive
from hfcore.types import Batch, ModelSpec
from hfcore_natural._common import (
    NaturalTaskConfig,
    NextStepTask,
    SequenceSplit,
    arrays_to_splits,
    cache_dir,
    check_natural_common,
    load_or_build,
    logger,
    splits_to_arrays,
)

SIZES = {
    "tiny": {"train": 24, "valid": 6, "test": 6, "length": 40},
    "full": {"train": 4000, "valid": 500, "test": 500, "length": 100},
}
"""Sequences per split and frames per sequence for each ``size`` (``full`` follows the 4000 training
sequences of length 100 of Sutskever et al.'s RTRBM bouncing balls; validation/test are our choice)."""

CHUNK = 250
"""Sequences simulated together (bounds memory: frames are rendered per chunk)."""


@dataclass
class BouncingBallsConfig(NaturalTaskConfig):
    """Config schema of the bouncing-balls task.

    Parameters
    ----------
    name : str
        ``"bouncing_balls"``.
    T : int
        Window length (30, as in M&S 2011).
    size : str
        ``"tiny"`` or ``"full"`` (see :data:`SIZES`).
    n_balls : int
        Number of balls (3).
    resolution : int
        Frame side in pixels (15, so 225-d frames).
    radius : float
        Ball radius in pixels.
    speed : float
        Speed of every ball at the start, pixels per frame.
    substeps : int
        Simulation steps per frame.
    Other fields
        See :class:`hfcore_natural._common.NaturalTaskConfig` (``valid_fraction`` and
        ``test_fraction`` are unused here: split sizes come from :data:`SIZES`).
    """

    name: str = "bouncing_balls"
    T: int = 30
    n_balls: int = 3
    resolution: int = 15
    radius: float = 1.6
    speed: float = 0.6
    substeps: int = 10


# --------------------------------------------------------------- simulation


def simulate(
    rng: np.random.Generator, n: int, steps: int, n_balls: int, box: float, radius: float, speed: float, substeps: int
) -> tuple[np.ndarray, np.ndarray]:
    """Trajectories of ``n`` independent boxes of bouncing balls.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of initial positions and directions.
    n, steps : int
        Number of sequences and frames per sequence.
    n_balls : int
        Balls per box.
    box : float
        Side of the square box (positions in ``[0, box]``).
    radius : float
        Ball radius; ``2 * radius`` must leave room for every ball.
    speed : float
        Initial speed of every ball (per frame).
    substeps : int
        Integration steps per frame.

    Returns
    -------
    positions : ndarray, shape (steps, n, n_balls, 2)
        Ball centres at each frame.
    velocities : ndarray, shape (steps, n, n_balls, 2)
        Velocities at each frame (used to check energy conservation).
    """
    lo, hi = radius, box - radius
    pos = rng.uniform(lo, hi, size=(n, n_balls, 2))
    pairs = [(i, j) for i in range(n_balls) for j in range(i + 1, n_balls)]
    for _ in range(10000):  # redraw boxes with overlapping balls (few rounds for 3 balls in 15x15)
        bad = np.zeros(n, dtype=bool)
        for i, j in pairs:
            bad |= np.linalg.norm(pos[:, i] - pos[:, j], axis=-1) < 2 * radius
        if not bad.any():
            break
        pos[bad] = rng.uniform(lo, hi, size=(int(bad.sum()), n_balls, 2))
    else:
        raise ValueError("bouncing_balls: cannot place the balls without overlap; use fewer or smaller balls")
    angle = rng.uniform(0.0, 2 * np.pi, size=(n, n_balls))
    vel = speed * np.stack([np.cos(angle), np.sin(angle)], axis=-1)
    dt = 1.0 / substeps
    out_p = np.empty((steps, n, n_balls, 2))
    out_v = np.empty_like(out_p)
    for f in range(steps):
        out_p[f], out_v[f] = pos, vel
        for _ in range(substeps):
            pos += vel * dt
            # Walls: mirror the position back inside and flip that velocity component.
            under, over = pos < lo, pos > hi
            pos = np.where(under, 2 * lo - pos, np.where(over, 2 * hi - pos, pos))
            vel = np.where(under | over, -vel, vel)
            # Balls: equal masses exchange the normal velocity components when touching and approaching.
            for i, j in pairs:
                d = pos[:, j] - pos[:, i]
                dist = np.linalg.norm(d, axis=-1, keepdims=True)
                nrm = d / np.maximum(dist, 1e-12)
                closing = np.sum((vel[:, j] - vel[:, i]) * nrm, axis=-1, keepdims=True)
                hit = (dist < 2 * radius) & (closing < 0)
                dv = np.where(hit, closing * nrm, 0.0)
                vel[:, i] += dv
                vel[:, j] -= dv
    return out_p, out_v


def render(positions: np.ndarray, resolution: int, radius: float) -> np.ndarray:
    """Anti-aliased discs: frames in [0, 1], shape ``positions.shape[:-2] + (resolution**2,)``.

    Pixel ``(r, c)`` is row ``r`` (second coordinate) and column ``c`` (first
    coordinate); intensity ``clip(radius + 0.5 - d, 0, 1)``, maximum over balls.
    """
    centres = np.arange(resolution) + 0.5
    px = centres[None, :]  # columns: x
    py = centres[:, None]  # rows: y
    lead = positions.shape[:-2]
    frame = np.zeros(lead + (resolution, resolution))
    for b in range(positions.shape[-2]):
        x = positions[..., b, 0][..., None, None]
        y = positions[..., b, 1][..., None, None]
        d = np.sqrt((px - x) ** 2 + (py - y) ** 2)
        np.maximum(frame, np.clip(radius + 0.5 - d, 0.0, 1.0), out=frame)
    return frame.reshape(lead + (resolution * resolution,))


def _build(cfg: Any) -> dict[str, np.ndarray]:
    sizes = SIZES[cfg.size]
    rng = np.random.default_rng(cfg.data_seed)
    splits = {}
    started = time.perf_counter()
    for split in ("train", "valid", "test"):
        n, length = sizes[split], sizes["length"]
        frames = np.empty((n, length, cfg.resolution**2), dtype=np.uint8)
        for a in range(0, n, CHUNK):
            b = min(a + CHUNK, n)
            pos, _ = simulate(rng, b - a, length, cfg.n_balls, float(cfg.resolution), cfg.radius, cfg.speed,
                              cfg.substeps)
            img = render(pos, cfg.resolution, cfg.radius)  # (length, n, D)
            frames[a:b] = np.rint(255.0 * img.transpose(1, 0, 2)).astype(np.uint8)
            logger.info("bouncing_balls (%s): %s %d/%d sequences", cfg.size, split, b, n)
        splits[split] = SequenceSplit.from_list(list(frames), np.uint8, scale=1.0 / 255.0)
    logger.info("bouncing_balls (%s): built in %.1f s", cfg.size, time.perf_counter() - started)
    return splits_to_arrays(splits)


# --------------------------------------------------------------- task


class BouncingBallsTask(NextStepTask):
    """Next-frame prediction of bouncing-balls videos (see the module docstring).

    Attributes
    ----------
    name : str
        ``"bouncing_balls"``.
    spec : ModelSpec
        ``resolution**2`` inputs and outputs, ``"linear"`` outputs with squared error.
    splits : dict of str to SequenceSplit
        The cached train / valid / test sequences (8-bit frames, scale 1/255).
    """

    name = "bouncing_balls"

    def error(self, outputs: np.ndarray, batch: Batch) -> float:
        """Squared error summed over pixels, averaged over predicted frames (module docstring)."""
        return self.squared_error_per_frame(outputs, batch)

    def plot_predictions(self, outputs: np.ndarray, batch: Batch, sequence: int = 0, frames: int = 6) -> Any:
        """``frames`` predicted frames of one window under the true ones, spread over the window.

        Returns
        -------
        matplotlib.figure.Figure
            ``2 * min(frames, L)`` image panels (``L``: the window's real steps): true on top, predicted
            below. The first columns show how little one frame tells about the balls' velocities.
        """
        from hfcore_natural.plots import frames_figure

        true, predicted = self.prediction_window(outputs, batch, sequence)
        steps = np.unique(np.linspace(0, len(true) - 1, min(frames, len(true))).round().astype(int))
        return frames_figure(true, predicted, int(round(np.sqrt(true.shape[1]))), steps.tolist())


def _params(cfg: Any) -> dict[str, Any]:
    return {
        "size": cfg.size, "sizes": SIZES[cfg.size], "data_seed": int(cfg.data_seed), "n_balls": int(cfg.n_balls),
        "resolution": int(cfg.resolution), "radius": float(cfg.radius), "speed": float(cfg.speed),
        "substeps": int(cfg.substeps), "chunk": CHUNK,
    }


def make_bouncing_balls(cfg: BouncingBallsConfig | Any) -> BouncingBallsTask:
    """Build (or load from the cache) the bouncing-balls data and return the task.

    Parameters
    ----------
    cfg : BouncingBallsConfig or DictConfig

    Raises
    ------
    ValueError
        For an invalid field (one-line message).
    """
    name = "bouncing_balls"
    check_natural_common(name, cfg)
    check_int(name, "n_balls", cfg.n_balls, 1)
    check_int(name, "resolution", cfg.resolution, 4)
    check_int(name, "substeps", cfg.substeps, 1)
    check_positive(name, "radius", cfg.radius)
    check_positive(name, "speed", cfg.speed)
    if cfg.n_balls * (2 * cfg.radius) ** 2 > 0.5 * (cfg.resolution - 2 * cfg.radius) ** 2:
        raise ValueError(f"{name}: {cfg.n_balls} balls of radius {cfg.radius} do not fit a {cfg.resolution}-pixel box")
    if cfg.speed * 1.0 / cfg.substeps > cfg.radius:
        raise ValueError(f"{name}: speed/substeps={cfg.speed / cfg.substeps} must not exceed radius={cfg.radius}")
    if SIZES[cfg.size]["length"] < 2:
        raise ValueError(f"{name}: sequences need at least 2 frames")
    directory = cache_dir(name, _params(cfg), cfg.data_dir)
    path = directory / "data.npz"
    splits = arrays_to_splits(load_or_build(path, lambda: _build(cfg)))
    D = int(cfg.resolution) ** 2
    return BouncingBallsTask(
        splits, ModelSpec(n_in=D, n_out=D, output="linear"), T=cfg.T, test_size=cfg.test_size,
        test_seed=cfg.test_seed, target_error=cfg.target_error,
        eval_split=cfg.eval_split, cache_path=path,
    )

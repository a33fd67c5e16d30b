"""Polyphonic music (M&S 2011 sec. 4.2, Table 1 "MIDI"; algorithm notes sec. 10): next-step piano-roll prediction.

Data: the Bach chorales bundled in ``music21``'s corpus
(``music21.corpus.chorales.Iterator``, Riemenschneider numbering: 371 entries,
350 distinct files), read offline. Each chorale becomes a 128-d binary piano
roll (one unit per MIDI pitch) on a fixed grid of ``steps_per_quarter`` steps
per quarter note (default 2: eighth notes). A note sounding from quarter
offset ``a`` for ``q`` quarters sets its pitch on steps
``round(a * spq) .. round((a + q) * spq) - 1``; zero-length notes (grace
notes) are dropped; tied notes simply continue the held pitch; rests are
all-zero rows. The split is by piece (``data_seed`` shuffles the sorted file
list; ``valid_fraction`` / ``test_fraction`` of the pieces are held out).
Pieces shorter than a window are padded and masked.

Outputs are logistic with binary cross-entropy (the Bernoulli log-likelihood
of each note). :meth:`MusicTask.log_likelihood` reports the log-likelihood
per sequence (window) and per time step; :meth:`MusicTask.error` is the
*negative* log-likelihood per time step (nats), so smaller is better like
every other task error. The paper's Table 1 figure (-569 vs -683) is a
per-sequence value on a different MIDI set (notes sec. 10); it is not
directly comparable.

Licence: the music21 code is BSD-3-Clause; the corpus files carry their own
terms (``music21/corpus/license.txt``: distributed with permission or where
US law allows, some not for commercial use). The rolls are derived from
them, for research use.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from hfcore.kit.tasks import check_int
from hfcore.types import Batch, ModelSpec
from hfcore_natural._common import (
    MissingDependencyError,
    NaturalTaskConfig,
    NextStepTask,
    SequenceSplit,
    arrays_to_splits,
    build_in_parts,
    cache_dir,
    check_natural_common,
    load_or_build,
    logger,
    remove_parts,
    split_indices,
    splits_to_arrays,
)

MISSING_MUSIC21 = "task 'music' needs the natural extra: pip install 'hfcore[natural]'"

N_PITCHES = 128
TINY_PIECES = 10
"""Pieces used by ``size=tiny`` (the first ones of the seeded shuffle)."""

PROB_FLOOR = 1e-12
"""Probabilities are clipped to ``[PROB_FLOOR, 1 - PROB_FLOOR]`` before the log (outputs exactly 0 or 1)."""


@dataclass
class MusicConfig(NaturalTaskConfig):
    """Config schema of the music task.

    Parameters
    ----------
    name : str
        ``"music"``.
    T : int
        Window length in grid steps (200, as in M&S 2011).
    steps_per_quarter : int
        Grid resolution: 2 = eighth notes, 4 = sixteenth notes.
    size : str
        ``"tiny"`` (:data:`TINY_PIECES` pieces) or ``"full"`` (all 350 distinct chorale files).
    Other fields
        See :class:`hfcore_natural._common.NaturalTaskConfig`.
    """

    name: str = "music"
    T: int = 200
    steps_per_quarter: int = 2


def _import_music21() -> Any:
    try:
        import music21
    except ImportError as exc:  # absent, or blocked (sys.modules['music21'] = None)
        raise MissingDependencyError(MISSING_MUSIC21) from exc
    return music21


def chorale_files(music21: Any) -> list[str]:
    """Distinct chorale names (``'bach/bwv269'`` ...), sorted, from ``corpus.chorales.Iterator``."""
    names = music21.corpus.chorales.Iterator(returnType="filename")
    return sorted({str(n) for n in names})


def piano_roll(score: Any, steps_per_quarter: int) -> np.ndarray:
    """Binary (steps, 128) ``uint8`` roll of a parsed music21 score (see the module docstring)."""
    notes = []
    end = 0
    for n in score.flatten().notes:
        a = int(round(float(n.offset) * steps_per_quarter))
        b = int(round(float(n.offset + n.quarterLength) * steps_per_quarter))
        if b <= a:
            continue  # grace notes have no duration on the grid
        for p in n.pitches:
            notes.append((a, b, int(p.midi)))
        end = max(end, b)
    roll = np.zeros((end, N_PITCHES), dtype=np.uint8)
    for a, b, m in notes:
        if 0 <= m < N_PITCHES:
            roll[a:b, m] = 1
    return roll


def _build(cfg: Any, music21: Any, directory: Any, files: list[str]) -> dict[str, np.ndarray]:
    started = time.perf_counter()

    def work(name: str) -> np.ndarray | None:
        roll = piano_roll(music21.corpus.parse(name), int(cfg.steps_per_quarter))
        return roll if len(roll) >= 2 else None

    rolls = build_in_parts(directory, files, work, f"music ({cfg.size}): parsing chorales", part_size=25)
    kept = [(f, r) for f, r in zip(files, rolls, strict=True) if r is not None]
    # +1: the tiny subset was drawn with data_seed; the split uses a different stream.
    idx = split_indices(len(kept), cfg.valid_fraction, cfg.test_fraction, int(cfg.data_seed) + 1)
    splits = {
        name: SequenceSplit.from_list([kept[i][1] for i in ids], np.uint8) for name, ids in idx.items()
    }
    arrays = splits_to_arrays(splits)
    for name, ids in idx.items():
        arrays[f"{name}_pieces"] = np.array([kept[i][0] for i in ids])
    logger.info("music (%s): %d pieces in %.1f s", cfg.size, len(kept), time.perf_counter() - started)
    return arrays


class MusicTask(NextStepTask):
    """Next-step prediction of 128-d binary piano rolls (see the module docstring).

    Attributes
    ----------
    name : str
        ``"music"``.
    spec : ModelSpec
        128 inputs and outputs, ``"logistic"`` outputs with cross-entropy.
    pieces : dict of str to list of str
        Corpus names of the pieces in each split.
    """

    name = "music"

    def __init__(self, *args: Any, pieces: dict[str, list[str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.pieces = pieces

    def log_likelihood(self, outputs: np.ndarray, batch: Batch) -> tuple[float, float]:
        """Bernoulli log-likelihood of the targets (nats): ``(per sequence, per time step)``.

        Per sequence divides the total over active steps by the number of
        windows in ``batch``; per time step by the number of active steps.
        """
        p = np.clip(self._check(outputs, batch), PROB_FLOOR, 1.0 - PROB_FLOOR)
        mask = self._active(batch)
        y = np.asarray(batch.targets)
        ll = np.sum(y * np.log(p) + (1.0 - y) * np.log1p(-p), axis=-1)
        ll = np.where(np.isfinite(ll), ll, -np.inf)  # NaN outputs count as infinitely bad
        total = float(np.sum(ll[mask]))
        return total / batch.size, total / np.count_nonzero(mask)

    def error(self, outputs: np.ndarray, batch: Batch) -> float:
        """Negative log-likelihood per time step, nats (smaller is better)."""
        return -self.log_likelihood(outputs, batch)[1]

    def plot_predictions(self, outputs: np.ndarray, batch: Batch, sequence: int = 0) -> Any:
        """Piano rolls of one window: the true notes above the predicted note probabilities.

        Returns
        -------
        matplotlib.figure.Figure
            Two image panels over the pitches the window plays (a few semitones of margin).
        """
        from hfcore_natural.plots import heatmaps_figure

        true, predicted = self.prediction_window(outputs, batch, sequence)
        played = np.flatnonzero(true.any(axis=0))
        lo, hi = (int(played[0]), int(played[-1]) + 1) if played.size else (36, 85)  # else C2..C6
        rows = (max(lo - 3, 0), min(hi + 3, N_PITCHES))
        return heatmaps_figure(true, predicted, "MIDI pitch", "gray_r", 0.0, 1.0, rows=rows)

    def extra_metrics(self, outputs: np.ndarray, batch: Batch) -> dict[str, float]:
        """Both log-likelihoods of :meth:`log_likelihood` (logged as ``test.log_likelihood_per_*``)."""
        per_sequence, per_step = self.log_likelihood(outputs, batch)
        return {"log_likelihood_per_sequence": per_sequence, "log_likelihood_per_step": per_step}


def make_music(cfg: MusicConfig | Any) -> MusicTask:
    """Build (or load from the cache) the chorale piano rolls and return the task.

    Raises
    ------
    ImportError
        (:class:`~hfcore_natural._common.MissingDependencyError`) when music21 is not installed.
    ValueError
        For an invalid field (one-line message).
    """
    name = "music"
    check_natural_common(name, cfg)
    check_int(name, "steps_per_quarter", cfg.steps_per_quarter, 1)
    music21 = _import_music21()
    files = chorale_files(music21)
    if cfg.size == "tiny":
        order = np.random.default_rng(int(cfg.data_seed)).permutation(len(files))
        files = sorted(files[i] for i in order[:TINY_PIECES])
    params = {
        "size": cfg.size, "data_seed": int(cfg.data_seed), "steps_per_quarter": int(cfg.steps_per_quarter),
        "valid_fraction": float(cfg.valid_fraction), "test_fraction": float(cfg.test_fraction),
        "music21": str(music21.__version__), "files": files,
    }
    directory = cache_dir(name, params, cfg.data_dir)
    path = directory / "data.npz"
    if not path.exists():
        logger.info("music (%s): building piano rolls from %d chorales into %s", cfg.size, len(files), directory)
    arrays = load_or_build(path, lambda: _build(cfg, music21, directory, files))
    remove_parts(directory)
    pieces = {k: [str(s) for s in arrays[f"{k}_pieces"]] for k in ("train", "valid", "test")}
    return MusicTask(
        arrays_to_splits(arrays), ModelSpec(n_in=N_PITCHES, n_out=N_PITCHES, output="logistic"), T=cfg.T,
        test_size=cfg.test_size, test_seed=cfg.test_seed, target_error=cfg.target_error,
        eval_split=cfg.eval_split,
        cache_path=path, pieces=pieces,
    )

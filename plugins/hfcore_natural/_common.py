"""Shared pieces of the natural next-step-prediction tasks (M&S 2011 sec. 4.2, Table 1; algorithm notes sec. 10).

A data set is a list of variable-length frame sequences per split (``train``,
``valid``, ``test``). It is stored as one ``(N, D)`` frame array per split plus
sequence ``offsets`` in a single ``.npz`` file under a directory named by a key
that hashes every generation parameter and :data:`FORMAT_VERSION`, so changing
any parameter (or the file format) builds a new data set instead of reading a
stale one. Writes are atomic (temporary file + ``os.replace``); the slow
builders (music, speech) also keep per-chunk part files, so an interrupted
build resumes where it stopped.

:class:`NextStepTask` turns the splits into batches: the input at step ``i``
is frame ``i`` of a window, the target frame ``i + 1``; the mask is 1 at every
real step. Training windows are drawn with :meth:`NextStepTask.sample`; the
validation and test batches cut every sequence of their split into
consecutive windows with stride ``T``, so every transition of the split is
scored exactly once.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hfcore.config import TaskConfig
from hfcore.kit.tasks import SequenceTask, check_choice, check_int, check_spec
from hfcore.types import Batch, ModelSpec

logger = logging.getLogger("hfcore_natural")

FORMAT_VERSION = 1
"""Bumped whenever the cached file layout or a builder's output changes; part of every cache key."""

SIZES = ("tiny", "full")
"""``tiny``: a few sequences, builds in seconds (tests); ``full``: the sizes used for results."""

SPLITS = ("train", "valid", "test")

EVAL_SPLITS = ("test", "valid")
"""The splits a run may be scored on (``task.eval_split``)."""

SPECS = ("ms2011",)
"""The only variant: the next-step prediction setting of M&S 2011 sec. 4.2."""


class MissingDependencyError(ImportError):
    """A package or program a task needs is absent.

    An ``ImportError`` so that ``hf-train`` reports it on one line like a
    missing backend extra.
    """


# ------------------------------------------------------------------ storage


@dataclass(frozen=True)
class SequenceSplit:
    """The sequences of one split, concatenated.

    Attributes
    ----------
    frames : ndarray, shape (N, D)
        All frames of all sequences, one after another, in the stored dtype
        (``uint8`` for images and piano rolls, ``float32`` for features).
    offsets : ndarray of int64, shape (n + 1,)
        Sequence ``k`` is ``frames[offsets[k]:offsets[k + 1]]``; every
        sequence has at least 2 frames (one transition).
    scale : float
        Frame values are ``frames * scale`` (``1/255`` for 8-bit images).
    """

    frames: np.ndarray
    offsets: np.ndarray
    scale: float = 1.0

    @property
    def lengths(self) -> np.ndarray:
        """Frames per sequence, shape (n,)."""
        return np.diff(self.offsets)

    @property
    def count(self) -> int:
        """Number of sequences."""
        return int(self.offsets.size - 1)

    def sequence(self, k: int) -> np.ndarray:
        """Sequence ``k`` as float64 values, shape (L_k, D)."""
        a, b = int(self.offsets[k]), int(self.offsets[k + 1])
        return self.frames[a:b].astype(np.float64) * self.scale

    @staticmethod
    def from_list(seqs: Sequence[np.ndarray], dtype: Any, scale: float = 1.0) -> SequenceSplit:
        """Concatenate ``seqs`` (each (L_k, D), L_k >= 2) into one split."""
        if not seqs:
            raise ValueError("a split needs at least one sequence")
        lengths = [len(s) for s in seqs]
        if min(lengths) < 2:
            raise ValueError("every sequence needs at least 2 frames")
        offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        frames = np.concatenate([np.asarray(s) for s in seqs]).astype(dtype)
        return SequenceSplit(frames=frames, offsets=offsets, scale=float(scale))


def default_cache_root() -> Path:
    """``~/.cache/hfcore`` (``$XDG_CACHE_HOME/hfcore`` when that is set)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "hfcore"


def cache_key(params: dict[str, Any]) -> str:
    """16 hex digits of SHA-256 over the JSON of ``params`` and :data:`FORMAT_VERSION`."""
    blob = json.dumps({"format": FORMAT_VERSION, **params}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def cache_dir(task: str, params: dict[str, Any], data_dir: str | None) -> Path:
    """``<data_dir or ~/.cache/hfcore>/<task>/<key>``; also writes ``params.json`` there for humans."""
    root = Path(os.path.expanduser(data_dir)) if data_dir else default_cache_root()
    path = root / task / cache_key(params)
    path.mkdir(parents=True, exist_ok=True)
    info = path / "params.json"
    if not info.exists():
        text = json.dumps({"format": FORMAT_VERSION, **params}, indent=2, sort_keys=True, default=str)
        _atomic_write_text(info, text)
    return path


def _atomic_write_text(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.replace(tmp, path)


def save_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write ``arrays`` to ``path`` atomically (a reader never sees half a file)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".npz")
    os.close(fd)
    try:
        np.savez_compressed(tmp, **arrays)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def splits_to_arrays(splits: dict[str, SequenceSplit]) -> dict[str, np.ndarray]:
    """Flatten splits to ``{split}_frames``, ``{split}_offsets``, ``{split}_scale`` entries."""
    out: dict[str, np.ndarray] = {}
    for name, sp in splits.items():
        out[f"{name}_frames"] = sp.frames
        out[f"{name}_offsets"] = sp.offsets
        out[f"{name}_scale"] = np.array(sp.scale)
    return out


def arrays_to_splits(arrays: Any) -> dict[str, SequenceSplit]:
    """Inverse of :func:`splits_to_arrays`."""
    return {
        name: SequenceSplit(
            frames=np.asarray(arrays[f"{name}_frames"]),
            offsets=np.asarray(arrays[f"{name}_offsets"]),
            scale=float(arrays[f"{name}_scale"]),
        )
        for name in SPLITS
    }


def load_or_build(path: Path, build: Callable[[], dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Arrays of the ``.npz`` at ``path``, building and saving them first if it is absent."""
    if not path.exists():
        save_npz(path, build())
    with np.load(path, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


def build_in_parts(
    directory: Path,
    items: Sequence[Any],
    work: Callable[[Any], np.ndarray | None],
    what: str,
    part_size: int,
) -> list[np.ndarray | None]:
    """``[work(item) for item in items]``, saving every ``part_size`` results so a rerun resumes.

    Part files ``part-XXXXX.npz`` live in ``directory``; results that are
    ``None`` (an item that yields nothing) are kept as such. Progress goes to
    the ``hfcore_natural`` logger. The caller deletes the parts once the final
    file is written (:func:`remove_parts`).
    """
    results: list[np.ndarray | None] = []
    n = len(items)
    for start in range(0, n, part_size):
        part = directory / f"part-{start // part_size:05d}.npz"
        chunk = items[start : start + part_size]
        got = None
        try:
            with np.load(part, allow_pickle=False) as data:
                present = data["present"]
                got = [data[f"a{j}"] if present[j] else None for j in range(len(chunk))]
        except FileNotFoundError:  # not built yet (or removed by a concurrent build that just finished)
            pass
        if got is None:
            got = [work(item) for item in chunk]
            arrays = {f"a{j}": a for j, a in enumerate(got) if a is not None}
            arrays["present"] = np.array([a is not None for a in got])
            save_npz(part, arrays)
        results.extend(got)
        logger.info("%s: %d/%d done", what, min(start + part_size, n), n)
    return results


def remove_parts(directory: Path) -> None:
    """Delete the part files of :func:`build_in_parts`."""
    for part in directory.glob("part-*.npz"):
        part.unlink(missing_ok=True)


def split_indices(n: int, valid_fraction: float, test_fraction: float, seed: int) -> dict[str, np.ndarray]:
    """Shuffle ``range(n)`` with ``seed`` and cut it into train / valid / test (each non-empty, sorted).

    Validation and test get ``max(1, round(f * n))`` items each; the rest train.
    """
    n_valid = max(1, round(valid_fraction * n))
    n_test = max(1, round(test_fraction * n))
    if n - n_valid - n_test < 1:
        raise ValueError(f"{n} items cannot be split into train/valid/test")
    perm = np.random.default_rng(seed).permutation(n)
    return {
        "test": np.sort(perm[:n_test]),
        "valid": np.sort(perm[n_test : n_test + n_valid]),
        "train": np.sort(perm[n_test + n_valid :]),
    }


# ------------------------------------------------------------------ config


@dataclass
class NaturalTaskConfig(TaskConfig):
    """Fields shared by the natural tasks (subclassed by each task's config).

    Parameters
    ----------
    T : int
        Window length: steps with a target (the window reads ``T + 1`` frames).
    spec : str
        Only ``"ms2011"`` (next-step prediction, M&S 2011 sec. 4.2).
    size : str
        ``"tiny"`` (tests; builds in seconds) or ``"full"`` (results).
    data_dir : str or None
        Cache root; None means ``~/.cache/hfcore`` (``$XDG_CACHE_HOME/hfcore``).
        The data set lives in ``<root>/<task>/<key>/``.
    data_seed : int
        Seed of the data generation and of the train/valid/test split.
    valid_fraction, test_fraction : float
        Shares of sequences (balls), pieces (music) or sentences (speech)
        held out, each in (0, 0.5).
    test_size : int
        At most this many test (and validation) windows, taken in order.
    test_seed : int
        Unused: the test set is the fixed test split.
    success_threshold : float
        Unused (the pathological tasks' zero-one threshold); see ``target_error``.
    target_error : float or None
        ``solved`` when the test error (the task's :meth:`~NextStepTask.error`) is at most
        this; None (default): never, so runs go to their budget.
    eval_split : str
        The held-out split a run is scored on: ``test`` (default), or ``valid`` to choose
        settings (e.g. a learning rate, ``sweep=adam_lr_natural``) without looking at the test split.
    """

    T: int = 30
    spec: str = "ms2011"
    size: str = "full"
    data_dir: str | None = None
    data_seed: int = 2011
    valid_fraction: float = 0.1
    test_fraction: float = 0.1
    test_size: int = 10000
    target_error: float | None = None
    eval_split: str = "test"


# --------------------------------------------------------------- validation


def check_fraction(name: str, field: str, value: Any) -> None:
    """``value`` must be a number in (0, 0.5)."""
    ok = isinstance(value, (int, float, np.floating)) and not isinstance(value, bool)
    if not (ok and 0 < value < 0.5):
        raise ValueError(f"{name}: {field}={value!r} must be in (0, 0.5)")


def check_natural_common(name: str, cfg: Any) -> None:
    """Fields every natural task shares: T, spec, size, test_size, fractions, seed, target error."""
    check_int(name, "T", cfg.T, 1)
    check_spec(name, cfg.spec, SPECS)
    check_choice(name, "size", cfg.size, SIZES)
    check_int(name, "test_size", cfg.test_size, 1)
    check_int(name, "data_seed", cfg.data_seed, 0)
    check_fraction(name, "valid_fraction", cfg.valid_fraction)
    check_fraction(name, "test_fraction", cfg.test_fraction)
    check_choice(name, "eval_split", cfg.eval_split, EVAL_SPLITS)
    thr = cfg.target_error
    if thr is not None:
        ok = isinstance(thr, (int, float, np.floating)) and not isinstance(thr, bool)
        if not (ok and math.isfinite(thr)):
            raise ValueError(f"{name}: target_error={thr!r} must be a finite number or null")
    if cfg.data_dir is not None and not isinstance(cfg.data_dir, str):
        raise ValueError(f"{name}: data_dir={cfg.data_dir!r} must be a path string or null")


# --------------------------------------------------------------- base class


class NextStepTask(SequenceTask):
    """Next-step prediction over cached sequence splits.

    Subclasses build :attr:`splits` and set :attr:`name`, :attr:`spec`; they
    implement :meth:`error`.

    Parameters
    ----------
    splits : dict of str to SequenceSplit
        ``train``, ``valid`` and ``test`` sequences.
    spec : ModelSpec
        ``n_in == n_out ==`` frame dimension, and the output/loss pair.
    T : int
        Window length (steps with a target); a window reads ``T + 1`` frames.
    test_size : int
        At most this many test (and validation) windows, taken in order.
    test_seed : int
        Kept for the common task interface; the test set is the fixed test
        split, so it draws nothing.
    target_error : float or None
        :meth:`solved` is true when the test error is at most this; None: never.
    cache_path : Path or None
        Where the data set lives (for reports).
    eval_split : str
        The split :meth:`test_batch` tiles: ``test``, or ``valid`` (model selection).

    Notes
    -----
    A window starting at frame ``s`` of a sequence of ``L`` frames has
    ``k = min(T, L - 1 - s)`` real steps: inputs ``x_s .. x_{s+k-1}``, targets
    ``x_{s+1} .. x_{s+k}``, mask 1 on those steps, zeros after (a sequence
    shorter than ``T + 1`` frames is padded, ``lengths = k``).
    """

    def __init__(
        self,
        splits: dict[str, SequenceSplit],
        spec: ModelSpec,
        T: int,
        test_size: int,
        test_seed: int,
        target_error: float | None,
        cache_path: Path | None = None,
        eval_split: str = "test",
    ) -> None:
        super().__init__(T, "ms2011", test_size, test_seed, 1.0)
        self.target_error = None if target_error is None else float(target_error)
        self.splits = splits
        self.spec = spec
        self.max_length = self.T
        self._lambda0 = 0.01 * spec.n_out  # IS11's general rule 0.01 * outputs (notes sec. 6)
        self.cache_path = cache_path
        self.eval_split = eval_split
        self._valid: Batch | None = None
        # Sampling weights: every window start of the training split is equally likely.
        self._starts = np.maximum(self.splits["train"].lengths - self.T, 1).astype(np.int64)
        self._weights = self._starts / self._starts.sum()

    # ------------------------------------------------------------------ data

    def _windows(self, split: SequenceSplit, seq: np.ndarray, start: np.ndarray) -> Batch:
        """Batch of windows ``(seq[b], start[b])`` of ``split`` (vectorised gather)."""
        T = self.T
        steps = np.minimum(T, split.lengths[seq] - 1 - start)  # real steps per window, >= 1
        t = np.arange(T)[:, None]
        valid = t < steps[None, :]
        first = split.offsets[seq] + start
        idx = np.where(valid, first[None, :] + t, first[None, :])  # padding reads a harmless real frame
        frames = split.frames
        inputs = frames[idx].astype(np.float64) * split.scale
        targets = frames[idx + valid].astype(np.float64) * split.scale
        inputs *= valid[..., None]
        targets *= valid[..., None]
        mask = valid.astype(np.float64)
        return Batch(inputs=inputs, targets=targets, mask=mask, lengths=steps.astype(np.int64))

    def _sample(self, rng: np.random.Generator, n: int) -> Batch:
        """``n`` training windows: a sequence (weighted by its window count), then a uniform start."""
        seq = rng.choice(self._starts.size, size=n, p=self._weights)
        start = np.floor(rng.random(n) * self._starts[seq]).astype(np.int64)
        return self._windows(self.splits["train"], seq, start)

    def _tiled(self, split_name: str) -> Batch:
        """Consecutive windows (stride ``T``) over every sequence of a split, at most ``test_size`` of them."""
        split = self.splits[split_name]
        seqs, starts = [], []
        for k, length in enumerate(split.lengths):
            s = np.arange(0, int(length) - 1, self.T)
            seqs.append(np.full(s.size, k))
            starts.append(s)
        seq = np.concatenate(seqs)[: self.test_size]
        start = np.concatenate(starts)[: self.test_size]
        batch = self._windows(split, seq, start)
        for arr in (batch.inputs, batch.targets, batch.mask, batch.lengths):
            arr.flags.writeable = False
        return batch

    def test_batch(self) -> Batch:
        """The ``eval_split`` (the test split by default) as consecutive windows (cached, read-only; the same
        object every call)."""
        if self._test is None:
            self._test = self._tiled(self.eval_split)
        return self._test

    def validation_batch(self) -> Batch:
        """The validation split as consecutive windows (cached, read-only)."""
        if self._valid is None:
            self._valid = self._tiled("valid")
        return self._valid

    # --------------------------------------------------------------- scoring

    def _active(self, batch: Batch) -> np.ndarray:
        mask = np.asarray(batch.mask) > 0
        if not mask.any():
            raise ValueError(f"{self.name}: batch has no active targets (mask is all zero)")
        return mask

    def squared_error_per_frame(self, outputs: np.ndarray, batch: Batch) -> float:
        """``sum_d (yhat_d - y_d)^2`` averaged over the active (predicted) frames; NaN stays NaN."""
        outputs = self._check(outputs, batch)
        mask = self._active(batch)
        err = np.sum((outputs - np.asarray(batch.targets)) ** 2, axis=-1)
        return float(np.sum(err[mask]) / np.count_nonzero(mask))

    # -------------------------------------------------------------- pictures

    def prediction_window(self, outputs: np.ndarray, batch: Batch, sequence: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """True and predicted frames of window ``sequence`` over its real steps, each ``(L, D)``."""
        outputs = self._check(outputs, batch)
        if not 0 <= sequence < batch.size:
            raise ValueError(f"{self.name}: sequence={sequence} is not in [0, {batch.size})")
        steps = int(batch.lengths[sequence])
        return np.asarray(batch.targets)[:steps, sequence], outputs[:steps, sequence]

    def plot_predictions(self, outputs: np.ndarray, batch: Batch, sequence: int = 0) -> Any:
        """Predicted against true frames of one window (hf-train logs it as ``plots/predictions.png``).

        Parameters
        ----------
        outputs : ndarray, shape (T, B, D)
            Model outputs on ``batch``, as from ``Model.predict``.
        batch : Batch
            Windows of this task (hf-train passes the first test window).
        sequence : int
            Which window of ``batch`` to draw.

        Returns
        -------
        matplotlib.figure.Figure
            Here two heatmaps (true above predicted) over the window's real steps;
            subclasses draw what suits their data.
        """
        from hfcore_natural.plots import heatmaps_figure

        true, predicted = self.prediction_window(outputs, batch, sequence)
        return heatmaps_figure(true, predicted, "dimension", "viridis", float(true.min()), float(true.max()))

    def solved(self, test_error: float) -> bool:
        """``test_error <= target_error``; always False when no target is configured."""
        if self.target_error is None:
            return False
        return bool(test_error <= self.target_error)

    def __repr__(self) -> str:
        counts = ", ".join(f"{k}={self.splits[k].count}" for k in SPLITS)
        return f"{type(self).__name__}(T={self.T}, sequences: {counts}, cache={str(self.cache_path)!r})"

"""Speech features (M&S 2011 sec. 4.2, Table 1 "speech"; algorithm notes sec. 10): next-frame prediction.

The paper used TIMIT, which is not free. Here the speech is synthesised
offline by the ``espeak-ng`` program (GPL-3.0; only its output is used) from
the fixed sentences of :mod:`hfcore_natural.sentences`. Each sentence is
spoken ``renditions`` times; rendition ``r`` of sentence ``k`` draws, from
``default_rng([data_seed, k, r])``, a voice (:data:`VOICES`), a variant
(:data:`VARIANTS`, e.g. ``+f3``), a speed in words per minute and a pitch, so
the corpus has some speaker variety.

Features: the 22 050 Hz output is resampled to 16 kHz
(``scipy.signal.resample_poly(x, 320, 441)``) and turned into 39-d frames
every 10 ms (13 MFCC + delta + delta-delta, :mod:`hfcore_natural.mfcc`).
Each of the 39 dimensions is then standardised with the mean and standard
deviation of the *training* frames (stored as ``feature_mean`` /
``feature_std`` in the cache). The split is by sentence: no text appears in
two splits.

Outputs are linear with squared error. :meth:`SpeechTask.error` is the
squared error summed over the 39 standardised dimensions of a predicted
frame, averaged over all predicted frames. Table 1's numbers (22 vs 41) were
measured on TIMIT with an unknown normalisation; compare our methods with
each other.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
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
from hfcore_natural.sentences import SENTENCES

MISSING_ESPEAK = "task 'speech' needs the espeak-ng program on PATH: apt-get install espeak-ng"
MISSING_SCIPY = "task 'speech' needs the natural extra: pip install 'hfcore[natural]'"

N_FEATURES = 39
TARGET_RATE = 16000

VOICES = ("en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-gb-x-gbclan", "en-gb-x-gbcwmd", "en-029")
"""espeak-ng's own English voices (no MBROLA ``mb-*`` voices, which need extra data)."""

VARIANTS = ("", "m1", "m2", "m3", "m4", "f1", "f2", "f3", "f4")
"""Voice variants shipped with espeak-ng (``""``: the voice's default)."""

TINY = {"sentences": 12, "renditions": 2}
"""``size=tiny``: the first 12 sentences, 2 renditions each."""


@dataclass
class SpeechConfig(NaturalTaskConfig):
    """Config schema of the speech task.

    Parameters
    ----------
    name : str
        ``"speech"``.
    T : int
        Window length in 10 ms frames (100, as in M&S 2011).
    size : str
        ``"tiny"`` (:data:`TINY`) or ``"full"`` (all sentences, ``renditions`` each).
    renditions : int
        Utterances per sentence for ``size=full``.
    speed : list of int
        ``[lo, hi]`` words per minute (uniform integer, inclusive).
    pitch : list of int
        ``[lo, hi]`` espeak-ng pitch, 0-99 (uniform integer, inclusive).
    Other fields
        See :class:`hfcore_natural._common.NaturalTaskConfig` (the fractions split the sentences).
    """

    name: str = "speech"
    T: int = 100
    renditions: int = 16
    speed: list[int] = field(default_factory=lambda: [130, 210])
    pitch: list[int] = field(default_factory=lambda: [25, 75])


def espeak_path() -> str:
    """Absolute path of ``espeak-ng``; raises :class:`MissingDependencyError` when it is not on PATH."""
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise MissingDependencyError(MISSING_ESPEAK)
    return exe


def espeak_version(exe: str) -> str:
    """First line of ``espeak-ng --version`` (part of the cache key: another version speaks differently)."""
    out = subprocess.run([exe, "--version"], capture_output=True, text=True, check=True, timeout=30)
    return out.stdout.strip().splitlines()[0] if out.stdout.strip() else "unknown"


def synthesise(exe: str, text: str, voice: str, speed: int, pitch: int, workdir: str) -> tuple[np.ndarray, int]:
    """Speak ``text`` with espeak-ng; returns (float64 samples in [-1, 1], sample rate).

    Uses ``-w file`` (``--stdout`` writes a placeholder size in the WAV header).
    """
    from scipy.io import wavfile

    path = os.path.join(workdir, "utterance.wav")
    cmd = [exe, "-v", voice, "-s", str(speed), "-p", str(pitch), "-w", path, text]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if res.returncode != 0 or not os.path.exists(path):
        raise RuntimeError(f"espeak-ng failed ({' '.join(cmd[:-1])}): {res.stderr.strip()[:200]}")
    rate, data = wavfile.read(path)
    os.remove(path)
    x = data.astype(np.float64)
    if data.dtype == np.int16:
        x /= 32768.0
    if x.ndim > 1:
        x = x.mean(axis=1)
    return x, int(rate)


def utterance_features(x: np.ndarray, rate: int) -> np.ndarray:
    """39-d features of a waveform at 10 ms steps, after resampling to 16 kHz."""
    from math import gcd

    from scipy.signal import resample_poly

    from hfcore_natural.mfcc import features

    if rate != TARGET_RATE:
        g = gcd(TARGET_RATE, rate)
        x = resample_poly(x, TARGET_RATE // g, rate // g)  # 22050 Hz -> 16 kHz is 320/441
    return features(x, TARGET_RATE)


def renditions(cfg: Any, n_sentences: int, per_sentence: int) -> list[tuple[int, str, int, int]]:
    """``(sentence, voice, speed, pitch)`` for every utterance, drawn per (sentence, rendition)."""
    out = []
    for k in range(n_sentences):
        for r in range(per_sentence):
            rng = np.random.default_rng([int(cfg.data_seed), k, r])
            voice = VOICES[int(rng.integers(len(VOICES)))]
            variant = VARIANTS[int(rng.integers(len(VARIANTS)))]
            speed = int(rng.integers(cfg.speed[0], cfg.speed[1] + 1))
            pitch = int(rng.integers(cfg.pitch[0], cfg.pitch[1] + 1))
            out.append((k, voice + (f"+{variant}" if variant else ""), speed, pitch))
    return out


def _build(cfg: Any, exe: str, directory: Any, texts: list[str], jobs: list[tuple[int, str, int, int]]) -> dict:
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="hfcore-speech-") as workdir:

        def work(job: tuple[int, str, int, int]) -> np.ndarray:
            k, voice, speed, pitch = job
            x, rate = synthesise(exe, texts[k], voice, speed, pitch, workdir)
            return utterance_features(x, rate).astype(np.float32)

        feats = build_in_parts(directory, jobs, work, f"speech ({cfg.size}): synthesising", part_size=64)
    idx = split_indices(len(texts), cfg.valid_fraction, cfg.test_fraction, int(cfg.data_seed))
    sentence_split = {int(k): name for name, ids in idx.items() for k in ids}
    groups: dict[str, list[np.ndarray]] = {"train": [], "valid": [], "test": []}
    for (k, *_), f in zip(jobs, feats, strict=True):
        if f is not None and len(f) >= 2:
            groups[sentence_split[k]].append(f)
    train = np.concatenate(groups["train"]).astype(np.float64)
    mean = train.mean(axis=0)
    std = np.maximum(train.std(axis=0), 1e-8)  # guards a constant dimension
    splits = {
        name: SequenceSplit.from_list([((f - mean) / std).astype(np.float32) for f in seqs], np.float32)
        for name, seqs in groups.items()
    }
    arrays = splits_to_arrays(splits)
    arrays["feature_mean"], arrays["feature_std"] = mean, std
    for name, ids in idx.items():
        arrays[f"{name}_sentences"] = np.asarray(ids, dtype=np.int64)
    logger.info("speech (%s): %d utterances in %.1f s", cfg.size, len(jobs), time.perf_counter() - started)
    return arrays


class SpeechTask(NextStepTask):
    """Next-frame prediction of standardised 39-d speech features (see the module docstring).

    Attributes
    ----------
    name : str
        ``"speech"``.
    spec : ModelSpec
        39 inputs and outputs, ``"linear"`` outputs with squared error.
    sentences : dict of str to ndarray of int
        Indices into :data:`~hfcore_natural.sentences.SENTENCES` of each split.
    feature_mean, feature_std : ndarray, shape (39,)
        Training-set statistics used to standardise every split.
    """

    name = "speech"

    def __init__(self, *args: Any, sentences: dict[str, np.ndarray], mean: np.ndarray, std: np.ndarray,
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sentences = sentences
        self.feature_mean, self.feature_std = mean, std

    def error(self, outputs: np.ndarray, batch: Batch) -> float:
        """Squared error summed over the 39 dimensions, averaged over predicted frames."""
        return self.squared_error_per_frame(outputs, batch)

    def plot_predictions(self, outputs: np.ndarray, batch: Batch, sequence: int = 0) -> Any:
        """The 39 standardised features of one window over time: true above predicted.

        Returns
        -------
        matplotlib.figure.Figure
            Two image panels (rows 0-12 MFCC c0..c12, 13-25 their deltas, 26-38 delta-deltas), in a
            diverging colour map centred on 0 (the training mean).
        """
        from hfcore_natural.plots import heatmaps_figure

        true, predicted = self.prediction_window(outputs, batch, sequence)
        bound = max(float(np.percentile(np.abs(true), 99)), 1e-6)  # a few extreme frames must not wash it out
        return heatmaps_figure(true, predicted, "feature (MFCC, Δ, ΔΔ)", "RdBu_r", -bound, bound)


def _check_range(name: str, field_name: str, value: Any, lo: int, hi: int) -> None:
    ok = (
        value is not None and len(value) == 2
        and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
        and lo <= value[0] <= value[1] <= hi
    )
    if not ok:
        raise ValueError(f"{name}: {field_name}={list(value) if value is not None else None!r} must be [lo, hi] "
                         f"integers with {lo} <= lo <= hi <= {hi}")


def make_speech(cfg: SpeechConfig | Any) -> SpeechTask:
    """Build (or load from the cache) the synthesised speech features and return the task.

    Raises
    ------
    ImportError
        (:class:`~hfcore_natural._common.MissingDependencyError`) when ``espeak-ng`` is not on PATH or
        scipy is not installed.
    ValueError
        For an invalid field (one-line message).
    """
    name = "speech"
    check_natural_common(name, cfg)
    check_int(name, "renditions", cfg.renditions, 1)
    speed, pitch = list(cfg.speed), list(cfg.pitch)
    _check_range(name, "speed", speed, 80, 450)
    _check_range(name, "pitch", pitch, 0, 99)
    exe = espeak_path()
    try:
        import scipy.signal  # noqa: F401
    except ImportError as exc:
        raise MissingDependencyError(MISSING_SCIPY) from exc
    tiny = cfg.size == "tiny"
    texts = list(SENTENCES[: TINY["sentences"]] if tiny else SENTENCES)
    per_sentence = TINY["renditions"] if tiny else int(cfg.renditions)
    jobs = renditions(cfg, len(texts), per_sentence)
    params = {
        "size": cfg.size, "data_seed": int(cfg.data_seed), "valid_fraction": float(cfg.valid_fraction),
        "test_fraction": float(cfg.test_fraction), "renditions": per_sentence, "speed": speed, "pitch": pitch,
        "espeak": espeak_version(exe), "texts": texts, "voices": VOICES, "variants": VARIANTS,
    }
    directory = cache_dir(name, params, cfg.data_dir)
    path = directory / "data.npz"
    if not path.exists():
        logger.info("speech (%s): synthesising %d utterances into %s", cfg.size, len(jobs), directory)
    arrays = load_or_build(path, lambda: _build(cfg, exe, directory, texts, jobs))
    remove_parts(directory)
    sentences = {k: arrays[f"{k}_sentences"] for k in ("train", "valid", "test")}
    return SpeechTask(
        arrays_to_splits(arrays), ModelSpec(n_in=N_FEATURES, n_out=N_FEATURES, output="linear"), T=cfg.T,
        test_size=cfg.test_size, test_seed=cfg.test_seed, target_error=cfg.target_error,
        eval_split=cfg.eval_split,
        cache_path=path, sentences=sentences, mean=arrays["feature_mean"], std=arrays["feature_std"],
    )

"""The natural next-step-prediction tasks (plugins/hfcore_natural), tiny sizes only.

Checks shapes, value ranges, the shift-by-one targets and masks, split
disjointness, determinism, the on-disk cache (a second build reads the same
arrays without rebuilding) and the one-line errors for missing dependencies.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import sys

import numpy as np
import pytest

from hfcore.interfaces import Task
from hfcore.types import Batch
from hfcore_natural import _common, bouncing_balls, mfcc
from hfcore_natural._common import NaturalTaskConfig, SequenceSplit, build_in_parts, cache_key
from hfcore_natural.bouncing_balls import BouncingBallsConfig, make_bouncing_balls, render, simulate
from tests.helpers import REGISTRY

try:
    import music21  # noqa: F401

    HAVE_MUSIC21 = True
except ImportError:
    HAVE_MUSIC21 = False
try:
    import scipy  # noqa: F401

    HAVE_SCIPY = True
except ImportError:
    HAVE_SCIPY = False
HAVE_ESPEAK = shutil.which("espeak-ng") is not None and HAVE_SCIPY

needs_music21 = pytest.mark.skipif(not HAVE_MUSIC21, reason="music21 not installed (pip install 'hfcore[natural]')")
needs_espeak = pytest.mark.extra("espeak")  # scipy comes with the test extra


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(tmp_path_factory.mktemp("natural-data"))


@pytest.fixture(scope="module")
def balls(data_dir: str):
    return make_bouncing_balls(BouncingBallsConfig(size="tiny", data_dir=data_dir))


@pytest.fixture(scope="module")
def music(data_dir: str):
    if not HAVE_MUSIC21:
        pytest.skip("music21 not installed")
    from hfcore_natural.music import MusicConfig, make_music

    return make_music(MusicConfig(size="tiny", data_dir=data_dir))


@pytest.fixture(scope="module")
def speech(data_dir: str):
    if not HAVE_ESPEAK:
        pytest.skip("needs espeak-ng: apt-get install espeak-ng")
    from hfcore_natural.speech import SpeechConfig, make_speech

    return make_speech(SpeechConfig(size="tiny", data_dir=data_dir))


def _equal(a: Batch, b: Batch) -> bool:
    return all(np.array_equal(x, y) for x, y in zip((a.inputs, a.targets, a.mask, a.lengths),
                                                     (b.inputs, b.targets, b.mask, b.lengths), strict=True))


def _check_next_step(task, batch: Batch, dim: int) -> None:
    """Shapes, mask = real steps, targets = inputs shifted by one, zero padding."""
    T, n = task.T, batch.size
    assert batch.inputs.shape == (T, n, dim) and batch.targets.shape == (T, n, dim)
    assert batch.mask.shape == (T, n) and batch.lengths.shape == (n,)
    assert batch.inputs.dtype == batch.targets.dtype == batch.mask.dtype == np.float64
    assert np.all((batch.lengths >= 1) & (batch.lengths <= T))
    np.testing.assert_array_equal(batch.mask, batch.valid_steps())
    for b in range(n):
        k = int(batch.lengths[b])
        np.testing.assert_array_equal(batch.inputs[1:k, b], batch.targets[: k - 1, b])  # shift by one
        assert not batch.inputs[k:, b].any() and not batch.targets[k:, b].any()


def _tiles_every_transition(task, split: str, batch: Batch) -> None:
    """Validation/test windows score each transition of the split exactly once."""
    sp = task.splits[split]
    assert batch.mask.sum() == min(task.test_size * task.T, int(np.sum(sp.lengths - 1)))


# ------------------------------------------------------------------ registry and config


def test_registered_with_schemas() -> None:
    for name in ("bouncing_balls", "music", "speech"):
        comp = REGISTRY.get("task", name)
        assert isinstance(comp.config, NaturalTaskConfig) and comp.config.name == name
    assert REGISTRY.get("task", "bouncing_balls").config.T == 30
    assert REGISTRY.get("task", "music").config.T == 200
    assert REGISTRY.get("task", "speech").config.T == 100


@pytest.mark.parametrize("field, value", [("size", "huge"), ("T", 0), ("valid_fraction", 0.7), ("spec", "x"),
                                          ("n_balls", 0), ("radius", -1.0), ("target_error", float("nan")),
                                          ("resolution", 3), ("test_size", 0), ("eval_split", "train")])
def test_bad_config_one_line(field: str, value, tmp_path) -> None:
    cfg = BouncingBallsConfig(size="tiny", data_dir=str(tmp_path))
    setattr(cfg, field, value)
    with pytest.raises(ValueError, match=field) as info:
        make_bouncing_balls(cfg)
    assert "\n" not in str(info.value)


def test_eval_split_valid_scores_runs_on_the_validation_split(balls, data_dir) -> None:
    """``task.eval_split=valid`` (model selection, sweep=adam_lr_natural): the batch a run is scored on is the
    validation split's, from the same cached data set; the default stays the test split."""
    valid = make_bouncing_balls(BouncingBallsConfig(size="tiny", data_dir=data_dir, eval_split="valid"))
    assert valid.cache_path == balls.cache_path
    assert _equal(valid.test_batch(), balls.validation_batch())
    assert not _equal(balls.test_batch(), balls.validation_batch())
    assert BouncingBallsConfig().eval_split == "test"


def test_cache_key_depends_on_every_parameter() -> None:
    base = {"size": "tiny", "data_seed": 1, "radius": 1.6}
    keys = {cache_key(base), cache_key({**base, "data_seed": 2}), cache_key({**base, "radius": 1.5})}
    assert len(keys) == 3 and cache_key(dict(base)) == cache_key(base)


# ------------------------------------------------------------------ bouncing balls


def test_simulator_is_elastic_and_stays_in_the_box() -> None:
    pos, vel = simulate(np.random.default_rng(0), 40, 60, 3, 15.0, 1.6, 0.6, 10)
    energy = np.sum(vel**2, axis=(-1, -2))
    # elastic walls and collisions between equal masses conserve kinetic energy
    np.testing.assert_allclose(energy, np.broadcast_to(energy[0], energy.shape), rtol=1e-12)
    assert pos.min() >= 1.6 - 1e-9 and pos.max() <= 15.0 - 1.6 + 1e-9
    frames = render(pos, 15, 1.6)
    assert frames.shape == (60, 40, 225) and frames.min() == 0.0 and frames.max() == 1.0


def test_balls_shapes_ranges_and_targets(balls) -> None:
    assert isinstance(balls, Task)
    assert balls.spec.n_in == balls.spec.n_out == 225 and balls.spec.output == "linear"
    batch = balls.sample(np.random.default_rng(0), 16)
    _check_next_step(balls, batch, 225)
    assert np.all(batch.lengths == 30)  # tiny sequences have 40 frames > T + 1
    assert 0.0 <= batch.inputs.min() and batch.inputs.max() <= 1.0
    np.testing.assert_allclose(batch.inputs * 255, np.rint(batch.inputs * 255), atol=1e-9)  # 8-bit frames


def test_balls_determinism_and_fixed_test_set(balls, data_dir) -> None:
    a = balls.sample(np.random.default_rng(5), 8)
    assert _equal(a, balls.sample(np.random.default_rng(5), 8))
    assert not _equal(a, balls.sample(np.random.default_rng(6), 8))
    test = balls.test_batch()
    assert test is balls.test_batch() and not test.inputs.flags.writeable
    _check_next_step(balls, test, 225)
    _tiles_every_transition(balls, "test", test)
    _tiles_every_transition(balls, "valid", balls.validation_batch())
    # an independent build (another directory) gives identical data
    other = make_bouncing_balls(BouncingBallsConfig(size="tiny", data_dir=data_dir + "-again"))
    for split in ("train", "valid", "test"):
        np.testing.assert_array_equal(other.splits[split].frames, balls.splits[split].frames)


def test_balls_splits_disjoint(balls) -> None:
    seqs = {split: {balls.splits[split].sequence(k).tobytes() for k in range(balls.splits[split].count)}
            for split in ("train", "valid", "test")}
    assert not (seqs["train"] & seqs["valid"] or seqs["train"] & seqs["test"] or seqs["valid"] & seqs["test"])


def test_balls_cache_hit_does_not_rebuild(balls, data_dir, monkeypatch) -> None:
    def boom(cfg):
        raise AssertionError("rebuilt although cached")

    monkeypatch.setattr(bouncing_balls, "_build", boom)
    again = make_bouncing_balls(BouncingBallsConfig(size="tiny", data_dir=data_dir))
    assert again.cache_path == balls.cache_path and again.cache_path.exists()
    for split in ("train", "valid", "test"):
        np.testing.assert_array_equal(again.splits[split].frames, balls.splits[split].frames)
    with pytest.raises(AssertionError, match="rebuilt"):  # another parameter -> another key -> a build
        make_bouncing_balls(BouncingBallsConfig(size="tiny", data_dir=data_dir, speed=0.5))


def test_balls_error_and_solved(balls) -> None:
    test = balls.test_batch()
    assert balls.error(test.targets, test) == 0.0
    per_frame = np.sum(test.targets**2, axis=-1)[test.mask > 0].mean()
    assert balls.error(np.zeros_like(test.targets), test) == pytest.approx(per_frame)
    assert not balls.solved(0.0)  # no target configured
    cfg = BouncingBallsConfig(size="tiny", data_dir=str(balls.cache_path.parents[2]), target_error=5.0)
    task = make_bouncing_balls(cfg)
    assert task.solved(5.0) and not task.solved(5.1)


def test_padded_windows_for_short_sequences() -> None:
    """A sequence shorter than T + 1 frames gives a padded, masked window."""
    seqs = [np.arange(i, i + n, dtype=np.float32)[:, None] for i, n in ((0, 5), (100, 40))]
    split = SequenceSplit.from_list(seqs, np.float32)
    from hfcore.types import ModelSpec

    task = _common.NextStepTask({"train": split, "valid": split, "test": split}, ModelSpec(1, 1, "linear"),
                                T=10, test_size=100, test_seed=0, target_error=None)
    test = task.test_batch()
    np.testing.assert_array_equal(test.lengths, [4, 10, 10, 10, 9])  # 4 + 39 transitions, stride 10
    np.testing.assert_array_equal(test.inputs[:4, 0, 0], [0, 1, 2, 3])
    np.testing.assert_array_equal(test.targets[:4, 0, 0], [1, 2, 3, 4])
    assert test.mask[4:, 0].sum() == 0
    _check_next_step(task, task.sample(np.random.default_rng(0), 50), 1)


def test_build_in_parts_resumes(tmp_path) -> None:
    calls: list[int] = []

    def work(i: int):
        calls.append(i)
        return None if i == 2 else np.full((3, 2), i)

    first = build_in_parts(tmp_path, list(range(7)), work, "test", part_size=3)
    assert calls == list(range(7))
    (tmp_path / "part-00002.npz").unlink()  # "interrupted" before the last part was written
    calls.clear()
    second = build_in_parts(tmp_path, list(range(7)), work, "test", part_size=3)
    assert calls == [6]
    assert second[2] is None and all(np.array_equal(a, b) for a, b in zip(first, second, strict=True) if a is not None)


# ------------------------------------------------------------------ music


@needs_music21
def test_music_rolls(music) -> None:
    assert music.spec.n_in == music.spec.n_out == 128 and music.spec.output == "logistic"
    batch = music.sample(np.random.default_rng(0), 6)
    _check_next_step(music, batch, 128)
    assert set(np.unique(batch.inputs)) <= {0.0, 1.0}
    assert np.any(batch.lengths < music.T)  # chorales are shorter than 200 eighth notes: padded
    notes_on = music.splits["train"].frames.sum(axis=1)
    assert 2.5 < notes_on.mean() < 5  # four voices, some rests and shared notes
    test = music.test_batch()
    _check_next_step(music, test, 128)
    _tiles_every_transition(music, "test", test)
    pieces = {k: set(v) for k, v in music.pieces.items()}
    tr, va, te = pieces["train"], pieces["valid"], pieces["test"]
    assert not (tr & va or tr & te or va & te) and len(tr) + len(va) + len(te) == 10


@needs_music21
def test_music_log_likelihood(music) -> None:
    test = music.test_batch()
    half = np.full(test.targets.shape, 0.5)
    per_seq, per_step = music.log_likelihood(half, test)
    assert per_step == pytest.approx(-128 * np.log(2))
    assert per_seq == pytest.approx(per_step * test.mask.sum() / test.size)
    assert music.error(half, test) == pytest.approx(128 * np.log(2))  # error is the NLL per step
    assert music.error(test.targets, test) < 1e-9  # exact 0/1 outputs are clipped, not -inf


@needs_music21
def test_music_evaluation_reports_both_log_likelihoods(music) -> None:
    """hf-train's evaluation logs them as test.log_likelihood_per_sequence / _per_step."""
    from hfcore.hf import evaluate
    from tests.helpers import make_model

    model = make_model(music.spec, hidden=6)
    theta = model.init_params(np.random.default_rng(0))
    test = music.test_batch()
    metrics = evaluate(model, music, theta, test)
    per_seq, per_step = music.log_likelihood(model.predict(theta, test), test)
    assert metrics["log_likelihood_per_sequence"] == pytest.approx(per_seq)
    assert metrics["log_likelihood_per_step"] == pytest.approx(per_step) == pytest.approx(-metrics["error"])
    assert per_seq < per_step < 0


@needs_music21
def test_music_cache_hit(music, data_dir, monkeypatch) -> None:
    from hfcore_natural import music as music_mod

    monkeypatch.setattr(music_mod, "_build", lambda *a: (_ for _ in ()).throw(AssertionError("rebuilt")))
    again = music_mod.make_music(music_mod.MusicConfig(size="tiny", data_dir=data_dir))
    np.testing.assert_array_equal(again.splits["train"].frames, music.splits["train"].frames)
    assert again.pieces == music.pieces


def test_music_missing_dependency(monkeypatch, tmp_path) -> None:
    from hfcore_natural.music import MusicConfig, make_music

    monkeypatch.setitem(sys.modules, "music21", None)
    with pytest.raises(ImportError, match=r"task 'music' needs the natural extra: pip install 'hfcore\[natural\]'"):
        make_music(MusicConfig(size="tiny", data_dir=str(tmp_path)))


# ------------------------------------------------------------------ speech


@needs_espeak
def test_speech_features(speech) -> None:
    assert speech.spec.n_in == speech.spec.n_out == 39 and speech.spec.output == "linear"
    batch = speech.sample(np.random.default_rng(0), 6)
    _check_next_step(speech, batch, 39)
    train = speech.splits["train"].frames.astype(np.float64)
    np.testing.assert_allclose(train.mean(axis=0), 0.0, atol=1e-4)  # standardised with training statistics
    np.testing.assert_allclose(train.std(axis=0), 1.0, atol=1e-4)
    test = speech.test_batch()
    _check_next_step(speech, test, 39)
    _tiles_every_transition(speech, "test", test)
    ids = {k: set(v.tolist()) for k, v in speech.sentences.items()}
    assert not (ids["train"] & ids["valid"] or ids["train"] & ids["test"] or ids["valid"] & ids["test"])
    assert speech.splits["train"].count == 2 * len(ids["train"])  # two renditions per sentence
    assert speech.error(test.targets, test) == 0.0


@needs_espeak
def test_speech_is_deterministic(speech, data_dir) -> None:
    from hfcore_natural.speech import SpeechConfig, make_speech

    other = make_speech(SpeechConfig(size="tiny", data_dir=data_dir + "-speech-again"))
    np.testing.assert_array_equal(other.splits["test"].frames, speech.splits["test"].frames)


def test_speech_missing_espeak(monkeypatch, tmp_path) -> None:
    from hfcore_natural.speech import SpeechConfig, make_speech

    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ImportError, match=r"espeak-ng.*apt-get install espeak-ng") as info:
        make_speech(SpeechConfig(size="tiny", data_dir=str(tmp_path)))
    assert "\n" not in str(info.value)


@pytest.mark.skipif(not HAVE_SCIPY, reason="scipy missing")
def test_mfcc_shapes_and_pitch() -> None:
    rate = 16000
    t = np.arange(rate) / rate
    low, high = mfcc.features(np.sin(2 * np.pi * 300 * t), rate), mfcc.features(np.sin(2 * np.pi * 3000 * t), rate)
    assert low.shape == (1 + (rate - 400) // 160, 39)
    fb = mfcc.mel_filterbank(rate)
    assert fb.shape == (26, 257) and fb.max() <= 1.0
    # a steady tone: deltas vanish away from the edges, and the tones give different cepstra
    assert np.abs(low[10:-10, 13:]).max() < 1e-6
    assert np.abs(low[50, :13] - high[50, :13]).max() > 1.0


# ------------------------------------------------------------------ pictures


def _image_panels(fig) -> list:
    return [ax for ax in fig.axes if ax.images]


def _noisy(batch: Batch) -> np.ndarray:
    return np.asarray(batch.targets) + 0.1 * np.random.default_rng(0).standard_normal(batch.targets.shape)


def test_balls_prediction_picture_shows_true_over_predicted_frames(balls) -> None:
    test = balls.test_batch().subset(0, 2)
    outputs = _noisy(test)
    fig = balls.plot_predictions(outputs, test, sequence=1, frames=4)
    panels = _image_panels(fig)
    assert len(panels) == 8  # 2 rows x 4 frames
    side = 15
    first_true, first_pred = panels[0].images[0].get_array(), panels[4].images[0].get_array()  # row-major
    np.testing.assert_allclose(first_true, test.targets[0, 1].reshape(side, side))  # step 0 of window 1
    np.testing.assert_allclose(first_pred, np.clip(outputs[0, 1], 0, 1).reshape(side, side))
    last_true = panels[3].images[0].get_array()
    np.testing.assert_allclose(last_true, test.targets[int(test.lengths[1]) - 1, 1].reshape(side, side))
    fig.savefig(io.BytesIO(), format="png")
    with pytest.raises(ValueError, match="sequence=2 is not in"):
        balls.plot_predictions(outputs, test, sequence=2)


@needs_music21
def test_music_prediction_picture_is_two_piano_rolls(music) -> None:
    test = music.test_batch()
    probabilities = np.clip(_noisy(test), 0.0, 1.0)
    fig = music.plot_predictions(probabilities, test)
    top, bottom = _image_panels(fig)
    steps = int(test.lengths[0])
    true = np.asarray(top.images[0].get_array())
    assert true.shape[1] == steps and true.sum() == test.targets[:steps, 0].sum()  # every played note is shown
    assert bottom.images[0].get_array().shape == true.shape
    fig.savefig(io.BytesIO(), format="png")


@needs_espeak
def test_speech_prediction_picture_is_two_feature_maps(speech) -> None:
    test = speech.test_batch()
    fig = speech.plot_predictions(_noisy(test), test)
    top, bottom = _image_panels(fig)
    steps = int(test.lengths[0])
    np.testing.assert_allclose(top.images[0].get_array(), test.targets[:steps, 0].T)
    assert bottom.images[0].get_array().shape == (39, steps)
    fig.savefig(io.BytesIO(), format="png")


def test_importing_the_plugin_leaves_matplotlib_unloaded() -> None:
    code = "import sys, hfcore_natural.plugin; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "False", out.stderr

"""Optional capabilities are declared protocols (hfcore.interfaces), found by isinstance, never by getattr."""

import re
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from hfcore.interfaces import (
    DeclaresCurvatureSupport,
    HasDefaultLambda0,
    HasExtraMetrics,
    HasMaxSample,
    PlotsPredictions,
    SupportsLossAndPredict,
    loss_and_predict,
)
from hfcore.types import ModelSpec
from hfcore_natural.bouncing_balls import BouncingBallsTask
from hfcore_natural.music import MusicTask
from hfcore_natural.speech import SpeechTask
from hfcore_numpy.linear import NumpyLinear
from hfcore_numpy.lstm import NumpyLSTM
from hfcore_numpy.rnn import NumpyRNN
from hfcore_tasks.addition import AdditionConfig, make_addition
from hfcore_tasks.memorization import MemorizationTask
from hfcore_tasks.quadratic import QuadraticConfig, make_quadratic

OPTIONAL = ("default_lambda0", "supports_curvature", "max_sample", "extra_metrics", "plot_predictions",
            "loss_and_predict")
MODEL = SimpleNamespace(hidden=4, l2=0.0, init="dense", num_connections=15, init_scale=1.0, input_scale=1.0,
                        normaliser="targets", cells_per_block=2)


def test_no_getattr_probe_of_an_optional_member():
    root = Path(__file__).resolve().parents[1]
    probe = re.compile(r"(getattr|hasattr)\([^)]*[\"'](" + "|".join(OPTIONAL) + r")[\"']")
    found = [f"{path.relative_to(root)}:{n}" for folder in ("hfcore", "plugins", "examples")
             for path in sorted((root / folder).rglob("*.py"))
             for n, line in enumerate(path.read_text().splitlines(), 1) if probe.search(line)]
    assert found == []


def test_builtin_models_declare_their_capabilities():
    spec = ModelSpec(n_in=2, n_out=3, output="softmax")
    rnn, lstm = NumpyRNN(spec, MODEL), NumpyLSTM(spec, MODEL)
    assert isinstance(rnn, SupportsLossAndPredict) and not isinstance(rnn, DeclaresCurvatureSupport)
    assert not isinstance(lstm, DeclaresCurvatureSupport)  # it has Gauss-Newton products (HF trains it)
    assert not isinstance(NumpyLinear(spec, MODEL), SupportsLossAndPredict)


def test_builtin_tasks_declare_their_capabilities():
    addition = make_addition(AdditionConfig(T=10, test_size=10))
    assert isinstance(addition, HasDefaultLambda0) and not isinstance(addition, HasMaxSample)
    quadratic = make_quadratic(QuadraticConfig())
    assert isinstance(quadratic, HasMaxSample) and quadratic.max_sample == quadratic.n_train
    assert issubclass(MemorizationTask, HasExtraMetrics) and issubclass(MusicTask, HasExtraMetrics)
    assert all(issubclass(t, PlotsPredictions) for t in (MusicTask, SpeechTask, BouncingBallsTask))
    assert not isinstance(addition, HasExtraMetrics | PlotsPredictions)


def test_loss_and_predict_falls_back_to_two_passes():
    task = make_addition(AdditionConfig(T=10, test_size=4))
    rnn = NumpyRNN(task.spec, MODEL)
    theta, batch = rnn.init_params(np.random.default_rng(0)), task.test_batch()

    class TwoPasses:  # the Model protocol without the optional one-pass member
        loss, predict = staticmethod(rnn.loss), staticmethod(rnn.predict)

    assert not isinstance(TwoPasses(), SupportsLossAndPredict)
    one, two = loss_and_predict(rnn, theta, batch), loss_and_predict(TwoPasses(), theta, batch)
    assert one[0] == two[0] and np.array_equal(one[1], two[1])

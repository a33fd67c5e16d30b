"""Builders shared by the gated models' tests (tests/test_lstm.py, tests/test_gru.py): a tiny padded batch,
configs, parameters away from the init, and the comparisons both models make."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from hfcore.testing.conformance import (
    check_bind_consistency,
    check_gv,
    check_signals,
    check_symmetric_psd,
    relative_error,
)
from hfcore.types import Batch
from tests.helpers import REGISTRY

N_IN, N_OUT, T, B = 3, 2, 6, 4


def gated_cfg(name: str, **kw: Any) -> SimpleNamespace:
    """A dense config of model ``name`` with the settings both tests share (``kw`` adds or overrides keys)."""
    base = dict(name=name, l2=1e-3, init="dense", num_connections=15, init_scale=1.5, input_scale=1.0,
                normaliser="targets")
    base.update(kw)
    return SimpleNamespace(**base)


def padded_batch(output: str, seed: int = 0) -> Batch:
    """Sparse masks and padding (lengths 6, 3, 5, 1)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((T, B, N_IN))
    if output == "softmax":
        y = np.eye(N_OUT)[rng.integers(N_OUT, size=(T, B))]
    else:
        y = rng.random((T, B, N_OUT))
    mask = (rng.random((T, B)) < 0.7).astype(float)
    lengths = np.array([6, 3, 5, 1])
    for b, n in enumerate(lengths):
        x[n:, b] = 0.0
        mask[n:, b] = 0.0
    mask[lengths - 1, np.arange(B)] = 1.0
    return Batch(x, y, mask, lengths)


def perturbed_theta(model: Any, seed: int = 1) -> np.ndarray:
    """The init plus noise: the init's constant biases are left, so no block is special."""
    rng = np.random.default_rng(seed)
    return model.init_params(rng) + 0.3 * rng.standard_normal(model.n_params)


def autograd_model(model: Any, cfg: Any) -> Any:
    """The kit's model derived on autograd from ``model``'s own definition (float64)."""
    return REGISTRY.get("backend", "autograd").factory(model.definition, cfg, SimpleNamespace(dtype="float64"))


def gv_errors(ours: Any, theirs: Any, n_params: int, seed: int, count: int) -> dict[float, float]:
    """Max relative error of two bound products over ``count`` random directions, for w = 0 and 0.7."""
    rng = np.random.default_rng(seed)
    return {w: max(relative_error(ours.gv(v, w), theirs.gv(v, w)) for v in rng.standard_normal((count, n_params)))
            for w in (0.0, 0.7)}


def assert_chunked_gv_equals_whole(whole: Any, chunked: Any, seed: int = 2) -> None:
    """Gv of a model in chunks of sequences equals the whole batch's (logistic outputs, w = 0 and 0.7)."""
    th, batch = perturbed_theta(whole), padded_batch("logistic", seed=seed)
    v = np.random.default_rng(5).standard_normal(whole.n_params)
    for w in (0.0, 0.7):
        np.testing.assert_allclose(chunked.curvature(th, batch).gv(v, w), whole.curvature(th, batch).gv(v, w),
                                   rtol=1e-12, atol=1e-15)


def assert_float32_agrees(m64: Any, m32: Any) -> None:
    """The float32 model's loss and gradient (float32 arrays) agree with the float64 model's (softmax batch)."""
    th, batch = perturbed_theta(m64), padded_batch("softmax")
    f64, g64 = m64.loss_and_grad(th, batch)
    f32, g32 = m32.loss_and_grad(m32.from_numpy(th), batch)
    assert g32.dtype == np.float32 and m32.predict(th, batch).dtype == np.float32
    assert f32 == pytest.approx(f64, rel=1e-5)
    np.testing.assert_allclose(g32, g64, rtol=1e-4, atol=1e-5)


def assert_float32_gv_agrees(m64: Any, m32: Any) -> None:
    """The float32 model's Gv (w = 0.7; a float32 array) agrees with the float64 model's (softmax batch)."""
    th, batch = perturbed_theta(m64), padded_batch("softmax")
    v = np.random.default_rng(6).standard_normal(m64.n_params)
    got = m32.curvature(m32.from_numpy(th), batch).gv(m32.from_numpy(v), 0.7)
    assert got.dtype == np.float32
    assert relative_error(got, m64.curvature(th, batch).gv(v, 0.7)) < 1e-5


def assert_gv_conforms(model: Any, output: str, normaliser: str, n_signals: int) -> None:
    """The conformance kit on :func:`padded_batch`: ``n_signals`` declared signals, gv(., w) against dense
    G_f + kappa I + w G_S (padded, masked), symmetric PSD, and binding twice gives the same products."""
    th, batch = perturbed_theta(model), padded_batch(output)
    assert check_signals(model, th, batch) == n_signals
    err = check_gv(model, th, batch, model.spec, l2=1e-3, normaliser=normaliser, structural_weights=(0.0, 0.7, 3.0))
    assert err < 1e-7, f"max rel err {err:.2e}"
    check_symmetric_psd(model, th, batch, 0.0)
    check_symmetric_psd(model, th, batch, 0.7)
    assert check_bind_consistency(model, th, batch) == 0.0

"""PyTorch backend: conformance kit, equality with the NumPy backend, float32, tensors through CG/HF, devices, errors.

The generic cross-backend equality lives in ``test_backend_equality.py``; this file
keeps the torch-specific checks. Everything runs on CPU in float64 unless said
otherwise; the CUDA test runs only where CUDA is available.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from types import SimpleNamespace

import numpy as np
import pytest

pytestmark = pytest.mark.extra("torch")
torch = pytest.importorskip("torch", reason="needs the torch extra: pip install -e '.[torch]'")

from hfcore.cg import ConjugateGradient  # noqa: E402
from hfcore.config import BackendConfig, CGConfig, DampingConfig, HFConfig, LinearConfig, LSTMConfig  # noqa: E402
from hfcore.damping import LevenbergMarquardt  # noqa: E402
from hfcore.hf import HessianFree  # noqa: E402
from hfcore.kit.definitions import LSTM, Linear, TanhRNN  # noqa: E402
from hfcore.testing.conformance import (  # noqa: E402
    check_all,
    check_bind_consistency,
    check_gradient,
    check_gv,
    relative_error,
)
from hfcore.training import advance, initial_state  # noqa: E402
from hfcore.types import OUTPUT_LOSSES, ModelSpec  # noqa: E402
from hfcore_numpy.linear import NumpyLinear  # noqa: E402
from hfcore_numpy.rnn import NumpyRNN  # noqa: E402
from hfcore_torch import plugin  # noqa: E402
from hfcore_torch.defined import TorchDefinedModel  # noqa: E402
from hfcore_torch.linear import TorchLinear  # noqa: E402
from hfcore_torch.rnn import TorchRNN  # noqa: E402
from tests.helpers import make_task  # noqa: E402
from tests.test_numpy_backend import N_IN, N_OUT, B, T, make_batch, make_cfg  # noqa: E402

torch.set_num_threads(1)  # shared small machines: one thread (see conftest.py)

NUMPY_MODELS = {"rnn": NumpyRNN, "linear": NumpyLinear}
CUDA = torch.cuda.is_available()


def torch_model(kind, spec, cfg, dtype="float64", device="cpu", chunk_size=None):
    """The hand-written torch model of ``kind``, built by the plugin's factory (so it carries its definition)."""
    definition = TanhRNN(spec, cfg) if kind == "rnn" else Linear(spec, cfg)
    model = plugin.make_model(definition, cfg, plugin.TorchBackendConfig(dtype=dtype, device=device,
                                                                         chunk_size=chunk_size))
    assert isinstance(model, TorchRNN if kind == "rnn" else TorchLinear)
    return model


def make_pair(kind, output, normaliser, seed, device="cpu", dtype="float64", chunk_size=None, size=B):
    """The NumPy and torch models of one case, a perturbed theta (NumPy) and a padded, masked batch."""
    rng = np.random.default_rng(seed)
    spec = ModelSpec(N_IN, N_OUT, output)
    cfg = make_cfg(l2=2e-5 if seed % 2 == 0 else 1e-2, normaliser=normaliser)
    ref = NUMPY_MODELS[kind](spec, cfg)
    model = torch_model(kind, spec, cfg, dtype=dtype, device=device, chunk_size=chunk_size)
    theta = ref.init_params(rng) + 0.3 * rng.standard_normal(ref.n_params)  # non-zero biases and b_init
    return spec, cfg, ref, model, theta, make_batch(rng, spec, size=size)


def rel(a, b) -> float:
    return relative_error(np.asarray(a, np.float64), np.asarray(b, np.float64))


# --------------------------------------------------------------------------- conformance kit, as for NumPy
@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("normaliser", ["targets", "sequences"])
@pytest.mark.parametrize("output", OUTPUT_LOSSES)
@pytest.mark.parametrize("kind", ["rnn", "linear"])
def test_conformance(kind, output, normaliser, seed):
    spec, cfg, _, model, theta, batch = make_pair(kind, output, normaliser, seed)
    errs = check_all(model, model.from_numpy(theta), batch, spec, l2=cfg.l2, normaliser=normaliser, grad_rtol=1e-7)
    assert errs["gradient"] < 1e-7
    assert errs["gv"] < 1e-7
    assert errs["bind_consistency"] == 0.0
    assert errs["loss_and_predict"] == 0.0


# --------------------------------------------------------------------------- equality with NumPy
@pytest.mark.parametrize("normaliser", ["targets", "sequences"])
@pytest.mark.parametrize("output", OUTPUT_LOSSES)
@pytest.mark.parametrize("kind", ["rnn", "linear"])
def test_matches_numpy_backend(kind, output, normaliser):
    # chunk_size=2 on 5 sequences: the torch RNN splits the batch (3 chunks), NumPy does not.
    spec, cfg, ref, model, theta, batch = make_pair(kind, output, normaliser, seed=3, chunk_size=2, size=5)
    th = model.from_numpy(theta)
    assert isinstance(th, torch.Tensor) and th.shape == (ref.n_params,) and model.n_params == ref.n_params
    f_ref, g_ref = ref.loss_and_grad(theta, batch)
    f, g = model.loss_and_grad(th, batch)
    assert isinstance(f, float) and isinstance(g, torch.Tensor) and g.dtype == torch.float64
    assert f == pytest.approx(f_ref, rel=1e-12)
    assert model.loss(th, batch) == pytest.approx(ref.loss(theta, batch), rel=1e-12)
    assert rel(model.to_numpy(g), g_ref) < 1e-10
    v = np.random.default_rng(4).standard_normal(ref.n_params)
    curv, curv_ref = model.curvature(th, batch), ref.curvature(theta, batch)
    for w in (0.0, 0.7):
        got = curv.gv(model.from_numpy(v), w)
        assert isinstance(got, torch.Tensor)
        assert rel(model.to_numpy(got), curv_ref.gv(v, w)) < 1e-10
    out = model.predict(th, batch)
    assert isinstance(out, np.ndarray) and out.dtype == np.float64
    np.testing.assert_allclose(out, ref.predict(theta, batch), rtol=1e-12, atol=1e-14)
    for a, b in zip(model.preactivations(th, batch), ref.preactivations(theta, batch), strict=True):
        assert isinstance(a, np.ndarray) and a.shape == b.shape
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("kind", ["rnn", "linear"])
def test_init_equals_numpy_and_layout_round_trips(kind):
    spec = ModelSpec(N_IN, N_OUT, "softmax")
    cfg = make_cfg(init="sparse", hidden=20)
    ref, model = NUMPY_MODELS[kind](spec, cfg), torch_model(kind, spec, cfg)
    theta = model.init_params(np.random.default_rng(7))
    assert isinstance(theta, torch.Tensor) and theta.dtype == torch.float64 and theta.device.type == "cpu"
    expected = ref.init_params(np.random.default_rng(7))
    np.testing.assert_array_equal(model.to_numpy(theta), expected)
    # The documented flat layout: every named block is the same view in both backends.
    for name, block in model.unpack(theta)._asdict().items():
        np.testing.assert_array_equal(block.numpy(), getattr(ref.unpack(expected), name))
    # from_numpy copies: changing the source does not change the tensor.
    src = expected.copy()
    t = model.from_numpy(src)
    src[:] = 0.0
    np.testing.assert_array_equal(model.to_numpy(t), expected)


def test_structural_term_is_linear_in_its_weight():
    spec, cfg, ref, model, theta, batch = make_pair("rnn", "softmax", "targets", seed=5)
    assert (batch.lengths < T).any()
    curv = model.curvature(model.from_numpy(theta), batch)
    v = model.from_numpy(np.random.default_rng(0).standard_normal(ref.n_params))
    s1 = curv.gv(v, 1.0) - curv.gv(v, 0.0)
    s3 = curv.gv(v, 3.0) - curv.gv(v, 0.0)
    assert float(s1 @ s1) > 0
    np.testing.assert_allclose(s3.numpy(), 3.0 * s1.numpy(), rtol=1e-12, atol=1e-14)


# --------------------------------------------------------------------------- float32
@pytest.mark.parametrize("kind", ["rnn", "linear"])
@pytest.mark.parametrize("output", OUTPUT_LOSSES)
def test_float32_stays_float32(kind, output):
    spec, cfg, ref, m64, theta, batch = make_pair(kind, output, "targets", seed=9)
    m32 = torch_model(kind, spec, cfg, dtype="float32")
    th32, th64 = m32.from_numpy(theta), m64.from_numpy(theta)
    assert th32.dtype == torch.float32
    assert m32.init_params(np.random.default_rng(0)).dtype == torch.float32
    f32, g32 = m32.loss_and_grad(th32, batch)
    f64, g64 = m64.loss_and_grad(th64, batch)
    assert isinstance(f32, float) and g32.dtype == torch.float32
    assert f32 == pytest.approx(f64, rel=1e-5)
    np.testing.assert_allclose(m32.to_numpy(g32), m64.to_numpy(g64), rtol=1e-3, atol=1e-5)
    v = np.random.default_rng(2).standard_normal(m32.n_params)
    gv32 = m32.curvature(th32, batch).gv(m32.from_numpy(v), 0.3)
    gv64 = m64.curvature(th64, batch).gv(m64.from_numpy(v), 0.3)
    assert gv32.dtype == torch.float32
    np.testing.assert_allclose(m32.to_numpy(gv32), m64.to_numpy(gv64), rtol=1e-3, atol=1e-4)
    # a float64 direction is converted to the model dtype, not the other way round
    assert m32.curvature(th32, batch).gv(m64.from_numpy(v), 0.3).dtype == torch.float32
    s, t = m32.preactivations(th32, batch)
    assert s.dtype == np.float32 and t.dtype == np.float32
    assert m32.predict(th32, batch).dtype == np.float32
    assert m32.to_numpy(th32).dtype == np.float32


# --------------------------------------------------------------------------- tensors through the core
def test_vectors_stay_tensors_through_cg():
    spec, cfg, ref, model, theta, batch = make_pair("rnn", "logistic", "targets", seed=2)
    th = model.from_numpy(theta)
    _, g = model.loss_and_grad(th, batch)
    _, g_ref = ref.loss_and_grad(theta, batch)
    curv, curv_ref = model.curvature(th, batch), ref.curvature(theta, batch)
    lam, w = 0.1, 0.05
    cg = ConjugateGradient(CGConfig(max_iters=30))
    result = cg.solve(lambda v: curv.gv(v, w) + lam * v, -g, g * 0.0)
    assert isinstance(result.x, torch.Tensor) and result.x.dtype == torch.float64
    assert all(isinstance(x, torch.Tensor) for x in result.iterates)
    expected = cg.solve(lambda v: curv_ref.gv(v, w) + lam * v, -g_ref, np.zeros_like(g_ref))
    assert result.iterations == expected.iterations and result.reason == expected.reason
    # 30 CG steps amplify the backends' ~1e-15 differences in each Gv (different summation orders): 1e-7 here.
    assert rel(model.to_numpy(result.x), expected.x) < 1e-7


def test_vectors_stay_tensors_through_hf_step():
    task = make_task("addition", T=10, test_size=50)
    cfg = SimpleNamespace(kind="rnn", hidden=6, l2=2e-5, init="sparse", num_connections=15, init_scale=1.0,
                          input_scale=0.25, normaliser="targets")
    model = plugin.make_model(TanhRNN(task.spec, cfg), cfg, plugin.TorchBackendConfig(device="cpu"))
    ref = NumpyRNN(task.spec, cfg)
    damping = LevenbergMarquardt(DampingConfig(lambda0=0.01, mu=0.03))
    solver = ConjugateGradient(CGConfig(max_iters=15))
    hf = HessianFree(damping, solver, HFConfig(gradient_batch=40, curvature_batch=20))
    state, ref_state = initial_state(model, 1, hf), initial_state(ref, 1, hf)
    assert isinstance(state.theta, torch.Tensor) and isinstance(state.optimizer.warm_start, torch.Tensor)
    for _ in range(2):
        state, info = advance(state, model, task, hf)
        ref_state, ref_info = advance(ref_state, ref, task, hf)
        assert info.cg_iterations > 0 and info.accepted  # both steps of this seed are taken
        assert isinstance(state.theta, torch.Tensor) and state.theta.dtype == torch.float64
        assert isinstance(state.optimizer.warm_start, torch.Tensor)
        assert info.cg_iterations == ref_info.cg_iterations and info.accepted == ref_info.accepted
        assert (info.backtrack_index, info.step_size) == (ref_info.backtrack_index, ref_info.step_size)
        # The step carries CG's amplified rounding differences (see above): 4e-8 after two steps with the
        # default's arg-min choice, 1e-9 with M10's walk-back (hf=ms2011), the same iterates and steps chosen.
        assert rel(model.to_numpy(state.theta), ref_state.theta) < 1e-7
        assert rel(model.to_numpy(state.optimizer.warm_start), ref_state.optimizer.warm_start) < 1e-6
        assert state.optimizer.lam == pytest.approx(ref_state.optimizer.lam, rel=1e-12)


# --------------------------------------------------------------------------- CUDA
@pytest.mark.skipif(not CUDA, reason="CUDA is not available")
@pytest.mark.parametrize("kind", ["rnn", "linear"])
@pytest.mark.parametrize("output", OUTPUT_LOSSES)
def test_cuda_conformance_and_equality_with_cpu(kind, output):
    spec, cfg, _, gpu, theta, batch = make_pair(kind, output, "targets", seed=0, device="cuda")
    cpu = torch_model(kind, spec, cfg)
    th = gpu.from_numpy(theta)
    assert th.device.type == "cuda" and gpu.init_params(np.random.default_rng(0)).device.type == "cuda"
    check_gradient(gpu, th, batch, rtol=1e-7)
    check_gv(gpu, th, batch, spec, cfg.l2, structural_weights=(0.0, 0.7), rtol=1e-7)
    assert check_bind_consistency(gpu, th, batch) == 0.0
    f, g = gpu.loss_and_grad(th, batch)
    f_cpu, g_cpu = cpu.loss_and_grad(cpu.from_numpy(theta), batch)
    assert g.device.type == "cuda" and f == pytest.approx(f_cpu, rel=1e-12)
    assert rel(gpu.to_numpy(g), cpu.to_numpy(g_cpu)) < 1e-10
    v = np.random.default_rng(1).standard_normal(gpu.n_params)
    gv = gpu.curvature(th, batch).gv(gpu.from_numpy(v), 0.7)
    gv_cpu = cpu.curvature(cpu.from_numpy(theta), batch).gv(cpu.from_numpy(v), 0.7)
    assert gv.device.type == "cuda"
    assert rel(gpu.to_numpy(gv), cpu.to_numpy(gv_cpu)) < 1e-10
    np.testing.assert_allclose(gpu.predict(th, batch), cpu.predict(cpu.from_numpy(theta), batch), rtol=1e-12)


# --------------------------------------------------------------------------- plugin, config and errors
def test_plugin_registers_backend_with_config():
    from hfcore.registry import load_plugins

    _, registry = load_plugins(extra_plugins=[("torch_test", plugin)], autoload=False)
    component = registry.get("backend", "torch")
    assert component.factory is plugin.make_model
    cfg = component.config
    assert isinstance(cfg, plugin.TorchBackendConfig) and isinstance(cfg, BackendConfig)
    assert (cfg.name, cfg.dtype, cfg.device, cfg.threads) == ("torch", "float64", "auto", None)


def built(spec, **overrides):
    """The tanh RNN's definition and config, as ``build_run`` hands them to a backend factory."""
    cfg = make_cfg(**overrides)
    return TanhRNN(spec, cfg), cfg


def test_make_model_dispatch_and_validation():
    spec = ModelSpec(N_IN, N_OUT, "softmax")
    cpu = plugin.TorchBackendConfig(device="cpu", threads=1)
    rnn_def, cfg = built(spec)
    rnn = plugin.make_model(rnn_def, cfg, cpu)
    assert isinstance(rnn, TorchRNN) and rnn.device.type == "cpu" and rnn.chunk_size == 1000
    assert rnn.definition is rnn_def
    assert torch.get_num_threads() == 1
    lin = plugin.make_model(Linear(spec, LinearConfig()), LinearConfig(), SimpleNamespace(dtype="float32"))
    assert isinstance(lin, TorchLinear) and lin.dtype == torch.float32
    assert plugin.make_model(*built(spec), plugin.TorchBackendConfig(device="cpu", chunk_size=7)).chunk_size == 7
    auto = plugin.make_model(*built(spec), plugin.TorchBackendConfig())
    assert auto.device.type == ("cuda" if CUDA else "cpu")
    # Any other definition (here the built-in LSTM, which has no hand-written torch class) gets the generic model.
    lstm_cfg = LSTMConfig(hidden=4, cells_per_block=2)
    lstm_def = LSTM(spec, lstm_cfg)
    lstm = plugin.make_model(lstm_def, lstm_cfg, plugin.TorchBackendConfig(device="cpu", chunk_size=5, dtype="float32"))
    assert isinstance(lstm, TorchDefinedModel) and lstm.definition is lstm_def
    assert (lstm.chunk_size, lstm.dtype) == (5, torch.float32)
    with pytest.raises(ValueError, match="float32, float64"):
        plugin.make_model(*built(spec), SimpleNamespace(dtype="bfloat16"))
    with pytest.raises(ValueError, match="unknown device"):
        plugin.make_model(*built(spec), plugin.TorchBackendConfig(device="tpu"))
    with pytest.raises(ValueError, match="threads"):
        plugin.make_model(*built(spec), plugin.TorchBackendConfig(device="cpu", threads=0))
    with pytest.raises(ValueError, match="hidden"):
        plugin.make_model(*built(spec, hidden=0), cpu)
    with pytest.raises(ValueError, match="theta"):
        rnn.loss(torch.zeros(rnn.n_params + 1, dtype=torch.float64), make_batch(np.random.default_rng(0), spec))


@pytest.mark.skipif(CUDA, reason="needs a machine without CUDA")
@pytest.mark.parametrize("device", ["cuda", "cuda:0"])
def test_cuda_requested_without_cuda_is_a_clear_error(device):
    with pytest.raises(ValueError, match="CUDA is not available") as info:
        plugin.make_model(*built(ModelSpec(N_IN, N_OUT, "linear")), plugin.TorchBackendConfig(device=device))
    assert "\n" not in str(info.value)


def test_missing_torch_gives_install_hint():
    code = textwrap.dedent(
        """
        import sys
        sys.modules["torch"] = None  # makes "import torch" raise ImportError
        from types import SimpleNamespace
        from hfcore.registry import load_plugins
        from hfcore.types import ModelSpec
        from hfcore_torch import plugin  # must import without torch
        _, registry = load_plugins(extra_plugins=[("torch_test", plugin)], autoload=False)
        factory = registry.get("backend", "torch").factory
        cfg = SimpleNamespace(kind="rnn", hidden=4)
        try:
            factory(SimpleNamespace(name="rnn_tanh", spec=ModelSpec(2, 1, "linear")), cfg, plugin.TorchBackendConfig())
        except ImportError as exc:
            print("ERR:", exc)
        """
    )
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "ERR: backend 'torch' needs the torch extra: pip install 'hfcore[torch]'" in proc.stdout

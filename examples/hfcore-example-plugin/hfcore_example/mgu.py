"""A minimal gated unit (Zhou et al. 2016) declared for every backend that derives models.

The file uses only hfcore's public model API: a config schema, parameter blocks with init rules,
a forward map written with array operators and ``ops``, and the signals structural damping
penalises. The autograd and torch backends derive the gradient and Gauss-Newton products from it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hfcore.config import ModelConfig
from hfcore.kit.init import Constant, DenseNormal, SparseNormal, Zeros
from hfcore.models import DampedSignal, Ops, ParamBlock
from hfcore.types import ModelSpec

INITS = ("sparse", "dense")


@dataclass
class MGUConfig(ModelConfig):
    """Options of ``model=mgu``; ``l2``, ``normaliser`` and ``output`` come from ModelConfig."""

    name: str = "mgu"  # must equal the name given to registry.add_model
    hidden: int = 32
    update_bias: float = -1.0  # initial b_z: sigmoid(-1) = 0.27, so each step keeps most of h
    init: str = "dense"  # "dense": N(0, init_scale^2 / fan_in); "sparse": IS11's 15 connections per unit
    init_scale: float = 1.0
    input_scale: float = 1.0  # extra factor on the input weights


# Structural damping weights (M&S 2011 sec. 3.2 asks that hidden states move little per update).
# The candidate c = tanh(a_c) carries the new content into h, as the tanh RNN's units do: weight 1.
# The one gate z = sigmoid(a_z) moves h by z'(a_z) (c - h_prev) da_z with |c - h_prev| <= 2, as far
# as the candidate can: weight 1. Logistic units have a matched-loss curvature p (1 - p) <= 1/4
# against tanh's 1 - h^2 <= 1, so no extra scaling is needed.
CANDIDATE_WEIGHT, UPDATE_WEIGHT = 1.0, 1.0


class MGU:
    """``z_i = sigmoid(W_zx x_i + W_zh h_{i-1} + b_z)``, ``c_i = tanh(W_cx x_i + W_ch (z_i * h_{i-1}) + b_c)``,
    ``h_i = h_{i-1} + z_i (c_i - h_{i-1})``, ``s_i = W_yh h_i + b_y``, with ``h_0 = 0``: one gate both
    forgets and writes (a GRU whose reset gate is its update gate).
    """

    def __init__(self, spec: ModelSpec, cfg: MGUConfig) -> None:
        # One-line ValueErrors: hf-train prints them as "model 'mgu': <message>" and exits with code 2.
        if cfg.hidden < 1:
            raise ValueError(f"hidden={cfg.hidden} must be >= 1")
        if cfg.init not in INITS:
            raise ValueError(f"init={cfg.init!r} must be one of {', '.join(INITS)}")
        if not cfg.init_scale > 0 or not cfg.input_scale > 0:
            raise ValueError(f"init_scale={cfg.init_scale} and input_scale={cfg.input_scale} must be > 0")
        self.name = "mgu"
        self.spec = spec
        self.cfg = cfg

    def blocks(self) -> list[ParamBlock]:
        """The parameter blocks in flat-vector order, each with its init rule."""
        n_in, n_h, n_out = self.spec.n_in, self.cfg.hidden, self.spec.n_out
        scale = self.cfg.init_scale
        if self.cfg.init == "sparse":
            weights = SparseNormal(scale=scale)
            inputs = SparseNormal(scale=scale, gain=self.cfg.input_scale)
        else:
            weights = DenseNormal(scale=scale)
            inputs = DenseNormal(scale=scale, gain=self.cfg.input_scale)
        return [
            ParamBlock("W_zx", (n_h, n_in), inputs),
            ParamBlock("W_zh", (n_h, n_h), weights),
            ParamBlock("b_z", (n_h,), Constant(self.cfg.update_bias)),
            ParamBlock("W_cx", (n_h, n_in), inputs),
            ParamBlock("W_ch", (n_h, n_h), weights),
            ParamBlock("b_c", (n_h,), Zeros()),
            ParamBlock("W_yh", (n_out, n_h), weights),
            ParamBlock("b_y", (n_out,), Zeros()),
        ]

    def forward(self, params: Mapping[str, Any], x: Any, ops: Ops) -> tuple[Any, list[DampedSignal]]:
        """Output pre-activations (T, B, n_out) and the damped signals for inputs ``x`` (T, B, n_in)."""
        p = params
        h = 0.0 * p["b_c"]  # h_0 = 0, in the backend's array type; broadcasts against (B, H)
        a_z, a_c, hs = [], [], []
        for i in range(x.shape[0]):
            z_pre = x[i] @ p["W_zx"].T + h @ p["W_zh"].T + p["b_z"]
            z = ops.sigmoid(z_pre)
            c_pre = x[i] @ p["W_cx"].T + (z * h) @ p["W_ch"].T + p["b_c"]
            h = h + z * (ops.tanh(c_pre) - h)
            a_z.append(z_pre)
            a_c.append(c_pre)
            hs.append(h)
        s = ops.stack(hs) @ p["W_yh"].T + p["b_y"]
        signals = [
            DampedSignal("candidate", ops.stack(a_c), "tanh", CANDIDATE_WEIGHT),
            DampedSignal("update", ops.stack(a_z), "logistic", UPDATE_WEIGHT),
        ]
        return s, signals


def make_mgu(spec: ModelSpec, cfg: MGUConfig) -> MGU:
    """The factory registered with ``registry.add_model``; ``cfg`` is the ``model`` config node."""
    return MGU(spec, cfg)

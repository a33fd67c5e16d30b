"""A third-party model written only against the public API: a leaky tanh RNN, registered as ``leaky_rnn``.

``t_i = W_hx x_i + W_hh h_{i-1} + b_h``, ``h_i = (1 - leak) h_{i-1} + leak tanh(t_i)``,
``s_i = W_yh h_i + b_y`` (``h_0 = 0``). One damped signal, ``t`` (tanh, weight ``damp_weight``).
Used by the tests as a plugin (``load_plugins(extra_plugins=[("toy", tests.toy_model)])``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hfcore.config import ModelConfig
from hfcore.hookspecs import hookimpl
from hfcore.kit.init import DenseNormal, Zeros
from hfcore.models import DampedSignal, Ops, ParamBlock
from hfcore.types import ModelSpec


@dataclass
class LeakyConfig(ModelConfig):
    """``model=leaky_rnn``: ``hidden`` units mixing in ``leak`` of their new value per step."""

    name: str = "leaky_rnn"
    hidden: int = 6
    leak: float = 0.5
    damp_weight: float = 1.0


class LeakyRNN:
    """The leaky tanh RNN (see the module docstring)."""

    name = "leaky_rnn"

    def __init__(self, spec: ModelSpec, cfg: Any) -> None:
        if not 0.0 < float(cfg.leak) <= 1.0:
            raise ValueError(f"leak must be in (0, 1], got {cfg.leak}")
        self.spec, self.hidden = spec, int(cfg.hidden)
        self.leak, self.damp_weight = float(cfg.leak), float(cfg.damp_weight)

    def blocks(self) -> Sequence[ParamBlock]:
        n_i, n_h, n_o = self.spec.n_in, self.hidden, self.spec.n_out
        return (ParamBlock("W_hx", (n_h, n_i), DenseNormal(gain=0.5)), ParamBlock("W_hh", (n_h, n_h), DenseNormal()),
                ParamBlock("W_yh", (n_o, n_h), DenseNormal()), ParamBlock("b_h", (n_h,), Zeros()),
                ParamBlock("b_y", (n_o,), Zeros()))

    def forward(self, params: Mapping[str, Any], x: Any, ops: Ops) -> tuple[Any, Sequence[DampedSignal]]:
        ts, hs = [], []
        for i in range(x.shape[0]):
            t = x[i] @ params["W_hx"].T + params["b_h"]
            if hs:
                t = t + hs[-1] @ params["W_hh"].T
            h = self.leak * ops.tanh(t)
            hs.append(h if not ts else (1.0 - self.leak) * hs[-1] + h)
            ts.append(t)
        s = ops.stack(hs) @ params["W_yh"].T + params["b_y"]
        return s, (DampedSignal("hidden", ops.stack(ts), "tanh", self.damp_weight),)


@hookimpl
def hfcore_register_models(registry: Any) -> None:
    registry.add_model("leaky_rnn", LeakyRNN, LeakyConfig())

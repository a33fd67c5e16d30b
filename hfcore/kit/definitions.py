"""The built-in models as :class:`hfcore.models.ModelDefinition`\\ s: the tanh RNN, the affine map, the LSTM, the GRU.

Each class validates its spec and config (one-line ``ValueError``), declares its
parameters as named blocks with init rules (the flat layout every backend uses,
:class:`hfcore.kit.layout.ParamLayout`) and its forward map over backend
:class:`~hfcore.models.Ops`, with the signals structural damping penalises. The
NumPy backend has hand-written derivatives for exactly these classes; any other
backend derives them from ``forward``. NumPy only: importing this module loads
no backend.

The initial parameters are those of the hand-written models before the models
became definitions, draw for draw: matrices are drawn in float64 in block order
(biases draw nothing), with the same rule per matrix.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from hfcore.kit.batches import validate_common
from hfcore.kit.init import Constant, DenseNormal, InitRule, SparseNormal, Zeros
from hfcore.models import DampedSignal, Ops, ParamBlock
from hfcore.types import ModelSpec

INITS = ("sparse", "dense")
"""Initialisations: IS11 sparse (notes sec. 7) or dense ``N(0, init_scale^2 / fan_in)``."""

CELLS_PER_BLOCK = 10
"""LSTM cells per memory block when ``cells_per_block`` is null (M&S 2011: 30 blocks x 10 cells)."""

FORGET_BIAS = 1.0
"""Default initial forget-gate bias (``forget_bias``): gates start mostly open so the cells remember (Gers et al.
1999 start them open too; Jozefowicz et al. 2015 recommend +1)."""

GRU_UPDATE_WEIGHT = 1.0
"""Structural-damping weight of the GRU's update-gate pre-activations (see :class:`GRU`)."""

GRU_RESET_WEIGHT = 0.5
"""Structural-damping weight of the GRU's reset-gate pre-activations (see :class:`GRU`)."""

GRU_CANDIDATE_WEIGHT = 1.0
"""Structural-damping weight of the GRU's candidate pre-activations (see :class:`GRU`)."""

GRU_HIDDEN_WEIGHT = 1.0
"""Structural-damping weight of the GRU's state ``h`` (squared error, as the LSTM's ``hidden``; see :class:`GRU`)."""

GRU_SIGNALS = ("update", "reset", "candidate", "hidden")
"""Signals the GRU can damp (``model.damped_signals``), in the order it declares them."""

GRU_DAMPED_DEFAULT = ("update", "reset", "candidate")
"""The GRU's damped signals when the config names none (the set it damped before the option existed)."""

LSTM_SIGNALS = ("cell_inputs", "gates", "cell", "hidden")
"""Signals the LSTM can damp (``model.damped_signals``), in the order it declares them."""

LSTM_DAMPED_DEFAULT = ("cell_inputs", "gates")
"""The LSTM's damped signals when the config names none (the set it damped before the option existed)."""


def _check_scale(cfg: Any) -> float:
    if not float(cfg.init_scale) >= 0.0:
        raise ValueError(f"init_scale must be >= 0, got {cfg.init_scale!r}")
    return float(cfg.init_scale)


class _WeightInit:
    """The matrix rule of a recurrent model's config: ``init``, ``num_connections``, ``init_scale``, ``input_scale``."""

    def __init__(self, cfg: Any) -> None:
        if cfg.init not in INITS:
            raise ValueError(f"unknown init {cfg.init!r}; expected one of {', '.join(INITS)}")
        self.init_scale = _check_scale(cfg)
        if int(cfg.num_connections) < 1:
            raise ValueError(f"num_connections must be >= 1, got {cfg.num_connections!r}")
        self.init: str = cfg.init
        self.num_connections = int(cfg.num_connections)
        self.input_scale = float(cfg.input_scale)

    def rule(self, gain: float = 1.0) -> InitRule:
        """Sparse (IS11) or dense rule for one matrix, multiplied by ``gain``."""
        if self.init == "sparse":
            return SparseNormal(self.num_connections, self.init_scale, gain)
        return DenseNormal(self.init_scale, gain)


class TanhRNN:
    """The tanh RNN of M&S 2011 eqs. 1-4 (model ``rnn_tanh``).

    ``t_i = W_hx x_i + W_hh h_{i-1} + b_h`` (at ``i = 1`` the ``W_hh h_0`` term is the
    learned ``b_init``), ``h_i = tanh(t_i)``, ``s_i = W_yh h_i + b_y``.

    **Blocks** (flat order): ``W_hx`` (H, I), ``W_hh`` (H, H), ``W_yh`` (O, H), ``b_h`` (H,),
    ``b_y`` (O,), ``b_init`` (H,); ``n_params = H*I + H*H + O*H + 2*H + O``. ``init="sparse"``
    (IS11): each row of a matrix keeps ``min(num_connections, fan_in)`` weights valued
    ``N(0, 1) * init_scale / sqrt(num_connections)``; ``"dense"``: ``N(0, init_scale^2 / fan_in)``;
    ``W_hx`` is further multiplied by ``input_scale``; biases start at 0.

    **Damped signal**: the hidden pre-activations ``t``, unit ``tanh``, weight 1 (the paper's
    structural damping, M&S 2011 sec. 3.2).

    Parameters
    ----------
    spec : ModelSpec
        Input/output sizes and the output/loss pair.
    cfg : RNNConfig-like
        Read by attribute: ``hidden``, ``init``, ``num_connections``, ``init_scale``,
        ``input_scale`` (and ``l2``, ``normaliser``, checked here for every backend).

    Raises
    ------
    ValueError
        On an invalid spec or config (one line).
    """

    name = "rnn_tanh"

    def __init__(self, spec: ModelSpec, cfg: Any) -> None:
        validate_common(spec, cfg)
        if int(cfg.hidden) < 1:
            raise ValueError(f"rnn_tanh needs hidden >= 1, got {cfg.hidden!r}")
        self.weights = _WeightInit(cfg)
        self.spec = spec
        self.n_in, self.n_hidden, self.n_out = int(spec.n_in), int(cfg.hidden), int(spec.n_out)

    def blocks(self) -> Sequence[ParamBlock]:
        """``W_hx, W_hh, W_yh, b_h, b_y, b_init`` (see the class docstring)."""
        n_i, n_h, n_o = self.n_in, self.n_hidden, self.n_out
        return (
            ParamBlock("W_hx", (n_h, n_i), self.weights.rule(self.weights.input_scale)),
            ParamBlock("W_hh", (n_h, n_h), self.weights.rule()),
            ParamBlock("W_yh", (n_o, n_h), self.weights.rule()),
            ParamBlock("b_h", (n_h,), Zeros()),
            ParamBlock("b_y", (n_o,), Zeros()),
            ParamBlock("b_init", (n_h,), Zeros()),
        )

    def forward(self, params: Mapping[str, Any], x: Any, ops: Ops) -> tuple[Any, Sequence[DampedSignal]]:
        """``(s, [t])`` for inputs ``x`` (T, B, I); the same operation order as the NumPy backend.

        ``x_i W_hx'`` is taken per step on the data slice ``x[i]``, so no differentiated
        array is ever indexed (that costs a dense scatter in every backward sweep).
        """
        T, B = x.shape[0], x.shape[1]
        w_hx_t, w_hh_t = params["W_hx"].T, params["W_hh"].T
        ts: list[Any] = []
        hs: list[Any] = []
        for i in range(T):
            t_i = x[i] @ w_hx_t + params["b_h"]
            t_i = t_i + (params["b_init"] if i == 0 else hs[-1] @ w_hh_t)
            ts.append(t_i)
            hs.append(ops.tanh(t_i))
        h = ops.stack(hs).reshape(T * B, self.n_hidden)  # one GEMM for all steps
        s = (h @ params["W_yh"].T + params["b_y"]).reshape(T, B, self.n_out)
        return s, (DampedSignal("hidden", ops.stack(ts), "tanh", 1.0),)


class Linear:
    """The per-step affine map ``s_i = W x_i + b`` (model ``linear``).

    With linear outputs the objective is exactly quadratic (the CG / damping test bed);
    it has no hidden units, so it declares no damped signal (``G_S = 0``).

    **Blocks**: ``W`` (O, I) ``N(0, init_scale^2 / I)``, then ``b`` (O,) zeros;
    ``n_params = O*I + O``.

    Parameters
    ----------
    spec : ModelSpec
        Input/output sizes and the output/loss pair.
    cfg : LinearConfig-like
        Read by attribute: ``init_scale`` (and ``l2``, ``normaliser``).

    Raises
    ------
    ValueError
        On an invalid spec or config.
    """

    name = "linear"

    def __init__(self, spec: ModelSpec, cfg: Any) -> None:
        validate_common(spec, cfg)
        self.init_scale = _check_scale(cfg)
        self.spec = spec
        self.n_in, self.n_hidden, self.n_out = int(spec.n_in), 0, int(spec.n_out)

    def blocks(self) -> Sequence[ParamBlock]:
        """``W, b`` (see the class docstring)."""
        return (ParamBlock("W", (self.n_out, self.n_in), DenseNormal(self.init_scale)),
                ParamBlock("b", (self.n_out,), Zeros()))

    def forward(self, params: Mapping[str, Any], x: Any, ops: Ops) -> tuple[Any, Sequence[DampedSignal]]:
        """``(s, [])`` for inputs ``x`` (T, B, I), one GEMM over all steps."""
        T, B = x.shape[0], x.shape[1]
        s = x.reshape(T * B, self.n_in) @ params["W"].T + params["b"]
        return s.reshape(T, B, self.n_out), ()


def _finite_bias(model: str, key: str, value: Any) -> float:
    """``value`` as a float; a gate's initial bias must be finite (one-line ValueError naming ``key``)."""
    bias = float(value)
    if not abs(bias) < float("inf"):
        raise ValueError(f"{model} needs a finite {key}, got {value!r}")
    return bias


class LSTM:
    """LSTM with forget gates (Gers, Schmidhuber & Cummins 1999), the baseline of M&S 2011 Table 1 (model ``lstm``).

    For ``n_blocks`` memory blocks of ``k`` cells (``H = n_blocks * k`` cells) and
    ``h_0 = c_0 = 0``::

        a_t = W_x x_t + W_h h_{t-1} + b                  (R = H + 3 n_blocks rows)
        g_t = tanh(a_t[cell inputs])                      (H)
        i_t, f_t, o_t = sigmoid(a_t[gates])               (n_blocks each; shared by a block's k cells)
        c_t = f_t * c_{t-1} + i_t * g_t                   (gates broadcast to their block's cells)
        h_t = o_t * tanh(c_t)
        s_t = W_y h_t + b_y

    **Blocks** (flat order): ``W_x`` (R, I), ``W_h`` (R, H), then the bias ``b`` (R,) as four
    blocks ``b_cell`` (H,), ``b_in``, ``b_forget``, ``b_out`` (n_blocks,) each, then ``W_y`` (O, H),
    ``b_y`` (O,). Rows of ``W_x``, ``W_h`` and ``b`` are ordered ``[cell inputs | input gates |
    forget gates | output gates]``; cell ``j`` belongs to block ``j // k``. Matrices are drawn
    as by :class:`TanhRNN` (``W_x`` times ``input_scale``), biases are 0 except ``b_forget``,
    ``forget_bias`` (default :data:`FORGET_BIAS`).

    **Damped signals** (``damped_signals``, any of :data:`LSTM_SIGNALS`; default
    :data:`LSTM_DAMPED_DEFAULT`), each weight 1 with the loss matched to the unit it feeds:

    * ``cell_inputs``: the pre-activations ``a_t[cell inputs]`` (unit ``tanh``, ``D'' = 1 - g^2``);
    * ``gates``: the three gates' pre-activations together (unit ``logistic``, ``D'' = sigma (1 - sigma)``);
    * ``cell``: the cell state ``c_t``, the pre-activation of the output squashing ``tanh(c_t)``
      (unit ``tanh``, ``D'' = 1 - tanh(c)^2``). ``c_t`` is unbounded (a running sum), so a squared
      error on it would weigh a change of a saturated cell, invisible downstream, as much as one
      that moves ``h_t``; the matched loss weighs it by how much ``tanh(c_t)`` moves (at most 1);
    * ``hidden``: the cell output ``h_t = o_t tanh(c_t)`` (unit ``identity``: squared error,
      ``D'' = 1``). ``h_t`` is bounded in (-1, 1) and feeds only linear maps (``W_h``, ``W_y``),
      so its matched loss is the squared error, like the RNN's ``h`` seen by ``W_hh``.

    The pre-activations ``a_t`` are the LSTM's counterpart of the RNN's ``t``: the quantities
    through which a change of ``W_h`` reaches every later step. ``c_t`` and ``h_t`` are what
    carries it there (the issue-19 ablation in ``docs/results.md`` compares the sets).

    Parameters
    ----------
    spec : ModelSpec
        Input/output sizes and the output/loss pair.
    cfg : LSTMConfig-like
        Read by attribute: ``hidden`` (cells H), ``cells_per_block`` (null:
        ``min(CELLS_PER_BLOCK, H)``), ``init``, ``num_connections``, ``init_scale``, ``input_scale``
        and, if present, ``forget_bias`` (default :data:`FORGET_BIAS`) and ``damped_signals`` (default
        :data:`LSTM_DAMPED_DEFAULT`).

    Raises
    ------
    ValueError
        On an invalid spec or config (one line).
    """

    name = "lstm"

    def __init__(self, spec: ModelSpec, cfg: Any) -> None:
        validate_common(spec, cfg)
        H = int(cfg.hidden)
        if H < 1:
            raise ValueError(f"lstm needs hidden >= 1 (memory cells), got {cfg.hidden!r}")
        k = getattr(cfg, "cells_per_block", None)
        k = min(CELLS_PER_BLOCK, H) if k is None else int(k)  # 0 is not null: it is refused, not replaced
        if k < 1:
            raise ValueError(f"lstm needs cells_per_block >= 1 or null, got {k}")
        if H % k:
            raise ValueError(f"lstm: hidden={H} cells must be a multiple of cells_per_block={k}")
        self.forget_bias = _finite_bias("lstm", "forget_bias", getattr(cfg, "forget_bias", FORGET_BIAS))
        self.weights = _WeightInit(cfg)
        self.spec = spec
        self.n_in, self.n_hidden, self.n_out = int(spec.n_in), H, int(spec.n_out)
        self.cells_per_block = k
        self.n_blocks = H // k
        self.n_rows = H + 3 * self.n_blocks
        self.damped_signals = _damped_signals(getattr(cfg, "damped_signals", None), LSTM_SIGNALS, LSTM_DAMPED_DEFAULT)

    def blocks(self) -> Sequence[ParamBlock]:
        """``W_x, W_h, b_cell, b_in, b_forget, b_out, W_y, b_y`` (see the class docstring)."""
        R, H, nb = self.n_rows, self.n_hidden, self.n_blocks
        return (
            ParamBlock("W_x", (R, self.n_in), self.weights.rule(self.weights.input_scale)),
            ParamBlock("W_h", (R, H), self.weights.rule()),
            ParamBlock("b_cell", (H,), Zeros()),
            ParamBlock("b_in", (nb,), Zeros()),
            ParamBlock("b_forget", (nb,), Constant(self.forget_bias)),
            ParamBlock("b_out", (nb,), Zeros()),
            ParamBlock("W_y", (self.n_out, H), self.weights.rule()),
            ParamBlock("b_y", (self.n_out,), Zeros()),
        )

    def _cells(self, gate: Any, ops: Ops) -> Any:
        """Block values (B, n_blocks) repeated for their cells (B, H), cell ``j`` taking block ``j // k``."""
        k = self.cells_per_block
        return gate if k == 1 else ops.stack([gate] * k, axis=-1).reshape(gate.shape[0], self.n_hidden)

    def forward(self, params: Mapping[str, Any], x: Any, ops: Ops) -> tuple[Any, Sequence[DampedSignal]]:
        """``(s, signals)`` for inputs ``x`` (T, B, I): the chosen ``damped_signals`` in :data:`LSTM_SIGNALS` order."""
        T, B = x.shape[0], x.shape[1]
        H, nb = self.n_hidden, self.n_blocks
        b = ops.concatenate([params["b_cell"], params["b_in"], params["b_forget"], params["b_out"]])
        w_x_t, w_h_t = params["W_x"].T, params["W_h"].T
        cell_pre: list[Any] = []
        gate_pre: list[Any] = []
        hs: list[Any] = []
        cs: list[Any] = []
        c: Any = None
        for t in range(T):
            a = x[t] @ w_x_t + b
            if t > 0:
                a = a + hs[-1] @ w_h_t
            a_cell, a_gate = a[:, :H], a[:, H:]
            g, gates = ops.tanh(a_cell), ops.sigmoid(a_gate)
            i_g, f_g, o_g = (self._cells(gates[:, j * nb:(j + 1) * nb], ops) for j in range(3))
            c = i_g * g if t == 0 else f_g * c + i_g * g
            hs.append(o_g * ops.tanh(c))
            cs.append(c)
            cell_pre.append(a_cell)
            gate_pre.append(a_gate)
        s = (ops.stack(hs).reshape(T * B, H) @ params["W_y"].T + params["b_y"]).reshape(T, B, self.n_out)
        units = {"cell_inputs": (cell_pre, "tanh"), "gates": (gate_pre, "logistic"), "cell": (cs, "tanh"),
                 "hidden": (hs, "identity")}
        return s, tuple(DampedSignal(name, ops.stack(units[name][0]), units[name][1], 1.0)
                        for name in LSTM_SIGNALS if name in self.damped_signals)


def _damped_signals(value: Any, allowed: Sequence[str], default: tuple[str, ...]) -> tuple[str, ...]:
    """``model.damped_signals`` checked: a list of distinct names from ``allowed`` (None: ``default``)."""
    if value is None:
        return default
    names = [value] if isinstance(value, str) else list(value)
    for name in names:
        if name not in allowed:
            raise ValueError(f"unknown damped signal {name!r} in damped_signals; expected any of "
                             f"{', '.join(allowed)}")
    if len(set(names)) != len(names):
        raise ValueError(f"damped_signals names a signal twice: {names}")
    return tuple(names)


class GRU:
    """Gated recurrent unit (Cho et al. 2014; reset applied before the recurrent product) (model ``gru``).

    For ``H`` units and ``h_0 = 0``::

        a_z = W_x[z] x_t + W_h[z] h_{t-1} + b_z,   z_t = sigmoid(a_z)     (update gate)
        a_r = W_x[r] x_t + W_h[r] h_{t-1} + b_r,   r_t = sigmoid(a_r)     (reset gate)
        a_c = W_x[c] x_t + W_c (r_t * h_{t-1}) + b_c,   c_t = tanh(a_c)  (candidate)
        h_t = h_{t-1} + z_t * (c_t - h_{t-1})
        s_t = W_y h_t + b_y

    **Blocks** (flat order): ``W_x`` (3H, I) with rows ``[update | reset | candidate]``, ``W_h``
    (2H, H) with rows ``[update | reset]``, ``W_c`` (H, H), ``b_z``, ``b_r``, ``b_c`` (H,) each,
    ``W_y`` (O, H), ``b_y`` (O,); ``n_params = 3H*I + 3H*H + 3H + O*H + O``. Matrices are drawn
    as by :class:`TanhRNN` (``W_x`` times ``input_scale``); biases are 0 except ``b_z``,
    ``update_bias`` (-1 by default: ``z = 0.27``, so each step keeps most of ``h``).

    **Damped signals** (``damped_signals``, any of :data:`GRU_SIGNALS`; default
    :data:`GRU_DAMPED_DEFAULT`, the first three), each with the loss matched to its unit:

    * ``update``: ``a_z`` (unit ``logistic``, weight :data:`GRU_UPDATE_WEIGHT` = 1: it moves ``h`` by
      ``z'(a_z) (c - h_{t-1})``, as far as the candidate can);
    * ``reset``: ``a_r`` (unit ``logistic``, :data:`GRU_RESET_WEIGHT` = 0.5: it reaches ``h`` only
      through ``W_c`` inside the candidate, whose own term already damps that path);
    * ``candidate``: ``a_c`` (unit ``tanh``, :data:`GRU_CANDIDATE_WEIGHT` = 1: the new content, as
      the tanh RNN's units);
    * ``hidden``: the state ``h_t`` itself (unit ``identity``: squared error, ``D'' = 1``, weight
      :data:`GRU_HIDDEN_WEIGHT` = 1). ``h_t`` is a running mix of the candidates, bounded in
      (-1, 1), and feeds only linear maps (``W_h``, ``W_c`` after the reset, ``W_y``), so its
      matched loss is the squared error, as for the LSTM's ``hidden``. It is what carries a change
      of the recurrent weights to every later step (the issue-19 ablation in ``docs/results.md``).

    Parameters
    ----------
    spec : ModelSpec
        Input/output sizes and the output/loss pair.
    cfg : GRUConfig-like
        Read by attribute: ``hidden``, ``update_bias``, ``init``, ``num_connections``,
        ``init_scale``, ``input_scale`` and, if present, ``damped_signals`` (default
        :data:`GRU_DAMPED_DEFAULT`).

    Raises
    ------
    ValueError
        On an invalid spec or config (one line).
    """

    name = "gru"

    def __init__(self, spec: ModelSpec, cfg: Any) -> None:
        validate_common(spec, cfg)
        if int(cfg.hidden) < 1:
            raise ValueError(f"gru needs hidden >= 1, got {cfg.hidden!r}")
        self.update_bias = _finite_bias("gru", "update_bias", cfg.update_bias)
        self.weights = _WeightInit(cfg)
        self.spec = spec
        self.n_in, self.n_hidden, self.n_out = int(spec.n_in), int(cfg.hidden), int(spec.n_out)
        self.damped_signals = _damped_signals(getattr(cfg, "damped_signals", None), GRU_SIGNALS, GRU_DAMPED_DEFAULT)

    def blocks(self) -> Sequence[ParamBlock]:
        """``W_x, W_h, W_c, b_z, b_r, b_c, W_y, b_y`` (see the class docstring)."""
        H = self.n_hidden
        return (
            ParamBlock("W_x", (3 * H, self.n_in), self.weights.rule(self.weights.input_scale)),
            ParamBlock("W_h", (2 * H, H), self.weights.rule()),
            ParamBlock("W_c", (H, H), self.weights.rule()),
            ParamBlock("b_z", (H,), Constant(self.update_bias)),
            ParamBlock("b_r", (H,), Zeros()),
            ParamBlock("b_c", (H,), Zeros()),
            ParamBlock("W_y", (self.n_out, H), self.weights.rule()),
            ParamBlock("b_y", (self.n_out,), Zeros()),
        )

    def forward(self, params: Mapping[str, Any], x: Any, ops: Ops) -> tuple[Any, Sequence[DampedSignal]]:
        """``(s, signals)`` for inputs ``x`` (T, B, I): the chosen ``damped_signals`` in :data:`GRU_SIGNALS` order."""
        T, B = x.shape[0], x.shape[1]
        H = self.n_hidden
        b = ops.concatenate([params["b_z"], params["b_r"], params["b_c"]])
        w_x_t, w_h_t, w_c_t = params["W_x"].T, params["W_h"].T, params["W_c"].T
        gate_pre: list[Any] = []
        cand_pre: list[Any] = []
        hs: list[Any] = []
        for t in range(T):
            a = x[t] @ w_x_t + b
            a_zr, a_c = a[:, :2 * H], a[:, 2 * H:]
            if t > 0:  # h_0 = 0: the first step has no recurrent terms
                a_zr = a_zr + hs[-1] @ w_h_t
            gates = ops.sigmoid(a_zr)
            z, r = gates[:, :H], gates[:, H:]
            if t > 0:
                a_c = a_c + (r * hs[-1]) @ w_c_t
            c = ops.tanh(a_c)
            hs.append(z * c if t == 0 else hs[-1] + z * (c - hs[-1]))
            gate_pre.append(a_zr)
            cand_pre.append(a_c)
        s = (ops.stack(hs).reshape(T * B, H) @ params["W_y"].T + params["b_y"]).reshape(T, B, self.n_out)
        gate_pre = ops.stack(gate_pre)
        signals = {"update": lambda: DampedSignal("update", gate_pre[..., :H], "logistic", GRU_UPDATE_WEIGHT),
                   "reset": lambda: DampedSignal("reset", gate_pre[..., H:], "logistic", GRU_RESET_WEIGHT),
                   "candidate": lambda: DampedSignal("candidate", ops.stack(cand_pre), "tanh", GRU_CANDIDATE_WEIGHT),
                   "hidden": lambda: DampedSignal("hidden", ops.stack(hs), "identity", GRU_HIDDEN_WEIGHT)}
        return s, tuple(signals[name]() for name in GRU_SIGNALS if name in self.damped_signals)


LEGACY_KINDS: dict[str, tuple[str, frozenset[str]]] = {
    "rnn": ("rnn_tanh", frozenset({"cells_per_block"})),
    "linear": ("linear", frozenset({"hidden", "init", "num_connections", "input_scale", "cells_per_block"})),
    "lstm": ("lstm", frozenset()),
}
"""``model.kind`` of configs written before models were components -> (model name, keys that model never read)."""


def upgrade_saved_config(extra: dict[str, Any]) -> dict[str, Any]:
    """A checkpoint's metadata with its config's ``model`` section in today's form.

    Configs written before models were components name the model by ``kind`` (``rnn``,
    ``linear``, ``lstm``) and carry every model's keys; today's name it by ``name``
    (``rnn_tanh``, ``linear``, ``lstm``) and carry only that model's keys. The keys a
    model never read (:data:`LEGACY_KINDS`) are dropped, so a resume compares only the
    settings that shape the model. An LSTM (GRU) saved before ``damped_signals`` existed damped
    :data:`LSTM_DAMPED_DEFAULT` (:data:`GRU_DAMPED_DEFAULT`), and an LSTM saved before ``forget_bias`` existed
    started its forget gates at :data:`FORGET_BIAS`; each is given that. Anything else is returned unchanged.
    """
    config = extra.get("config")
    model = config.get("model") if isinstance(config, dict) else None
    if not isinstance(model, dict):
        return extra
    upgraded = model
    if model.get("kind") in LEGACY_KINDS:
        name, unread = LEGACY_KINDS[model["kind"]]
        upgraded = {"name": name} | {k: v for k, v in model.items() if k != "kind" and k not in unread}
    defaults = {"lstm": LSTM_DAMPED_DEFAULT, "gru": GRU_DAMPED_DEFAULT}
    if upgraded.get("name") in defaults and "damped_signals" not in upgraded:
        upgraded = upgraded | {"damped_signals": list(defaults[upgraded["name"]])}
    if upgraded.get("name") == "lstm" and "forget_bias" not in upgraded:
        upgraded = upgraded | {"forget_bias": FORGET_BIAS}
    return extra if upgraded is model else extra | {"config": config | {"model": upgraded}}

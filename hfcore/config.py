"""Structured-config schemas (Hydra/OmegaConf dataclasses).

Each component's schema is the one home of its defaults: the runtime objects (CG, damping, HF,
SGD, the stop rule) are built from an instance of it, and ``conf/`` presets only override. A typo
or a wrong type in an override fails before any work starts. Plugins subclass
:class:`BackendConfig`, :class:`ModelConfig`, :class:`TaskConfig`, :class:`DampingConfig`, :class:`SolverConfig` or
:class:`OptimizerConfig` to add their own options. OmegaConf is not imported here.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

MISSING = "???"  # what OmegaConf reads as a missing value (omegaconf.MISSING), without importing it


@dataclass
class BackendConfig:
    """Which backend computes loss, gradient and Gv, and in what precision."""

    name: str = "numpy"
    dtype: str = "float64"


@dataclass
class ModelConfig:
    """Base schema of the ``model`` group: the keys every model has; models subclass it.

    ``name`` is the registered model (``model=<name>``). ``l2`` is the L2 coefficient
    ``kappa`` of the objective. ``normaliser`` divides the summed loss: ``targets``
    (number of active targets, IS11) or ``sequences`` (batch size, M&S 2011 sec. 2).
    ``output`` null uses the task's output/loss pair; ``linear``, ``logistic`` or
    ``softmax`` overrides it.
    """

    name: str = MISSING
    l2: float = 2e-5
    normaliser: str = "targets"
    output: str | None = None


@dataclass
class RNNConfig(ModelConfig):
    """``model=rnn_tanh``: the paper's tanh RNN (M&S 2011 eqs. 1-4) and its initialisation.

    ``init`` is ``sparse`` (each unit keeps ``num_connections`` incoming weights drawn
    N(0, init_scale^2 / num_connections), input weights further scaled by
    ``input_scale``; IS11) or ``dense`` (all weights N(0, init_scale^2/fan_in), input
    weights scaled by ``input_scale``).
    """

    name: str = "rnn_tanh"
    hidden: int = 100
    init: str = "sparse"
    num_connections: int = 15
    init_scale: float = 1.0
    input_scale: float = 0.25


@dataclass
class LinearConfig(ModelConfig):
    """``model=linear``: an affine map applied at every step, ``W ~ N(0, init_scale^2 / n_in)``.

    With linear outputs the objective is exactly quadratic (the exactly-quadratic test task).
    """

    name: str = "linear"
    l2: float = 0.0
    init_scale: float = 1.0


@dataclass
class LSTMConfig(RNNConfig):
    """``model=lstm``: the LSTM baseline of M&S 2011 Table 1 (Gers et al. 1999 forget gates).

    ``hidden`` memory cells in blocks of ``cells_per_block`` cells sharing one input, forget
    and output gate (null: ``min(10, hidden)``); the paper's 30 blocks x 10 cells. Weights
    as :class:`RNNConfig` (dense by default); forget-gate biases start at ``forget_bias`` (+1:
    ``sigmoid(1) = 0.73`` of the cell kept per step; larger values remember longer at first).
    ``damped_signals``: what structural damping penalises, any of ``cell_inputs``, ``gates``,
    ``cell``, ``hidden`` (each weight 1 with its matched loss; see ``hfcore.kit.definitions.LSTM``).
    """

    name: str = "lstm"
    hidden: int = 300
    init: str = "dense"
    input_scale: float = 1.0
    cells_per_block: int | None = 10
    forget_bias: float = 1.0
    damped_signals: list[str] = field(default_factory=lambda: ["cell_inputs", "gates"])


@dataclass
class GRUConfig(RNNConfig):
    """``model=gru``: a gated recurrent unit (Cho et al. 2014), reset before the recurrent product.

    ``hidden`` units; weights as :class:`RNNConfig` (dense by default); the update gate's
    bias starts at ``update_bias`` (``sigmoid(-1) = 0.27``: each step keeps most of ``h``).
    ``damped_signals``: what structural damping penalises, any of ``update``, ``reset``,
    ``candidate``, ``hidden`` (each with its matched loss; see ``hfcore.kit.definitions.GRU``).
    """

    name: str = "gru"
    init: str = "dense"
    input_scale: float = 1.0
    update_bias: float = -1.0
    damped_signals: list[str] = field(default_factory=lambda: ["update", "reset", "candidate"])


@dataclass
class TaskConfig:
    """Base schema of every task; tasks add their own fields."""

    name: str = MISSING
    T: int = 30
    spec: str = "ms2011"
    test_size: int = 10000
    test_seed: int = 12345
    success_threshold: float = 0.001


@dataclass
class DampingConfig:
    """Tikhonov lambda with the Levenberg-Marquardt rule, and structural damping.

    ``lambda0`` null means the task's ``default_lambda0`` (IS11's values), else ``0.01 * n_out``.
    The structural coefficient passed to Gv is ``lambda * mu * hessian_scale``
    (``mu = 0`` for plain Tikhonov); ``hessian_scale = 0.25`` reproduces IS11.
    """

    name: str = "structural"
    lambda0: float | None = None
    mu: float = 0.03
    hessian_scale: float = 0.25
    rho_low: float = 0.25
    rho_high: float = 0.75
    boost: float = 1.5
    drop: float = 2.0 / 3.0
    min_lambda: float = 1e-12


@dataclass
class TikhonovConfig(DampingConfig):
    """``damping=tikhonov``: plain Tikhonov damping (structural weight 0)."""

    name: str = "tikhonov"
    mu: float = 0.0


@dataclass
class SolverConfig:
    """Base schema of the ``solver`` group: the linear solver inside each HF iteration; plugins subclass this."""

    name: str = MISSING


@dataclass
class CGConfig(SolverConfig):
    """Linear CG as in Martens (2010), run inside each HF iteration (:class:`hfcore.cg.ConjugateGradient`).

    ``save_first`` and ``save_ratio`` give the saved-iterate schedule ``ceil(first * ratio**j)``.
    """

    name: str = "cg"
    max_iters: int = 250
    min_iters: int = 1
    progress_tol: float = 5e-4
    residual_tol: float = 1e-10
    save_first: int = 5
    save_ratio: float = 1.3


@dataclass
class OptimizerConfig:
    """Base schema of the ``optimizer`` group (``hf``, ``sgd``, ``adam``, a plugin's); plugins subclass this."""

    name: str = MISSING


@dataclass
class HFOptimizerConfig(OptimizerConfig):
    """``optimizer=hf``: Hessian-free. Its options are groups of their own: ``hf`` (the outer loop,
    :class:`HFConfig`), ``damping`` and ``solver`` (the linear solver, ``cg``)."""

    name: str = "hf"


@dataclass
class SGDConfig(OptimizerConfig):
    """``optimizer=sgd``: SGD with momentum and gradient-norm clipping (Pascanu et al. 2013).

    ``nesterov`` takes Nesterov's accelerated gradient (Sutskever et al. 2013) instead of classical
    momentum. ``clip_norm`` 0 disables clipping. Each iteration draws ``batch_size``
    fresh sequences; compute is counted in the same paper units as HF.
    """

    name: str = "sgd"
    learning_rate: float = 0.01
    momentum: float = 0.9
    clip_norm: float = 1.0
    batch_size: int = 100
    nesterov: bool = False


@dataclass
class AdamConfig(OptimizerConfig):
    """``optimizer=adam``: Adam (Kingma & Ba 2015) with bias correction and gradient-norm clipping.

    ``beta1``, ``beta2`` in [0, 1) are the decay rates of the first and second moments, ``eps`` (> 0)
    is added to the root of the second moment. The gradient is clipped to norm ``clip_norm``
    (0 disables) before it enters the moments. Each iteration draws ``batch_size`` fresh
    sequences, as ``optimizer=sgd``.
    """

    name: str = "adam"
    learning_rate: float = 1e-3
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8
    clip_norm: float = 1.0
    batch_size: int = 100


@dataclass
class StopConfig:
    """When a run ends, whatever its optimiser (:class:`hfcore.training.StopRule`); keys of the ``hf`` group.

    ``max_iterations`` null (the default: no cap) lets a run end only on success or at
    ``budget_minibatches``, MS11 Fig. 3's failure rule; set it for short trials.
    ``budget_seconds`` (null: no limit) ends a run once its training time (iterations plus test
    evaluations, across resumes) reaches it, so HF and a first-order baseline can be given equal
    budgets. ``budget_clock`` picks what is counted: ``wall`` (the default) or ``cpu``, the CPU
    seconds of the process (``RunState.cpu_seconds``), which load from other jobs on a shared
    machine does not eat into. CPU time does not count GPU work, so keep ``wall`` for CUDA runs.
    ``eval_every``: test-set evaluations every that many iterations (and at the end).
    """

    max_iterations: int | None = None
    budget_minibatches: float = 50000.0
    budget_seconds: float | None = None
    budget_clock: str = "wall"
    eval_every: int = 1
    stop_on_success: bool = True


STOP_KEYS = frozenset(f.name for f in fields(StopConfig))
"""The ``hf`` keys every optimiser reads (the stop rule); the rest of the group is HF's alone."""

HF_ONLY_SECTIONS = ("damping", "solver")
"""Config sections that only ``optimizer=hf`` reads (with the ``hf`` keys outside :data:`STOP_KEYS`)."""


def read_by(optimizer: str, key: str) -> bool:
    """Whether a run with ``optimizer`` reads the config key ``key``.

    Parameters
    ----------
    optimizer : str
        The run's ``optimizer.name``.
    key : str
        A dotted key (``hf.cg_max``, ``damping.mu``) or a group (``damping``, ``hf``).

    Returns
    -------
    bool
        False only for HF's own settings under a first-order optimiser: the ``damping`` and ``solver``
        groups and the ``hf`` keys other than the stop rule's; such a run neither logs nor compares them.
    """
    if optimizer == "hf":
        return True
    section, _, rest = key.lstrip("+~").partition(".")
    if section in HF_ONLY_SECTIONS:
        return False
    return section != "hf" or rest.split(".")[0] in STOP_KEYS


@dataclass
class HFConfig(StopConfig):
    """The ``hf`` group: the stop rule (:class:`StopConfig`) and the outer HF loop (:class:`hfcore.hf.HessianFree`).

    Data roles (M&S 2011 sec. 3; algorithm notes sec. 5): the gradient on ``gradient_batch``
    sequences, the curvature on its first ``curvature_batch``; backtracking over the saved CG
    iterates (``walkback``, M10, or ``argmin``) and the Armijo line search on the ``gradient``
    batch, the ``curvature`` batch, a ``fresh`` one of ``fresh_batch`` sequences, or block ``part1`` or
    ``part2`` of the gradient batch cut in blocks of ``fresh_batch`` (IS11's own choice). The defaults are
    the M&S release's (IS11) rules: arg-min on one fresh batch, a plain-decrease (``armijo_c = 0``) search
    on another (IS11 takes both batches from inside its gradient batch; here they are held out); they took
    less CPU time to success than M10's walk-back and Armijo on the gradient batch
    on 11 of 12 paired runs (docs/results.md), which ``hf=ms2011`` keeps. ``rho_damped``
    measures the reduction ratio against the damped quadratic (IS11). Each CG solve starts from
    ``warm_start_decay`` times the previous solve's final iterate (M10c, IS11). ``preconditioner``
    ``empirical_fisher`` preconditions CG with ``(diag(F) + lambda) ** preconditioner_power``, ``diag(F)``
    the empirical Fisher diagonal of the gradient batch (Martens 2010 sec. 4.7); ``none`` is plain CG.
    ``float32_gv_above_lambda`` (null: off) computes CG's Gv products with a float32 twin of the
    float64 model while lambda is at least this value, and in float64 below it (where float32 CG
    needs many more steps); everything else stays float64 (:mod:`hfcore.mixed_precision`).
    """

    gradient_batch: int = 10000
    curvature_batch: int = 1000
    backtrack_data: str = "fresh"
    line_search_data: str = "fresh"
    fresh_batch: int = 1000
    backtrack_rule: str = "argmin"
    rho_damped: bool = True
    armijo_c: float = 0.0
    line_search_shrink: float = 0.8
    line_search_tries: int = 60
    warm_start_decay: float = 0.95
    preconditioner: str = "none"
    preconditioner_power: float = 0.75
    float32_gv_above_lambda: float | None = None


@dataclass
class ParallelConfig:
    """Data parallelism inside one run (:mod:`hfcore.parallel`).

    ``name`` picks the communicator: ``serial`` (one process, the default),
    ``mpi`` (mpi4py, extra ``mpi``) or ``torch`` (torch.distributed, extra
    ``torch``). ``shards`` is how many fixed pieces, by sequence index, each
    batch is cut into; each rank computes a contiguous block of them. The
    trajectory depends on ``shards``, not on the number of ranks, so fix it
    (e.g. 8) to get the same run on 1, 2, 4 or 8 ranks. null means one shard
    per rank. Plugins subclass this to add their communicator's options.
    """

    name: str = "serial"
    shards: int | None = None


@dataclass
class TrackingConfig:
    """MLflow logging. ``uri`` null means ``$MLFLOW_TRACKING_URI`` or ``sqlite:///<cwd>/mlflow.db``.

    ``parent_run_id`` files the run as a child of another (sweeps); ``tags`` are
    added to the run's tags (e.g. ``+tracking.tags.study=lr``). ``log_every``
    logs the iteration metrics every that many iterations, and at every test
    evaluation (for long first-order runs, whose steps are short).
    """

    enabled: bool = True
    uri: str | None = None
    experiment: str = "hfcore"
    run_name: str | None = None
    parent_run_id: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    log_every: int = 1


@dataclass
class CheckpointConfig:
    """Where and how often the run state is saved; ``resume`` is a checkpoint path.

    ``dir`` null means ``<hydra run dir>/checkpoints``."""

    dir: str | None = None
    every: int = 10
    resume: str | None = None


@dataclass
class TrainConfig:
    """The whole composed run.

    ``blas_threads`` caps BLAS threads for the run (null: the library's
    default). One thread is the safe default on small shared machines, where two
    threads can run 20-30x slower under contention.
    """

    seed: int = 0
    progress: bool = True
    blas_threads: int | None = 1
    backend: BackendConfig = field(default_factory=BackendConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    task: TaskConfig = field(default_factory=TaskConfig)
    damping: DampingConfig = field(default_factory=DampingConfig)
    solver: SolverConfig = field(default_factory=SolverConfig)
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    hf: HFConfig = field(default_factory=HFConfig)
    parallel: ParallelConfig = field(default_factory=ParallelConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)

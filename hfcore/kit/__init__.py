"""The public backend kit: the backend-neutral pieces every backend and plugin may import.

A plugin imports shared helpers from here, never from another plugin's
modules. Everything in the kit is NumPy only (importing it loads no backend,
Hydra or MLflow).

Modules
-------
:mod:`hfcore.kit.batches`
    Dtype resolution (:func:`~hfcore.kit.batches.resolve_dtype`), model-config
    validation, batch preparation (:func:`~hfcore.kit.batches.prepare_batch`,
    :class:`~hfcore.kit.batches.BatchArrays`), the objective's divisor
    (:func:`~hfcore.kit.batches.batch_norm`), chunking
    (:func:`~hfcore.kit.batches.iter_chunks`, :func:`~hfcore.kit.batches.join_chunks`)
    and flat-vector checks (:func:`~hfcore.kit.batches.as_vector`).
:mod:`hfcore.kit.losses`
    The matched output/loss pairs: :func:`~hfcore.kit.losses.check_output`,
    :func:`~hfcore.kit.losses.output_activation`, :func:`~hfcore.kit.losses.evaluate`
    and the output curvature :class:`~hfcore.kit.losses.OutputCurvature`.
:mod:`hfcore.kit.init`
    Initialisation rules of parameter blocks (:class:`~hfcore.kit.init.SparseNormal`,
    :class:`~hfcore.kit.init.DenseNormal`, :class:`~hfcore.kit.init.Zeros`, ...).
:mod:`hfcore.kit.layout`
    :class:`~hfcore.kit.layout.ParamLayout`, the flat layout of a definition's blocks,
    and the built-in models' layouts for hand-written backends.
:mod:`hfcore.kit.definitions`
    The built-in models ``rnn_tanh``, ``linear``, ``lstm`` and ``gru`` as definitions
    (:class:`hfcore.models.ModelDefinition`).
:mod:`hfcore.kit.derived`
    The backend template :class:`~hfcore.kit.derived.DerivedModel`: the model of any
    definition (chunking, objective, structural damping over declared signals,
    Gauss-Newton assembly) from a backend's ops, ``value_and_grad`` and ``linearise``
    (:class:`~hfcore.kit.derived.DerivedCurvature`, :class:`~hfcore.kit.derived.Linearisation`).
:mod:`hfcore.kit.tasks`
    Task-side helpers: one-line config validators (``check_*``), the zero-one
    error reduction and :class:`~hfcore.kit.tasks.SequenceTask`, a base class
    with a fixed cached test set and a success rule.
"""

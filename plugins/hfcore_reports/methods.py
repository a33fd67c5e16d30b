"""What a run was trained with, read from its logged params: the model, the optimiser and (SGD) Nesterov momentum.

The reports name their methods from these (:func:`training_of`): the key of a method is a short, file-name-safe
string (it names ``predictions/<task>-<method>.png``), its label the words a reader sees ("LSTM + Adam"). Runs of
one method that differ in another setting (:func:`run_settings`: a model setting, the HF preset) are variants of
it, keyed ``<method>@<setting>=<value>`` (:func:`apply_variants`).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from typing import Any

VARIANT = "@"
"""Separates a method's key from the settings that set it apart from other runs of that method
(:func:`mark_variants`): ``lstm-structural@forget_bias=3.0``, ``structural@hf=is11``."""
RNN_MODELS = ("rnn_tanh", "rnn")
"""The paper's tanh RNN (``model.kind`` ``rnn`` in runs logged before models were components)."""
MODEL_LABELS = {"rnn_tanh": "RNN", "rnn": "RNN", "lstm": "LSTM", "gru": "GRU"}
MODEL_ORDER = ("rnn", "lstm", "gru")
OPTIMIZER_LABELS = {"hf": "HF", "sgd": "SGD", "sgd-nesterov": "SGD (Nesterov)", "adam": "Adam"}
OPTIMIZER_ORDER = ("hf", "sgd", "sgd-nesterov", "adam")


@dataclass(frozen=True)
class Training:
    """A run's model (``rnn`` for the tanh RNN) and optimiser (``hf``, ``sgd``, ``sgd-nesterov``, ``adam``, or a
    plugin's name)."""

    model: str
    optimizer: str

    @property
    def key(self) -> str:
        """``<model>-<optimizer>``, e.g. ``lstm-adam``, ``rnn-hf``, ``lstm-sgd-nesterov``."""
        return f"{self.model}-{self.optimizer}"

    @property
    def label(self) -> str:
        """E.g. ``LSTM + Adam``, ``RNN + HF``, ``LSTM + SGD (Nesterov)``."""
        return f"{model_label(self.model)} + {OPTIMIZER_LABELS.get(self.optimizer, self.optimizer)}"


def model_label(model: str) -> str:
    """``RNN``, ``LSTM``, ``GRU``; a plugin's model by its own name."""
    return MODEL_LABELS.get(model, model)


def _true(value: str | None) -> bool:
    return str(value).strip().lower() in ("true", "1", "yes")


def training_of(params: dict[str, str], tags: dict[str, str] | None = None) -> Training | None:
    """The run's :class:`Training`, from its logged params (and tags, for runs logged before the params existed).

    The model is ``model.name`` (``model.kind`` in older runs); a run that logged neither is the tanh RNN (the
    only model there was). The optimiser is ``optimizer.name``; in runs from before the ``optimizer`` group, SGD
    was a solver (tag or param ``solver`` ``sgd``) and an older LSTM run with no optimiser logged at all was
    trained with SGD (the only first-order method then). ``optimizer.nesterov`` true makes SGD
    ``sgd-nesterov``. None if the model is given but empty.
    """
    tags = tags or {}
    model = params.get("model.name", params.get("model.kind", "rnn_tanh"))
    if not model:
        return None
    model = "rnn" if model in RNN_MODELS else model
    optimizer = params.get("optimizer.name") or tags.get("optimizer")
    if not optimizer:
        solver = params.get("solver.name") or tags.get("solver")
        optimizer = "sgd" if solver == "sgd" or model == "lstm" else "hf"
    if optimizer == "sgd" and _true(params.get("optimizer.nesterov")):
        optimizer = "sgd-nesterov"
    return Training(model, optimizer)


def parse_key(key: str) -> Training:
    """The :class:`Training` of a key that :attr:`Training.key` made (``lstm-sgd-nesterov``)."""
    model, _, optimizer = key.partition("-")
    return Training(model, optimizer)


def order(training: Training) -> tuple:
    """Sort key: the RNN, LSTM, GRU, then other models; within each HF, SGD, SGD (Nesterov), Adam, others."""
    m = MODEL_ORDER.index(training.model) if training.model in MODEL_ORDER else len(MODEL_ORDER)
    o = OPTIMIZER_ORDER.index(training.optimizer) if training.optimizer in OPTIMIZER_ORDER else len(OPTIMIZER_ORDER)
    return (m, training.model, o, training.optimizer)


def model_settings(params: dict[str, str]) -> dict[str, str]:
    """A run's ``model.*`` params but ``model.name``, named without the prefix (``forget_bias``); a key added
    since the run was logged at the value it ran with (:func:`hfcore.hydra_callbacks.with_added_defaults`).
    A list, logged one param per index (``damped_signals.0``, ``damped_signals.1``), is one setting, its items
    joined by commas (``damped_signals=h,c``), so that lists of other lengths differ."""
    from hfcore.hydra_callbacks import with_added_defaults

    settings: dict[str, str] = {}
    items: dict[str, list[tuple[int, str]]] = {}
    for key, value in with_added_defaults(params).items():
        if not key.startswith("model.") or key == "model.name":
            continue
        name, _, index = key.removeprefix("model.").rpartition(".")
        if index.isdigit():
            items.setdefault(name, []).append((int(index), value))
        else:
            settings[key.removeprefix("model.")] = value
    return settings | {name: ",".join(v for _, v in sorted(values)) for name, values in items.items()}


def run_settings(params: dict[str, str], tags: dict[str, str]) -> dict[str, str]:
    """What a run was trained with beyond its method, as :func:`mark_variants` compares it: its
    :func:`model_settings`, and its HF preset (``hf``: ``is11``, ``ms2011``; tag ``hf``, logged by HF runs since
    the sixteenth session; older runs did not log it, so it is unknown for them)."""
    preset = {"hf": tags["hf"]} if tags.get("hf") else {}
    return {**model_settings(params), **preset}


def mark_variants(rows: Iterable[dict[str, Any]], group: Callable[[dict[str, Any]], Hashable],
                  across: Callable[[dict[str, Any]], Hashable] | None = None) -> None:
    """Set each row's ``variant``: the settings (its ``settings``, from :func:`run_settings`) in which it
    differs from other rows of its ``group``, as ``forget_bias=3.0`` or ``hf=is11`` (``, ``-joined; empty where
    the group's rows agree). Runs of one method that differ in such a setting are two methods, not two seeds of
    one. A setting varies when the rows that logged it hold more than one value; a row that did not log it (a
    run from before the key was added) is not marked with it. A row without ``settings`` (read from a table that
    did not record them) takes no part and gets an empty variant.

    With ``across``, a setting that varies inside one group marks the rows of every group that ``across``
    puts with it: ``across`` the method, a figure that splits ``structural`` by ``hf`` on one problem names
    the preset on every problem, so that one method never appears under two labels.
    """
    label = across or group  # the rows that share the varied keys
    groups: dict[Hashable, list[dict[str, Any]]] = {}
    for row in rows:
        row["variant"] = ""
        if "settings" in row:
            groups.setdefault(group(row), []).append(row)
    varied: dict[Hashable, set[str]] = {}
    for members in groups.values():
        settings = [r["settings"] for r in members]
        keys = {k for k in set().union(*settings) if len({s[k] for s in settings if k in s}) > 1}
        for row in members:
            varied.setdefault(label(row), set()).update(keys)
    for members in groups.values():
        for row in members:
            keys = sorted(varied[label(row)])
            row["variant"] = ", ".join(f"{k}={row['settings'][k]}" for k in keys if k in row["settings"])


def apply_variants(rows: Iterable[dict[str, Any]], group: Callable[[dict[str, Any]], Hashable],
                   across: Callable[[dict[str, Any]], Hashable] | None = None) -> None:
    """:func:`mark_variants`, then each marked row's ``method`` key carries its variant after :data:`VARIANT`
    (the ``variant`` column is dropped)."""
    rows = list(rows)
    mark_variants(rows, group, across)
    for row in rows:
        variant = row.pop("variant")
        if variant:
            row["method"] = f"{row['method']}{VARIANT}{variant}"


def split_variant(method: str) -> tuple[str, dict[str, str]]:
    """A method key's base and the settings its variant names (:func:`apply_variants`' inverse):
    ``structural@hf=is11, hidden=50`` is ``("structural", {"hf": "is11", "hidden": "50"})``; a key without
    a variant has no settings."""
    base, _, variant = method.partition(VARIANT)
    settings = dict(item.partition("=")[::2] for item in variant.split(", ")) if variant else {}
    return base, settings


def variant_words(method: str) -> str:
    """A method key's variant as words after its label: `` (forget_bias=3.0)``; empty without one."""
    variant = method.partition(VARIANT)[2]
    return f" ({variant})" if variant else ""

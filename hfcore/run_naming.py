"""Default MLflow run names that say what distinguishes a run.

``<task>-T<T>-h<hidden>-<backend>-<method>[-<overrides>]-s<seed>``, e.g.
``addition-T30-h100-numpy-structural-s0`` or
``addition-T30-h8-torch-tikhonov-hf=small-gradient_batch=2000-s1``. The overrides are the user's
command-line overrides whose values differ from the preset they were applied to, less those the name
already shows and those that do not change the result (tracking, checkpoints, progress, threads).
"""

from __future__ import annotations

from typing import Any

NAME_LIMIT = 250
"""MLflow's limit on a run name (the ``runs.name`` column of its SQL stores)."""

SHOWN = {"task", "task.name", "task.T", "model.hidden", "backend", "backend.name", "damping", "damping.name",
         "solver", "solver.name", "optimizer", "optimizer.name", "seed", "experiment"}
"""Override keys the name shows anyway (``experiment`` is the preset, in the run's tag ``experiment``)."""

NOT_IDENTITY = ("progress", "blas_threads", "tracking", "checkpoint", "hydra")
"""Override keys (and their sub-keys) that do not change what the run computes."""


def _skipped(key: str) -> bool:
    return key in SHOWN or any(key == k or key.startswith(k + ".") for k in NOT_IDENTITY)


def compose_name(base: list[str], overrides: list[tuple[str, str]], seed: Any, limit: int = NAME_LIMIT) -> str:
    """Join ``base``, the ``(key, value)`` overrides and the seed into a name of at most ``limit`` characters.

    A dotted key is shortened to its last part (``hf.gradient_batch`` to ``gradient_batch``) unless two
    overrides share it. Overrides that do not fit are replaced by ``+<n>``.
    """
    last = [k.rsplit(".", 1)[-1] for k, _ in overrides]
    parts = [f"{short if last.count(short) == 1 else key}={value}"
             for (key, value), short in zip(overrides, last, strict=True)]
    tail = f"s{seed}"
    for kept in range(len(parts), -1, -1):
        more = [f"+{len(parts) - kept}"] if kept < len(parts) else []
        name = "-".join(base + parts[:kept] + more + [tail])
        if len(name) <= limit:
            return name
    return name[:limit]


def default_run_name(cfg: Any, method: str) -> str:
    """The run name of ``cfg`` (a composed hf-train config) inside a Hydra job.

    ``method`` is the damping for HF runs and the solver otherwise. The user's overrides come from
    Hydra's record of the command line; a value override is shown only if it differs from the preset,
    i.e. from the config composed with the same config-group choices and no value overrides.
    """
    from hydra.core.hydra_config import HydraConfig
    from hydra.core.override_parser.overrides_parser import OverridesParser

    hydra_cfg = HydraConfig.get()
    base = [str(cfg.task.name), f"T{cfg.task.T}", f"h{cfg.model.hidden}", str(cfg.backend.name), method]
    parsed = OverridesParser.create().parse_overrides(list(hydra_cfg.overrides.task))
    groups = set(hydra_cfg.runtime.choices)
    shown: list[tuple[str, str]] = []
    values = []
    for override in parsed:
        key = override.key_or_group
        if override.is_delete() or _skipped(key):
            continue
        if key in groups and override.package is None:
            shown.append((key, override.get_value_element_as_str()))
        else:
            values.append(override)
    preset = _preset(hydra_cfg, parsed, groups)
    for override in values:
        key = override.key_or_group
        if preset is None or _select(preset, key) != _select(cfg, key):
            shown.append((key, override.get_value_element_as_str()))
    return compose_name(base, shown, cfg.seed)


def _preset(hydra_cfg: Any, parsed: list[Any], groups: set[str]) -> Any:
    """The config composed with the command line's group choices only, or None if that fails."""
    try:
        from hydra import compose

        choices = [o.input_line for o in parsed if o.key_or_group in groups and not o.is_delete()]
        return compose(config_name=hydra_cfg.job.config_name, overrides=choices)
    except Exception:  # a name is not worth a failed run: then every override is shown
        return None


def _select(cfg: Any, key: str) -> Any:
    from omegaconf import OmegaConf

    value = OmegaConf.select(cfg, key, default=None, throw_on_missing=False)
    return OmegaConf.to_container(value, resolve=True) if OmegaConf.is_config(value) else value

"""Hydra's composition errors as one line, before ``hydra.main`` prints them in eight.

Hydra reports a bad override (an unknown key, a value of the wrong type, a missing group option, a
grammar error) in several lines and exits 1; its advice for an unknown key is ``+key=``, which adds
the typo instead. :func:`composition_error` composes the command line's overrides once with Hydra's
compose API and turns the same errors into one line with the nearest valid key, so ``hf-train``
can refuse them like any other bad input (exit 2) before anything is written.
"""

from __future__ import annotations

from typing import Any

from hfcore.registry import Registry

FLAGS_WITH_MEANING = ("-", "--")
"""Any flag other than ``--multirun``/``-m`` (help, --cfg, --config-name, ...) leaves the command to Hydra."""


def _first_line(text: str) -> str:
    return next((ln.strip() for ln in text.splitlines() if ln.strip()), text.strip())


def _single_job(overrides: list[str]) -> list[str]:
    """The first job of a sweep: each sweep override (``seed=0,1``) replaced by its first value.

    ``hydra.*`` and ``hydra/*`` overrides are left out: they configure Hydra, not the run.
    """
    from hydra.core.override_parser.overrides_parser import OverridesParser

    job = []
    for override in OverridesParser.create().parse_overrides(overrides):
        key = override.get_key_element()
        if key.lstrip("+~").startswith(("hydra.", "hydra/")) or key.lstrip("+~") == "hydra":
            continue
        if override.is_sweep_override():
            job.append(f"{key}={next(iter(override.sweep_string_iterator()))}")
        else:
            job.append(override.input_line)
    return job


def _compose(overrides: list[str]) -> Any:
    from hydra import compose, initialize_config_module

    with initialize_config_module("hfcore.conf", version_base="1.3"):
        return compose("config", overrides=overrides)


def _describe(exc: Exception, overrides: list[str], registry: Registry) -> str:
    """One line for one of Hydra's composition errors."""
    from hydra.errors import MissingConfigException, OverrideParseException
    from omegaconf.errors import ConfigAttributeError, ConfigKeyError, ValidationError

    from hfcore.config_check import unknown_key_message

    cause = exc.__cause__
    if isinstance(exc, OverrideParseException):
        lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip() and not ln.startswith("See https")]
        return "bad override: " + "; ".join(lines)
    if isinstance(exc, MissingConfigException):
        # "In 'config': Could not find 'task/nope'" followed by the group's options, one per line.
        text = str(exc)
        missing = _first_line(text).rpartition("Could not find ")[2].strip("'")
        group, _, option = missing.rpartition("/")
        options = [ln.strip() for ln in text.split("Available options in", 1)[-1].splitlines()[1:]
                   if ln.startswith("\t") and "=" not in ln]
        if (group, option) == ("solver", "sgd"):  # SGD was a solver before the optimizer group existed
            return "solver=sgd is now optimizer=sgd (its options are optimizer.<key>, e.g. optimizer.learning_rate)"
        if group and options:
            return f"no {group} '{option}'; the options are {', '.join(options)}"
        return _first_line(text)
    full_key = getattr(cause, "full_key", None)
    if isinstance(cause, (ConfigAttributeError, ConfigKeyError)) and full_key:
        keys = {o: o.split("=", 1)[0].lstrip("+~") for o in overrides}
        bad = [o for o, k in keys.items() if k == full_key or k.startswith(f"{full_key}.")]
        try:
            root = _compose([o for o in overrides if o not in bad])
        except Exception:
            return f"unknown key '{full_key}'"
        return unknown_key_message(root, full_key, registry)
    if isinstance(cause, ValidationError) and full_key:
        return f"bad value for {full_key}: {_first_line(str(cause))}"
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    if len(lines) > 1 and lines[0].endswith("raised while composing config:"):  # a config file's key, e.g. a sweep's
        return f"{lines[0].partition(': ')[0]}: {lines[1]}"
    return _first_line(str(exc))


def composition_error(argv: list[str], registry: Registry) -> str | None:
    """Hydra's error for composing ``argv``'s overrides, as one line, or None when they compose.

    Parameters
    ----------
    argv : list of str
        ``hf-train``'s arguments. With a flag other than ``--multirun``/``-m`` nothing is checked
        (Hydra's own commands and config-path options are Hydra's business).
    registry : Registry
        The loaded plugins, to name the option of a group that declares an unknown key.

    Returns
    -------
    str or None
        The message (no ``hf-train: error:`` prefix), or None.
    """
    from hydra.errors import HydraException

    if any(a.startswith(FLAGS_WITH_MEANING) and a not in ("--multirun", "-m") for a in argv):
        return None
    overrides = [a for a in argv if not a.startswith("-")]
    try:
        job = _single_job(overrides)
    except HydraException as exc:
        return _describe(exc, overrides, registry)
    try:
        _compose(job)
    except HydraException as exc:
        return _describe(exc, job, registry)
    return None

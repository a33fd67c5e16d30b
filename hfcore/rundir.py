"""A run's output folders: one of its own, checked writable before the first iteration, removed if unused.

Hydra and OmegaConf are imported inside the functions that need them, so ``import hfcore`` stays light.
"""

from __future__ import annotations

import errno
import functools
import os
import secrets
import shutil
import tempfile
from pathlib import Path

RUN_TOKEN_RESOLVER = "hfcore.run_token"
"""OmegaConf resolver in ``hydra.run.dir``/``hydra.sweep.dir``: ``${hfcore.run_token:}``."""


@functools.cache
def run_token() -> str:
    """Six random hex digits, drawn once per process.

    Hydra names the run folder after the second it starts in; runs started in the same second
    (a script, a sweep) shared one folder and overwrote each other's checkpoint. A random token
    rather than the pid: runs on several hosts may write to one shared file system.
    """
    return secrets.token_hex(3)


def register_resolvers() -> None:
    """Register :data:`RUN_TOKEN_RESOLVER`; call before Hydra composes the config.

    ``use_cache`` keeps one value per config, and Hydra copies the cache into each job of a
    sweep (as it does for ``${now:...}``), so a sweep's jobs agree on its folder.
    """
    from omegaconf import OmegaConf

    if not OmegaConf.has_resolver(RUN_TOKEN_RESOLVER):
        OmegaConf.register_new_resolver(RUN_TOKEN_RESOLVER, run_token, use_cache=True)


def unwritable(directory: Path) -> str | None:
    """Why ``directory`` (existing or not) cannot be created and written to, or None if it can.

    Tries for real, with a uniquely named probe folder made and removed inside ``directory`` or,
    when it does not exist yet, inside its nearest existing ancestor: a path inside a regular file,
    a read-only file system and missing permissions all show up as an ``OSError``. ``directory``
    itself is never created or removed here, so ranks or runs given one folder cannot race on it.
    """
    existing = Path(directory)
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    try:
        if not existing.is_dir():
            raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(existing))
        os.rmdir(tempfile.mkdtemp(dir=existing, prefix=".hf-train-probe-"))
    except OSError as exc:
        return exc.strerror or str(exc)
    return None


def discard_if_unused(output_dir: Path, job_name: str, only_own: bool = False) -> bool:
    """Remove Hydra's run folder if it holds nothing but Hydra's own files and an empty log.

    That is what a rejected invocation (bad value, error before work) leaves, and what a
    multi-rank run's other ranks leave (rank 0 writes the run's files). Empty parent folders
    inside the working directory (``outputs/<date>``) go too. ``only_own``: only a folder named
    with this process's :func:`run_token` (ranks given one ``hydra.run.dir`` share it, and rank 0
    may not have written its files yet). Returns whether it was removed.
    """
    output_dir = Path(output_dir).absolute()
    if only_own and run_token() not in output_dir.name:
        return False
    if output_dir == Path.cwd().absolute() or output_dir in Path.cwd().absolute().parents:
        return False  # never the folder the user works in
    hydra_files = {Path(".hydra") / name for name in ("config.yaml", "hydra.yaml", "overrides.yaml")}
    for root, _, files in os.walk(output_dir):
        for name in files:
            path = Path(root) / name
            relative = path.relative_to(output_dir)
            empty_log = relative == Path(f"{job_name}.log") and path.stat().st_size == 0
            if relative not in hydra_files and not empty_log:
                return False
    shutil.rmtree(output_dir, ignore_errors=True)
    cwd = Path.cwd().absolute()
    parent = output_dir.parent
    while parent != cwd and cwd in parent.parents:
        try:
            parent.rmdir()  # only if empty
        except OSError:
            break
        parent = parent.parent
    return True

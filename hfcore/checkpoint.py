"""Save and load the run state, atomically and with integrity checks."""

from __future__ import annotations

import hashlib
import io
import json
import os
import secrets
import zipfile
from pathlib import Path

import numpy as np

from hfcore.kit.definitions import upgrade_saved_config
from hfcore.state import RunState
from hfcore.types import Counters

FORMAT_VERSION = 1


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be read or does not fit the run."""


def _digest(theta: np.ndarray, warm: np.ndarray, meta: str) -> str:
    h = hashlib.sha256()
    for part in (theta.tobytes(), warm.tobytes(), meta.encode()):
        h.update(part)
    return h.hexdigest()


def save_checkpoint(path: str | os.PathLike, state: RunState, theta: np.ndarray, warm_start: np.ndarray,
                    extra: dict | None = None) -> Path:
    """Write ``state`` to ``path`` atomically (temp file + rename).

    Parameters
    ----------
    path : path-like
        Target ``.npz`` file; parent directories are created.
    state : RunState
        The state to save (its ``theta``/``warm_start`` are passed separately
        as host NumPy arrays, so GPU backends convert once).
    theta, warm_start : ndarray
        Host copies of ``state.theta`` and ``state.warm_start``.
    extra : dict, optional
        JSON-serialisable metadata stored beside the state (e.g. the config).

    Returns
    -------
    Path
        The written file. A crash mid-write leaves the previous file intact.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = json.dumps({
        "format": FORMAT_VERSION,
        "iteration": state.iteration,
        "lam": state.lam,
        "data_rng": state.data_rng,
        "counters": {k: getattr(state.counters, k) for k in Counters.__dataclass_fields__},
        "elapsed": state.elapsed,
        "cpu_seconds": state.cpu_seconds,
        "test_error": state.test_error,
        "solved": state.solved,
        "extra": extra or {},
    })
    theta = np.ascontiguousarray(theta)
    warm_start = np.ascontiguousarray(warm_start)
    buffer = io.BytesIO()
    np.savez(buffer, theta=theta, warm_start=warm_start, meta=np.array(meta),
             digest=np.array(_digest(theta, warm_start, meta)))
    # Not tempfile.mkstemp: its files are mode 0600 whatever the umask; a checkpoint is as readable as the
    # user's other files (0644 under the usual umask 022).
    tmp = path.parent / f"{path.name}.{secrets.token_hex(6)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(buffer.getvalue())
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def check_overwrite(path: str | os.PathLike, run_id: str | None, seed: int | None,
                    resumed_from: str | os.PathLike | None = None) -> None:
    """Refuse to write over a checkpoint that belongs to another run.

    Parameters
    ----------
    path : path-like
        Where the run is about to save its checkpoint.
    run_id : str or None
        The MLflow run the writer logs to (None without tracking).
    seed : int or None
        The writer's ``seed``.
    resumed_from : path-like, optional
        The checkpoint the writer resumed from: that file is the writer's to continue.

    Raises
    ------
    CheckpointError
        If ``path`` holds a checkpoint that records another MLflow run id or seed, or a file
        that is not a readable checkpoint.
    """
    path = Path(path)
    if not path.exists() or (resumed_from and Path(resumed_from).exists() and path.samefile(resumed_from)):
        return
    try:
        with np.load(path, allow_pickle=False) as data:
            extra = json.loads(str(data["meta"])).get("extra", {})
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError):
        raise CheckpointError(f"{path} exists and is not a readable checkpoint; choose another checkpoint.dir "
                              "or remove it") from None
    their_run, their_seed = extra.get("mlflow_run_id"), extra.get("config", {}).get("seed")
    if their_run != run_id or their_seed != seed:
        raise CheckpointError(f"{path} holds the checkpoint of another run (MLflow run {their_run}, seed "
                              f"{their_seed}); choose another checkpoint.dir, or continue that run with "
                              f"checkpoint.resume={path}")


def load_checkpoint(path: str | os.PathLike) -> tuple[RunState, dict]:
    """Read a checkpoint written by :func:`save_checkpoint`.

    Returns
    -------
    (RunState, dict)
        The state with NumPy ``theta``/``warm_start`` (convert with the
        backend's ``from_numpy``) and the ``extra`` metadata.

    Raises
    ------
    CheckpointError
        If the file is missing, truncated, corrupt or of another format.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        with np.load(path, allow_pickle=False) as data:
            theta, warm = data["theta"], data["warm_start"]
            meta_text, digest = str(data["meta"]), str(data["digest"])
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError) as exc:
        raise CheckpointError(f"checkpoint {path} is corrupt or not an hfcore checkpoint ({exc})") from None
    if _digest(theta, warm, meta_text) != digest:
        raise CheckpointError(f"checkpoint {path} is corrupt: checksum mismatch")
    meta = json.loads(meta_text)
    if meta.get("format") != FORMAT_VERSION:
        raise CheckpointError(f"checkpoint {path} has format {meta.get('format')}, expected {FORMAT_VERSION}")
    state = RunState(
        iteration=int(meta["iteration"]),
        theta=theta,
        lam=float(meta["lam"]),
        warm_start=warm,
        data_rng=meta["data_rng"],
        counters=Counters(**meta["counters"]),
        elapsed=float(meta["elapsed"]),
        cpu_seconds=float(meta.get("cpu_seconds", 0.0)),  # absent before the CPU clock existed
        test_error=float(meta["test_error"]),
        solved=bool(meta["solved"]),
    )
    return state, upgrade_saved_config(meta["extra"])  # a model named by ``kind`` (before models were components)

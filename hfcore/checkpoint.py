"""Save and load the run state, atomically and with integrity checks."""

from __future__ import annotations

import hashlib
import io
import json
import os
import secrets
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from hfcore.hf import HFState
from hfcore.kit.definitions import upgrade_saved_config
from hfcore.sgd import SGDState
from hfcore.state import OptimizerState, RunState
from hfcore.types import Counters, Vector

FORMAT_VERSION = 2
"""2: the optimiser's state stored generically (its name, vectors and scalars). 1: HF's ``lam`` and
``warm_start`` (SGD's velocity in ``warm_start``), converted on load."""

ARRAY_PREFIX = "optimizer."
"""The optimiser's vectors are stored as ``optimizer.<field>`` beside ``theta``."""


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be read or does not fit the run."""


def _digest(arrays: list[np.ndarray], meta: str) -> str:
    h = hashlib.sha256()
    for part in [a.tobytes() for a in arrays] + [meta.encode()]:
        h.update(part)
    return h.hexdigest()


def save_checkpoint(path: str | os.PathLike, state: RunState, extra: dict | None = None, *,
                    to_numpy: Callable[[Vector], np.ndarray] = np.asarray) -> Path:
    """Write ``state`` to ``path`` atomically (temp file + rename).

    Parameters
    ----------
    path : path-like
        Target ``.npz`` file; parent directories are created.
    state : RunState
        The state to save: ``theta``, the optimiser's state (its name, vectors and scalars) and the
        loop's data stream, counters and clocks.
    extra : dict, optional
        JSON-serialisable metadata stored beside the state (e.g. the config).
    to_numpy : callable, optional
        Turns a vector into a host NumPy array (a GPU backend's ``Model.to_numpy``).

    Returns
    -------
    Path
        The written file. A crash mid-write leaves the previous file intact.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    opt = state.optimizer
    meta = json.dumps({
        "format": FORMAT_VERSION,
        "iteration": state.iteration,
        "optimizer": {"name": opt.name, "scalars": opt.scalars()},
        "data_rng": state.data_rng,
        "counters": _counters(state.counters),
        "elapsed": state.elapsed,
        "cpu_seconds": state.cpu_seconds,
        "test_error": state.test_error,
        "solved": state.solved,
        "extra": extra or {},
    })
    arrays = {"theta": np.ascontiguousarray(to_numpy(state.theta))}
    arrays.update({ARRAY_PREFIX + k: np.ascontiguousarray(to_numpy(v)) for k, v in sorted(opt.arrays().items())})
    buffer = io.BytesIO()
    np.savez(buffer, **arrays, meta=np.array(meta), digest=np.array(_digest(list(arrays.values()), meta)))
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


def _counters(counters: Counters) -> dict[str, int]:
    """The counters to store; ``gv_float32`` only when non-zero, so that a run without float32 products writes
    the checkpoint it wrote before that counter existed (which hfcore before it can still read)."""
    return {k: getattr(counters, k) for k in Counters.__dataclass_fields__ if k != "gv_float32" or counters.gv_float32}


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
    """Read a checkpoint written by :func:`save_checkpoint`, or by hfcore before format 2.

    Returns
    -------
    (RunState, dict)
        The state with NumPy vectors (convert with ``state.map_vectors(model.from_numpy)``) and
        the ``extra`` metadata. A format-1 checkpoint is converted: its ``lam`` and ``warm_start``
        become :class:`~hfcore.hf.HFState`, or for a ``solver=sgd`` run its ``warm_start``
        becomes :class:`~hfcore.sgd.SGDState`'s velocity, bit for bit.

    Raises
    ------
    CheckpointError
        If the file is missing, truncated, corrupt, of another format, or holds the state of an
        optimiser that no loaded module defines.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files if k not in ("meta", "digest")}
            meta_text, digest = str(data["meta"]), str(data["digest"])
            theta = arrays.pop("theta")
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError) as exc:
        raise CheckpointError(f"checkpoint {path} is corrupt or not an hfcore checkpoint ({exc})") from None
    try:  # read before the digest is checked, for the format; a damaged text fails the digest below
        meta = json.loads(meta_text)
    except ValueError:
        meta = {}
    meta = meta if isinstance(meta, dict) else {}
    if meta.get("format") == 1:
        ordered = [theta, arrays.get("warm_start", np.zeros(0))]  # format 1: theta, warm_start, meta
    else:
        ordered = [theta] + [arrays[k] for k in sorted(arrays)]
    if _digest(ordered, meta_text) != digest:
        raise CheckpointError(f"checkpoint {path} is corrupt: checksum mismatch")
    if meta.get("format") == 1:
        optimizer = _from_format_1(meta, arrays["warm_start"])
    elif meta.get("format") == FORMAT_VERSION:
        name = meta["optimizer"]["name"]
        vectors = {k[len(ARRAY_PREFIX):]: v for k, v in arrays.items() if k.startswith(ARRAY_PREFIX)}
        try:
            optimizer = OptimizerState.restore(name, vectors, meta["optimizer"]["scalars"])
        except KeyError:
            raise CheckpointError(f"checkpoint {path} holds the state of optimizer '{name}', which no loaded "
                                  "plugin defines") from None
    else:
        raise CheckpointError(f"checkpoint {path} has format {meta.get('format')}, expected {FORMAT_VERSION} "
                              "(or 1, converted on load)")
    state = RunState(
        iteration=int(meta["iteration"]),
        theta=theta,
        optimizer=optimizer,
        data_rng=meta["data_rng"],
        counters=Counters(**meta["counters"]),
        elapsed=float(meta["elapsed"]),
        cpu_seconds=float(meta.get("cpu_seconds", 0.0)),  # absent before the CPU clock existed
        test_error=float(meta["test_error"]),
        solved=bool(meta["solved"]),
    )
    return state, upgrade_saved_config(meta["extra"])  # a model named by ``kind`` (before models were components)


def _from_format_1(meta: dict, warm_start: np.ndarray) -> OptimizerState:
    """The optimiser state of a format-1 checkpoint: SGD kept its velocity in ``warm_start``, HF its warm start
    (the run's ``solver`` said which); ``lam`` was HF's lambda (SGD carried lambda0 there, unused)."""
    solver = meta.get("extra", {}).get("config", {}).get("solver", {}).get("name")
    if solver == "sgd":
        return SGDState(velocity=warm_start)
    return HFState(lam=float(meta["lam"]), warm_start=warm_start)

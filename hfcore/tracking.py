"""Run tracking: MLflow (embedded sqlite store by default) or nothing.

mlflow is imported lazily, inside the tracker, so ``import hfcore`` stays light.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import math
import os
import re
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

from hfcore.interrupts import uninterrupted

TERMINAL_STATUSES = ("FINISHED", "FAILED", "KILLED")
_MAX_PER_BATCH = 100  # MLflow's limit on params (and tags) in one log_batch call
_MAX_METRICS_PER_BATCH = 1000  # MLflow's limit on metrics in one log_batch call
FLUSH_SECONDS = 5.0
"""Longest time metrics wait in :class:`MlflowTracker`'s buffer before they are written."""
PROGRESS_METRIC = "cost.minibatches"  # in every logged iteration: its last step is how far a run has logged
HEARTBEAT_TAG = "hfcore.heartbeat"
"""Run tag: when the run last wrote to the store (epoch seconds), set at start and at every flush.

A run still RUNNING whose heartbeat stopped was killed (SIGKILL, OOM, a node lost); with the
tags ``hfcore.host`` and ``hfcore.pid`` it tells a dead run from a live one.
"""
RHO_FLOOR = -1.0
"""What ``hf.rho`` = -inf (the loss rose) is logged as: MLflow's charts draw no point for -inf (stored as -1.8e308)."""
LOSS_ROSE_METRIC = "hf.loss_rose"  # 1 at the iterations whose rho is -inf, else 0 (docs/tracking.md)
PROBE_ENV = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "10"}
"""MLflow's HTTP settings while the store is first opened: a dead server fails in seconds, not after 4 minutes of
retries (MLflow's defaults: 7 retries with backoff, 120 s timeout). The run itself keeps the user's settings."""

log = logging.getLogger("hfcore")


class TrackingError(Exception):
    """A tracking store or experiment that cannot be used; the message is one line that names the URI."""


def default_tracking_uri() -> str:
    """``$MLFLOW_TRACKING_URI`` if set, else ``sqlite:///<cwd>/mlflow.db``.

    The explicit sqlite URI matters: MLflow refuses the old ``./mlruns`` file
    store (ecosystem notes sec. 2).
    """
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{Path.cwd() / 'mlflow.db'}"


def flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    """Flatten nested dicts/lists into dotted keys (``damping.mu``; a list's items ``model.damped_signals.0``).

    An empty list is its own key with the value ``[]``: without it a run that damped no signals would log
    nothing, and read back like one from before the list existed (which takes the list's default).
    """
    out: dict[str, Any] = {}
    if isinstance(tree, dict):
        for key, value in tree.items():
            out.update(flatten(value, f"{prefix}{key}."))
    elif isinstance(tree, (list, tuple)) and not tree and prefix:
        out[prefix[:-1]] = "[]"
    elif isinstance(tree, (list, tuple)):
        for i, value in enumerate(tree):
            out.update(flatten(value, f"{prefix}{i}."))
    else:
        out[prefix[:-1]] = tree
    return out


def process_died(tags: dict[str, str], host: str | None = None) -> bool:
    """Whether a run's ``hfcore.host``/``hfcore.pid`` tags name a process of this host that no longer exists.

    False when that cannot be known (another host, no tags): a run may only be taken over when
    its process is certainly gone. ``host`` defaults to this machine's name.
    """
    if tags.get("hfcore.host") != (socket.gethostname() if host is None else host):
        return False
    try:
        pid = int(tags["hfcore.pid"])
    except (KeyError, ValueError):
        return False
    if pid == os.getpid():  # the pid was reused by this very process
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        return False
    return False


class Tracker(Protocol):
    """What a run (:class:`hfcore.run.Run`) needs from a run logger."""

    run_id: str | None
    continued: bool  # whether start() continued an earlier run (a resumed training)

    def start(self, params: dict[str, Any], tags: dict[str, str], continue_run: str | None = None,
              at_step: int = 0) -> None: ...
    def earlier_history(self, keys: tuple[str, ...]) -> list[dict[str, float]]: ...
    def describe(self) -> list[str]: ...
    def log_metrics(self, step: int, metrics: dict[str, float]) -> None: ...
    def flush(self) -> None: ...
    def log_text(self, text: str, artifact_file: str) -> None: ...
    def log_artifact(self, path: str | os.PathLike, artifact_path: str | None = None) -> None: ...
    def log_figure(self, figure: Any, artifact_file: str) -> None: ...
    def finish(self, status: str) -> None: ...


class NullTracker:
    """Logs nothing (``tracking=none``)."""

    run_id = None
    continued = False

    def start(self, params: dict[str, Any], tags: dict[str, str], continue_run: str | None = None,
              at_step: int = 0) -> None:
        pass

    def earlier_history(self, keys: tuple[str, ...]) -> list[dict[str, float]]:
        return []

    def describe(self) -> list[str]:
        return []

    def log_metrics(self, step: int, metrics: dict[str, float]) -> None:
        pass

    def flush(self) -> None:
        pass

    def log_text(self, text: str, artifact_file: str) -> None:
        pass

    def log_artifact(self, path: str | os.PathLike, artifact_path: str | None = None) -> None:
        pass

    def log_figure(self, figure: Any, artifact_file: str) -> None:
        pass

    def finish(self, status: str) -> None:
        pass


@contextlib.contextmanager
def store_lock(uri: str) -> Iterator[None]:
    """Hold an exclusive file lock beside a local sqlite store while it is opened.

    Opening a fresh sqlite store migrates its schema; two processes doing that at once
    corrupt it (``table _alembic_tmp_... already exists``; mlflow #19943). Hydra sweeps
    prepare the store first (:class:`hfcore.hydra_callbacks.PrepareTrackingStore`); this
    lock also covers independent runs started together. Other URIs need no lock.
    """
    if not uri.startswith("sqlite:///"):
        yield
        return
    lock_path = Path(uri[len("sqlite:///"):] + ".lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def ensure_experiment(uri: str, experiment: str) -> str:
    """Create the store and experiment if missing; return the experiment id.

    Call once before parallel jobs start: concurrent first use of a fresh
    sqlite store races on its schema migration (mlflow #19943).
    """
    from mlflow.tracking import MlflowClient

    with store_lock(uri):
        client = MlflowClient(tracking_uri=uri)
        found = client.get_experiment_by_name(experiment)
        if found is not None:
            return found.experiment_id
        try:
            return client.create_experiment(experiment)
        except Exception:  # another process (on another host) created it first
            found = client.get_experiment_by_name(experiment)
            if found is None:
                raise
            return found.experiment_id


def sqlite_path(uri: str) -> Path | None:
    """The file of a ``sqlite:///`` URI, else None."""
    return Path(uri[len("sqlite:///"):]) if uri.startswith("sqlite:///") else None


@contextlib.contextmanager
def probe_settings() -> Iterator[None]:
    """Set :data:`PROBE_ENV` for the duration (MLflow reads these variables at each request)."""
    saved = {k: os.environ.get(k) for k in PROBE_ENV}
    os.environ.update(PROBE_ENV)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def existing_experiment(uri: str, experiment: str, program: str) -> tuple[Any, Any]:
    """A client of the store at ``uri`` and its experiment ``experiment``, for commands that only read.

    Raises
    ------
    SystemExit
        With one line prefixed ``<program>: error:``: no store at a local ``uri`` (none is created,
        where MLflow would create an empty one), a store or server that cannot be read, or no such
        experiment.
    """
    from mlflow.tracking import MlflowClient

    path = sqlite_path(uri)
    if path is not None and not path.exists():
        raise SystemExit(f"{program}: error: no MLflow store {path}; run {program} where hf-train ran, "
                         "or pass --uri")
    try:
        with probe_settings():
            client = MlflowClient(tracking_uri=uri)
            found = client.get_experiment_by_name(experiment)
    except Exception as exc:
        raise SystemExit(f"{program}: error: {describe_store_error(uri, exc, cli=False)}") from None
    if found is None:
        raise SystemExit(f"{program}: error: no experiment '{experiment}' in {uri}")
    return client, found


def describe_store_error(uri: str, exc: BaseException, cli: bool = True) -> str:
    """One line saying why the store at ``uri`` cannot be used (MLflow's messages span many lines).

    ``cli``: advise hf-train's ``tracking.*`` options (else only say what is wrong).
    """
    text = str(getattr(exc, "message", None) or exc)
    if uri.startswith(("http://", "https://")):
        errno = re.search(r"\[Errno -?\d+\] ([^'\")\]]+)", text)
        if errno:
            reason = errno.group(1).strip()
        elif "timed out" in text.lower() or "timeout" in text.lower():
            reason = f"no answer within {PROBE_ENV['MLFLOW_HTTP_REQUEST_TIMEOUT']} s"
        else:
            reason = text.strip().splitlines()[0][:200] if text.strip() else type(exc).__name__
        return f"no MLflow server answers at {uri} ({reason})" + (
            "; start it, or choose another store (tracking.uri=sqlite:///mlflow.db) or none (tracking=none)"
            if cli else "")
    if "unsupported URI" in text or "registered tracking store" in text or "Unsupported URI" in text:
        return (f"unsupported tracking URI '{uri}'; use sqlite:///<path>/mlflow.db or http(s)://<host>:<port> "
                "(MLflow's URI schemes)" + (", or tracking=none" if cli else ""))
    if isinstance(exc, OSError):
        return f"cannot create the MLflow store {uri}: {exc.strerror or exc}" + (
            f": {exc.filename}" if exc.filename else "")
    first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    return f"cannot use the MLflow store {uri}: {first[:300]}"


def open_store(uri: str, experiment: str) -> str:
    """Check, in seconds and before any work, that runs can be logged to ``experiment`` in ``uri``.

    Creates the store and the experiment if missing (as :func:`ensure_experiment`), marks the
    experiment for MLflow's model-training pages (:func:`mark_training_experiment`) and returns its id.

    Raises
    ------
    TrackingError
        With one line naming the URI: an empty experiment name, an unknown URI scheme, a sqlite
        file that cannot be created, a server that does not answer (MLflow's retries are turned off
        for this check, :data:`PROBE_ENV`).
    """
    if not experiment or not experiment.strip():
        raise TrackingError("tracking.experiment is empty; name the MLflow experiment (default: hfcore)")
    path = sqlite_path(uri)
    if path is not None and not path.exists() and path.parent.is_dir() and os.access(path.parent, os.W_OK):
        log.info("creating the MLflow store %s (first use, a few seconds)", path)
    try:
        with probe_settings():
            experiment_id = ensure_experiment(uri, experiment)
            mark_training_experiment(uri, experiment_id)
    except Exception as exc:  # MLflow, sqlalchemy, requests and OS errors alike: one line, not 5 tracebacks
        raise TrackingError(describe_store_error(uri, exc)) from None
    return experiment_id


EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
VIEW_KEY = "hfcore-training"
"""The saved view :func:`mark_training_experiment` stores; its UI link is :func:`ui_links`' second one."""
_VIEW_TAG = f"mlflow.sharedViewState.{VIEW_KEY}"  # the tag prefix of the MLflow UI's saved views ("Views")
KEY_CURVES = ("train.loss", "test.error", "hf.lambda", "hf.rho", "hf.loss_rose", "test.loss", "cost.minibatches")
"""The charts the saved view shows first, in this order (section "Key curves"); the rest follow alphabetically."""
OTHER_CURVES = ("cg.backtrack_index", "cg.iters", "cg.stop_reason", "cost.forward_evals", "cost.gradient_evals",
                "cost.gv_products", "cost.sequences", "hf.accepted", "hf.delta_norm", "hf.nonfinite",
                "line_search.step", "task.solved", "time.cpu", "time.elapsed", "time.iteration",
                "train.loss_after")
TABLE_COLUMNS = ("metrics.`test.error`", "metrics.`task.solved`", "metrics.`cost.minibatches`",
                 "metrics.`train.loss`", "metrics.`hf.lambda`", "metrics.`time.elapsed`", "tags.`task`", "tags.`T`",
                 "params.`model.hidden`", "tags.`backend`", "tags.`damping`", "tags.`hf`", "tags.`solver`",
                 "tags.`seed`")


def _chart(key: str, section: str) -> dict[str, Any]:
    """One line chart of the MLflow UI's runs view (the fields of its ``RunsChartsLineCardConfig``)."""
    return {"type": "LINE", "uuid": f"hfcore-{key}", "metricSectionId": section, "deleted": False,
            "isGenerated": True, "displayName": key, "metricKey": key, "selectedMetricKeys": [key],
            "runsCountToCompare": 10, "lineSmoothness": 0, "xAxisScaleType": "linear",
            "scaleType": "log" if key == "hf.lambda" else "linear",
            "range": {"xMin": None, "xMax": None, "yMin": None, "yMax": None}, "xAxisKey": "step",
            "selectedXAxisMetricKey": "", "yAxisKey": "metric", "yAxisExpressions": [], "ignoreOutliers": False,
            "useGlobalXaxisKey": True, "useGlobalLineSmoothing": True}


def training_view_state() -> dict[str, Any]:
    """The runs view hf-train stores in each experiment: key curves first, metric and config columns."""
    sections = [("hfcore-key", "Key curves"), ("hfcore-rest", "Model metrics")]  # new metrics go to "Model metrics"
    return {
        "selectedColumns": list(TABLE_COLUMNS),
        "compareRunCharts": [_chart(k, "hfcore-key") for k in KEY_CURVES]
        + [_chart(k, "hfcore-rest") for k in OTHER_CURVES],
        "compareRunSections": [{"uuid": uuid, "name": name, "display": True, "isReordered": True, "deleted": False,
                                "isGenerated": False} for uuid, name in sections],
        "isAccordionReordered": True,
        "runsHiddenMode": "SHOW_ALL",
    }


def mark_training_experiment(uri: str, experiment_id: str) -> None:
    """Tag the experiment as model training and store the saved view of :func:`training_view_state`.

    The MLflow 3.17 UI opens an experiment on its GenAI pages unless the link says
    ``workflowType=machine_learning`` (it ignores ``mlflow.experimentKind``; docs/tracking.md), so the
    kind tag is for other MLflow versions and tools. The saved view (the UI's "Views" menu, an
    experiment tag) orders the charts; :func:`ui_links` opens it. Tags already right are left alone.
    """
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    tags = client.get_experiment(experiment_id).tags
    if tags.get(EXPERIMENT_KIND_TAG) != "custom_model_development":
        client.set_experiment_tag(experiment_id, EXPERIMENT_KIND_TAG, "custom_model_development")
    state = json.dumps(training_view_state(), separators=(",", ":"))
    try:
        stored = json.loads(tags.get(_VIEW_TAG, "{}")).get("state")
    except ValueError:
        stored = None
    if stored != state:
        now = int(time.time() * 1000)
        envelope = {"name": "hfcore: key curves first", "createdAt": now, "updatedAt": now, "state": state}
        client.set_experiment_tag(experiment_id, _VIEW_TAG, json.dumps(envelope, separators=(",", ":")))


def ui_links(uri: str, experiment_id: str, run_id: str) -> list[str]:
    """Log lines with the MLflow UI's links to the run and to the experiment's runs, charts first.

    The links carry ``workflowType=machine_learning``: without it a fresh browser opens the GenAI pages.
    For a local store the UI is ``mlflow ui`` at its default address, which the line says how to start.
    """
    if uri.startswith(("http://", "https://")):
        base, start = uri.rstrip("/"), ""
    elif uri.startswith("sqlite:///"):
        base, start = "http://127.0.0.1:5000", f" (start it with: hf-ui --uri {uri})"
    else:
        return []
    ml = "workflowType=machine_learning"
    return [f"MLflow UI{start}: this run {base}/#/experiments/{experiment_id}/runs/{run_id}?{ml}",
            f"all runs, key curves first: {base}/#/experiments/{experiment_id}/runs?{ml}"
            f"&viewStateShareKey={VIEW_KEY}&compareRunsMode=CHART"]


def chartable(metrics: dict[str, float]) -> dict[str, float]:
    """``metrics`` as logged to MLflow: a -inf rho becomes :data:`RHO_FLOOR`, marked by :data:`LOSS_ROSE_METRIC`.

    Only when ``hf.rho`` is present (HF iterations; SGD logs none).
    """
    rho = metrics.get("hf.rho")
    if rho is None:
        return metrics
    rose = rho == float("-inf")
    return {**metrics, "hf.rho": RHO_FLOOR if rose else rho, LOSS_ROSE_METRIC: float(rose)}


def metric_history(client: Any, run_id: str, keys: tuple[str, ...], until_step: int | None = None
                   ) -> list[dict[str, float]]:
    """The metrics ``keys`` a run logged, one dict per step (iteration), in step order.

    Parameters
    ----------
    client : mlflow.tracking.MlflowClient
        A client of the run's store.
    run_id : str
        The run.
    keys : tuple of str
        Metric names; steps that lack ``keys[0]`` (a curve's x axis) are left out.
    until_step : int, optional
        Only the steps up to this one (a continued run's part before its resume).
    """
    by_step: dict[int, dict[str, float]] = {}
    for key in keys:
        for m in client.get_metric_history(run_id, key):
            if until_step is None or m.step <= until_step:
                by_step.setdefault(m.step, {})[key] = m.value
    return [by_step[step] for step in sorted(by_step) if keys[0] in by_step[step]]


class MlflowTracker:
    """One MLflow run, written through ``MlflowClient`` (no global state).

    Parameters
    ----------
    uri : str
        Tracking URI (sqlite file, server URL, ...).
    experiment : str
        Experiment name; created if missing.
    run_name : str, optional
        Shown in the UI.
    """

    def __init__(self, uri: str, experiment: str, run_name: str | None = None) -> None:
        from mlflow.tracking import MlflowClient

        self.uri = uri
        with store_lock(uri):  # the first client of a fresh store creates its schema
            self.client = MlflowClient(tracking_uri=uri)
        self.experiment = experiment
        self.run_name = run_name
        self.run_id: str | None = None
        self.continued = False  # True when start() continued an earlier run (a resumed training)
        self.resumed_at = 0
        self._logged_until = -1  # a continued run's last stored step: those steps are not logged again
        self._pending: list[Any] = []  # metrics not written yet (see log_metrics)
        self._flushed = time.monotonic()

    def start(self, params: dict[str, Any], tags: dict[str, str], continue_run: str | None = None,
              at_step: int = 0) -> None:
        """Create the run, or continue ``continue_run``, and log its params and tags.

        A run resumed from a checkpoint continues the MLflow run that wrote the
        checkpoint, so the UI shows one run with one unbroken learning curve.
        That happens only when that run is in this store and experiment and has
        logged no step after ``at_step`` (the checkpoint's iteration), or its process
        died on this host (:func:`process_died`; those steps are then not logged again). A second
        resume from the same checkpoint (a fork), a run deleted or logged
        elsewhere, starts a new run tagged ``hfcore.resumed_from_run``.
        Params are immutable in MLflow: a continued run gets only the params it
        lacks, and the keys whose values changed are listed in the tag
        ``hfcore.resume_changed_params``.
        """
        with uninterrupted():  # an interrupt inside a commit would leave the store locked (hfcore.interrupts)
            self._start(params, tags, continue_run, at_step)

    def _start(self, params: dict[str, Any], tags: dict[str, str], continue_run: str | None, at_step: int) -> None:
        from mlflow.entities import Param, RunTag

        experiment_id = ensure_experiment(self.uri, self.experiment)
        previous = self._continuable(continue_run, experiment_id, at_step) if continue_run else None
        tags = {k: str(v) for k, v in tags.items()}
        tags.update({"hfcore.host": socket.gethostname(), "hfcore.pid": str(os.getpid()),
                     HEARTBEAT_TAG: str(int(time.time()))})
        if previous is None:
            if continue_run:
                tags["hfcore.resumed_from_run"] = continue_run
            run = self.client.create_run(experiment_id, run_name=self.run_name, tags=tags)
            self.run_id = run.info.run_id
            logged: dict[str, str] = {}
        else:
            self.run_id, self.continued, self.resumed_at = previous.info.run_id, True, at_step
            self.client.update_run(self.run_id, status="RUNNING")
            logged = previous.data.params
            earlier = previous.data.tags.get("hfcore.resumed_at")
            tags["hfcore.resumed_at"] = f"{earlier},{at_step}" if earlier else str(at_step)
        items = {k: str(v)[:6000] for k, v in sorted(params.items())}
        changed = sorted(k for k, v in items.items() if k in logged and logged[k] != v)
        if changed:
            tags["hfcore.resume_changed_params"] = ", ".join(changed)[:5000]
        fresh = [Param(k, v) for k, v in items.items() if k not in logged]
        for i in range(0, len(fresh), _MAX_PER_BATCH):
            self.client.log_batch(self.run_id, params=fresh[i:i + _MAX_PER_BATCH])
        if previous is not None:  # a new run took its tags at creation
            run_tags = [RunTag(k, v) for k, v in tags.items()]
            for i in range(0, len(run_tags), _MAX_PER_BATCH):
                self.client.log_batch(self.run_id, tags=run_tags[i:i + _MAX_PER_BATCH])

    def _continuable(self, run_id: str, experiment_id: str, at_step: int) -> Any:
        """``run_id``'s run if the resumed training may continue it, else None (see :meth:`start`)."""
        from mlflow.exceptions import MlflowException

        try:
            run = self.client.get_run(run_id)
        except MlflowException:
            return None
        if run.info.experiment_id != experiment_id or run.info.lifecycle_stage != "active":
            return None
        steps = [m.step for m in self.client.get_metric_history(run_id, PROGRESS_METRIC)]
        last = max(steps, default=-1)
        # Steps past the checkpoint: a fork, unless the run's process was killed (SIGKILL) after its last
        # flush. Then the resume continues it, recomputing those steps without logging them twice.
        if last > at_step and not (run.info.status == "RUNNING" and process_died(run.data.tags)):
            return None
        self._logged_until = last
        return run

    def earlier_history(self, keys: tuple[str, ...]) -> list[dict[str, float]]:
        """A continued run's metrics ``keys`` logged before it was resumed, one dict per step.

        Empty for a new run. With the resumed part's history it draws the whole
        learning curve. Steps that lack ``keys[0]`` (the curve's x axis) are left out.
        """
        if not self.continued:
            return []
        return metric_history(self.client, self.run_id, keys, until_step=self.resumed_at)

    def log_metrics(self, step: int, metrics: dict[str, float]) -> None:
        """Queue one iteration's metrics; they are written at most :data:`FLUSH_SECONDS` later.

        One sqlite commit per iteration cost about 26 ms, half the time of a first-order step at T = 100
        (docs/tracking.md): the buffer writes up to 1000 metrics per ``log_batch`` call instead.
        """
        from mlflow.entities import Metric

        if step <= self._logged_until:
            return
        now = int(time.time() * 1000)
        self._pending.extend(Metric(k, float(v), now, step) for k, v in chartable(metrics).items()
                             if v is not None and not (isinstance(v, float) and math.isnan(v)))
        if len(self._pending) >= _MAX_METRICS_PER_BATCH or time.monotonic() - self._flushed >= FLUSH_SECONDS:
            self.flush()

    def flush(self) -> None:
        """Write the queued metrics now, and the heartbeat tag (:data:`HEARTBEAT_TAG`) with them."""
        from mlflow.entities import RunTag

        if self.run_id is None:
            return
        heartbeat = [RunTag(HEARTBEAT_TAG, str(int(time.time())))]
        with uninterrupted():
            while True:  # the heartbeat rides on the last batch: no extra store commit
                last = len(self._pending) <= _MAX_METRICS_PER_BATCH
                self.client.log_batch(self.run_id, metrics=self._pending[:_MAX_METRICS_PER_BATCH],
                                      tags=heartbeat if last else [])
                del self._pending[:_MAX_METRICS_PER_BATCH]
                if last:
                    break
        self._flushed = time.monotonic()

    def ui_links(self) -> list[str]:
        """Log lines with the MLflow UI's links to this run (:func:`ui_links`)."""
        return ui_links(self.uri, self.client.get_run(self.run_id).info.experiment_id, self.run_id)

    def describe(self) -> list[str]:
        """Log lines that say where the run is logged: its id, name and store, and the UI's links."""
        return [f"MLflow run {self.run_id} ({self.run_name}) in {self.uri}", *self.ui_links()]

    def log_text(self, text: str, artifact_file: str) -> None:
        with uninterrupted():
            self.client.log_text(self.run_id, text, artifact_file)

    def log_artifact(self, path: str | os.PathLike, artifact_path: str | None = None) -> None:
        with uninterrupted():
            self.client.log_artifact(self.run_id, str(path), artifact_path)

    def log_figure(self, figure: Any, artifact_file: str) -> None:
        with uninterrupted():
            self.client.log_figure(self.run_id, figure, artifact_file)

    def finish(self, status: str) -> None:
        """Mark the run FINISHED, FAILED or KILLED (never left RUNNING)."""
        if status not in TERMINAL_STATUSES:
            raise ValueError(f"unknown run status {status!r}")
        if self.run_id is not None:
            try:
                self.flush()
            finally:  # a store error while writing the last metrics must still close the run
                self.client.set_terminated(self.run_id, status)

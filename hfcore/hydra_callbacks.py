"""Hydra callbacks used by ``hf-train``."""

from __future__ import annotations

import sys
from typing import Any

from hydra.experimental.callback import Callback


class PrepareTrackingStore(Callback):
    """Create the MLflow store and experiment once, before a sweep's jobs start.

    Parallel jobs (joblib, SLURM) racing to initialise a fresh sqlite store
    corrupt its schema migration (mlflow #19943); doing it first avoids that.
    A store that cannot be used stops the sweep here, with one line, before any job starts.
    """

    def on_multirun_start(self, config: Any, **kwargs: Any) -> None:
        if not config.tracking.enabled:
            return
        from hfcore.tracking import TrackingError, default_tracking_uri, open_store

        try:
            open_store(config.tracking.uri or default_tracking_uri(), config.tracking.experiment)
        except TrackingError as exc:
            print(f"hf-train: error: {exc}", file=sys.stderr)
            raise SystemExit(2) from None


class CheckRunFolder(Callback):
    """Refuse, in one line and before Hydra creates it, a run folder that cannot be written.

    Without it Hydra's own ``mkdir`` fails with a traceback (a path inside a regular file, a
    read-only file system); ``hf-train`` reports bad input as ``hf-train: error: ...``, exit 2.
    """

    def on_run_start(self, config: Any, **kwargs: Any) -> None:
        self._check("hydra.run.dir", config.hydra.run.dir)

    def on_multirun_start(self, config: Any, **kwargs: Any) -> None:
        self._check("hydra.sweep.dir", config.hydra.sweep.dir)

    @staticmethod
    def _check(key: str, directory: str) -> None:
        import sys
        from pathlib import Path

        from hfcore.rundir import unwritable

        problem = unwritable(Path(directory))
        if problem:
            print(f"hf-train: error: {key} {directory} cannot be written ({problem})", file=sys.stderr)
            raise SystemExit(2)

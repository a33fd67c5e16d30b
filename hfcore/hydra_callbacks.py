"""Hydra callbacks used by ``hf-train``."""

from __future__ import annotations

from typing import Any

from hydra.experimental.callback import Callback


class PrepareTrackingStore(Callback):
    """Create the MLflow store and experiment once, before a sweep's jobs start.

    Parallel jobs (joblib, SLURM) racing to initialise a fresh sqlite store
    corrupt its schema migration (mlflow #19943); doing it first avoids that.
    """

    def on_multirun_start(self, config: Any, **kwargs: Any) -> None:
        if not config.tracking.enabled:
            return
        from hfcore.tracking import default_tracking_uri, ensure_experiment

        ensure_experiment(config.tracking.uri or default_tracking_uri(), config.tracking.experiment)

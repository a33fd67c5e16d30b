"""Reports read from the MLflow store, outside the core package: ``hf-report`` (:mod:`hfcore_reports.cli`)."""

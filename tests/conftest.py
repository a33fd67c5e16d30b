"""Shared test setup: BLAS pinned to one thread (two threads on a shared 2-core box run 20-30x slower),
and the ``extra`` marker, which skips a test whose optional part is missing (see ``tests/extras.py``)."""

import os

import pytest

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    from tests.extras import missing_reason

    for item in items:
        for mark in item.iter_markers("extra"):
            reason = missing_reason(*mark.args)
            if reason:
                item.add_marker(pytest.mark.skip(reason=reason))
                break

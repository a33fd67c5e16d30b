"""The learning-curve picture every run logs (``plots/learning_curve.png``): its third panel fits the optimiser."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hfcore.reporting import learning_curve


def history(first_order: bool) -> list[dict[str, float]]:
    """Per-iteration metrics as a run logs them: a first-order optimiser logs ``hf.lambda`` as NaN."""
    rows = []
    for i in range(1, 6):
        row = {"cost.minibatches": 0.1 * i, "train.loss_after": 1.0 / i, "hf.delta_norm": 0.01 * i,
               "hf.lambda": math.nan if first_order else 10.0 / i}
        if i % 2 == 0:
            row |= {"test.loss": 1.1 / i, "test.error": 0.5 / i}
        rows.append(row)
    return rows


@pytest.mark.parametrize(("first_order", "label", "key"), [(False, "lambda", "hf.lambda"),
                                                           (True, "step length", "hf.delta_norm")])
def test_the_third_panel_is_lambda_for_hf_and_the_step_length_for_first_order(first_order, label, key):
    rows = history(first_order)
    third = learning_curve(rows, "t").axes[2]
    assert third.get_ylabel() == label and third.get_yscale() == "log"
    (line,) = third.get_lines()
    assert np.allclose(line.get_ydata(), [r[key] for r in rows])
    assert np.allclose(line.get_xdata(), [r["cost.minibatches"] for r in rows])

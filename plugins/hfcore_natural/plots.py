"""Pictures of next-step predictions against the truth, one test window at a time.

The natural tasks' ``plot_predictions`` methods draw with these; ``hf-train``
logs the result as ``plots/predictions.png``. matplotlib is imported inside
the functions, so importing the plugin stays light. Figures are built with
``matplotlib.figure.Figure`` (no pyplot state), so threads and servers can
draw them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def _figure(**kwargs: Any) -> Any:
    from matplotlib.figure import Figure

    return Figure(layout="constrained", **kwargs)


def frames_figure(true: np.ndarray, predicted: np.ndarray, side: int, steps: Sequence[int]) -> Any:
    """Image frames: the true frames on the top row, the predicted ones below.

    Parameters
    ----------
    true, predicted : ndarray, shape (L, side * side)
        Target and predicted frames of one window, pixel values in [0, 1].
    side : int
        Frame side in pixels (15 for the bouncing balls).
    steps : sequence of int
        Which of the ``L`` steps to show, one column each.

    Returns
    -------
    matplotlib.figure.Figure
        ``2 * len(steps)`` image panels; predictions are clipped to [0, 1] for display.
    """
    fig = _figure(figsize=(1.5 * len(steps) + 0.6, 3.4))
    axes = fig.subplots(2, len(steps), squeeze=False)
    for col, step in enumerate(steps):
        for row, (frames, label) in enumerate(((true, "true"), (predicted, "predicted"))):
            ax = axes[row, col]
            ax.imshow(np.clip(frames[step].reshape(side, side), 0.0, 1.0), cmap="gray", vmin=0.0, vmax=1.0,
                      interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title(f"frame {step + 2}", fontsize=9)  # step i predicts frame i + 2 (1-based)
            if col == 0:
                ax.set_ylabel(label)
    return fig


def heatmaps_figure(true: np.ndarray, predicted: np.ndarray, ylabel: str, cmap: str, vmin: float, vmax: float,
                    rows: tuple[int, int] | None = None) -> Any:
    """Two heatmaps over time, the true sequence above the predicted one, with a shared colour bar.

    Parameters
    ----------
    true, predicted : ndarray, shape (L, D)
        Target and predicted frames of one window.
    ylabel : str
        What the ``D`` rows are (e.g. ``"MIDI pitch"``).
    cmap : str
        matplotlib colour map.
    vmin, vmax : float
        Colour range shared by both panels.
    rows : (int, int), optional
        Show only dimensions ``rows[0] .. rows[1] - 1`` (labelled by their index).

    Returns
    -------
    matplotlib.figure.Figure
        Two image panels (plus the colour bar's axes).
    """
    lo, hi = rows if rows is not None else (0, true.shape[1])
    fig = _figure(figsize=(9, 5.5))
    axes = fig.subplots(2, 1, sharex=True)
    extent = (0.5, true.shape[0] + 0.5, lo - 0.5, hi - 0.5)
    for ax, values, label in ((axes[0], true, "true"), (axes[1], predicted, "predicted")):
        image = ax.imshow(values[:, lo:hi].T, aspect="auto", origin="lower", cmap=cmap, vmin=vmin, vmax=vmax,
                          extent=extent, interpolation="nearest")
        ax.set_title(label, fontsize=10)
        ax.set_ylabel(ylabel)
    axes[1].set_xlabel("predicted step")
    fig.colorbar(image, ax=list(axes), shrink=0.8)
    return fig

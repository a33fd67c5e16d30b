"""Conformance and equality tables of the gated models on every backend (issue 19), in float64.

For each model (``lstm`` and ``gru``, both built in with hand-written NumPy products) and each backend
that builds it, on tiny masked, variable-length batches, for the three output losses:

* **conformance**: the gradient against central differences, and the Gauss-Newton product against the
  explicit dense ``J' H J + kappa I + w G_S`` over the declared damped signals (``w`` = 0 and 0.7), the
  kit's checks (:mod:`hfcore.testing.conformance`); each the largest relative error;
* **equality**: loss, gradient and Gv (``w`` = 0.7) against a reference backend on the same parameters,
  batch and direction (``numpy`` where it builds the model, else ``autograd``): the largest relative error.

Nothing here is timed. Example::

    python benchmarks/equality.py --markdown benchmarks/results/DATE-equality.md
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from types import SimpleNamespace
from typing import Any

import numpy as np

from hfcore.config import LSTMConfig
from hfcore.registry import load_plugins
from hfcore.testing.batches import masked_batch
from hfcore.testing.conformance import check_gradient, check_gv, relative_error
from hfcore.types import OUTPUT_LOSSES, ModelSpec

N_IN, N_OUT, HIDDEN, T, B, L2, W = 3, 2, 4, 5, 4, 1e-3, 0.7


def model_config(registry: Any, name: str, output: str) -> Any:
    """The model's registered schema with tiny sizes (the LSTM's 2 cells per block divide 4 units)."""
    cfg = registry.get("model", name).config
    extra = {"cells_per_block": 2} if isinstance(cfg, LSTMConfig) else {}
    return dataclasses.replace(cfg, hidden=HIDDEN, l2=L2, output=output, **extra)


def build(registry: Any, backend: str, name: str, spec: ModelSpec, cfg: Any) -> Any | None:
    """Backend ``backend``'s float64 model, or None when it cannot build it (a missing extra, no R-op)."""
    component = registry.get("backend", backend)
    bcfg = component.config
    bcfg = dataclasses.replace(bcfg, dtype="float64") if dataclasses.is_dataclass(bcfg) else SimpleNamespace(
        name=backend, dtype="float64")
    try:
        model = component.factory(registry.get("model", name).factory(spec, cfg), cfg, bcfg)
    except (ImportError, ValueError):
        return None
    return model if getattr(model, "supports_curvature", True) else None


def row(registry: Any, name: str, backend: str, reference: str, output: str) -> list[str] | None:
    """One table row, or None when ``backend`` does not build ``name``."""
    spec = ModelSpec(N_IN, N_OUT, output)
    cfg = model_config(registry, name, output)
    model = build(registry, backend, name, spec, cfg)
    if model is None:
        return None
    ref = build(registry, reference, name, spec, cfg)
    rng = np.random.default_rng(0)
    batch = masked_batch(rng, spec, T, B)
    theta_np = np.asarray(model.to_numpy(model.init_params(np.random.default_rng(1))))
    theta = model.from_numpy(theta_np)
    grad_err = check_gradient(model, theta, batch, rtol=1e-5)
    gv_err = check_gv(model, theta, batch, spec, L2, cfg.normaliser, (0.0, W), rtol=1e-5)
    cells = [name, backend, output, f"{grad_err:.1e}", f"{gv_err:.1e}"]
    if backend == reference:
        return cells + ["(reference)"] * 3
    v = rng.standard_normal(theta_np.size)
    ours_loss, ours_grad = model.loss_and_grad(theta, batch)
    ref_theta = ref.from_numpy(theta_np)
    ref_loss, ref_grad = ref.loss_and_grad(ref_theta, batch)
    ours_gv = model.to_numpy(model.curvature(theta, batch).gv(model.from_numpy(v), W))
    ref_gv = ref.to_numpy(ref.curvature(ref_theta, batch).gv(ref.from_numpy(v), W))
    loss_err = abs(float(ours_loss) - float(ref_loss)) / abs(float(ref_loss))
    return cells + [f"{loss_err:.1e}", f"{relative_error(model.to_numpy(ours_grad), ref.to_numpy(ref_grad)):.1e}",
                    f"{relative_error(ours_gv, ref_gv):.1e}"]


def table(models: list[str]) -> str:
    """The markdown table over every registered backend."""
    _, registry = load_plugins()
    lines = ["| model | backend | output loss | gradient vs finite differences | Gv vs dense J'HJ + w G_S | "
             "loss vs reference | gradient vs reference | Gv (w = 0.7) vs reference |",
             "|---|---|---|---|---|---|---|---|"]
    known = registry.names("model")
    for name in models:
        if name not in known:
            lines.append(f"| {name} | (not registered: install the plugin that provides it) | | | | | | |")
            continue
        spec = ModelSpec(N_IN, N_OUT, "linear")
        reference = "numpy" if build(registry, "numpy", name, spec, model_config(registry, name, "linear")) \
            else "autograd"
        for backend in registry.names("backend"):
            built = [row(registry, name, backend, reference, output) for output in OUTPUT_LOSSES]
            if all(r is None for r in built):
                lines.append(f"| {name} | {backend} | (does not build it: missing extra or no Gauss-Newton "
                             f"product) | | | | | |")
            lines += ["| " + " | ".join(r) + " |" for r in built if r is not None]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="equality.py", description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["lstm", "gru"])
    parser.add_argument("--markdown", help="also write the table here")
    args = parser.parse_args(argv)
    header = (f"Sizes: {N_IN} inputs, {HIDDEN} units, {N_OUT} outputs, T = {T}, B = {B} (variable lengths, "
              f"sparse masks), l2 = {L2}, float64. Largest relative errors.\n\n")
    text = header + table(args.models)
    print(text)
    if args.markdown:
        with open(args.markdown, "w") as fh:
            fh.write("# Conformance and equality of the gated models on every backend\n\n" + text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

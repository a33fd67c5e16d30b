"""The matched output/loss pairs, now public in :mod:`hfcore.kit.losses` (kept here for old imports)."""

from hfcore.kit.losses import OUTPUT_LOSSES, OutputCurvature, check_output, evaluate, output_activation

__all__ = ["OUTPUT_LOSSES", "OutputCurvature", "check_output", "evaluate", "output_activation"]

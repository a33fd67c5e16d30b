"""Experiment harnesses that reproduce the paper's results (each a console script)."""

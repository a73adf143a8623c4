"""Evaluation protocols (SPEC §8): multi-view against ground truth, single-view in the wild and
self-consistency, and their output files."""

from real3d.evaluation.multiview import evaluate_multiview, evaluate_object

__all__ = ["evaluate_multiview", "evaluate_object"]

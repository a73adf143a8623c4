"""Cycle consistency input: a re-rendered novel view becomes a new model input (SPEC §6.3).

The pass itself (re-render without gradient, feed back, render the input view through I·N⁻¹·I and
compare with `reconstruction_losses`) is run by the training module.
"""

from __future__ import annotations

import torch


def grey_composite(
    rgb: torch.Tensor, opacity: torch.Tensor, threshold: float = 0.5, background: float = 0.5
) -> torch.Tensor:
    """Rendered rgb [...,3,H,W] kept where opacity [...,1,H,W] > threshold, grey elsewhere."""
    mask = (opacity > threshold).to(rgb.dtype)
    return rgb * mask + background * (1.0 - mask)

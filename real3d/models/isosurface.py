"""Marching cubes on the density field with PyMCubes (no compiled torch extension needed)."""

from __future__ import annotations

import mcubes
import numpy as np
import torch


def grid_points(resolution: int, radius: float) -> torch.Tensor:
    """Grid vertices [R³,3] spanning [-radius, radius]³, axis 0 = x (`indexing="ij"`)."""
    axis = torch.linspace(-radius, radius, resolution)
    xs, ys, zs = torch.meshgrid(axis, axis, axis, indexing="ij")
    return torch.stack([xs, ys, zs], dim=-1).reshape(-1, 3)


def marching_cubes(density_grid: np.ndarray, threshold: float, radius: float) -> tuple[np.ndarray, np.ndarray]:
    """Vertices [V,3] (world units) and outward-wound faces [F,3] of the surface {density = threshold}."""
    resolution = density_grid.shape[0]
    vertices, faces = mcubes.marching_cubes(density_grid.astype(np.float64) - threshold, 0.0)
    vertices = vertices / (resolution - 1) * (2 * radius) - radius
    return vertices.astype(np.float32), faces.astype(np.int64)

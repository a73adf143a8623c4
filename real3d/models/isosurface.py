"""Marching cubes on the density field with PyMCubes (no compiled torch extension needed).

The density grid is either evaluated at every grid point (the reference's dense grid) or coarse to
fine: a guaranteed range of the density over blocks of the grid (`TriplaneNeRFRenderer.field_bounds`)
proves most blocks entirely below or above the threshold; only the other blocks are evaluated. Every
grid edge that the surface crosses lies in an unproven block, so both of its ends hold exact values,
and every proven point has the right sign: marching cubes gives the same mesh as on the dense grid.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import mcubes
import numpy as np
import torch

# bounds_fn((lo, hi) per axis of the boxes' world extents, cells [N,3] or None) -> density (lo, hi)
BoundsFn = Callable[
    [tuple[tuple[torch.Tensor, torch.Tensor], ...], torch.Tensor | None], tuple[torch.Tensor, torch.Tensor]
]


def grid_points(resolution: int, radius: float) -> torch.Tensor:
    """Grid vertices [R³,3] spanning [-radius, radius]³, axis 0 = x (`indexing="ij"`)."""
    axis = torch.linspace(-radius, radius, resolution)
    xs, ys, zs = torch.meshgrid(axis, axis, axis, indexing="ij")
    return torch.stack([xs, ys, zs], dim=-1).reshape(-1, 3)


def marching_cubes(
    density_grid: np.ndarray,
    threshold: float,
    radius: float,
    offset: tuple[int, int, int] = (0, 0, 0),
    resolution: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Vertices [V,3] (world units) and outward-wound faces [F,3] of the surface {density = threshold}.

    `density_grid` may be the part of a `resolution`³ grid that starts at grid index `offset`.
    """
    resolution = density_grid.shape[0] if resolution is None else resolution
    vertices, faces = mcubes.marching_cubes(density_grid.astype(np.float64) - threshold, 0.0)
    vertices = (vertices + np.asarray(offset)) / (resolution - 1) * (2 * radius) - radius
    return vertices.astype(np.float32), faces.astype(np.int64)


@dataclass
class SparseGrid:
    """The part of the grid that holds the surface: values [nx,ny,nz] starting at grid index `offset`."""

    values: np.ndarray
    offset: tuple[int, int, int]
    points_evaluated: int
    boxes_bounded: int


def _blocks(resolution: int, block: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """First and last grid index [nb] of each block of `block` cells along one axis."""
    first = torch.arange(0, resolution - 1, block, device=device)
    return first, (first + block).clamp_max(resolution - 1)


def _point_mask(
    block_mask: torch.Tensor,
    first: torch.Tensor,
    last: torch.Tensor,
    xs: torch.Tensor,
    ys: torch.Tensor,
    zs: torch.Tensor,
) -> torch.Tensor:
    """Which grid points [len(xs), len(ys), len(zs)] lie in a block of `block_mask` [nb,nb,nb] (closed blocks)."""

    def member(index: torch.Tensor) -> torch.Tensor:  # [n, nb]
        return ((index[:, None] >= first[None]) & (index[:, None] <= last[None])).float()

    counts = torch.einsum("kc,abc->abk", member(zs), block_mask.float())
    counts = torch.einsum("jb,abk->ajk", member(ys), counts)
    return torch.einsum("ia,ajk->ijk", member(xs), counts) > 0


def sparse_density_grid(
    query_fn: Callable[[torch.Tensor], torch.Tensor],
    bounds_fn: BoundsFn,
    resolution: int,
    radius: float,
    threshold: float,
    block: int = 4,
    refine: int = 4,
    device: torch.device | str = "cpu",
    max_points: int = 1 << 20,
) -> SparseGrid | None:
    """The density grid of `extract_mesh`, evaluated only in blocks that may hold the surface.

    Blocks of `block·refine` cells are bounded first, then the `block`-cell blocks inside the ones
    not proven; `query_fn` (world points [N,3] -> density [N]) is called on the points of the blocks
    that remain. Points outside them get a value on their proven side of the threshold. None when
    `bounds_fn` cannot bound the field.
    """
    device = torch.device(device)
    axis = torch.linspace(-radius, radius, resolution).to(device)  # the dense grid's coordinates
    margin = 1e-5 * abs(threshold)

    def undecided(lo: torch.Tensor, hi: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        above = lo > threshold + margin
        return ~(above | (hi < threshold - margin)), above

    first, last = _blocks(resolution, block * refine, device)
    bounds = bounds_fn(((axis[first], axis[last]),) * 3, None)
    if bounds is None:
        return None
    lo, hi = bounds
    unknown_coarse, above_coarse = undecided(lo, hi)
    boxes = unknown_coarse.numel()

    first, last = _blocks(resolution, block, device)
    n_blocks = first.numel()
    expand = torch.arange(n_blocks, device=device) // refine  # fine block -> coarse block
    candidates = unknown_coarse[expand][:, expand][:, :, expand]
    unknown = torch.zeros_like(candidates)
    above = above_coarse[expand][:, expand][:, :, expand] & ~candidates
    cells = candidates.nonzero()
    if cells.numel():
        lo, hi = bounds_fn(((axis[first], axis[last]),) * 3, cells)
        cell_unknown, cell_above = undecided(lo, hi)
        unknown[cells.unbind(1)] = cell_unknown
        above[cells.unbind(1)] = cell_above
        boxes += cells.shape[0]

    blocks = unknown.nonzero()
    if blocks.numel() == 0:
        return SparseGrid(np.zeros((0, 0, 0), np.float32), (0, 0, 0), 0, boxes)
    start = first[blocks.amin(0)]
    stop = last[blocks.amax(0)]
    index = [torch.arange(int(a), int(b) + 1, device=device) for a, b in zip(start, stop, strict=True)]
    fill_above = threshold + max(1.0, abs(threshold))
    fill_below = threshold - max(1.0, abs(threshold))

    values = torch.full([len(i) for i in index], fill_below, dtype=torch.float32, device=device)
    evaluated = 0
    slab = max(1, max_points // (len(index[1]) * len(index[2])))
    for x0 in range(0, len(index[0]), slab):
        xs = index[0][x0 : x0 + slab]
        values[x0 : x0 + slab][_point_mask(above, first, last, xs, index[1], index[2])] = fill_above
        mask = _point_mask(unknown, first, last, xs, index[1], index[2])
        points = mask.nonzero()
        if points.numel():
            grid_index = points + torch.stack([xs[0], index[1][0], index[2][0]])
            values[x0 : x0 + slab][mask] = query_fn(axis[grid_index]).reshape(-1).float()
            evaluated += points.shape[0]
    offset = tuple(int(i[0]) for i in index)
    return SparseGrid(values.cpu().numpy(), offset, evaluated, boxes)

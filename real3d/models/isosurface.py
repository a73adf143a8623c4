"""Marching cubes on the density grid with PyMCubes (no compiled torch extension needed).

The density grid is evaluated at every grid point (the reference's dense grid) or coarse to fine,
two ways. `sparse_density_grid`: a guaranteed range of the density over blocks of the grid
(`TriplaneField.bounds`) proves most blocks entirely below or above the threshold; only
the other blocks are evaluated. Every grid edge that the surface crosses lies in an unproven block, so
both of its ends hold exact values, and every proven point has the right sign: marching cubes gives
the same mesh as on the dense grid. `evaluated_density_grid`, for trained fields that the bounds
cannot decide: the density on a coarse grid, refined near the threshold with a margin and checked
(see there), falling back to the dense grid where the check fails.

The density is queried in fp32 with autocast off whatever the caller's autocast (the bounds assume
fp32, and the mesh is then the fp32 mesh); the bounds are used only while fp32 matmuls are IEEE
(`real3d.models.interval.fp32_matmul_is_ieee`), else the grid is evaluated.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import mcubes
import numpy as np
import torch
import torch.nn.functional as F

from real3d.models.field import TriplaneField
from real3d.models.interval import fp32_matmul_is_ieee, window_reduce

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
    min_decided: float = 0.0,
) -> SparseGrid | None:
    """The density grid of `extract_mesh`, evaluated only in blocks that may hold the surface.

    Blocks of `block·refine` cells are bounded first, then the `block`-cell blocks inside the ones
    not proven; `query_fn` (world points [N,3] -> density [N]) is called on the points of the blocks
    that remain. Points outside them get a value on their proven side of the threshold. None when
    `bounds_fn` cannot bound the field or decides less than `min_decided` of the first level's blocks.
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
    if 1.0 - float(unknown_coarse.float().mean()) < min_decided:
        return None

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


def _cells_to_points(cells: torch.Tensor, stride: int) -> torch.Tensor:
    """Points [C·s+1]³ that lie in a cell of the mask `cells` [C,C,C] (closed cells of `stride` points)."""
    first = torch.arange(cells.shape[0], device=cells.device) * stride
    points = torch.arange(cells.shape[0] * stride + 1, device=cells.device)
    return _point_mask(cells, first, first + stride, points, points, points)


def _cell_range(values: torch.Tensor, stride: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Min and max [C,C,C] of point values [C·s+1]³ over each closed cell."""
    cell_max = F.max_pool3d(values[None, None], kernel_size=stride + 1, stride=stride)[0, 0]
    cell_min = -F.max_pool3d(-values[None, None], kernel_size=stride + 1, stride=stride)[0, 0]
    return cell_min, cell_max


def _texel_extremes(
    query: Callable[..., torch.Tensor],
    resolution: int,
    radius: float,
    plane_size: int,
    stride: int,
    n_cells: int,
    device: torch.device,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Min and max [C,C,C] of the density at the texel centres in or next to each cell of `stride` grid cells."""
    # Texel centres (and the box faces, for the zero padding beyond them), in grid-index units.
    centres = ((torch.arange(plane_size + 2, device=device) - 0.5) / plane_size).clamp(0, 1) * (resolution - 1)
    world = (centres / (resolution - 1) * 2 - 1) * radius
    points = torch.stack(torch.meshgrid(world, world, world, indexing="ij"), dim=-1).reshape(-1, 3)
    values = query(points, grid=False).reshape(plane_size + 2, plane_size + 2, plane_size + 2)
    # A cell [c·s, (c+1)·s] meets the texel cells between centres lo..hi; take the centres lo..hi+1.
    first = torch.arange(n_cells, device=device) * stride
    lo = (torch.searchsorted(centres, first.float(), right=True) - 1).clamp(0, plane_size + 1)
    hi = torch.searchsorted(centres, (first + stride).float(), right=False).clamp(0, plane_size + 1)
    extremes = []
    for sign in (-1.0, 1.0):
        x = sign * values
        for dim in range(3):
            x = window_reduce(x, dim, lo, hi)[1]
        extremes.append(sign * x)
    return extremes[0], extremes[1]


def evaluated_density_grid(
    query_fn: Callable[[torch.Tensor], torch.Tensor],
    resolution: int,
    radius: float,
    threshold: float,
    stride: int = 4,
    band: float = 8.0,
    max_share: float = 0.5,
    max_rounds: int = 8,
    device: torch.device | str = "cpu",
    max_points: int = 1 << 20,
    plane_size: int | None = None,
) -> SparseGrid | None:
    """The density grid of `extract_mesh`, evaluated coarse to fine (for fields that bounds cannot decide).

    The density is evaluated every `stride` grid points; cells of `stride`³ grid cells whose corners all
    lie beyond the band [threshold/band, threshold·band] on one side are taken to be on that side, the
    others are evaluated at every grid point. With `plane_size`, the density at the texel centres of
    the triplane (where every plane feature takes its extremes, so that parts thinner than a texel show)
    counts as a corner of every cell it is near. Check: every evaluated point of a
    cell taken to be on one side must lie beyond the band on that side, else the cell is evaluated too
    (up to `max_rounds` times). Measured, not proven: a surface can only be missed where it lies
    entirely inside a cell whose corners and evaluated faces are all far from the threshold. None
    (use the dense grid) for a threshold ≤ 0 or when more than `max_share` of the grid would be evaluated.
    """
    if threshold <= 0:
        return None
    device = torch.device(device)
    axis = torch.linspace(-radius, radius, resolution).to(device)
    n_cells = -(-(resolution - 1) // stride)
    size = n_cells * stride + 1  # points per axis, the last ones repeating grid index resolution - 1
    index = torch.arange(size, device=device).clamp_max(resolution - 1)
    low, high = threshold / band, threshold * band

    def query(points: torch.Tensor, grid: bool = True) -> torch.Tensor:  # grid indices (or world points) [N,3]
        chunks = [axis[index[chunk]] if grid else chunk for chunk in points.split(max_points)]
        parts = [query_fn(chunk).reshape(-1).float() for chunk in chunks]
        return torch.cat(parts) if parts else torch.zeros(0, device=device)

    coarse = torch.arange(0, size, stride, device=device)
    corner_points = torch.stack(torch.meshgrid(coarse, coarse, coarse, indexing="ij"), dim=-1).reshape(-1, 3)
    corners = query(corner_points).reshape(n_cells + 1, n_cells + 1, n_cells + 1)
    corner_min = -F.max_pool3d(-corners[None, None], kernel_size=2, stride=1)[0, 0]
    corner_max = F.max_pool3d(corners[None, None], kernel_size=2, stride=1)[0, 0]
    if plane_size is not None:  # the extremes at the texel centres near each cell too
        texel_min, texel_max = _texel_extremes(query, resolution, radius, plane_size, stride, n_cells, device)
        corner_min, corner_max = torch.minimum(corner_min, texel_min), torch.maximum(corner_max, texel_max)
    above = corner_min > high  # [C,C,C]
    refine = ~(above | (corner_max < low))

    fill_above = threshold + max(1.0, abs(threshold))
    fill_below = threshold - max(1.0, abs(threshold))
    values = torch.full((size, size, size), fill_below, device=device)
    values[_cells_to_points(above & ~refine, stride)] = fill_above
    evaluated = torch.zeros(size, size, size, dtype=torch.bool, device=device)
    n_evaluated = corner_points.shape[0]
    for _ in range(max_rounds):
        if refine.float().mean() > max_share:
            return None
        todo = _cells_to_points(refine, stride) & ~evaluated
        points = todo.nonzero()
        values[todo] = query(points)
        evaluated |= todo
        n_evaluated += points.shape[0]
        cell_min, cell_max = _cell_range(values, stride)
        wrong = ~refine & torch.where(above, cell_min <= high, cell_max >= low)
        if not bool(wrong.any()):
            break
        refine |= wrong
    else:
        return None

    if not bool(refine.any()):
        return SparseGrid(np.zeros((0, 0, 0), np.float32), (0, 0, 0), n_evaluated, 0)
    cells = refine.nonzero()
    start = (cells.amin(0) * stride).tolist()
    stop = [min(int(c) * stride + stride, resolution - 1) + 1 for c in cells.amax(0)]
    box = values[start[0] : stop[0], start[1] : stop[1], start[2] : stop[2]]
    return SparseGrid(box.cpu().numpy(), tuple(start), n_evaluated, 0)


def field_isosurface(
    field: TriplaneField,
    resolution: int,
    threshold: float,
    fast: bool,
    stats: dict,
    chunk_size: int = 0,
    min_decided: float = 0.2,
) -> tuple[np.ndarray, np.ndarray]:
    """Marching cubes of {density = threshold} on the dense grid, or on a coarse-to-fine one (the same mesh).

    Coarse to fine (`fast`), first where interval bounds decide at least `min_decided` of the grid
    (proven; only with IEEE fp32 matmuls), else by evaluation (checked, see `evaluated_density_grid`),
    else the dense grid. The density is evaluated with autocast off. `stats` receives the points
    evaluated and the method; the dense grid is queried `chunk_size` points at a time.
    """
    device = field.triplane.device
    with torch.autocast(device.type, enabled=False):
        return _isosurface_fp32(field, resolution, threshold, fast, stats, chunk_size, min_decided)


def _isosurface_fp32(
    field: TriplaneField,
    resolution: int,
    threshold: float,
    fast: bool,
    stats: dict,
    chunk_size: int,
    min_decided: float,
) -> tuple[np.ndarray, np.ndarray]:
    """`field_isosurface` with autocast off."""
    device = field.triplane.device
    total = resolution**3

    def query(points: torch.Tensor) -> torch.Tensor:
        return field.query(points, fused=True)["density_act"]

    if fast:
        sparse, method = None, "bounds"
        if fp32_matmul_is_ieee(device):
            sparse = sparse_density_grid(
                query, field.box_bounds, resolution, field.radius, threshold, device=device, min_decided=min_decided
            )
        if sparse is None:
            sparse = evaluated_density_grid(
                query, resolution, field.radius, threshold, device=device, plane_size=field.plane_size
            )
            method = "evaluated"
        if sparse is not None:
            stats.update(
                points_total=total,
                points_evaluated=sparse.points_evaluated,
                boxes_bounded=sparse.boxes_bounded,
                coarse_to_fine=method,
            )
            if sparse.values.size == 0:
                return np.zeros((0, 3), np.float32), np.zeros((0, 3), np.int64)
            return marching_cubes(sparse.values, threshold, field.radius, sparse.offset, resolution)
    density = field.query(grid_points(resolution, field.radius).to(device), chunk_size=chunk_size)["density_act"]
    stats.update(points_total=total, points_evaluated=total, coarse_to_fine="dense")
    grid = density.reshape(resolution, resolution, resolution).float().cpu().numpy()
    return marching_cubes(grid, threshold, field.radius)

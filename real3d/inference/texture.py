"""Texture baking: a UV atlas for a mesh, filled with the triplane field's colour at each texel.

TripoSR's `--bake-texture`, without OpenGL: `xatlas` makes the atlas, the atlas triangles are
rasterised on the CPU (texel centres, barycentric coordinates), each covered texel's 3D point is
coloured by the same field query that gives `extract_mesh` its vertex colours, and the charts are
dilated a few texels so that bilinear filtering and mipmaps do not pull background into the seams.
"""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import PIL.Image
import torch
import trimesh
from tqdm import tqdm

from real3d.errors import Real3DError
from real3d.inference.export import for_file, glb_bytes
from real3d.io import atomic_write_bytes

TEXTURE_FORMATS = ("obj", "glb")
DEFAULT_QUERY_BATCH = 65536  # points per field query when the caller sets none
_RASTER_BATCH = 1 << 20  # candidate texels tested at once by the rasteriser (bounds its memory)
# Largest chart, as a share of the mesh's area (xatlas `ChartOptions.max_chart_area`; 0: no limit, xatlas's and
# TripoSR's default). Unbounded charts make xatlas 7-22x slower (CPU) on 256³ marching-cubes meshes, with no gain in
# stretch; the limit costs ~15% of the atlas's filled share (tools/bench_texture.py, docs/performance.md).
CHART_AREA = 0.003


def atlas_padding(texture_resolution: int) -> int:
    """Texels between charts and of dilation around them (TripoSR's choice: 2, or resolution/256)."""
    return max(2, round(texture_resolution / 256))


def make_atlas(
    mesh: trimesh.Trimesh, texture_resolution: int, padding: int, chart_area: float = CHART_AREA
) -> tuple[np.ndarray, ...]:
    """xatlas charts packed for `texture_resolution`: (vmapping [V'], faces [F,3], uv [V',2] in [0,1]).

    No chart exceeds `chart_area` of the mesh's surface (0: xatlas's default, unbounded charts).
    """
    import xatlas

    atlas = xatlas.Atlas()
    atlas.add_mesh(np.ascontiguousarray(mesh.vertices, np.float32), np.ascontiguousarray(mesh.faces, np.uint32))
    charts = xatlas.ChartOptions()
    if chart_area > 0:
        charts.max_chart_area = chart_area * float(mesh.area)
    options = xatlas.PackOptions()
    options.resolution = texture_resolution
    options.padding = padding
    options.bilinear = True
    atlas.generate(chart_options=charts, pack_options=options)
    if atlas.atlas_count != 1:
        raise Real3DError(f"xatlas made {atlas.atlas_count} atlases for one texture; use a larger --texture-resolution")
    vmapping, faces, uv = atlas[0]
    return vmapping.astype(np.int64), faces.astype(np.int64), uv.astype(np.float64)


def rasterize_atlas(
    uv: np.ndarray, faces: np.ndarray, positions: np.ndarray, size: int
) -> tuple[np.ndarray, np.ndarray]:
    """3D point [S,S,3] at each texel centre covered by a UV triangle, and that triangle's index [S,S] (-1: none).

    Row 0 is the top of the image (v = 1), as trimesh and glTF read textures. A texel centre on a
    shared edge takes either triangle's point (the same point up to rounding).
    """
    pixels = np.stack([uv[:, 0] * size, (1.0 - uv[:, 1]) * size], axis=1)  # [V,2] in texel units
    tri = pixels[faces]  # [F,3,2]
    lo = np.clip(np.floor(tri.min(axis=1) - 0.5), 0, size - 1).astype(np.int64)  # first texel index [F,2]
    hi = np.clip(np.ceil(tri.max(axis=1) - 0.5), 0, size - 1).astype(np.int64)
    extent = hi - lo + 1  # [F,2] texels per axis of each triangle's box
    area = extent[:, 0] * extent[:, 1]
    edge1, edge2 = tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]
    det = edge1[:, 0] * edge2[:, 1] - edge2[:, 0] * edge1[:, 1]  # twice the signed area
    keep = np.abs(det) > 1e-12
    ids = np.nonzero(keep)[0]

    image = np.zeros((size, size, 3), np.float32)
    face_id = np.full((size, size), -1, np.int64)
    ends = np.cumsum(area[ids])
    start = 0
    while start < len(ids):
        stop = max(start + 1, int(np.searchsorted(ends, ends[start] - area[ids[start]] + _RASTER_BATCH, "right")))
        batch = ids[start:stop]
        counts = area[batch]
        face = np.repeat(batch, counts)
        local = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
        x = lo[face, 0] + local % extent[face, 0]
        y = lo[face, 1] + local // extent[face, 0]
        dx, dy = x + 0.5 - tri[face, 0, 0], y + 0.5 - tri[face, 0, 1]
        w1 = (dx * edge2[face, 1] - edge2[face, 0] * dy) / det[face]
        w2 = (edge1[face, 0] * dy - dx * edge1[face, 1]) / det[face]
        w0 = 1.0 - w1 - w2
        inside = (w0 >= -1e-6) & (w1 >= -1e-6) & (w2 >= -1e-6)
        face, x, y = face[inside], x[inside], y[inside]
        corners = positions[faces[face]]  # [n,3,3]
        weights = np.stack([w0[inside], w1[inside], w2[inside]], axis=1)[:, :, None]
        image[y, x] = (weights * corners).sum(axis=1)
        face_id[y, x] = face
        start = stop
    return image, face_id


def dilate(colors: np.ndarray, mask: np.ndarray, steps: int) -> np.ndarray:
    """Grow the charts by `steps` texels (mean of covered neighbours); the rest gets the charts' mean colour.

    colors [S,S,3] (valid where mask [S,S]); returns a fully defined [S,S,3] image.
    """
    colors = np.where(mask[..., None], colors, 0.0).astype(np.float32)
    background = colors[mask].mean(axis=0) if mask.any() else np.zeros(3, np.float32)
    mask = mask.copy()
    for _ in range(steps):
        padded_c = np.pad(colors * mask[..., None], ((1, 1), (1, 1), (0, 0)))
        padded_m = np.pad(mask.astype(np.float32), 1)
        total = np.zeros_like(colors)
        count = np.zeros(mask.shape, np.float32)
        size_y, size_x = mask.shape
        for oy in range(3):
            for ox in range(3):
                total += padded_c[oy : oy + size_y, ox : ox + size_x]
                count += padded_m[oy : oy + size_y, ox : ox + size_x]
        grow = ~mask & (count > 0)
        if not grow.any():
            break
        colors[grow] = total[grow] / count[grow][:, None]
        mask |= grow
    colors[~mask] = background
    return colors


@torch.inference_mode()
def query_colors(
    model: torch.nn.Module,
    scene_code: torch.Tensor,
    points: np.ndarray,
    batch_size: int,
    progress: bool = False,
    fused: bool = False,
) -> np.ndarray:
    """Field colour [N,3] in [0,1] at world points [N,3], in batches (the query `extract_mesh` colours with).

    `fused`: the decoder's fused kernels in their own chunks (`TriplaneField.query`; the same colours up to fp32
    rounding, 2-3x less CPU with batches of 65536 points).
    """
    colors = np.empty((len(points), 3), np.float32)
    field = model.field(scene_code)
    with tqdm(total=len(points), desc="baking texture", unit="texel", unit_scale=True, disable=not progress) as bar:
        for start in range(0, len(points), batch_size):
            batch = torch.from_numpy(points[start : start + batch_size]).to(scene_code.device)
            chunk_size = 0 if fused else model.render_settings.chunk_size  # fused: its own cache-sized chunks
            color = field.query(batch, chunk_size=chunk_size, fused=fused)["color"]
            colors[start : start + batch_size] = color.float().cpu().numpy()
            bar.update(len(batch))
    return colors


def bake_texture(
    model: torch.nn.Module,
    scene_code: torch.Tensor,
    mesh: trimesh.Trimesh,
    texture_resolution: int,
    chunk_size: int | None = None,
    progress: bool = False,
    chart_area: float = CHART_AREA,
) -> trimesh.Trimesh:
    """The mesh re-indexed on a UV atlas, with the field's colours baked into a texture image.

    scene_code: one triplane [3,C,H,W]. `chunk_size` (default 65536) is the number of texels coloured
    per field query (the fused query's own chunks, `FAST_CHUNK_SIZE`, split it further). `chart_area`:
    see `make_atlas` (0: TripoSR's atlas). The result's visual is a `TextureVisuals` with a matte
    `PBRMaterial` holding the image.
    """
    if texture_resolution < 8:
        raise Real3DError(f"texture resolution must be at least 8, got {texture_resolution}")
    if len(mesh.faces) == 0:
        raise Real3DError("cannot bake a texture for an empty mesh")
    vmapping, faces, uv = make_atlas(mesh, texture_resolution, atlas_padding(texture_resolution), chart_area)
    return fill_texture(model, scene_code, mesh, (vmapping, faces, uv), texture_resolution, chunk_size, progress)


def fill_texture(
    model: torch.nn.Module,
    scene_code: torch.Tensor,
    mesh: trimesh.Trimesh,
    atlas: tuple[np.ndarray, ...],
    texture_resolution: int,
    chunk_size: int | None = None,
    progress: bool = False,
) -> trimesh.Trimesh:
    """The second half of `bake_texture`: the textured mesh on an atlas from `make_atlas`."""
    vmapping, faces, uv = atlas
    padding = atlas_padding(texture_resolution)
    vertices = np.asarray(mesh.vertices, np.float64)[vmapping]
    points, face_id = rasterize_atlas(uv, faces, vertices, texture_resolution)
    covered = face_id >= 0
    batch_size = chunk_size or DEFAULT_QUERY_BATCH
    colors = np.zeros_like(points)
    colors[covered] = query_colors(model, scene_code, points[covered], batch_size, progress, fused=True)
    image = dilate(colors, covered, padding)
    image = PIL.Image.fromarray(np.round(np.clip(image, 0.0, 1.0) * 255.0).astype(np.uint8), "RGB")
    material = trimesh.visual.material.PBRMaterial(
        name="texture",
        baseColorTexture=image,
        baseColorFactor=[255, 255, 255, 255],
        metallicFactor=0.0,
        roughnessFactor=1.0,
    )
    visual = trimesh.visual.TextureVisuals(uv=uv, material=material)
    return trimesh.Trimesh(vertices=vertices, faces=faces, visual=visual, process=False)


def export_textured_mesh(
    mesh: trimesh.Trimesh, path_without_suffix: str | Path, fmt: str, up_axis: str = "y"
) -> list[Path]:
    """Write a textured mesh as OBJ (+ MTL + PNG named after it) or GLB (texture inside); the paths written.

    With smooth vertex normals, +Y up by default (`real3d.inference.export.FILE_AXES`).
    """
    fmt = fmt.lower()
    if fmt not in TEXTURE_FORMATS:
        raise Real3DError(f"textured mesh format must be one of {TEXTURE_FORMATS}, got {fmt!r}")
    base = Path(path_without_suffix)
    oriented = for_file(mesh, up_axis)
    if fmt == "glb":
        path = base.with_name(base.name + ".glb")
        atomic_write_bytes(path, glb_bytes(oriented))
        return [path]
    oriented.visual.material = copy.copy(mesh.visual.material)
    oriented.visual.material.name = base.name  # the texture and MTL files are named after the mesh
    text, files = trimesh.exchange.obj.export_obj(
        oriented, include_normals=True, return_texture=True, mtl_name=f"{base.name}.mtl"
    )
    written = []
    for name, data in files.items():  # texture and material first: the OBJ that names them comes last
        written.append(base.parent / name)
        atomic_write_bytes(written[-1], data)
    obj_path = base.with_name(base.name + ".obj")
    atomic_write_bytes(obj_path, text.encode("utf-8"))
    return [obj_path, *written]

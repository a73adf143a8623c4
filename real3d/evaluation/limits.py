"""What the evaluation's user-set sizes allocate per object, for the memory check before a run.

Bytes per rendered pixel (one view at render_size²), measured with tools/bench_eval_memory.py on the
CPU in fp32 and rounded up by a quarter: scoring with LPIPS-VGG 2,678 (eval_mv) / 2,071 (eval_sv
orbit) / 2,456 (self-consistency), without LPIPS 299, a 360° video 173. The renderer's own working set
is bounded by its ray chunks and `chunk_size` (real3d.models.renderer); it is added once.
"""

from __future__ import annotations

from collections.abc import Callable

from real3d.memory_budget import SizeCheck

MV_PIXEL_BYTES = (400, 3400)  # eval_mv per rendered pixel: (without, with) LPIPS
SV_ORBIT_PIXEL_BYTES = (400, 2700)
SV_CONSISTENCY_PIXEL_BYTES = (400, 3100)
VIDEO_PIXEL_BYTES = 250
SAMPLE_PIXEL_BYTES = 64  # a view of the ground truth at dataset.image_size² (crop, resize, composite)
RENDER_CHUNK_RAYS = 32768  # real3d.models.renderer.PLAIN_CHUNK_RAYS: rays rendered at once
SAMPLE_BYTES = 64  # per sample of those rays (positions, depths, weights)
POINT_BYTES = 2048  # per point queried at once (triplane features and MLP activations of TripoSR's size)
MIN_SIZE = 16  # the smallest image scored: LPIPS-VGG pools 4 times before its last layer
BASE_BYTES = 512 * 2**20  # the frozen networks' inputs and everything that does not grow with the sizes


def render_bytes(num_samples_per_ray: int, chunk_size: int) -> int:
    """The renderer's working set: one chunk of rays with all their samples, and the points queried at once."""
    points = chunk_size if chunk_size > 0 else RENDER_CHUNK_RAYS * num_samples_per_ray
    return RENDER_CHUNK_RAYS * num_samples_per_ray * SAMPLE_BYTES + points * POINT_BYTES


def multiview_checks(
    views: int,
    render_size: int,
    image_size: int,
    lpips: bool,
    vis360: tuple[int, int] | None,
    render: tuple[int, int],
) -> list[SizeCheck]:
    """eval_mv: the sizes of one object (`views` listed views) and of its 360° video (views, size)."""
    fixed = BASE_BYTES + render_bytes(*render)
    score = MV_PIXEL_BYTES[lpips]
    video_views, video_size = vis360 or (0, 0)

    def total(size: int, sample: int, orbit_views: int, orbit_size: int) -> float:
        video = orbit_views * orbit_size**2 * VIDEO_PIXEL_BYTES
        return fixed + views * (size**2 * score + sample**2 * SAMPLE_PIXEL_BYTES) + video

    checks = [
        SizeCheck("render_size", render_size, lambda s: total(s, image_size, video_views, video_size), MIN_SIZE),
        SizeCheck("dataset.image_size", image_size, lambda s: total(render_size, s, video_views, video_size), MIN_SIZE),
    ]
    if vis360 is not None:
        checks += [
            SizeCheck("visuals.vis360_size", video_size, lambda s: total(render_size, image_size, video_views, s), 2),
            SizeCheck("visuals.vis360_views", video_views, lambda v: total(render_size, image_size, v, video_size)),
        ]
    return checks + render_checks(render, total(render_size, image_size, video_views, video_size))


def singleview_checks(
    n_views: int,
    render_size: int,
    consistency_size: int | None,
    image_size: int,
    lpips: bool,
    vis360: bool,
    render: tuple[int, int],
) -> list[SizeCheck]:
    """eval_sv: the orbit (views x size), the 13 self-consistency renders and the input image of one image."""
    fixed = BASE_BYTES + render_bytes(*render)

    def total(views: int, size: int, cycle: int, image: int) -> float:
        orbit = views * size**2 * (SV_ORBIT_PIXEL_BYTES[lpips] + (VIDEO_PIXEL_BYTES if vis360 else 0))
        cycles = 13 * cycle**2 * SV_CONSISTENCY_PIXEL_BYTES[lpips] if consistency_size else 0
        return fixed + orbit + cycles + image**2 * SAMPLE_PIXEL_BYTES

    cycle = consistency_size or 0
    checks: list[tuple[str, int, Callable[[int], float]]] = [
        ("orbit.render_size", render_size, lambda s: total(n_views, s, cycle, image_size)),
        ("orbit.n_views", n_views, lambda v: total(v, render_size, cycle, image_size)),
        ("dataset.image_size", image_size, lambda s: total(n_views, render_size, cycle, s)),
    ]
    if consistency_size:
        checks.append(("consistency.render_size", cycle, lambda s: total(n_views, render_size, s, image_size)))
    sizes = [SizeCheck(key, value, cost, 2 if key == "orbit.n_views" else MIN_SIZE) for key, value, cost in checks]
    return sizes + render_checks(render, total(n_views, render_size, cycle, image_size))


def render_checks(render: tuple[int, int], total: float) -> list[SizeCheck]:
    """The renderer's settings (samples per ray, chunk size), the rest of `total` bytes fixed."""
    samples, chunk = render
    rest = total - render_bytes(samples, chunk)
    checks = [SizeCheck("model.render.num_samples_per_ray", samples, lambda n: rest + render_bytes(n, chunk))]
    if chunk > 0:
        checks.append(SizeCheck("model.render.chunk_size", chunk, lambda c: rest + render_bytes(samples, c)))
    return checks

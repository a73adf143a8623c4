"""Camera samplers for self-training: novel views around the input pose and the cycle curriculum.

Angles are relative to the canonical input camera (azimuth 0, elevation 0; SPEC §4). The samplers
take an explicit `torch.Generator`, so a training run can draw the same cameras for the same
iteration after a resume.
"""

from __future__ import annotations

import torch

from real3d.geometry.poses import canonical_input_c2w, cycle_camera, spherical_c2w


def sample_split_sign_angles(n: int, range_deg: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """`n` angles [n] (degrees): the first n//2 uniform in [0, range], the rest in [-range, 0].

    This is the reference's `sample_angle_constraint` (it draws the second half in
    [360 - range, 360], the same directions).
    """
    u = torch.rand(n, generator=generator) * range_deg
    u[n // 2 :] -= range_deg
    return u


def sample_novel_view_angles(
    n_views: int,
    azimuth_range_deg: float = 120.0,
    elevation_range_deg: float = 45.0,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The `constraint2_elevation` sampler: (azimuth_deg, elevation_deg) [n_views], view 0 = input.

    Novel views have azimuth in ±`azimuth_range_deg` and elevation in ±`elevation_range_deg`.
    """
    azimuth_deg = sample_split_sign_angles(n_views, azimuth_range_deg, generator)
    elevation_deg = sample_split_sign_angles(n_views, elevation_range_deg, generator)
    azimuth_deg[0] = 0.0
    elevation_deg[0] = 0.0
    return azimuth_deg, elevation_deg


def curriculum_max_deg(progress: float, start_deg: float = 15.0, end_deg: float = 90.0) -> float:
    """Largest cycle-view angle at training progress in [0, 1] (linear from start to end)."""
    progress = min(max(float(progress), 0.0), 1.0)
    return start_deg + progress * (end_deg - start_deg)


def sample_curriculum_angles(
    n: int, min_deg: float, max_deg: float, generator: torch.Generator | None = None
) -> torch.Tensor:
    """`n` angles [n] (degrees) with magnitude uniform in [min_deg, max_deg] and a random sign."""
    magnitude = torch.rand(n, generator=generator) * (max_deg - min_deg) + min_deg
    sign = (torch.rand(n, generator=generator) > 0.5).float() * 2.0 - 1.0
    return magnitude * sign


def sample_single_view_cameras(
    batch_size: int,
    n_views: int,
    distance: float,
    azimuth_range_deg: float = 120.0,
    elevation_range_deg: float = 45.0,
    curriculum: tuple[float, float, float, float] | None = None,
    generator: torch.Generator | None = None,
) -> dict[str, torch.Tensor]:
    """Cameras for the single-view passes of one batch (canonical OpenGL c2w).

    Returns `c2w` [B,V,4,4] (view 0 = the input pose at azimuth 0, elevation 0, `distance`; the rest
    `constraint2_elevation` novel views) and `c2w_cycle` [B,1,4,4] = I·N⁻¹·I for the last view N.
    With `curriculum = (min_azimuth, max_azimuth, min_elevation, max_elevation)` the last view is
    drawn from the curriculum instead (magnitudes in [min, max], random signs).
    """
    c2w, cycle = [], []
    c2w_input = canonical_input_c2w(distance)  # [1,4,4]
    for _ in range(batch_size):
        azimuth_deg, elevation_deg = sample_novel_view_angles(
            n_views, azimuth_range_deg, elevation_range_deg, generator
        )
        if curriculum is not None:
            min_az, max_az, min_el, max_el = curriculum
            elevation_deg[-1] = sample_curriculum_angles(1, min_el, max_el, generator)[0]
            azimuth_deg[-1] = sample_curriculum_angles(1, min_az, max_az, generator)[0]
        views = spherical_c2w(azimuth_deg, elevation_deg, distance)  # [V,4,4]
        views[0] = c2w_input[0]
        c2w.append(views)
        cycle.append(cycle_camera(c2w_input, views[-1:]))
    return {"c2w": torch.stack(c2w), "c2w_cycle": torch.stack(cycle)}

"""Triplane NeRF volume renderer: field queries on the planes, ray sampling and compositing."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn


class _TruncExp(torch.autograd.Function):
    """exp with a gradient clamped at exp(15), which keeps early training stable."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:  # noqa: ANN001
        ctx.save_for_backward(x)
        return torch.exp(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:  # noqa: ANN001
        (x,) = ctx.saved_tensors
        return grad * torch.exp(x.clamp(max=15))


DENSITY_ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "exp": torch.exp,
    "trunc_exp": _TruncExp.apply,
}


def rays_intersect_bbox(
    rays_o: torch.Tensor, rays_d: torch.Tensor, radius: float, valid_thresh: float = 0.01
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Entry/exit distances [N,1] of rays [N,3] through the cube of half-size radius·(1-1e-3)."""
    rays_d_safe = torch.where(rays_d.abs() < 1e-6, torch.full_like(rays_d, 1e-6), rays_d)
    bound = (1.0 - 1.0e-3) * radius
    inter_hi = (bound - rays_o) / rays_d_safe
    inter_lo = (-bound - rays_o) / rays_d_safe
    t_near = torch.minimum(inter_hi, inter_lo).amax(dim=-1).clamp_min(0.0)
    t_far = torch.maximum(inter_hi, inter_lo).amin(dim=-1)
    rays_valid = t_far - t_near > valid_thresh
    t_near = torch.where(rays_valid, t_near, torch.zeros_like(t_near))
    t_far = torch.where(rays_valid, t_far, torch.zeros_like(t_far))
    return t_near[:, None], t_far[:, None], rays_valid


class TriplaneNeRFRenderer(nn.Module):
    """Renders rays through a triplane field in the box [-radius, radius]³ on a white background."""

    def __init__(
        self,
        radius: float,
        feature_reduction: str = "concat",
        density_activation: str = "exp",
        density_bias: float = -1.0,
        color_activation: str = "sigmoid",
        num_samples_per_ray: int = 128,
    ) -> None:
        super().__init__()
        if feature_reduction not in ("concat", "mean"):
            raise ValueError(f"feature_reduction must be 'concat' or 'mean', got {feature_reduction!r}")
        if color_activation != "sigmoid":
            raise ValueError(f"color_activation must be 'sigmoid', got {color_activation!r}")
        self.radius = radius
        self.feature_reduction = feature_reduction
        self.density_activation = DENSITY_ACTIVATIONS[density_activation]
        self.density_bias = density_bias
        self.num_samples_per_ray = num_samples_per_ray
        self.chunk_size = 0

    def set_chunk_size(self, chunk_size: int) -> None:
        """Number of points queried at once (0 = all at once); bounds memory, not results."""
        if chunk_size < 0:
            raise ValueError("chunk_size must be >= 0")
        self.chunk_size = chunk_size

    def _sample_planes(self, triplane: torch.Tensor, points_norm: torch.Tensor) -> torch.Tensor:
        """Bilinear features [N, 3·C] (or [N, C] for 'mean') at points [N,3] in [-1,1]."""
        coords = torch.stack(
            (points_norm[..., [0, 1]], points_norm[..., [0, 2]], points_norm[..., [1, 2]]), dim=0
        )  # [3, N, 2]
        out = F.grid_sample(triplane, coords[:, None], align_corners=False, mode="bilinear")  # [3, C, 1, N]
        if self.feature_reduction == "concat":
            return rearrange(out, "Np Cp () N -> N (Np Cp)")
        return out.mean(dim=0)[:, 0].transpose(0, 1)

    def query_triplane(
        self, decoder: nn.Module, positions: torch.Tensor, triplane: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        """Field at world points [...,3]: density, features, density_act [...,1], color [...,3]."""
        input_shape = positions.shape[:-1]
        points_norm = positions.reshape(-1, 3) / self.radius

        def query_chunk(points: torch.Tensor) -> dict[str, torch.Tensor]:
            return decoder(self._sample_planes(triplane, points))

        if self.chunk_size > 0 and points_norm.shape[0] > self.chunk_size:
            parts = [query_chunk(c) for c in points_norm.split(self.chunk_size)]
            net_out = {k: torch.cat([p[k] for p in parts], dim=0) for k in parts[0]}
        else:
            net_out = query_chunk(points_norm)
        net_out["density_act"] = self.density_activation(net_out["density"] + self.density_bias)
        net_out["color"] = torch.sigmoid(net_out["features"])
        return {k: v.reshape(*input_shape, v.shape[-1]) for k, v in net_out.items()}

    def render_rays(
        self, decoder: nn.Module, triplane: torch.Tensor, rays_o: torch.Tensor, rays_d: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Colour [...,3] (white background) and opacity [...,1] of rays [...,3] for one triplane [3,C,H,W]."""
        rays_shape = rays_o.shape[:-1]
        rays_o = rays_o.reshape(-1, 3)
        rays_d = rays_d.reshape(-1, 3)
        n_rays = rays_o.shape[0]
        t_near, t_far, rays_valid = rays_intersect_bbox(rays_o, rays_d, self.radius)
        t_near, t_far = t_near[rays_valid], t_far[rays_valid]
        rays_o, rays_d = rays_o[rays_valid], rays_d[rays_valid]

        n_samples = self.num_samples_per_ray
        t_vals = torch.linspace(0, 1, n_samples + 1, device=rays_o.device, dtype=rays_o.dtype)
        t_mid = (t_vals[:-1] + t_vals[1:]) / 2.0
        z_vals = t_near * (1 - t_mid[None]) + t_far * t_mid[None]  # [R, S]
        xyz = rays_o[:, None, :] + z_vals[..., None] * rays_d[:, None, :]  # [R, S, 3]
        field = self.query_triplane(decoder, xyz, triplane)

        deltas = t_vals[1:] - t_vals[:-1]  # normalised bin widths, as in the reference
        alpha = 1 - torch.exp(-deltas * field["density_act"][..., 0])  # [R, S]
        transmittance = torch.cumprod(1 - alpha[:, :-1] + 1e-10, dim=-1)
        transmittance = torch.cat([torch.ones_like(alpha[:, :1]), transmittance], dim=-1)
        weights = alpha * transmittance
        rgb_valid = (weights[..., None] * field["color"]).sum(dim=-2)  # [R, 3]
        opacity_valid = weights.sum(dim=-1, keepdim=True)  # [R, 1]

        rgb = torch.zeros(n_rays, 3, dtype=rgb_valid.dtype, device=rgb_valid.device)
        opacity = torch.zeros(n_rays, 1, dtype=opacity_valid.dtype, device=opacity_valid.device)
        rgb = rgb.index_put((rays_valid,), rgb_valid)
        opacity = opacity.index_put((rays_valid,), opacity_valid)
        rgb = rgb + (1 - opacity)
        return rgb.reshape(*rays_shape, 3), opacity.reshape(*rays_shape, 1)

    def forward(
        self, decoder: nn.Module, triplane: torch.Tensor, rays_o: torch.Tensor, rays_d: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Render rays for one triplane [3,C,H,W] or a batch [B,3,C,H,W] with rays [B,...,3]."""
        if triplane.ndim == 4:
            return self.render_rays(decoder, triplane, rays_o, rays_d)
        outs = [self.render_rays(decoder, t, o, d) for t, o, d in zip(triplane, rays_o, rays_d, strict=True)]
        return torch.stack([o[0] for o in outs]), torch.stack([o[1] for o in outs])

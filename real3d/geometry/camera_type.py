"""`Cameras`: a batch of pinhole cameras (OpenGL c2w, vertical field of view, image size) and its rays."""

from __future__ import annotations

import dataclasses

import torch

from real3d.geometry.cameras import focal_to_fov, fov_to_focal
from real3d.geometry.rays import get_ray_directions, get_rays


@dataclasses.dataclass(frozen=True)
class Cameras:
    """Pinhole cameras with the principal point at the image centre and square pixels.

    `c2w` [*B,4,4] camera-to-world in OpenGL axes (looks down -z, y up); `fov_rad` [*B] the vertical
    field of view, the one unit of the intrinsics; `height`, `width` the image size in pixels.
    """

    c2w: torch.Tensor
    fov_rad: torch.Tensor
    height: int
    width: int

    def __post_init__(self) -> None:
        c2w = torch.as_tensor(self.c2w)
        fov = torch.as_tensor(self.fov_rad, dtype=c2w.dtype if c2w.is_floating_point() else torch.float32)
        fov = fov.to(c2w.device).expand(c2w.shape[:-2]).clone()
        object.__setattr__(self, "c2w", c2w)
        object.__setattr__(self, "fov_rad", fov)
        object.__setattr__(self, "height", int(self.height))
        object.__setattr__(self, "width", int(self.width))

    @classmethod
    def from_focal(cls, c2w: torch.Tensor, focal: float | torch.Tensor, height: int, width: int) -> Cameras:
        """Cameras from focal lengths in pixels of an image `height` pixels high."""
        return cls(c2w, focal_to_fov(torch.as_tensor(focal, dtype=torch.float64), height).float(), height, width)

    @property
    def batch_shape(self) -> torch.Size:
        return self.c2w.shape[:-2]

    @property
    def focal(self) -> torch.Tensor:
        """Focal lengths [*B] in pixels of this image size."""
        return fov_to_focal(self.fov_rad, self.height)

    @property
    def device(self) -> torch.device:
        return self.c2w.device

    def __len__(self) -> int:
        return self.c2w.shape[0]

    def __getitem__(self, index: int | slice | torch.Tensor | tuple) -> Cameras:
        """The cameras at `index` of the batch dimensions (the image size is shared)."""
        return Cameras(self.c2w[index], self.fov_rad[index], self.height, self.width)

    def resized(self, height: int, width: int | None = None) -> Cameras:
        """The same cameras imaging at another size (the field of view is kept)."""
        return Cameras(self.c2w, self.fov_rad, height, height if width is None else width)

    def reshape(self, *shape: int) -> Cameras:
        """Cameras with their batch dimensions reshaped to `shape`."""
        return Cameras(self.c2w.reshape(*shape, 4, 4), self.fov_rad.reshape(*shape), self.height, self.width)

    def to(self, device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> Cameras:
        return Cameras(self.c2w.to(device, dtype), self.fov_rad.to(device, dtype), self.height, self.width)

    @staticmethod
    def cat(cameras: list[Cameras], dim: int = 0) -> Cameras:
        """Cameras of the same image size concatenated along batch dimension `dim`."""
        size = {(c.height, c.width) for c in cameras}
        if len(size) != 1:
            raise ValueError(f"cannot concatenate cameras of different image sizes: {sorted(size)}")
        height, width = size.pop()
        c2w = torch.cat([c.c2w for c in cameras], dim=dim)
        return Cameras(c2w, torch.cat([c.fov_rad for c in cameras], dim=dim), height, width)

    def rays(self) -> tuple[torch.Tensor, torch.Tensor]:
        """World rays through the pixel centres: rays_o, rays_d [*B,H,W,3] (rays_d unit length)."""
        batch = self.batch_shape
        c2w = self.c2w.reshape(-1, 4, 4).to(torch.float32)
        focal = self.focal.reshape(-1).to(device=c2w.device, dtype=torch.float32)  # [N]
        unit = get_ray_directions(self.height, self.width, 1.0, normalize=False).to(c2w.device)
        directions = unit[None].repeat(c2w.shape[0], 1, 1, 1)  # [N,H,W,3]
        directions[..., :2] = directions[..., :2] / focal[:, None, None, None]
        rays_o, rays_d = get_rays(directions, c2w)
        shape = (*batch, self.height, self.width, 3)
        return rays_o.reshape(shape), rays_d.reshape(shape)

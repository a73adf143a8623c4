"""`Cameras`: a batch of pinhole cameras (OpenGL c2w, vertical field of view, image size) and its rays."""

from __future__ import annotations

import dataclasses

import torch

from real3d.geometry.poses import focal_to_fov, fov_to_focal
from real3d.geometry.rays import rays_from_c2w


@dataclasses.dataclass(frozen=True, eq=False)  # eq: tensors have no single truth value
class Cameras:
    """Pinhole cameras with the principal point at the image centre and square pixels.

    `c2w` [*B,4,4] camera-to-world in OpenGL axes (looks down -z, y up); `fov_rad` [*B] the vertical
    field of view, the one unit of the intrinsics (kept in float64, so that a focal length in pixels
    survives the round trip through it exactly in float32); `height`, `width` the image size in pixels.
    Constructors from each dataset convention are in `real3d.geometry.conventions`.
    """

    c2w: torch.Tensor
    fov_rad: torch.Tensor
    height: int
    width: int

    def __post_init__(self) -> None:
        c2w = torch.as_tensor(self.c2w)
        if c2w.ndim < 2 or tuple(c2w.shape[-2:]) != (4, 4):
            raise ValueError(f"c2w must be [...,4,4], got {tuple(c2w.shape)}")
        fov = torch.as_tensor(self.fov_rad, dtype=torch.float64, device=c2w.device)
        object.__setattr__(self, "c2w", c2w)
        object.__setattr__(self, "fov_rad", fov.expand(c2w.shape[:-2]).clone())
        object.__setattr__(self, "height", int(self.height))
        object.__setattr__(self, "width", int(self.width))

    @classmethod
    def from_focal(cls, c2w: torch.Tensor, focal: float | torch.Tensor, height: int, width: int) -> Cameras:
        """Cameras from focal lengths in pixels of an image `height` pixels high."""
        return cls(c2w, focal_to_fov(torch.as_tensor(focal, dtype=torch.float64), height), height, width)

    @property
    def batch_shape(self) -> torch.Size:
        return self.c2w.shape[:-2]

    @property
    def focal(self) -> torch.Tensor:
        """Focal lengths [*B] in pixels of this image size (in c2w's floating dtype)."""
        dtype = self.c2w.dtype if self.c2w.is_floating_point() else torch.float32
        return fov_to_focal(self.fov_rad, self.height).to(dtype)

    @property
    def device(self) -> torch.device:
        return self.c2w.device

    def __len__(self) -> int:
        return self.c2w.shape[0]

    def __getitem__(self, index: int | slice | torch.Tensor | tuple) -> Cameras:
        """The cameras at `index` of the batch dimensions (the image size is shared)."""
        return Cameras(self.c2w[index], self.fov_rad[index], self.height, self.width)

    def resized(self, height: int, width: int | None = None) -> Cameras:
        """The same cameras imaging at another size (the vertical field of view is kept)."""
        return Cameras(self.c2w, self.fov_rad, height, height if width is None else width)

    def reshape(self, *shape: int) -> Cameras:
        """Cameras with their batch dimensions reshaped to `shape`."""
        return Cameras(self.c2w.reshape(*shape, 4, 4), self.fov_rad.reshape(*shape), self.height, self.width)

    def to(self, device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> Cameras:
        """The cameras on `device`, c2w cast to `dtype` (the field of view stays float64)."""
        return Cameras(self.c2w.to(device, dtype), self.fov_rad.to(device), self.height, self.width)

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
        """World rays through the pixel centres: rays_o, rays_d [*B,H,W,3] float32 (rays_d unit length)."""
        focal = fov_to_focal(self.fov_rad.reshape(-1), self.height).to(torch.float32)  # [N]
        rays_o, rays_d = rays_from_c2w(self.c2w.reshape(-1, 4, 4), focal, self.height, self.width)
        shape = (*self.batch_shape, self.height, self.width, 3)
        return rays_o.reshape(shape), rays_d.reshape(shape)

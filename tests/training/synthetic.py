"""In-memory training batches of an analytic coloured sphere, as the datamodule's typed batches.

The unit tests of the training module use these instead of files on disk: they are exact,
multi-view consistent and fast. (The end-to-end tests use the data helper's generated datasets.)
"""

from __future__ import annotations

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset

from real3d.data.samples import MultiViewBatch, SingleViewBatch
from real3d.geometry import Cameras, spherical_c2w

FOV_RAD = 0.6911503837897545
DISTANCE = 3.0


def sphere_views(
    c2w: torch.Tensor, size: int, fov_rad: float = FOV_RAD, radius: float = 0.5, tint: float = 0.0
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """rgb on white [N,3,s,s], mask [N,1,s,s] and rays [N,s,s,3] of a sphere coloured by its normal."""
    rays_o, rays_d = Cameras(c2w, torch.tensor(fov_rad), size, size).rays()
    b = (rays_o * rays_d).sum(-1)
    c = (rays_o * rays_o).sum(-1) - radius**2
    disc = b * b - c
    hit = disc > 0
    t = -b - torch.sqrt(disc.clamp_min(0))
    normal = (rays_o + t[..., None] * rays_d) / radius
    colour = (0.5 + 0.4 * normal).clamp(0, 1)
    colour = (colour + tint).clamp(0, 1)
    mask = hit.float()[..., None]
    rgb = colour * mask + (1 - mask)
    return rgb.permute(0, 3, 1, 2), mask.permute(0, 3, 1, 2), rays_o, rays_d


def grey_input(c2w_input: torch.Tensor, size: int, tint: float = 0.0) -> torch.Tensor:
    rgb, mask, _, _ = sphere_views(c2w_input[None], size, tint=tint)
    return (rgb * mask + 0.5 * (1 - mask))[0]


def multiview_sample(index: int, n_views: int = 4, render_size: int = 32, input_size: int = 64) -> dict:
    gen = torch.Generator().manual_seed(index)
    azimuth = torch.rand(n_views, generator=gen) * 360.0
    elevation = torch.rand(n_views, generator=gen) * 60.0 - 30.0
    c2w = spherical_c2w(azimuth, elevation, DISTANCE)
    c2w_input = spherical_c2w(0.0, 0.0, DISTANCE)[0]
    tint = 0.1 * (index % 3)
    rgb, mask, _, _ = sphere_views(c2w, render_size, tint=tint)
    return {
        "image_input": grey_input(c2w_input, input_size, tint),
        "rgb": rgb,
        "mask": mask,
        "cameras": Cameras(c2w, torch.tensor(FOV_RAD), render_size, render_size),
        "c2w_input": c2w_input,
        "index": index,
    }


def singleview_sample(index: int, input_size: int = 64) -> dict:
    c2w_input = spherical_c2w(0.0, 0.0, DISTANCE)[0]
    tint = 0.1 * (index % 3)
    rgb, mask, _, _ = sphere_views(c2w_input[None], input_size, tint=tint)
    return {
        "image_input": grey_input(c2w_input, input_size, tint),
        "rgb": rgb[0],
        "mask": mask[0],
        "c2w_input": c2w_input,
        "fov_rad": torch.tensor(FOV_RAD),
        "index": index,
    }


class _Samples(Dataset):
    def __init__(self, make, length: int, **kwargs) -> None:
        self.items = [make(i, **kwargs) for i in range(length)]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict:
        return self.items[index]


class SphereDataModule(pl.LightningDataModule):
    """{"mv": ..., "sv": ...} training loaders and a multi-view validation loader."""

    def __init__(
        self,
        num_objects: int = 4,
        batch_size: int = 1,
        render_size: int = 32,
        input_size: int = 64,
        multiview: bool = True,
        singleview: bool = True,
        num_val: int = 1,
    ) -> None:
        super().__init__()
        kw = {"render_size": render_size, "input_size": input_size}
        self.mv = _Samples(multiview_sample, num_objects, **kw) if multiview else None
        self.sv = _Samples(singleview_sample, num_objects, input_size=input_size) if singleview else None
        self.val = _Samples(multiview_sample, num_val, **kw) if num_val else None
        self.batch_size = batch_size

    def train_dataloader(self):
        loaders = {}
        if self.mv is not None:
            loaders["mv"] = DataLoader(self.mv, self.batch_size, shuffle=False, collate_fn=MultiViewBatch.collate)
        if self.sv is not None:
            loaders["sv"] = DataLoader(self.sv, self.batch_size, shuffle=False, collate_fn=SingleViewBatch.collate)
        return loaders

    def val_dataloader(self):
        if self.val is None:
            return []
        return DataLoader(self.val, batch_size=1, shuffle=False, collate_fn=MultiViewBatch.collate)

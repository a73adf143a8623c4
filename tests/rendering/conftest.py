"""Fixtures for the render procedures: a stand-in model that records its calls, and an opaque tiny LRM."""

from __future__ import annotations

import pytest
import torch
from omegaconf import OmegaConf
from torch import nn

from real3d.geometry import Cameras
from real3d.models import LRM
from tests.evaluation.conftest import opaque_tiny_model


class SphereModel(nn.Module):
    """Stands in for the LRM: the scene code of an image is its mean colour [3]; a scene renders as a
    sphere of radius 0.8 at the origin in that colour (opacity 1 inside its silhouette, white outside).
    Records every call with its grad mode."""

    def __init__(self, cond_image_size: int = 16) -> None:
        super().__init__()
        self.gain = nn.Parameter(torch.ones(()))
        self.cfg = OmegaConf.create({"cond_image_size": cond_image_size})
        self.calls: list[dict] = []

    def image_to_scene_codes(self, images: torch.Tensor) -> torch.Tensor:
        return images[:, 0].mean(dim=(-2, -1)) * self.gain  # [B,3]

    def render(self, codes: torch.Tensor, cameras: Cameras, settings: object = None) -> dict:
        rays_o, rays_d = cameras.rays()  # [B,N,h,w,3]
        self.calls.append({"rays_o": rays_o, "grad": torch.is_grad_enabled()})
        b = (rays_o * rays_d).sum(-1)
        hit = (b * b - (rays_o * rays_o).sum(-1) + 0.64 > 0).float()[:, :, None]  # [B,N,1,h,w]
        colour = codes[:, None, :, None, None]
        return {"images_rgb": colour * hit + (1 - hit), "images_weight": hit}

    def forward(self, images: torch.Tensor, cameras: Cameras, settings: object = None) -> dict:
        out = self.render(self.image_to_scene_codes(images), cameras, settings)
        self.calls[-1]["images"] = images.detach().clone()
        return out


@pytest.fixture
def sphere_model() -> SphereModel:
    return SphereModel()


@pytest.fixture(scope="session")
def opaque_model() -> LRM:
    return opaque_tiny_model()

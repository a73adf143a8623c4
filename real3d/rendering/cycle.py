"""The cycle re-render (SPEC §6.3): a rendered novel view becomes a new model input.

One implementation for training's cycle pass, the single-view self-consistency evaluation and the
curation score. For inputs [B] and novel cameras [B,K]: render the novel views (or take them
rendered), composite each on grey where its opacity is above the threshold, resize it to the input
images' size, reconstruct from it and render the input view through the cycle camera I·N⁻¹·I
(`real3d.geometry.cycle_camera`). The novel render and the new inputs carry no gradient (the
original's stop-gradient; `stop_gradient=False` lets the cycle loss reach the first reconstruction
through them, the ablation's end-to-end cycle); the cycle render runs under the caller's gradient mode.
"""

from __future__ import annotations

import contextlib
import dataclasses
from typing import TYPE_CHECKING

import torch
from torch import nn

from real3d.data.image_ops import resize_image
from real3d.geometry import Cameras, cycle_camera

if TYPE_CHECKING:
    from real3d.models.renderer import RenderSettings


@dataclasses.dataclass
class CycleRender:
    """`novel`, `render`: {"images_rgb" [B,K,3,h,w], "images_weight" [B,K,1,h,w]} of the novel views and
    of the input view through the cycle cameras; `feedback` [B,K,3,S,S]: the new inputs."""

    novel: dict[str, torch.Tensor]
    feedback: torch.Tensor
    render: dict[str, torch.Tensor]


def grey_composite(
    rgb: torch.Tensor, opacity: torch.Tensor, threshold: float = 0.5, background: float = 0.5
) -> torch.Tensor:
    """Rendered rgb [...,3,H,W] kept where opacity [...,1,H,W] > threshold, grey elsewhere."""
    mask = (opacity > threshold).to(rgb.dtype)
    return rgb * mask + background * (1.0 - mask)


def to_model_input(model: nn.Module, images: torch.Tensor, antialias: bool) -> torch.Tensor:
    """Images [N,3,H,W] in [0,1] -> the model's input [N,1,3,s,s] at its conditioning size (bilinear)."""
    return resize_image(images, int(model.cfg.cond_image_size), antialias=antialias)[:, None]


def cycle_cameras(input_cameras: Cameras, novel_cameras: Cameras) -> Cameras:
    """Cameras [B,K] I·N⁻¹·I that see the input view from each novel view's reconstruction.

    `input_cameras` [B] (their lens and image size are kept), `novel_cameras` [B,K].
    """
    batch, views = novel_cameras.batch_shape
    c2w = cycle_camera(input_cameras.c2w[:, None], novel_cameras.c2w)  # [B,K,4,4]
    fov = input_cameras.fov_rad[:, None].expand(batch, views)
    return Cameras(c2w, fov.to(c2w.device), input_cameras.height, input_cameras.width)


def cycle_render(
    model: nn.Module,
    input_images: torch.Tensor,
    input_cameras: Cameras,
    novel_cameras: Cameras,
    *,
    novel: dict[str, torch.Tensor] | None = None,
    scene_codes: torch.Tensor | None = None,
    opacity_threshold: float = 0.5,
    background: float = 0.5,
    antialias: bool = False,
    settings: RenderSettings | None = None,
    stop_gradient: bool = True,
) -> CycleRender:
    """Cycle renders of inputs [B,3,S,S] (on grey, in [0,1]) seen from novel cameras [B,K].

    The novel views are rendered at `novel_cameras`' size from `scene_codes` [B,...] (when given) or
    from the inputs, unless `novel` ([B,K,...] renders, e.g. of a pass already run) is given. The new
    inputs are resized to S, then, as every model input, to the model's conditioning size, with
    antialiasing or not (`antialias`); the cycle render has `input_cameras`' lens and size. Every
    render uses `settings` (None: the model's). With `stop_gradient=False` the novel render and the new
    inputs keep their graph (the opacity threshold itself passes no gradient).
    """
    batch, views = novel_cameras.batch_shape
    with torch.no_grad() if stop_gradient else contextlib.nullcontext():
        if novel is None and scene_codes is not None:
            novel = model.render(scene_codes, novel_cameras, settings)
        elif novel is None:
            novel = model(to_model_input(model, input_images, antialias), novel_cameras, settings=settings)
        feedback = grey_composite(
            novel["images_rgb"].float().flatten(0, 1),
            novel["images_weight"].float().flatten(0, 1),
            opacity_threshold,
            background,
        )
        feedback = resize_image(feedback, tuple(input_images.shape[-2:]), antialias=antialias)  # [B*K,3,S,S]
    cameras = cycle_cameras(input_cameras, novel_cameras).reshape(batch * views, 1)
    render = model(to_model_input(model, feedback, antialias), cameras, settings=settings)
    render = {key: value.reshape(batch, views, *value.shape[2:]) for key, value in render.items()}
    return CycleRender(novel, feedback.reshape(batch, views, *feedback.shape[1:]), render)

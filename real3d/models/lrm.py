"""The LRM: image -> triplane scene code -> rendered views and meshes (TripoSR's system)."""

from __future__ import annotations

import contextlib
import copy
import math
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import PIL.Image
import torch
import trimesh
from omegaconf import DictConfig, OmegaConf
from torch import nn

from real3d.errors import Real3DError
from real3d.geometry import DEMO_ORBIT_DISTANCE, DEMO_ORBIT_FOVY_DEG, Cameras, orbit_cameras
from real3d.io import atomic_path, atomic_write_text
from real3d.models.checkpoint import (
    describe_mismatch,
    load_state_dict_file,
    to_legacy_layout,
    to_model_layout,
)
from real3d.models.config import load_model_config, resolve_vit_config
from real3d.models.decoder import NeRFMLP
from real3d.models.field import FieldSpec, TriplaneField
from real3d.models.image_input import ImageLike, images_to_batch
from real3d.models.image_tokenizer import DINOSingleImageTokenizer
from real3d.models.isosurface import field_isosurface
from real3d.models.post_processor import TriplaneUpsampleNetwork
from real3d.models.renderer import RenderSettings, Stats, TriplaneNeRFRenderer
from real3d.models.transformer import Transformer1D
from real3d.models.triplane_tokenizer import Triplane1DTokenizer

Precision = Literal["fp32", "bf16"] | None


def cpu_has_bf16() -> bool:
    """Whether this CPU has bf16 matrix instructions (AVX512-BF16 or AMX); without them bf16 is slow."""
    return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())


def check_precision(device: torch.device, precision: Precision) -> None:
    """Raise a clear error for a precision this device cannot run well."""
    if precision not in (None, "fp32", "bf16"):
        raise ValueError(f"precision must be None, 'fp32' or 'bf16', got {precision!r}")
    if precision == "bf16" and device.type == "cpu" and not cpu_has_bf16():
        raise Real3DError(
            "precision='bf16' needs a GPU or a CPU with bf16 instructions (AVX512-BF16 or AMX); "
            "this CPU has none, so bf16 would be many times slower than fp32: use precision='fp32'"
        )


@contextlib.contextmanager
def precision_context(device: torch.device, precision: Precision) -> Iterator[None]:
    """None: as the caller's context; "fp32": autocast off; "bf16": bf16 autocast (GPU, or a CPU with bf16).

    Density and colour are composited in fp32 either way.
    """
    check_precision(device, precision)
    if precision is None:
        yield
    elif precision == "fp32":
        with torch.autocast(device.type, enabled=False):
            yield
    else:
        with torch.autocast(device.type, dtype=torch.bfloat16):
            yield


# Layers whose weights autocast casts to bf16 on every call; `bf16_weights` casts them once.
_BF16_LAYERS = (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)


def bf16_weights(module: nn.Module) -> nn.Module:
    """A copy of `module` for bf16 autocast inference: its linear and convolution weights stored in bf16.

    Under autocast these layers compute in bf16 anyway, so the copy gives the same results without
    re-casting the weights on every call; every other parameter and buffer (norms, embeddings) is
    shared with `module`, in fp32, as autocast keeps it.
    """
    memo: dict[int, object] = {}
    for layer in module.modules():
        for param in layer.parameters(recurse=False):
            cast = isinstance(layer, _BF16_LAYERS) and param.is_floating_point()
            memo[id(param)] = nn.Parameter(param.detach().to(torch.bfloat16), requires_grad=False) if cast else param
        for buffer in layer.buffers(recurse=False):
            memo[id(buffer)] = buffer
    return copy.deepcopy(module, memo)


class LRM(nn.Module):
    """TripoSR/Real3D reconstruction model with the released state-dict layout."""

    def __init__(self, cfg: DictConfig, base_dir: str | Path | None = None) -> None:
        super().__init__()
        self.cfg = cfg
        tok = cfg.image_tokenizer
        self.image_tokenizer = DINOSingleImageTokenizer(
            resolve_vit_config(tok.pretrained_model_name_or_path, base_dir),
            enable_gradient_checkpointing=tok.get("enable_gradient_checkpointing", False),
        )
        self.tokenizer = Triplane1DTokenizer(cfg.tokenizer.plane_size, cfg.tokenizer.num_channels)
        bb = cfg.backbone
        self.backbone = Transformer1D(
            in_channels=bb.in_channels,
            num_attention_heads=bb.num_attention_heads,
            attention_head_dim=bb.attention_head_dim,
            num_layers=bb.num_layers,
            cross_attention_dim=bb.cross_attention_dim,
            norm_num_groups=bb.get("norm_num_groups", 32),
            gradient_checkpointing=bb.get("gradient_checkpointing", False),
            cpu_bf16_attention_block=bb.get("cpu_bf16_attention_block", 1024),
        )
        self.post_processor = TriplaneUpsampleNetwork(cfg.post_processor.in_channels, cfg.post_processor.out_channels)
        dec = cfg.decoder
        self.decoder = NeRFMLP(dec.in_channels, dec.n_neurons, dec.n_hidden_layers, dec.activation)
        ren = cfg.renderer
        if ren.get("color_activation", "sigmoid") != "sigmoid":
            raise ValueError(f"color_activation must be 'sigmoid', got {ren.color_activation!r}")
        self.field_spec = FieldSpec(
            radius=ren.radius,
            feature_reduction=ren.get("feature_reduction", "concat"),
            density_activation=ren.get("density_activation", "exp"),
            density_bias=ren.get("density_bias", -1.0),
        )
        self.renderer = TriplaneNeRFRenderer(
            RenderSettings(
                num_samples_per_ray=ren.get("num_samples_per_ray", 128),
                fast=ren.get("fast", True),
                skip_empty=ren.get("skip_empty", "auto"),
            )
        )
        # Coarse-to-fine meshes use the interval bounds when they decide at least this share of the grid.
        self.mesh_min_decided = 0.2

    @classmethod
    def from_config(cls, cfg: str | Path | dict | DictConfig, base_dir: str | Path | None = None) -> LRM:
        """A randomly initialised model from a published-format config."""
        if base_dir is None and isinstance(cfg, (str, Path)):
            base_dir = Path(cfg).parent
        return cls(load_model_config(cfg), base_dir)

    @classmethod
    def from_pretrained(
        cls,
        pretrained_model_name_or_path: str | Path,
        config_name: str = "config.yaml",
        weight_name: str = "model.ckpt",
    ) -> LRM:
        """Load a local checkpoint folder (TripoSR or Real3D layout, legacy or current ViT names)."""
        folder = Path(pretrained_model_name_or_path)
        if not folder.is_dir():
            raise Real3DError(
                f"model folder not found: {folder} (it must hold {config_name} and {weight_name}; "
                "see checkpoints/README.md)"
            )
        weight_path = folder / weight_name
        if not weight_path.is_file():
            raise Real3DError(
                f"weights not found: {weight_path} (download the released model.ckpt into {folder}; "
                "see checkpoints/README.md)"
            )
        model = cls.from_config(folder / config_name, base_dir=folder)
        model.load_weights(weight_path)
        return model

    def load_weights(self, path: str | Path) -> None:
        """Strictly load a weights file; a mismatch with the config names the offending keys."""
        own = self.state_dict()
        loaded = to_model_layout(load_state_dict_file(path), own.keys())
        mismatch = describe_mismatch(own, loaded)
        if mismatch:
            raise Real3DError(f"checkpoint {path} does not match the model config ({mismatch})")
        self.load_state_dict(loaded, strict=True)

    def save_pretrained(self, folder: str | Path, weight_name: str = "model.ckpt") -> None:
        """Write config.yaml + a bare legacy-named state dict, loadable by the original code too."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().cpu().contiguous() for k, v in to_legacy_layout(self.state_dict()).items()}
        with atomic_path(folder / weight_name) as tmp:
            torch.save(state, tmp)
        atomic_write_text(folder / "config.yaml", OmegaConf.to_yaml(self.cfg))

    @property
    def device(self) -> torch.device:
        return self.tokenizer.embeddings.device

    def bf16_inference_modules(self) -> nn.ModuleDict:
        """The image -> triplane modules with bf16 linear/convolution weights, cast once and cached.

        Rebuilt when any parameter is replaced or changed in place (new weights, `.to()`, training).
        """
        modules = {
            "image_tokenizer": self.image_tokenizer,
            "tokenizer": self.tokenizer,
            "backbone": self.backbone,
            "post_processor": self.post_processor,
        }
        key = tuple((p.data_ptr(), p._version, p.dtype) for m in modules.values() for p in m.parameters())
        cached = self.__dict__.get("_bf16_cache")
        if cached is None or cached[0] != key:
            cached = (key, nn.ModuleDict({name: bf16_weights(m) for name, m in modules.items()}).eval())
            self.__dict__["_bf16_cache"] = cached  # a plain attribute: no state_dict entry, no `.to()`
        return cached[1]

    def image_to_scene_codes(self, input_images: torch.Tensor, *, precision: Precision = None) -> torch.Tensor:
        """Triplanes [B,3,C,Hp,Wp] from input images [B,1,3,H,W] in [0,1]; see `precision_context`.

        bf16 without gradient runs on `bf16_inference_modules` (weights cast once, the same results).
        """
        batch_size = input_images.shape[0]
        with precision_context(input_images.device, precision):
            cast_once = precision == "bf16" and not torch.is_grad_enabled()
            m = self.bf16_inference_modules() if cast_once else self
            image_tokens = m.image_tokenizer(input_images)  # [B, 1, Ci, T]
            image_tokens = image_tokens[:, 0].transpose(1, 2)  # [B, T, Ci]
            tokens = m.backbone(m.tokenizer(batch_size), encoder_hidden_states=image_tokens)
            scene_codes = m.post_processor(m.tokenizer.detokenize(tokens))
        return scene_codes.float() if precision == "bf16" else scene_codes

    @property
    def render_settings(self) -> RenderSettings:
        """The default render settings (from the config's `renderer` section; `set_chunk_size` changes them)."""
        return self.renderer.settings

    def field(self, scene_code: torch.Tensor) -> TriplaneField:
        """The NeRF field of one scene code [3,C,Hp,Wp]."""
        return TriplaneField(self.decoder, scene_code, self.field_spec)

    def render_scene_codes(
        self,
        scene_codes: torch.Tensor,
        rays_o: torch.Tensor,
        rays_d: torch.Tensor,
        settings: RenderSettings | None = None,
        stats: Stats | None = None,
    ) -> dict[str, torch.Tensor]:
        """Render rays [B,N,h,w,3] -> images_rgb [B,N,3,h,w] and images_weight (opacity) [B,N,1,h,w]."""
        fields = [self.field(code) for code in scene_codes]
        rgb, opacity = self.renderer(fields, rays_o, rays_d, settings, stats)
        return {
            "images_rgb": rgb.permute(0, 1, 4, 2, 3),
            "images_weight": opacity.permute(0, 1, 4, 2, 3),
        }

    def render(
        self,
        scene_codes: torch.Tensor,
        cameras: Cameras,
        settings: RenderSettings | None = None,
        stats: Stats | None = None,
    ) -> dict[str, torch.Tensor]:
        """Render cameras [B,N] (or [N], the same for every scene) -> images_rgb [B,N,3,h,w], images_weight."""
        rays_o, rays_d = cameras.to(scene_codes.device).rays()
        if len(cameras.batch_shape) == 1:
            shape = (scene_codes.shape[0], *rays_o.shape)
            rays_o, rays_d = rays_o.expand(shape), rays_d.expand(shape)
        return self.render_scene_codes(scene_codes, rays_o, rays_d, settings, stats)

    def forward(
        self,
        input_images: torch.Tensor,
        cameras: Cameras | torch.Tensor,
        rays_d: torch.Tensor | None = None,
        settings: RenderSettings | None = None,
    ) -> dict[str, torch.Tensor]:
        """The training forward: input images [B,1,3,H,W] and cameras [B,N] (or rays_o, rays_d
        [B,N,h,w,3]) -> renders."""
        scene_codes = self.image_to_scene_codes(input_images)
        if isinstance(cameras, Cameras):
            return self.render(scene_codes, cameras, settings)
        return self.render_scene_codes(scene_codes, cameras, rays_d, settings)

    @torch.inference_mode()
    def get_latent_from_img(
        self,
        images: ImageLike | Sequence[ImageLike],
        device: str | torch.device | None = None,
        *,
        precision: Precision = None,
    ) -> torch.Tensor:
        """Scene codes for images (PIL, numpy HWC uint8/float, float HWC tensors, or lists)."""
        batch = images_to_batch(images, self.cfg.cond_image_size).to(device or self.device)
        return self.image_to_scene_codes(batch, precision=precision)

    @torch.inference_mode()
    def render_360(
        self,
        scene_codes: torch.Tensor,
        n_views: int,
        elevation_deg: float = 0.0,
        camera_distance: float = DEMO_ORBIT_DISTANCE,
        fovy_deg: float = DEMO_ORBIT_FOVY_DEG,
        height: int = 256,
        width: int = 256,
        return_type: Literal["pil", "pt", "np"] = "pil",
        *,
        settings: RenderSettings | None = None,
        precision: Precision = None,
        stats: Stats | None = None,
    ) -> list[list[PIL.Image.Image | torch.Tensor | np.ndarray]]:
        """An orbit of `n_views` views around each scene: one list of [h,w,3] views per scene.

        With `settings.fast` all views are rendered in one pass, skipping empty space where that pays
        (within 1e-3 per pixel, see the renderer); otherwise each view is rendered in full, as the
        reference does.
        """
        settings = settings or self.render_settings
        cameras = orbit_cameras(n_views, elevation_deg, camera_distance, math.radians(fovy_deg), height, width)
        rays_o, rays_d = cameras.to(scene_codes.device).rays()
        scenes = []
        with precision_context(scene_codes.device, precision):
            for scene_code in scene_codes:
                field = self.field(scene_code)
                if settings.fast:
                    rgb, _ = self.renderer.render_rays(field, rays_o, rays_d, settings, stats)
                else:
                    views = zip(rays_o, rays_d, strict=True)
                    rgb = torch.stack([self.renderer.render_rays(field, o, d, settings, stats)[0] for o, d in views])
                scenes.append([_convert_view(view, return_type) for view in rgb])
        return scenes

    @torch.inference_mode()
    def extract_mesh(
        self,
        scene_codes: torch.Tensor,
        resolution: int = 256,
        threshold: float = 25.0,
        *,
        settings: RenderSettings | None = None,
        precision: Precision = None,
        stats: Stats | None = None,
    ) -> list[trimesh.Trimesh]:
        """Marching-cubes meshes of {density = threshold}, with vertex colours, in world units.

        With `settings.fast` the density grid is evaluated coarse to fine, only near the surface (the
        dense grid's mesh; see `real3d.models.isosurface.field_isosurface`); otherwise every grid point.
        """
        settings = settings or self.render_settings
        stats = {} if stats is None else stats
        meshes = []
        with precision_context(scene_codes.device, precision):
            for scene_code in scene_codes:
                field = self.field(scene_code)
                stats.clear()
                vertices, faces = field_isosurface(
                    field, resolution, threshold, settings.fast, stats, settings.chunk_size, self.mesh_min_decided
                )
                colors = np.zeros((0, 3), dtype=np.float32)
                if len(vertices):
                    v = torch.from_numpy(vertices).to(scene_codes.device)
                    colors = field.query(v, chunk_size=settings.chunk_size)["color"].float().cpu().numpy()
                meshes.append(trimesh.Trimesh(vertices=vertices, faces=faces, vertex_colors=colors, process=False))
        return meshes


def _convert_view(view: torch.Tensor, return_type: str) -> PIL.Image.Image | torch.Tensor | np.ndarray:
    if return_type == "pt":
        return view
    array = view.detach().float().cpu().numpy()
    if return_type == "np":
        return array
    if return_type == "pil":
        return PIL.Image.fromarray((array.clip(0, 1) * 255.0).astype(np.uint8))
    raise ValueError(f"return_type must be 'pil', 'pt' or 'np', got {return_type!r}")

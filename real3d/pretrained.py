"""Frozen pretrained networks used by losses and metrics (LPIPS-VGG, CLIP ViT-B/16, Inception).

Weights come from local files only (SPEC §9): nothing here downloads. Where a file is missing,
`Real3DError` names it and says where to put it. Tests build the same networks with random
weights through the same functions (`allow_random=True`).

One path convention (config/pretrained/default.yaml, used by training, evaluation and curation):
every file is looked up under one `root` (default `checkpoints/pretrained/`; a relative root is
tried under the working directory, then the project root), unless its own path is given. Defaults:

- LPIPS backbone: `vgg16-397923af.pth`, torchvision's ImageNet VGG-16 state dict (LPIPS's
  linear heads ship inside the `lpips` package);
- CLIP: `open_clip_vit_b16.bin` (or `open_clip_pytorch_model.bin` / `open_clip_model.safetensors`
  as published for open_clip), OpenAI CLIP ViT-B/16 as an open_clip state dict (QuickGELU);
- FID Inception: `pt_inception-2015-12-05-6726825d.pth`, the standard FID network (pytorch-fid's
  port of the TensorFlow FID Inception: 1008 classes, its own pooling in the Mixed blocks), used
  when present; else `inception_v3_google-0cc3c7bd.pth`, torchvision's ImageNet Inception-v3,
  whose FID is NOT comparable with published FID values. The features are the 2048-d pool layer;
  which network ran is reported as `InceptionFeatures.network` (metrics.json `fid_network`).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace
from unittest import mock

import torch
import torch.nn as nn
import torch.nn.functional as F

from real3d.errors import Real3DError
from real3d.models.checkpoint import load_state_dict_file

log = logging.getLogger(__name__)

PRETRAINED_DIR = Path("checkpoints/pretrained")
VGG16_FILE = "vgg16-397923af.pth"
CLIP_FILES = (
    "open_clip_vit_b16.bin",
    "open_clip_vit_b16.safetensors",
    "open_clip_pytorch_model.bin",
    "open_clip_model.safetensors",
)
INCEPTION_FILE = "inception_v3_google-0cc3c7bd.pth"
FID_INCEPTION_FILE = "pt_inception-2015-12-05-6726825d.pth"
FID_NUM_CLASSES = 1008  # the FID Inception's classifier size (torchvision's: 1000)

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)

# open_clip's ViT-B-16 config; OpenAI's weights were trained with QuickGELU.
CLIP_VIT_B16_CONFIG = {
    "embed_dim": 512,
    "quick_gelu": True,
    "vision_cfg": {"image_size": 224, "layers": 12, "width": 768, "patch_size": 16},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 512, "heads": 8, "layers": 12},
}

_PROJECT_ROOT = Path(__file__).resolve().parents[1]


def _candidates(path: str | os.PathLike) -> list[Path]:
    path = Path(path)
    if path.is_absolute():
        return [path]
    return [Path.cwd() / path, _PROJECT_ROOT / path]


def resolve_pretrained_file(
    weights_path: str | os.PathLike | None,
    default_names: Sequence[str],
    what: str,
    allow_random: bool = False,
    root: str | os.PathLike = PRETRAINED_DIR,
) -> Path | None:
    """Find a weights file: the given path, else the default names under `root`.

    Returns None (random weights, said in a warning) only when nothing is found and `allow_random`
    is set; otherwise a missing file raises `Real3DError` saying which file to put where.
    """
    if weights_path is not None:
        candidates = _candidates(weights_path)
    else:
        candidates = [c for name in default_names for c in _candidates(Path(root) / name)]
    found = next((c for c in candidates if c.is_file()), None)
    if found is not None:
        return found
    if allow_random:
        log.warning("%s: no weights file found, using RANDOM weights (allow_random); its values mean nothing", what)
        return None
    if weights_path is not None:
        raise Real3DError(f"{what} weights not found at '{weights_path}'.")
    raise Real3DError(
        f"{what} weights are missing: put '{default_names[0]}' in '{root}/' "
        f"(under the working directory or {_PROJECT_ROOT}), or pass its path explicitly."
    )


def _freeze(module: nn.Module) -> nn.Module:
    module.eval()
    for param in module.parameters():
        param.requires_grad_(False)
    return module


# ----------------------------------------------------------------------------- LPIPS


def build_lpips(
    weights_path: str | os.PathLike | None = None,
    allow_random: bool = False,
    device: str | torch.device = "cpu",
    root: str | os.PathLike = PRETRAINED_DIR,
) -> nn.Module:
    """LPIPS-VGG (v0.1) with its VGG-16 backbone loaded from a local torchvision state dict.

    Returns the `lpips.LPIPS` module (frozen, eval): call it as `lpips(a, b, normalize=True)` for
    images in [0, 1] (`[B,3,H,W]`, result `[B,1,1,1]`), or without `normalize` for [-1, 1].
    """
    import lpips
    import lpips.pretrained_networks
    from torchvision.models.vgg import cfgs, make_layers

    def vgg16_features(**_):  # what lpips keeps of torchvision's VGG-16, without the 120M-param head
        return SimpleNamespace(features=make_layers(cfgs["D"]))

    path = resolve_pretrained_file(weights_path, (VGG16_FILE,), "LPIPS VGG-16", allow_random, root)
    # pnet_rand=True and the stub above: nothing is fetched; the linear heads come from the file
    # shipped inside the lpips package, the backbone from `path` below.
    with mock.patch.object(lpips.pretrained_networks, "tv", SimpleNamespace(vgg16=vgg16_features)):
        model = lpips.LPIPS(net="vgg", version="0.1", pretrained=True, pnet_rand=True, verbose=False)
    if path is not None:
        vgg = load_state_dict_file(path)
        slices = {}
        for slice_name, module in model.net.named_children():
            for index in module._modules:
                slices[int(index)] = slice_name
        backbone = {}
        for key, value in vgg.items():
            parts = key.split(".")
            if parts[0] != "features":
                continue
            index = int(parts[1])
            if index in slices:
                backbone[f"{slices[index]}.{index}.{parts[2]}"] = value
        try:
            model.net.load_state_dict(backbone, strict=True)
        except RuntimeError as exc:
            raise Real3DError(f"'{path}' is not a torchvision VGG-16 state dict: {exc}") from exc
    return _freeze(model).to(device)


# ----------------------------------------------------------------------------- CLIP


def _clip_config(config: str | os.PathLike | dict | None) -> dict:
    if config is None or config == "ViT-B-16":
        return json.loads(json.dumps(CLIP_VIT_B16_CONFIG))
    if isinstance(config, dict):
        return dict(config)
    path = Path(config)
    if not path.is_file():
        raise Real3DError(f"CLIP model config '{config}' not found.")
    return json.loads(path.read_text())


class ClipEncoder(nn.Module):
    """CLIP image tower: images `[B,3,H,W]` in [0,1] → L2-normalised embeddings `[B,D]`.

    Inputs are resized to the tower's resolution (bilinear) and normalised with CLIP's mean/std.
    Weights are frozen, but gradients flow to the input (the semantic loss needs them).
    """

    def __init__(self, visual: nn.Module, image_size: int):
        super().__init__()
        self.visual = visual
        self.image_size = image_size
        self.register_buffer("mean", torch.tensor(CLIP_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(CLIP_STD).view(1, 3, 1, 1), persistent=False)

    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        if images.shape[-2:] != (self.image_size, self.image_size):
            images = F.interpolate(
                images, size=(self.image_size, self.image_size), mode="bilinear", align_corners=False
            )
        return (images - self.mean) / self.std

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        dtype = next(self.visual.parameters()).dtype
        features = self.visual(self.preprocess(images.float()).to(dtype))
        return F.normalize(features.float(), dim=-1)

    @torch.no_grad()
    def similarity(self, images_a: torch.Tensor, images_b: torch.Tensor) -> torch.Tensor:
        """Cosine similarity `[B]` between paired images `[B,3,H,W]` in [0,1]."""
        return (self(images_a) * self(images_b)).sum(-1)


def build_clip(
    weights_path: str | os.PathLike | None = None,
    config: str | os.PathLike | dict | None = None,
    allow_random: bool = False,
    device: str | torch.device = "cpu",
    root: str | os.PathLike = PRETRAINED_DIR,
) -> ClipEncoder:
    """CLIP image encoder (default OpenAI ViT-B/16) from a local open_clip state dict.

    `config` is an open_clip model config (dict or JSON path; default ViT-B-16 with QuickGELU);
    tests pass `real3d/models/configs/clip-tiny/config.json` with `allow_random=True`.
    """
    from open_clip.model import CLIP

    cfg = _clip_config(config)
    path = resolve_pretrained_file(weights_path, CLIP_FILES, "CLIP ViT-B/16", allow_random, root)
    model = CLIP(
        embed_dim=cfg["embed_dim"],
        vision_cfg=cfg["vision_cfg"],
        text_cfg=cfg["text_cfg"],
        quick_gelu=cfg.get("quick_gelu", False),
    )
    if path is not None:
        state_dict = load_state_dict_file(path)
        if "text.text_projection" in state_dict:  # CustomTextCLIP layout: only the tower matters
            state_dict = {k: v for k, v in state_dict.items() if not k.startswith("text.")}
            strict = False
        else:
            strict = True
        for key in ("input_resolution", "context_length", "vocab_size"):
            state_dict.pop(key, None)
        try:
            missing, _ = model.load_state_dict(state_dict, strict=strict)
        except RuntimeError as exc:
            raise Real3DError(f"'{path}' does not match the CLIP model config: {exc}") from exc
        if any(k.startswith("visual.") for k in missing):
            raise Real3DError(f"'{path}' lacks CLIP image-tower weights ({missing[:3]}).")
    image_size = cfg["vision_cfg"]["image_size"]
    image_size = image_size[0] if isinstance(image_size, (list, tuple)) else image_size
    encoder = ClipEncoder(model.visual, int(image_size))
    del model  # drop the text tower
    return _freeze(encoder).to(device)


# ----------------------------------------------------------------------------- Inception (FID)


class InceptionFeatures(nn.Module):
    """Inception-v3 pool features `[B,2048]` for images `[B,3,H,W]` in [0,1] (resized to 299 bilinear,
    as pytorch-fid); `network` says which weights these are."""

    def __init__(self, net: nn.Module, network: str):
        super().__init__()
        self.net = net
        self.network = network

    @torch.no_grad()
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        images = F.interpolate(images.float(), size=(299, 299), mode="bilinear", align_corners=False)
        return self.net(images * 2.0 - 1.0)  # Google's Inception expects [-1, 1]


def _fid_block(base: type[nn.Module], pool) -> type[nn.Module]:
    """An Inception block whose pooling branch pools with `pool` (the FID network's variant)."""

    class FIDBlock(base):
        def _forward(self, x: torch.Tensor) -> list[torch.Tensor]:
            outputs = super()._forward(x)
            outputs[-1] = self.branch_pool(pool(x))
            return outputs

    FIDBlock.__name__ = f"FID{base.__name__}"
    return FIDBlock


def fid_inception_v3() -> nn.Module:
    """The FID Inception architecture (TensorFlow's 2015-12-05 graph as ported by pytorch-fid):
    torchvision's Inception-v3 with 1008 classes, average pools that exclude the padding in the
    Mixed_5/6/7b blocks and a max pool in Mixed_7c. Random weights; load the state dict after."""
    from torchvision.models.inception import Inception3, InceptionA, InceptionC, InceptionE

    def avg(x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(x, kernel_size=3, stride=1, padding=1, count_include_pad=False)

    def max_(x: torch.Tensor) -> torch.Tensor:
        return F.max_pool2d(x, kernel_size=3, stride=1, padding=1)

    block_a, block_c = _fid_block(InceptionA, avg), _fid_block(InceptionC, avg)
    block_e1, block_e2 = _fid_block(InceptionE, avg), _fid_block(InceptionE, max_)
    net = Inception3(num_classes=FID_NUM_CLASSES, aux_logits=False, transform_input=False, init_weights=False)
    net.Mixed_5b, net.Mixed_5c, net.Mixed_5d = block_a(192, 32), block_a(256, 64), block_a(288, 64)
    net.Mixed_6b, net.Mixed_6c = block_c(768, channels_7x7=128), block_c(768, channels_7x7=160)
    net.Mixed_6d, net.Mixed_6e = block_c(768, channels_7x7=160), block_c(768, channels_7x7=192)
    net.Mixed_7b, net.Mixed_7c = block_e1(1280), block_e2(2048)
    return net


def build_inception(
    weights_path: str | os.PathLike | None = None,
    allow_random: bool = False,
    device: str | torch.device = "cpu",
    root: str | os.PathLike = PRETRAINED_DIR,
) -> InceptionFeatures:
    """A 2048-d Inception feature extractor for FID: the standard FID Inception when its weights
    (`pt_inception-2015-12-05-6726825d.pth`) are found, else torchvision's ImageNet Inception-v3
    (`inception_v3_google-0cc3c7bd.pth`); the kind is read from the file's classifier size."""
    from torchvision.models import inception_v3

    names = (FID_INCEPTION_FILE, INCEPTION_FILE)
    path = resolve_pretrained_file(weights_path, names, "Inception-v3", allow_random, root)
    state_dict = load_state_dict_file(path) if path is not None else None
    fc = state_dict.get("fc.weight") if state_dict is not None else None
    if path is None or (fc is not None and fc.shape[0] == FID_NUM_CLASSES):
        net = fid_inception_v3()
        network = f"FID Inception (pytorch-fid pt_inception weights, {path.name})" if path else "random FID Inception"
    else:
        net = inception_v3(weights=None, aux_logits=True, transform_input=False, init_weights=False)
        network = f"torchvision ImageNet Inception-v3 ({path.name}); FID not comparable with published values"
    if state_dict is not None:
        try:
            net.load_state_dict(state_dict)
        except RuntimeError as exc:
            raise Real3DError(f"'{path}' is not an Inception-v3 state dict (FID or torchvision): {exc}") from exc
    net.AuxLogits = None
    net.fc = nn.Identity()
    return _freeze(InceptionFeatures(net, network)).to(device)

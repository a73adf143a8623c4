"""The miniature CLIP's data: the mini study's images decoded with their replayed captions, framed and
augmented for training (`real3d.pretraining.clip`).

Training augmentation: framing scale (`real3d.pretraining.images`), background (grey as the LRM's
input, white as its targets, or the R crop's own photo background), horizontal flip (the caption's
left and right swap), and caption dropout (each attribute but the family kept with `keep_prob`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from real3d.data import image_ops
from real3d.errors import Real3DError
from real3d.pretraining.captions import Caption, caption_images
from real3d.pretraining.images import (
    ALPHA_THRESHOLD,
    EVAL_EXPAND,
    TRAIN_EXPAND_RANGE,
    frame_image,
    list_domain_images,
)

log = logging.getLogger(__name__)

BACKGROUNDS = ("grey", "white", "photo")


@dataclass
class CaptionedSet:
    """Decoded images (uint8 rgb [3,H,W], alpha [1,H,W]) with their captions, families and domains."""

    rgb: list[torch.Tensor]
    alpha: list[torch.Tensor]
    captions: list[Caption]
    families: torch.Tensor  # [N] index into FAMILIES
    domains: list[str]
    photo: list[bool]  # the RGB outside the mask is a photo background (R training crops)
    objects: list[tuple[str, int]]  # (domain, the generator's object index)
    views: list[int]

    def __len__(self) -> int:
        return len(self.captions)


def load_captioned_set(data_dir: str | os.PathLike, split: str, domains: Sequence[str] = ("S", "R")) -> CaptionedSet:
    """Decode every image of `split` with its caption; images without a caption or that cannot be
    read are skipped and counted in the log."""
    items = list_domain_images(data_dir, split, domains)
    captions, _ = caption_images(data_dir, items, split)
    out = CaptionedSet([], [], [], torch.zeros(0, dtype=torch.long), [], [], [], [])
    families, unreadable = [], 0
    for item, caption in zip(items, captions, strict=True):
        if caption is None:
            continue
        try:
            rgb, alpha = image_ops.read_rgba(item.path)
        except (OSError, ValueError) as exc:
            log.warning("skipped %s: %s", item.path, exc)
            unreadable += 1
            continue
        if image_ops.mask_bbox(image_ops.binarize(alpha, ALPHA_THRESHOLD)) is None:
            log.warning("skipped %s: empty foreground mask", item.path)
            unreadable += 1
            continue
        out.rgb.append(rgb)
        out.alpha.append(alpha)
        out.captions.append(caption)
        out.domains.append(item.domain)
        out.photo.append(item.domain == "R" and split == "train")
        out.objects.append((item.domain, item.object_index))
        out.views.append(item.view)
        families.append(item.family_index)
    if unreadable:
        log.warning("%d %s images skipped (unreadable or empty)", unreadable, split)
    if not out.captions:
        raise Real3DError(f"no usable {split} images in {data_dir}")
    out.families = torch.tensor(families, dtype=torch.long)
    return out


def frame(rgb_u8: torch.Tensor, alpha_u8: torch.Tensor, size: int, expand: float, background: str) -> torch.Tensor:
    """The object square-cropped (`expand` x its mask box) and resized: float [3,S,S] in [0,1], on
    grey 0.5, on white, or ("photo") on the crop's own pixels with white beyond the crop."""
    if background not in BACKGROUNDS:
        raise ValueError(f"background must be one of {BACKGROUNDS}, got {background!r}")
    if background == "grey":
        return frame_image(rgb_u8, alpha_u8, size, expand)
    mask = image_ops.binarize(alpha_u8, ALPHA_THRESHOLD)
    box = image_ops.square_box_around(image_ops.mask_bbox(mask), expand)
    rgb = image_ops.crop_box(image_ops.to_float(rgb_u8), box, fill=image_ops.WHITE)
    if background == "white":
        rgb = image_ops.composite(rgb, image_ops.crop_box(mask, box, fill=0.0), image_ops.WHITE)
    return image_ops.resize_image(rgb, size)


def training_batch(
    data: CaptionedSet, indices: torch.Tensor, size: int, keep_prob: float, generator: torch.Generator
) -> tuple[torch.Tensor, list[str]]:
    """Augmented images [B,3,S,S] in [0,1] and their (dropped-out, flip-aware) caption texts."""
    images, texts = [], []
    low, high = TRAIN_EXPAND_RANGE
    for i in indices.tolist():
        r = torch.rand(7, generator=generator).tolist()
        background = "grey" if r[0] < 0.5 else "white" if r[0] < 0.75 or not data.photo[i] else "photo"
        image = frame(data.rgb[i], data.alpha[i], size, low + r[1] * (high - low), background)
        caption = data.captions[i]
        if r[2] < 0.5:
            image, caption = image.flip(-1), caption.flipped()
        images.append(image)
        texts.append(caption.text(*(p < keep_prob for p in r[3:7])))
    return torch.stack(images), texts


def eval_images(data: CaptionedSet, size: int, background: str = "grey") -> torch.Tensor:
    """Every image framed as the LRM's input (`EVAL_EXPAND`): [N,3,S,S] in [0,1]."""
    return torch.stack(
        [frame(rgb, alpha, size, EVAL_EXPAND, background) for rgb, alpha in zip(data.rgb, data.alpha, strict=True)]
    )

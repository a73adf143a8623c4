"""Preprocessing helpers: boxes, square pads and crops, compositing, resizing, augmentation."""

from __future__ import annotations

import numpy as np
import PIL.Image
import pytest
import torch

from real3d.data import image_ops


def test_mask_bbox_has_exclusive_ends_and_none_for_empty():
    mask = torch.zeros(1, 10, 12)
    mask[0, 2:5, 3:9] = 1
    assert image_ops.mask_bbox(mask) == (3, 2, 9, 5)
    assert image_ops.mask_bbox(torch.zeros(1, 4, 4)) is None


def test_square_box_around_keeps_centre_and_scales_longest_side():
    box = image_ops.square_box_around((10, 20, 30, 60), expand=1.5)  # 20 x 40, centre (20, 40)
    x0, y0, x1, y1 = box
    assert x1 - x0 == y1 - y0 == 60
    assert (x0 + x1) / 2 == 20 and (y0 + y1) / 2 == 40


def test_crop_box_fills_outside_the_image():
    image = torch.arange(16, dtype=torch.float32).reshape(1, 4, 4)
    crop = image_ops.crop_box(image, (-1, -1, 3, 3), fill=-5.0)
    assert crop.shape == (1, 4, 4)
    assert torch.all(crop[0, 0] == -5) and torch.all(crop[0, :, 0] == -5)
    assert torch.equal(crop[0, 1:, 1:], image[0, :3, :3])
    # uint8 images work too (the curation helper crops 8-bit photos)
    assert image_ops.crop_box(torch.zeros(3, 2, 2, dtype=torch.uint8), (0, 0, 3, 3), 255)[0, 2, 2] == 255


def test_pad_to_square_pads_around_the_centre_by_the_factor():
    image = torch.ones(3, 20, 10)
    out = image_ops.pad_to_square(image, factor=1.7, fill=0.5)
    assert out.shape == (3, 34, 34)  # int(20 * 1.7)
    box = image_ops.mask_bbox((out[0] == 1.0).float())
    assert box == (12, 7, 22, 27)  # left = (34-10)//2, top = (34-20)//2
    assert out[0, 0, 0] == 0.5
    assert image_ops.pad_to_square(image).shape == (3, 20, 20)


def test_composite_and_resizes():
    rgb = torch.full((3, 8, 8), 0.2)
    mask = torch.zeros(1, 8, 8)
    mask[:, 2:6, 2:6] = 1
    grey = image_ops.composite(rgb, mask, image_ops.GREY)
    assert grey[0, 0, 0] == 0.5 and grey[0, 3, 3] == pytest.approx(0.2)
    small = image_ops.resize_mask(mask, 4)
    assert set(small.unique().tolist()) <= {0.0, 1.0}
    big = image_ops.resize_image(grey, (16, 12))
    assert big.shape == (3, 16, 12) and big.min() >= 0 and big.max() <= 1


def test_the_originals_resize_filters():
    """Plain bilinear (no antialiasing, no clamp), PIL LANCZOS and PIL NEAREST, as the original."""
    import torch.nn.functional as F

    rng = np.random.default_rng(0)
    image = torch.from_numpy(rng.uniform(0, 1, (3, 40, 40)).astype(np.float32))
    plain = F.interpolate(image[None], (16, 16), mode="bilinear", align_corners=False)[0]
    assert torch.equal(image_ops.resize_image(image, 16, antialias=False), plain)
    assert not torch.allclose(image_ops.resize_image(image, 16), plain, atol=0.02)  # antialiased
    over = image * 3.0
    assert image_ops.resize_image(over, 16, antialias=False, clamp=False).max() > 1.0
    assert image_ops.resize_image(over, 16, antialias=False).max() <= 1.0
    u8 = (image * 255).round().to(torch.uint8)
    expected = np.stack([np.asarray(PIL.Image.fromarray(c.numpy()).resize((24, 24), PIL.Image.LANCZOS)) for c in u8])
    assert torch.equal(image_ops.resize_lanczos(u8, 24), torch.from_numpy(expected).float() / 255)
    mask = torch.from_numpy((rng.uniform(0, 1, (1, 30, 30)) > 0.5).astype(np.float32))
    pil = np.asarray(PIL.Image.fromarray((mask[0].numpy() * 255).astype(np.uint8)).resize((18, 18), PIL.Image.NEAREST))
    assert torch.equal(image_ops.resize_mask_pil(mask, 18)[0], torch.from_numpy(pil.copy()).float() / 255)
    assert image_ops.resize_mask_pil((mask * 255).to(torch.uint8), 18).dtype == torch.uint8
    # PIL samples under the target pixel's centre, torch under its corner: they differ at 3/5 scale
    assert not torch.equal(image_ops.resize_mask_pil(mask, 18), image_ops.resize_mask(mask, 18))


def test_read_rgba_requires_alpha(tmp_path):
    PIL.Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(tmp_path / "rgb.png")
    with pytest.raises(ValueError, match="alpha"):
        image_ops.read_rgba(tmp_path / "rgb.png")
    rgba = np.zeros((4, 5, 4), np.uint8)
    rgba[..., 3] = 200
    PIL.Image.fromarray(rgba).save(tmp_path / "rgba.png")
    rgb, alpha = image_ops.read_rgba(tmp_path / "rgba.png")
    assert rgb.shape == (3, 4, 5) and alpha.dtype == torch.uint8 and int(alpha[0, 0, 0]) == 200


def test_recenter_foreground_gives_the_ratio():
    mask = torch.zeros(1, 50, 50)
    mask[:, 10:30, 20:30] = 1
    rgb, square = image_ops.recenter_foreground(torch.rand(3, 50, 50), mask, 0.5)
    assert rgb.shape[-1] == rgb.shape[-2] == 40 and square.sum() == 200


def test_augment_keeps_masks_binary_and_is_identity_when_off():
    torch.manual_seed(0)
    rgb, mask = torch.rand(3, 32, 32), torch.zeros(1, 32, 32)
    mask[:, 8:24, 10:20] = 1
    same = image_ops.augment_rgb_mask(rgb, mask, hflip=False, rotation_deg=0, color_jitter=None)
    assert torch.equal(same[0], rgb) and torch.equal(same[1], mask)
    for _ in range(4):
        out_rgb, out_mask = image_ops.augment_rgb_mask(rgb, mask)
        assert set(out_mask.unique().tolist()) <= {0.0, 1.0}
        assert out_rgb.min() >= 0 and out_rgb.max() <= 1

"""The shared multi-view evaluation protocol: the original's quirks by default (crop arithmetic,
out-of-image fill 255, resize without antialiasing, soft mask composited twice), fixed under
`protocol: corrected`."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from real3d.data.multiview_eval import (
    ORIGINAL_CROP_FILL,
    RawObject,
    check_protocol,
    original_crop_box,
    prepare_object,
    read_mask_uint8,
    resize_rgb,
)
from real3d.errors import Real3DError
from real3d.geometry import spherical_c2w

RAW = 40  # raw image side


def raw_object(mask: torch.Tensor, image: torch.Tensor | None = None, n: int = 2) -> RawObject:
    """An object of `n` identical views [3,RAW,RAW] with `mask` [1,RAW,RAW] (soft allowed)."""
    g = torch.Generator().manual_seed(0)
    image = torch.rand(3, RAW, RAW, generator=g) if image is None else image
    return RawObject(
        name="obj",
        images=[image] * n,
        masks=[mask] * n,
        box_mask=mask > 0.7,
        c2w=spherical_c2w(torch.tensor([0.0, 40.0][:n]), 10.0, 2.0).double(),
        focals=torch.ones(n, dtype=torch.float64),
        center=torch.zeros(3, dtype=torch.float64),
    )


def test_protocol_names_are_checked():
    assert check_protocol("original") == "original" and check_protocol("corrected") == "corrected"
    with pytest.raises(Real3DError, match="protocol"):
        check_protocol("fixed")


def test_original_crop_box_arithmetic():
    """Inclusive mask box, integer square about the centre, side from x only, int(1.6·side)//2,
    corners truncated toward zero (so a box leaving the image at the top-left loses a pixel)."""
    mask = torch.zeros(1, RAW, RAW)
    mask[:, 12:27, 13:28] = 1  # cols 13..27, rows 12..26: reach from (20, 20) = 8
    assert original_crop_box(mask) == (8, 8, 32, 32)  # int(16 · 1.6) = 25 → half 12
    mask = torch.zeros(1, RAW, RAW)
    mask[:, 1:39, 2:38] = 1  # reach 19 → square [1, 39], side 38 → int(60.8) // 2 = 30
    assert original_crop_box(mask) == (-10, -10, 50, 50)


def test_crop_resize_is_plain_bilinear_and_fill_leaks():
    """Original: the crop's out-of-image part is 255 and the crop is resized bilinear without
    antialiasing or clamping, so an object touching the border gets edge values far above 1;
    corrected: white fill, antialiased, within [0, 1]."""
    mask = torch.zeros(1, RAW, RAW)
    mask[:, :, 5:35] = 1.0  # touches the top and bottom borders
    raw = raw_object(mask)
    original = prepare_object(raw, image_size=24, cond_image_size=24)
    corrected = prepare_object(raw, image_size=24, cond_image_size=24, protocol="corrected")
    box = original["crop_box"]
    crop = torch.full((3, box[3] - box[1], box[2] - box[0]), ORIGINAL_CROP_FILL)
    crop[:, -box[1] : RAW - box[1], -box[0] : RAW - box[0]] = raw.images[0]
    plain = F.interpolate(crop[None], (24, 24), mode="bilinear", align_corners=False)[0]
    crop_mask = torch.zeros(1, *crop.shape[-2:])
    crop_mask[:, -box[1] : RAW - box[1], -box[0] : RAW - box[0]] = mask
    m = F.interpolate(crop_mask[None], (24, 24), mode="nearest")[0]
    torch.testing.assert_close(original["rgb"][0], plain * m + (1 - m))
    assert original["rgb"].max() > 2.0  # the 255 fill leaked into the object's bottom edge pixels
    assert corrected["rgb"].max() <= 1.0


def test_soft_mask_input_is_composited_twice():
    """Original: input = img·m² + m(1−m) + 0.5(1−m) (white composite, then grey); corrected: once."""
    mask = torch.zeros(1, RAW, RAW)
    mask[:, 10:30, 10:30] = 0.6
    mask[:, 15:25, 15:25] = 1.0
    raw = raw_object(mask)
    for protocol in ("original", "corrected"):
        sample = prepare_object(raw, image_size=24, cond_image_size=24, crop_expand=1.2, protocol=protocol)
        box = sample["crop_box"]
        assert box[0] >= 0 and box[2] <= RAW  # inside the image: no fill involved
        img = F.interpolate(
            raw.images[0][None, :, box[1] : box[3], box[0] : box[2]],
            (24, 24),
            mode="bilinear",
            align_corners=False,
            antialias=protocol == "corrected",
        )[0]
        m = sample["mask"][0]
        expected = img * m * m + m * (1 - m) + 0.5 * (1 - m) if protocol == "original" else img * m + 0.5 * (1 - m)
        torch.testing.assert_close(sample["image_input"], expected.clamp(0, 1) if protocol == "corrected" else expected)
        torch.testing.assert_close(sample["rgb"][0], img * m + (1 - m))


def test_resize_rgb_filters():
    image = torch.rand(3, 64, 64)
    torch.testing.assert_close(resize_rgb(image, 24), F.interpolate(image[None], (24, 24), mode="bilinear")[0])
    aa = F.interpolate(image[None], (24, 24), mode="bilinear", antialias=True)[0].clamp(0, 1)
    torch.testing.assert_close(resize_rgb(image, 24, "corrected"), aa)


def test_mask_files_resized_with_pil_nearest(tmp_path):
    """Mask files are resized to their image with PIL's NEAREST (pixel centres), as the original."""
    import numpy as np
    import PIL.Image

    stripes = np.zeros((8, 8), np.uint8)
    stripes[:, 1::2] = 255  # odd columns on
    PIL.Image.fromarray(stripes).save(tmp_path / "m.png")
    resized = read_mask_uint8(tmp_path / "m.png", (4, 4))
    assert resized.unique().tolist() == [255]  # torch's "nearest" would pick the even columns: 0

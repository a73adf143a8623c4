"""Batched augmentations: crops of the asked size and area, colour changes that keep images in [0,1]."""

from __future__ import annotations

import torch

from real3d.pretraining.augment import colour_jitter, random_blur, random_flip, random_resized_crops


def test_full_crop_is_the_image_resized() -> None:
    images = torch.rand(2, 3, 16, 16)
    crops = random_resized_crops(images, 16, scale=(1.0, 1.0), ratio=(1.0, 1.0))
    torch.testing.assert_close(crops, images, atol=1e-5, rtol=0)


def test_crops_have_the_size_asked_and_come_from_the_image() -> None:
    images = torch.zeros(4, 3, 32, 32)
    images[1] = 1.0
    crops = random_resized_crops(images, 8, scale=(0.1, 0.4))
    assert crops.shape == (4, 3, 8, 8)
    assert torch.all(crops[1] > 0.99) and torch.all(crops[0] == 0)


def test_flip_mirrors_or_keeps_each_image() -> None:
    images = torch.rand(8, 3, 4, 4)
    out = random_flip(images, generator=torch.Generator().manual_seed(0))
    for image, result in zip(images, out, strict=True):
        assert torch.equal(result, image) or torch.equal(result, image.flip(-1))


def test_colour_jitter_permutes_greys_and_stays_in_range() -> None:
    images = torch.rand(4, 3, 8, 8)
    permuted = colour_jitter(images, p_jitter=0.0, p_grey=0.0, p_permute=1.0)
    torch.testing.assert_close(permuted.sort(dim=1).values, images.sort(dim=1).values)
    grey = colour_jitter(images, p_jitter=1.0, p_grey=1.0)
    assert torch.equal(grey[:, 0], grey[:, 1]) and torch.equal(grey[:, 1], grey[:, 2])
    assert float(grey.min()) >= 0.0 and float(grey.max()) <= 1.0


def test_blur_smooths_texture_and_keeps_flat_regions() -> None:
    stripes = torch.zeros(1, 3, 16, 16)
    stripes[..., ::2] = 1.0
    blurred = random_blur(stripes, sigma=(2.0, 2.0), p=1.0)
    assert float(blurred.std()) < 0.1 * float(stripes.std())
    flat = torch.full((2, 3, 8, 8), 0.5)
    torch.testing.assert_close(random_blur(flat, p=1.0), flat)
    assert torch.equal(random_blur(stripes, p=0.0), stripes)

"""The mini study's domain images alone (S renders, R photos), framed as the LRM sees its input.

Self-supervised pretraining (`real3d.pretraining.encoder`, `real3d.pretraining.clip`) uses the
images only: no cameras, no other views, no labels. Each item also carries its shape family,
parsed from the names the generator writes (`real3d.data.synthetic.presets.write_mini_study_data`),
for evaluation (k-NN, zero-shot accuracy) only.

Which images (relative to the data folder):
- split "train": every view of the S training objects (`S_train/gobjaverse/split.json` "train",
  `<family>/<id>/campos_512_v4/<view>/<view>.png`) and the R crops (`R_train/wild/split.json.gz`
  "train", `images/<family>_<id>.png`); S's validation objects are left out;
- split "test": every view of the held-out test objects (`S_test/`, `R_test/`, OmniObject3D layout,
  `split.json` "test", `<family>/<family>_<id>/render/images/r_<view>.png`).

Framing (every image the same way, as the model's input): the foreground (alpha > threshold)
composited on grey 0.5, cropped to a square around its box, `expand` times the box's longest side,
resized to `image_size`. In training `expand` is drawn from `expand_range` and the image may be
flipped; in evaluation it is `eval_expand` (the object then fills ~1/2 of the side, as an LRM input).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from real3d.data import image_ops
from real3d.data.base import SkippingDataset
from real3d.data.gobjaverse import list_gobjaverse_views
from real3d.data.splits import load_split, resolve_item
from real3d.data.synthetic.shapes import ALL_SHAPES
from real3d.errors import Real3DError

log = logging.getLogger(__name__)

FAMILIES = ALL_SHAPES  # family index -> name: S's primitives then R's composites
DOMAINS = ("S", "R")
SPLITS = ("train", "test")
ALPHA_THRESHOLD = 127
TRAIN_EXPAND_RANGE = (1.7, 2.5)
EVAL_EXPAND = 2.0


@dataclass(frozen=True)
class DomainImage:
    """One image file and what its name says: domain ("S" | "R"), shape family, object and view index."""

    path: Path
    domain: str
    family: str
    object_index: int
    view: int

    @property
    def family_index(self) -> int:
        return FAMILIES.index(self.family)


def _family_and_index(stem: str) -> tuple[str, int]:
    """("mug", 12) from "mug_000012"; ValueError for any other name."""
    family, _, number = stem.rpartition("_")
    if family not in FAMILIES or not number.isdigit():
        raise ValueError(f"not a <family>_<number> name: {stem!r}")
    return family, int(number)


def _s_train(root: Path) -> list[DomainImage]:
    items = []
    for name in load_split(root / "split.json", "train"):  # "<family>/<id>/campos_512_v4"
        parts = Path(name).parts
        if len(parts) < 2 or parts[0] not in FAMILIES or not parts[1].isdigit():
            raise ValueError(f"not a <family>/<id>/... object name: {name!r}")
        folder = resolve_item(root, name)
        for view in list_gobjaverse_views(folder):
            items.append(DomainImage(folder / view / f"{view}.png", "S", parts[0], int(parts[1]), int(view)))
    return items


def _r_train(root: Path) -> list[DomainImage]:
    items = []
    for name in load_split(root / "split.json.gz", "train"):  # "images/<family>_<id>.png"
        family, index = _family_and_index(Path(name).stem)
        items.append(DomainImage(resolve_item(root, name), "R", family, index, 0))
    return items


def _test(root: Path, domain: str) -> list[DomainImage]:
    items = []
    for name in load_split(root / "split.json", "test"):  # "<family>_<id>"
        family, index = _family_and_index(name)
        folder = resolve_item(root, f"{family}/{name}/render/images")
        views = sorted(folder.glob("r_*.png"), key=lambda p: int(p.stem[2:]) if p.stem[2:].isdigit() else -1)
        items.extend(DomainImage(p, domain, family, index, int(p.stem[2:])) for p in views if p.stem[2:].isdigit())
    return items


def list_domain_images(
    data_dir: str | os.PathLike, split: str = "train", domains: Sequence[str] = DOMAINS
) -> list[DomainImage]:
    """The images of `split` ("train" | "test") of `domains` in a mini-study data folder (module docstring)."""
    if split not in SPLITS:
        raise Real3DError(f"split must be one of {SPLITS}, got {split!r}")
    unknown = sorted(set(domains) - set(DOMAINS))
    if unknown:
        raise Real3DError(f"unknown domains {unknown}; known: {DOMAINS}")
    data = Path(data_dir)
    if not data.is_dir():
        raise Real3DError(f"data folder not found: {data} (write it with `tools/mini_study_report.py data`)")
    listers = {
        ("train", "S"): lambda: _s_train(data / "S_train/gobjaverse"),
        ("train", "R"): lambda: _r_train(data / "R_train/wild"),
        ("test", "S"): lambda: _test(data / "S_test", "S"),
        ("test", "R"): lambda: _test(data / "R_test", "R"),
    }
    items = []
    for domain in domains:
        try:
            items.extend(listers[(split, domain)]())
        except (OSError, ValueError) as exc:
            raise Real3DError(f"cannot list the {split} images of domain {domain} in {data}: {exc}") from exc
    if not items:
        raise Real3DError(f"no {split} images of domains {list(domains)} in {data}")
    return items


def frame_image(
    rgb_u8: torch.Tensor, alpha_u8: torch.Tensor, image_size: int, expand: float, alpha_threshold: int = ALPHA_THRESHOLD
) -> torch.Tensor:
    """The foreground of rgb [3,H,W] / alpha [1,H,W] (uint8) on grey, square-cropped around it
    (`expand` x its box) and resized: float [3,S,S] in [0,1]. ValueError if the mask is empty."""
    mask = image_ops.binarize(alpha_u8, alpha_threshold)
    box = image_ops.mask_bbox(mask)
    if box is None:
        raise ValueError("empty foreground mask")
    box = image_ops.square_box_around(box, expand)
    rgb = image_ops.crop_box(image_ops.to_float(rgb_u8), box, fill=image_ops.GREY)
    mask = image_ops.crop_box(mask, box, fill=0.0)
    return image_ops.resize_image(image_ops.composite(rgb, mask, image_ops.GREY), image_size)


class DomainImages(SkippingDataset):
    """Framed domain images: item -> {"image" [3,S,S] float in [0,1], "family" (index into FAMILIES),
    "domain" ("S" | "R"), "index"}. Bad files are skipped and counted (`SkippingDataset`); batch with
    `real3d.data.datamodule.SkippingCollate(torch.utils.data.default_collate)`."""

    name = "domain_images"

    def __init__(
        self,
        data_dir: str | os.PathLike,
        split: str = "train",
        domains: Sequence[str] = DOMAINS,
        image_size: int = 64,
        train: bool | None = None,
        expand_range: Sequence[float] = TRAIN_EXPAND_RANGE,
        eval_expand: float = EVAL_EXPAND,
        flip: bool = True,
        alpha_threshold: int = ALPHA_THRESHOLD,
    ) -> None:
        super().__init__(train=split == "train" if train is None else train)
        self.items = list_domain_images(data_dir, split, domains)
        self.image_size = int(image_size)
        self.expand_range = (float(expand_range[0]), float(expand_range[1]))
        self.eval_expand = float(eval_expand)
        self.flip = bool(flip)
        self.alpha_threshold = int(alpha_threshold)

    def __len__(self) -> int:
        return len(self.items)

    def describe(self, index: int) -> str:
        return str(self.items[index].path)

    @property
    def families(self) -> torch.Tensor:
        """Family index of every item [len] (for evaluation)."""
        return torch.tensor([item.family_index for item in self.items])

    def load(self, index: int) -> dict:
        item = self.items[index]
        rgb_u8, alpha_u8 = image_ops.read_rgba(item.path)
        if self.train:
            low, high = self.expand_range
            expand = low + float(torch.rand(())) * (high - low)
        else:
            expand = self.eval_expand
        image = frame_image(rgb_u8, alpha_u8, self.image_size, expand, self.alpha_threshold)
        if self.train and self.flip and bool(torch.rand(()) < 0.5):
            image = image.flip(-1)
        return {"image": image.contiguous(), "family": item.family_index, "domain": item.domain}

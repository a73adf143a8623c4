"""Captions of the mini study's generated images ("a photo of a red and white checkered mug with a
blue handle, handle on the left"), recomputed from the generator's own seeds.

`write_mini_study_data` (real3d/data/synthetic/presets.py) draws every object from
`np.random.default_rng([seed, kind, index])`: the object first (`random_object`), then its cameras.
Replaying those draws gives the object's family, materials, yaw and the camera of each written
view, without rendering and without any metadata file. Each item's family is checked against its
file name; an item whose replay disagrees (data written by another generator version) is skipped
and counted.

Attributes: shape family; colour (one name per material colour, from its HSV) and pattern of the
main material; the colour of the second part (a mug's handle, a lamp's shade...); for the families
with a direction (mug handle, snowman nose, dumbbell bar) where it points in the image.
"""

from __future__ import annotations

import colorsys
import json
import logging
import math
import re
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from real3d.data.synthetic.generate import gobjaverse_cameras, random_cameras
from real3d.data.synthetic.presets import DOMAIN_R, DOMAIN_S, DOMAINS, test_cameras
from real3d.data.synthetic.shapes import ALL_SHAPES, SceneObject, random_object
from real3d.errors import Real3DError
from real3d.pretraining.images import DomainImage

log = logging.getLogger(__name__)

# rng streams of write_mini_study_data: [seed, kind, index]
S_TRAIN_KIND = 0
R_TRAIN_KIND = 2


def held_out_kind(domain: str) -> int:
    """The rng stream of a domain's test split (`write_test_split`)."""
    return 10 + ord(domain[0])


PATTERN_WORDS = {"solid": "", "stripes": "striped", "checker": "checkered", "gradient": "gradient"}
# the second material group of each composite family, as the shape builders assign it
SECOND_PART = {"mug": "handle", "table": "legs", "snowman": "nose", "dumbbell": "bar", "lamp": "shade"}
# (hue upper bound, name), hue in [0, 1)
HUES = (
    (0.04, "red"),
    (0.11, "orange"),
    (0.19, "yellow"),
    (0.45, "green"),
    (0.54, "cyan"),
    (0.72, "blue"),
    (0.84, "purple"),
    (0.95, "pink"),
    (1.01, "red"),
)
TEMPLATE = "a photo of a {}"
SIDES = {"left": "right", "right": "left"}
# where the handle / nose / bar points, per side of the image
DIRECTION_PHRASES = {
    "mug": {
        "left": "handle on the left",
        "right": "handle on the right",
        "front": "handle at the front",
        "back": "handle at the back",
    },
    "snowman": {
        "left": "nose pointing left",
        "right": "nose pointing right",
        "front": "nose pointing at the camera",
        "back": "nose pointing away",
    },
    "dumbbell": {
        "left": "bar across the view",
        "right": "bar across the view",
        "front": "bar towards the camera",
        "back": "bar towards the camera",
    },
}


def colour_name(rgb: tuple[float, float, float]) -> str:
    """A plain colour name for an RGB albedo in [0, 1] ("dark blue", "pale green", "red")."""
    hue, saturation, value = colorsys.rgb_to_hsv(*rgb)
    if saturation < 0.15:
        return "white" if value > 0.75 else "grey" if value > 0.4 else "black"
    name = next(n for bound, n in HUES if hue < bound)
    if value < 0.45:
        return f"dark {name}"
    if saturation < 0.45:
        return f"pale {name}"
    return name


def view_direction(direction: np.ndarray, c2w: torch.Tensor) -> str:
    """Where a world direction [3] points in an OpenGL camera's image: "left", "right", "front"
    (towards the camera) or "back" (away from it)."""
    right = c2w[:3, 0].double().numpy()
    back = c2w[:3, 2].double().numpy()  # from the object towards the camera
    angle = math.degrees(math.atan2(float(direction @ right), float(direction @ back)))
    if abs(angle) <= 45.0:
        return "front"
    if abs(angle) >= 135.0:
        return "back"
    return "right" if angle > 0 else "left"


@dataclass(frozen=True)
class Caption:
    """What the generator knows about one image; `text()` writes it."""

    family: str
    colour: str
    pattern: str  # solid / stripes / checker / gradient
    colour_b: str  # the pattern's second colour ("" for solid)
    part_colour: str = ""  # the second part's colour ("" for one-part objects)
    side: str = ""  # left / right / front / back ("" where the family has no direction)

    def flipped(self) -> Caption:
        """The caption of the horizontally mirrored image (left and right swap)."""
        return replace(self, side=SIDES.get(self.side, self.side))

    def text(self, colour: bool = True, pattern: bool = True, part: bool = True, direction: bool = True) -> str:
        """The caption; the flags leave attributes out (caption dropout in training)."""
        words = []
        if colour:
            uses_b = pattern and self.pattern != "solid" and self.colour_b and self.colour_b != self.colour
            words.append(f"{self.colour} and {self.colour_b}" if uses_b else self.colour)
        if pattern and PATTERN_WORDS[self.pattern]:
            words.append(PATTERN_WORDS[self.pattern])
        words.append(self.family)
        text = TEMPLATE.format(" ".join(words))
        text = re.sub(r"^a photo of a ([aeiou])", r"a photo of an \1", text)
        if part and self.part_colour and self.family in SECOND_PART:
            part_name = SECOND_PART[self.family]
            text += f" with {'' if part_name.endswith('s') else 'a '}{self.part_colour} {part_name}"
        if direction and self.side and self.family in DIRECTION_PHRASES:
            text += ", " + DIRECTION_PHRASES[self.family][self.side]
        return text


def describe(obj: SceneObject, c2w: torch.Tensor) -> Caption:
    """The caption of `obj` seen from the OpenGL camera c2w [4,4]."""
    main = obj.materials[0]
    pattern = main.kind
    part_colour = colour_name(obj.materials[1].color_a) if len(obj.materials) > 1 else ""
    side = ""
    if obj.family in DIRECTION_PHRASES:  # the handle / nose / bar lies along the object's +x axis
        side = view_direction(np.asarray(obj.rotation) @ np.array([1.0, 0.0, 0.0]), c2w)
    return Caption(
        family=obj.family,
        colour=colour_name(main.color_a),
        pattern=pattern,
        colour_b=colour_name(main.color_b) if pattern != "solid" else "",
        part_colour=part_colour,
        side=side,
    )


def vocabulary_texts() -> list[str]:
    """Every word and phrase a caption or a zero-shot prompt can hold, one short text each (the
    text tokenizer's vocabulary; BPE splits words alike in any context)."""
    hues = sorted({n for _, n in HUES})
    words = ["white", "grey", "black", "dark", "pale", "and", "with", "an", ",", *hues, *ALL_SHAPES]
    words += [w for w in PATTERN_WORDS.values() if w] + list(SECOND_PART.values())
    phrases = [phrase for phrases in DIRECTION_PHRASES.values() for phrase in phrases.values()]
    return [*words, TEMPLATE.format(""), *phrases]


def replay(domain: str, split: str, index: int, seed: int, sizes: dict) -> tuple[SceneObject, torch.Tensor]:
    """The object and the cameras c2w [V,4,4] that `write_mini_study_data(seed=seed)` drew for object
    `index` of `domain`'s `split` (`sizes`: its `MiniSizes` as written in info.json)."""
    spec = DOMAINS[domain]
    if split == "test":
        rng = np.random.default_rng([seed, held_out_kind(domain), index])
        obj = random_object(rng, spec, family=spec.shapes[index % len(spec.shapes)])
        return obj, test_cameras(rng, sizes["test_views"], spec)
    if domain == "S":
        rng = np.random.default_rng([seed, S_TRAIN_KIND, index])
        obj = random_object(rng, DOMAIN_S)
        return obj, gobjaverse_cameras(rng, sizes["s_views"], DOMAIN_S)
    rng = np.random.default_rng([seed, R_TRAIN_KIND, index])
    obj = random_object(rng, DOMAIN_R)
    return obj, random_cameras(rng, 1, DOMAIN_R)


def read_generator_info(data_dir: str | Path) -> tuple[int, dict]:
    """The seed and sizes a mini-study data folder was written with (its info.json)."""
    path = Path(data_dir) / "info.json"
    if not path.is_file():
        raise Real3DError(
            f"{data_dir} is not a mini-study data folder (no info.json): see `tools/mini_study_report.py`"
        )
    info = json.loads(path.read_text())
    return int(info["seed"]), dict(info["sizes"])


def caption_images(data_dir: str | Path, items: list[DomainImage], split: str) -> tuple[list[Caption | None], int]:
    """The caption of each image of `split` (`real3d.pretraining.images.list_domain_images`), None
    where the replayed object's family differs from the file's; and the number of such items."""
    seed, sizes = read_generator_info(data_dir)
    objects: dict[tuple[str, int], tuple[SceneObject, torch.Tensor]] = {}
    captions: list[Caption | None] = []
    for item in items:
        key = (item.domain, item.object_index)
        if key not in objects:
            objects[key] = replay(item.domain, split, item.object_index, seed, sizes)
        obj, cameras = objects[key]
        if obj.family != item.family or item.view >= len(cameras):
            log.warning("skipped %s: the replayed object (%s) does not match the file", item.path, obj.family)
            captions.append(None)
            continue
        captions.append(describe(obj, cameras[item.view]))
    skipped = sum(c is None for c in captions)
    if skipped:
        log.warning("%d of %d images have no caption (written by another generator version?)", skipped, len(items))
    return captions, skipped

"""MVImgNet in its distributed layout (SPEC §7, §8): multi-view evaluation and frame reading.

    <root>/<category-id>/<instance>/images/<frame>.jpg
    <root>/<category-id>/<instance>/sparse/0/{cameras,images,points3D}.bin   (COLMAP)
    <mask_root>/<category-id>/<instance>/<frame>.jpg.png                    (8-bit masks)

Masks may be stored at another resolution; they are resized to their image with PIL's NEAREST.
Foreground is mask > 225 for the crop box and compositing, mask > 128 for the world-centre
estimate: the weighted mean of the COLMAP points that project inside the foreground in more than
80 % of the sequence's frames (weight = that fraction; `foreground_center` gives the details of
the original's projection and of the "corrected" one).
"""

from __future__ import annotations

import os
from pathlib import Path

import PIL.Image
import torch

from real3d.data import colmap, image_ops
from real3d.data.base import BadItem
from real3d.data.multiview_eval import (
    CROP_EXPAND,
    MultiViewEvalDataset,
    RawObject,
    read_mask_uint8,
    select_entries,
)
from real3d.data.splits import load_split, resolve_item
from real3d.geometry import EVAL_CAMERA_DISTANCE, colmap_to_c2w, colmap_to_opencv_c2w

MASK_THRESHOLD = 225  # foreground for the crop box and compositing
CENTER_MASK_THRESHOLD = 128  # foreground for the world-centre estimate
CENTER_MIN_FRACTION = 0.8


def mask_path(mask_root: str | os.PathLike, sequence: str, frame: str) -> Path:
    """`<mask_root>/<category-id>/<instance>/<frame>.png` (frame keeps its '.jpg')."""
    return resolve_item(mask_root, f"{sequence}/{frame}.png")


def list_frames(root: str | os.PathLike, sequence: str) -> list[str]:
    """Image file names of a sequence, sorted."""
    folder = resolve_item(root, sequence) / "images"
    try:
        names = sorted(p.name for p in folder.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    except OSError as exc:
        raise BadItem(f"cannot list frames of {folder}: {exc}") from exc
    if not names:
        raise BadItem(f"no frames in {folder}")
    return names


def read_frame(
    root: str | os.PathLike, mask_root: str | os.PathLike, sequence: str, frame: str
) -> tuple[torch.Tensor, torch.Tensor]:
    """(rgb uint8 [3,H,W], mask uint8 [1,H,W] resized to the image with PIL's NEAREST) of one frame."""
    image_path = resolve_item(root, sequence) / "images" / frame
    try:
        rgb = image_ops.read_image_uint8(image_path, "RGB")
    except (OSError, ValueError) as exc:
        raise BadItem(f"cannot read image {image_path}: {exc}") from exc
    return rgb, read_mask_uint8(mask_path(mask_root, sequence, frame), rgb.shape[-2:])


def image_size_hw(path: str | os.PathLike) -> tuple[int, int]:
    """(height, width) of an image file, from its header; an unreadable file raises BadItem."""
    try:
        with PIL.Image.open(path) as image:
            return image.height, image.width
    except (OSError, ValueError) as exc:
        raise BadItem(f"cannot read image {path}: {exc}") from exc


def read_first_frame(
    root: str | os.PathLike, mask_root: str | os.PathLike, sequence: str
) -> tuple[torch.Tensor, torch.Tensor, str]:
    """First frame (by file name) of a sequence: (rgb uint8, mask uint8, frame name).

    The single-view training set of the reference uses this frame of each sequence.
    """
    frame = list_frames(root, sequence)[0]
    rgb, mask = read_frame(root, mask_root, sequence, frame)
    return rgb, mask, frame


def _intrinsics(camera: colmap.Camera, height: int, width: int) -> torch.Tensor:
    """Pinhole K [3,3] of a COLMAP camera, rescaled to an image of height×width."""
    fx, fy = camera.focal
    cx, cy = camera.principal_point
    sx, sy = width / camera.width, height / camera.height
    return torch.tensor([[fx * sx, 0, cx * sx], [0, fy * sy, cy * sy], [0, 0, 1]], dtype=torch.float64)


def foreground_center(
    points: torch.Tensor,
    w2c: torch.Tensor,
    intrinsics: torch.Tensor,
    masks: torch.Tensor,
    min_fraction: float = CENTER_MIN_FRACTION,
    protocol: str = "original",
) -> torch.Tensor:
    """Weighted mean [3] of the points [P,3] inside the foreground masks [F,H,W] (bool) in more than
    `min_fraction` of the frames (cameras w2c [F,4,4] OpenCV, K [F,3,3]); weight = that fraction.

    "original" (its computation): projections rounded to the nearest pixel and clamped to the
    image (a point outside the image takes the border pixel's value, one behind the camera is
    projected through it), strictly more than `min_fraction`. "corrected": the pixel containing
    the projection; a point behind a camera or outside its image counts as outside that frame's
    mask; at least `min_fraction`.
    """
    height, width = masks.shape[-2:]
    homogeneous = torch.cat([points, torch.ones_like(points[:, :1])], dim=1)  # [P,4]
    cam = torch.einsum("fij,pj->fpi", w2c, homogeneous)[..., :3]  # [F,P,3]
    pix = torch.einsum("fij,fpj->fpi", intrinsics, cam)
    z = pix[..., 2]
    if protocol == "original":
        u = torch.nan_to_num(torch.round(pix[..., 0] / z))
        v = torch.nan_to_num(torch.round(pix[..., 1] / z))
        visible = torch.ones_like(z, dtype=torch.bool)
    else:
        u = torch.floor(pix[..., 0] / z.clamp_min(1e-12))
        v = torch.floor(pix[..., 1] / z.clamp_min(1e-12))
        visible = (z > 0) & (u >= 0) & (u < width) & (v >= 0) & (v < height)
    ui = u.clamp(0, width - 1).long()
    vi = v.clamp(0, height - 1).long()
    frame = torch.arange(masks.shape[0])[:, None].expand_as(ui)
    inside = visible & masks[frame, vi, ui]  # [F,P]
    fraction = inside.double().mean(0)
    keep = fraction > min_fraction if protocol == "original" else fraction >= min_fraction
    if not bool(keep.any()):
        raise BadItem(f"no COLMAP point lies inside the masks of {min_fraction:.0%} of the frames")
    weights = fraction[keep]
    return (points[keep] * weights[:, None]).sum(0) / weights.sum()


class MVImgNetMultiView(MultiViewEvalDataset):
    """MVImgNet multi-view evaluation: entries `[<category-id>/<instance>, f0, ..., f4]`."""

    def __init__(
        self,
        root: str | os.PathLike,
        mask_root: str | os.PathLike,
        split_file: str | os.PathLike = "mvimgnet_mv",
        split: str = "test",
        every_nth: int = 1,
        max_items: int | None = None,
        image_size: int = 512,
        cond_image_size: int = 512,
        camera_distance: float = EVAL_CAMERA_DISTANCE,
        crop_expand: float = CROP_EXPAND,
        protocol: str = "original",
    ) -> None:
        super().__init__(image_size, cond_image_size, camera_distance, crop_expand, protocol)
        self.root = Path(root)
        self.mask_root = Path(mask_root)
        self.entries = select_entries(load_split(split_file, split), every_nth, max_items)
        self._centers: dict[str, torch.Tensor] = {}

    @property
    def mask_source(self) -> str:
        return f"dataset.mask_root ({self.mask_root})"

    def name(self, index: int) -> str:
        return str(self.entries[index][0])

    def _read_model(self, sequence: str):
        sparse = resolve_item(self.root, sequence) / "sparse" / "0"
        try:
            cameras = colmap.read_cameras_binary(sparse / "cameras.bin")
            images = colmap.read_images_binary(sparse / "images.bin")
        except (OSError, ValueError) as exc:
            raise BadItem(f"cannot read COLMAP model in {sparse}: {exc}") from exc
        return sparse, cameras, {im.name: im for im in images.values()}

    def sequence_center(self, sequence: str) -> torch.Tensor:
        """World centre of a sequence (cached): see `foreground_center`."""
        if sequence in self._centers:
            return self._centers[sequence]
        sparse, cameras, images = self._read_model(sequence)
        try:
            points = torch.from_numpy(colmap.read_points3D_xyz(sparse / "points3D.bin"))
        except (OSError, ValueError) as exc:
            raise BadItem(f"cannot read {sparse / 'points3D.bin'}: {exc}") from exc
        if len(points) == 0:
            raise BadItem(f"{sparse / 'points3D.bin'} holds no points")
        w2cs, intrinsics, masks = [], [], []
        size = None  # masks at the first mask's size ("corrected") or the images' ("original")
        if self.protocol == "original":
            size = image_size_hw(resolve_item(self.root, sequence) / "images" / sorted(images)[0])
        for name, image in sorted(images.items()):
            try:
                mask = read_mask_uint8(mask_path(self.mask_root, sequence, name), size)
            except BadItem:
                continue  # frames without a mask do not vote
            size = tuple(mask.shape[-2:])
            masks.append(mask[0] > CENTER_MASK_THRESHOLD)
            camera = cameras.get(image.camera_id)
            if camera is None:
                raise BadItem(f"image {name} refers to a missing camera {image.camera_id}")
            # The original projects with the COLMAP camera as stored, whatever the image size.
            camera_size = (camera.height, camera.width) if self.protocol == "original" else size
            intrinsics.append(_intrinsics(camera, *camera_size))
            w2cs.append(
                torch.linalg.inv(colmap_to_opencv_c2w(torch.from_numpy(image.qvec), torch.from_numpy(image.tvec)))
            )
        if not masks:
            raise BadItem(f"no masks found for {sequence}")
        center = foreground_center(
            points, torch.stack(w2cs), torch.stack(intrinsics), torch.stack(masks), protocol=self.protocol
        )
        self._centers[sequence] = center
        return center

    def read_object(self, index: int) -> RawObject:
        entry = self.entries[index]
        if not isinstance(entry, (list, tuple)) or len(entry) < 3:
            raise BadItem(f"split entry must be [sequence, input frame, target frames...]: {entry!r}")
        sequence, frames = str(entry[0]), [str(f) for f in entry[1:]]
        _, cameras, images = self._read_model(sequence)
        rgbs, masks, c2ws, focals = [], [], [], []
        box_mask = None
        for i, frame in enumerate(frames):
            if frame not in images:
                raise BadItem(f"frame {frame} is not in the COLMAP model")
            image = images[frame]
            camera = cameras.get(image.camera_id)
            if camera is None:
                raise BadItem(f"image {frame} refers to a missing camera {image.camera_id}")
            rgb_u8, mask_u8 = read_frame(self.root, self.mask_root, sequence, frame)
            mask = image_ops.binarize(mask_u8, MASK_THRESHOLD)
            if i == 0:
                box_mask = mask > 0
            rgbs.append(image_ops.to_float(rgb_u8))
            masks.append(mask)
            c2ws.append(colmap_to_c2w(torch.from_numpy(image.qvec), torch.from_numpy(image.tvec)))
            focals.append(_intrinsics(camera, *rgb_u8.shape[-2:])[0, 0])
        return RawObject(
            name=sequence,
            images=rgbs,
            masks=masks,
            box_mask=box_mask,
            c2w=torch.stack(c2ws),
            focals=torch.stack(focals),
            center=self.sequence_center(sequence),
            view_names=frames,
        )

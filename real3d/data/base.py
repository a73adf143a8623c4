"""What every training dataset shares: skipping bad items (logged and counted), choosing views,
and building the multi-view and single-view samples the training module consumes.

Bad items. A dataset's `load(index)` raises on a missing, corrupt or empty item. `__getitem__`
logs a warning, counts it, and then
- in training: retries another random item, up to `max_retries` times (every failure is counted),
  so a batch keeps its size; only when all retries fail does it return None;
- in evaluation: returns None at once (the evaluated set must not change silently).
The loaders' collate (`real3d.data.datamodule.SkippingCollate`) drops Nones and counts them.
Counts live in shared memory, so those made inside DataLoader worker processes are visible in
the main process (`dataset.skipped_count()`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence

import torch
from torch.utils.data import Dataset

from real3d.data import image_ops
from real3d.errors import Real3DError
from real3d.geometry import Cameras, canonical_input_camera, canonicalize_to_input, focal_to_fov

logger = logging.getLogger(__name__)

# "original": compute what the original Real3D code computes (default); "corrected": its quirks
# fixed (antialiased resizes, exclusive crop boxes, composited targets; docs/differences.md).
PROTOCOLS = ("original", "corrected")
LOG_FIRST_N = 20  # per dataset and process, every skipped item is logged up to this many ...
LOG_EVERY = 100  # ... then one in LOG_EVERY, each with the running total


class BadItem(Exception):
    """An item that cannot be used (missing / corrupt file, empty mask, malformed camera)."""


def check_protocol(protocol: str) -> str:
    """`protocol` if it is one of PROTOCOLS, else a one-line Real3DError naming the choices."""
    if protocol not in PROTOCOLS:
        raise Real3DError(f"protocol must be one of {', '.join(PROTOCOLS)}; got {protocol!r}")
    return protocol


class SkippingDataset(Dataset):
    """Dataset whose bad items are logged, counted and skipped (see the module docstring)."""

    name = "dataset"

    def __init__(self, train: bool, max_retries: int = 10, name: str | None = None) -> None:
        self.train = bool(train)
        self.max_retries = int(max_retries)
        if name is not None:
            self.name = name
        # [failed loads, items given up (returned None)], shared with worker processes
        self._skips = torch.zeros(2, dtype=torch.int64).share_memory_()

    # -- to implement -------------------------------------------------------------------------
    def __len__(self) -> int:
        raise NotImplementedError

    def load(self, index: int) -> dict:
        """The sample of item `index`; raises on a bad item."""
        raise NotImplementedError

    def describe(self, index: int) -> str:
        """Human-readable name of item `index` for log messages."""
        return str(index)

    # -- shared -------------------------------------------------------------------------------
    def __getitem__(self, index: int) -> dict | None:
        index = int(index)
        for attempt in range(self.max_retries + 1):
            try:
                sample = self.load(index)
            except Exception as exc:  # noqa: BLE001 - any failure of one item must not stop a run
                self._record_failure(index, exc)
                if not self.train or attempt == self.max_retries or len(self) < 2:
                    break
                index = int(torch.randint(len(self), ()).item())
                continue
            sample["index"] = index
            return sample
        self._skips[1] += 1
        return None

    def skipped_count(self) -> int:
        """Number of failed item loads so far (retried ones included), across worker processes."""
        return int(self._skips[0])

    def given_up_count(self) -> int:
        """Number of times __getitem__ returned None."""
        return int(self._skips[1])

    def _record_failure(self, index: int, exc: BaseException) -> None:
        self._skips[0] += 1
        total = int(self._skips[0])
        if total <= LOG_FIRST_N or total % LOG_EVERY == 0:
            logger.warning(
                "%s: skipping bad item %s: %s: %s (%d skipped so far, pid %d)",
                self.name,
                self.describe(index),
                type(exc).__name__,
                exc,
                total,
                os.getpid(),
            )


def choose_views(
    num_views: int,
    num_targets: int,
    train: bool,
    input_candidates: int | None = None,
    targets_include_input: bool = True,
    replacement: bool = False,
) -> tuple[int, list[int]]:
    """Input view and target views among `num_views` views of an object.

    Training: the input is random among the first `input_candidates` views (all if None); targets
    are random other views, drawn with `replacement` (the original's GObjaverse loader) or without
    it when there are enough. With `targets_include_input` (the reference recipe) the input view
    is target 0 and N-1 others follow.
    Evaluation: input view 0, the other targets evenly spaced over the remaining views.
    """
    if num_views < 1:
        raise BadItem("object has no views")
    n_other = num_targets - 1 if targets_include_input else num_targets
    if train:
        n_cand = num_views if input_candidates is None else max(1, min(input_candidates, num_views))
        input_id = int(torch.randint(n_cand, ()).item())
        others = [v for v in range(num_views) if v != input_id] or [input_id]
        if len(others) >= n_other and not replacement:
            picks = torch.randperm(len(others))[:n_other].tolist()
        else:
            picks = torch.randint(len(others), (n_other,)).tolist()
        chosen = [others[p] for p in picks]
    else:
        input_id = 0
        others = list(range(1, num_views)) or [0]
        step = max(len(others) / max(n_other, 1), 1.0)
        chosen = [others[int(i * step) % len(others)] for i in range(n_other)]
    targets = ([input_id] if targets_include_input else []) + chosen
    return input_id, targets


def foreground_mask(alpha_uint8: torch.Tensor, threshold: int | None) -> torch.Tensor:
    """Float mask [1,H,W] from 8-bit alpha: alpha > threshold, or the soft alpha if None."""
    if threshold is None:
        return image_ops.to_float(alpha_uint8)
    return image_ops.binarize(alpha_uint8, threshold)


def _original_view(rgb_u8: torch.Tensor, mask: torch.Tensor, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """One view as the original's Objaverse loaders read it, at the dataset's image size S:
    composited on white at full resolution in 8 bits and resized with PIL's LANCZOS (rgb
    [3,S,S]), the binary mask resized with PIL's NEAREST ([1,S,S])."""
    white = torch.where(mask > 0, rgb_u8, torch.full_like(rgb_u8, 255))
    return image_ops.resize_lanczos(white, size), image_ops.resize_mask_pil(mask, size)


def multiview_sample(
    views: Sequence[tuple[torch.Tensor, torch.Tensor]],
    c2w_opengl: torch.Tensor,
    focal_norm: torch.Tensor,
    cond_image_size: int,
    render_size: int,
    camera_distance: float,
    mask_threshold: int | None = 0,
    protocol: str = "original",
) -> dict:
    """Multi-view training sample from the input view (views[0]) and the targets (views[1:]), with
    the targets' `cameras` (a `Cameras` [N] at `render_size`²; rays: `sample["cameras"].rays()`).

    views: (rgb uint8 [3,H,W], alpha uint8 [1,H,W]) per view; c2w_opengl [1+N,4,4] world cameras
    (OpenGL axes) of those views, object at the world origin; focal_norm [1+N]: focal length over
    image width. Cameras are canonicalised to the input view (azimuth 0, elevation 0,
    `camera_distance`). Images, "original": every view is brought to the input size
    S = `cond_image_size` on white (`_original_view`), the input composited on grey there, the
    targets then resized S -> `render_size` bilinear without antialiasing (the original's loss
    targets; masks nearest). "corrected": composited in float at full resolution, the input
    resized to S and each target to `render_size` once, with antialiasing.
    """
    check_protocol(protocol)
    if protocol == "original" and mask_threshold is None:
        raise ValueError("protocol 'original' uses binary masks; set mask_threshold")
    rgbs, masks = [], []
    for i, (rgb_u8, alpha_u8) in enumerate(views):
        if rgb_u8.shape[-1] != rgb_u8.shape[-2] or alpha_u8.shape[-2:] != rgb_u8.shape[-2:]:
            raise BadItem(f"view {i} is not a square RGBA image: {tuple(rgb_u8.shape)}")
        mask = foreground_mask(alpha_u8, mask_threshold)
        if not bool((mask > 0).any()):
            raise BadItem(f"view {i} has an empty mask")
        rgbs.append(rgb_u8)
        masks.append(mask)

    if not torch.isfinite(c2w_opengl).all():
        raise BadItem("camera matrix is not finite")
    if float(torch.linalg.norm(c2w_opengl[0, :3, 3])) < 1e-6:
        raise BadItem("input camera is at the object centre")
    c2w_all, _ = canonicalize_to_input(c2w_opengl, distance=camera_distance, input_index=0)
    input_fov = focal_to_fov(float(focal_norm[0]), 1.0)
    # what c2w_all[0] is, up to rounding
    c2w_input = canonical_input_camera(camera_distance, cond_image_size, cond_image_size, input_fov).c2w[0]

    if protocol == "original":
        cache: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
        scaled = []
        for rgb_u8, mask in zip(rgbs, masks, strict=True):
            key = id(rgb_u8)  # a view chosen twice is the same tensor: resize it once
            if key not in cache:
                cache[key] = _original_view(rgb_u8, mask, cond_image_size)
            scaled.append(cache[key])
        input_rgb, input_mask = scaled[0]
        image_input = image_ops.composite(input_rgb, input_mask, image_ops.GREY)
        rgb = image_ops.resize_image(torch.stack([r for r, _ in scaled[1:]]), render_size, antialias=False)
        mask = image_ops.resize_mask(torch.stack([m for _, m in scaled[1:]]), render_size)
    else:
        floats = [image_ops.to_float(r) for r in rgbs]
        image_input = image_ops.resize_image(image_ops.composite(floats[0], masks[0], image_ops.GREY), cond_image_size)
        rgb = torch.stack(
            [
                image_ops.resize_image(image_ops.composite(r, m, image_ops.WHITE), render_size)
                for r, m in zip(floats[1:], masks[1:], strict=True)
            ]
        )
        mask = torch.stack([image_ops.resize_mask(m, render_size) for m in masks[1:]])
    focal = focal_norm[1:].to(torch.float32) * render_size  # [N] pixels at h
    return {
        "image_input": image_input.contiguous(),  # [3,S,S] on grey
        "rgb": rgb.contiguous(),  # [N,3,h,w] on white
        "mask": mask.contiguous(),  # [N,1,h,w]
        "cameras": Cameras.from_focal(c2w_all[1:].contiguous(), focal, render_size, render_size),  # [N] at h×w
        "c2w_input": c2w_input,  # [4,4]
    }


def singleview_sample(
    rgb: torch.Tensor,
    mask: torch.Tensor,
    camera_distance: float,
    fov_rad: float,
    target: torch.Tensor | None = None,
) -> dict:
    """Single-view sample from a square rgb [3,S,S] (float) and mask [1,S,S] (outside = 0).

    The model input is rgb composited on grey with the mask; the loss target `rgb` is `target`
    when given (the original's wild target: the raw crop), else rgb composited on white.
    """
    if not bool((mask > 0).any()):
        raise BadItem("empty mask")
    target = image_ops.composite(rgb, mask, image_ops.WHITE) if target is None else target
    return {
        "image_input": image_ops.composite(rgb, mask, image_ops.GREY).contiguous(),
        "rgb": target.to(torch.float32).contiguous(),
        "mask": mask.to(torch.float32).contiguous(),
        "c2w_input": canonical_input_camera(camera_distance, rgb.shape[-2], rgb.shape[-1], fov_rad).c2w[0],
        "fov_rad": float(fov_rad),
    }


class MultiViewObjectDataset(SkippingDataset):
    """Objects rendered from many known cameras (object at the origin), one folder per object.

    Subclasses say how a folder lists its views and how one view is read; this class picks the
    views, canonicalises the cameras and builds the sample (see `multiview_sample`).
    `split_file` lists object folders relative to `root`; without one, object folders are
    discovered under root and split deterministically (test = min(1000, 10 %) of them).
    `protocol` ("original" / "corrected") chooses the image filters (`multiview_sample`);
    `targets_with_replacement` draws the other target views with replacement.
    """

    def __init__(
        self,
        root: str | os.PathLike,
        split_file: str | os.PathLike | None = None,
        split: str = "train",
        train: bool | None = None,
        cond_image_size: int = 512,
        render_size: int = 128,
        num_target_views: int = 4,
        camera_distance: float = 3.0,
        input_view_candidates: int | None = None,
        targets_include_input: bool = True,
        mask_threshold: int | None = 0,
        every_nth: int = 1,
        max_items: int | None = None,
        max_retries: int = 10,
        name: str | None = None,
        protocol: str = "original",
        targets_with_replacement: bool = False,
    ) -> None:
        super().__init__(train=(split == "train") if train is None else train, max_retries=max_retries, name=name)
        self.root = os.fspath(root)
        self.split = split
        self.cond_image_size = int(cond_image_size)
        self.render_size = int(render_size)
        self.num_target_views = int(num_target_views)
        self.camera_distance = float(camera_distance)
        self.input_view_candidates = input_view_candidates
        self.targets_include_input = bool(targets_include_input)
        self.mask_threshold = mask_threshold
        self.protocol = check_protocol(protocol)
        self.targets_with_replacement = bool(targets_with_replacement)
        items = self.list_items(split_file, split)
        self.items = [str(it) for it in items][:: max(1, int(every_nth))]
        if max_items is not None:
            self.items = self.items[: int(max_items)]

    # -- format-specific ---------------------------------------------------------------------
    @staticmethod
    def is_object_dir(folder) -> bool:
        raise NotImplementedError

    def list_items(self, split_file, split: str) -> list:
        """Object entries of `split`: the split file's, or the object folders found under root."""
        from real3d.data.splits import items_for_split

        return items_for_split(self.root, split_file, split, is_item=self.is_object_dir)

    def list_views(self, object_dir) -> list[str]:
        raise NotImplementedError

    def read_view(self, object_dir, view: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, float]:
        """(rgb uint8 [3,H,W], alpha uint8 [1,H,W], c2w OpenGL [4,4], focal / width) of a view."""
        raise NotImplementedError

    def object_dir(self, entry: str):
        from real3d.data.splits import resolve_item

        return resolve_item(self.root, entry)

    # -- shared ------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.items)

    def describe(self, index: int) -> str:
        return f"{self.root}/{self.items[index]}" if 0 <= index < len(self.items) else str(index)

    def load(self, index: int) -> dict:
        object_dir = self.object_dir(self.items[index])
        views = self.list_views(object_dir)
        if not views:
            raise BadItem(f"no views in {object_dir}")
        input_id, target_ids = choose_views(
            len(views),
            self.num_target_views,
            self.train,
            self.input_view_candidates,
            self.targets_include_input,
            replacement=self.targets_with_replacement,
        )
        cache: dict[int, tuple] = {}
        for view_id in [input_id, *target_ids]:
            if view_id not in cache:
                cache[view_id] = self.read_view(object_dir, views[view_id])
        chosen = [cache[v] for v in [input_id, *target_ids]]
        c2w = torch.stack([torch.as_tensor(c[2], dtype=torch.float64) for c in chosen])
        focal_norm = torch.tensor([c[3] for c in chosen], dtype=torch.float64)
        return multiview_sample(
            [(c[0], c[1]) for c in chosen],
            c2w,
            focal_norm,
            self.cond_image_size,
            self.render_size,
            self.camera_distance,
            self.mask_threshold,
            self.protocol,
        )

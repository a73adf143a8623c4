"""Typed training batches: what the datamodule's loaders give the training module.

A dataset item is a dict whose keys are its batch type's field names (`MULTIVIEW_KEYS`,
`SINGLEVIEW_KEYS`; no batch dimension); the loader's collate (`MultiViewBatch.collate`,
`SingleViewBatch.collate`) stacks a batch's good items into the type, so the module tells the
kinds apart with `isinstance`. Both are plain (mutable) dataclasses: Lightning moves them to the
device field by field (`lightning_utilities.apply_to_collection`), `Cameras` through its own
`.to`; `pin_memory()` lets the DataLoader pin them."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any, TypeVar

import torch
from torch.utils.data._utils.collate import default_collate

from real3d.geometry import Cameras


@dataclasses.dataclass
class MultiViewBatch:
    """Supervised multi-view samples: the input view and N target views with their cameras."""

    image_input: torch.Tensor  # [B,3,S,S] float32 input view composited on grey
    rgb: torch.Tensor  # [B,N,3,h,w] float32 target views on white
    mask: torch.Tensor  # [B,N,1,h,w] float32 target masks
    cameras: Cameras  # [B,N] target cameras at h×w (c2w float32, fov_rad float64), canonicalised to the input
    c2w_input: torch.Tensor  # [B,4,4] float32 canonical input camera (azimuth 0, elevation 0)
    index: torch.Tensor  # [B] int64 dataset indices

    @property
    def batch_size(self) -> int:
        return int(self.image_input.shape[0])

    def pin_memory(self) -> MultiViewBatch:
        """The batch with its tensors in pinned memory (the DataLoader's `pin_memory=True`)."""
        return _pinned(self)

    @classmethod
    def collate(cls, items: Sequence[dict[str, Any]]) -> MultiViewBatch:
        """Stack dataset items (dicts with this type's field names) into a batch."""
        cameras = [item["cameras"] for item in items]
        batch = default_collate([{k: v for k, v in item.items() if k != "cameras"} for item in items])
        stacked = Cameras.cat([c.reshape(1, *c.batch_shape) for c in cameras])
        return cls(cameras=stacked, **batch)


@dataclasses.dataclass
class SingleViewBatch:
    """Self-training single-view samples: one image per object and its canonical input camera."""

    image_input: torch.Tensor  # [B,3,S,S] float32 model input composited on grey
    rgb: torch.Tensor  # [B,3,S,S] float32 loss target (the protocol's, see the datasets)
    mask: torch.Tensor  # [B,1,S,S] float32 binary mask
    c2w_input: torch.Tensor  # [B,4,4] float32 canonical input camera (its norm is the source's distance)
    fov_rad: torch.Tensor  # [B] float64 vertical field of view of the input camera
    index: torch.Tensor  # [B] int64 dataset indices

    @property
    def batch_size(self) -> int:
        return int(self.image_input.shape[0])

    @property
    def input_cameras(self) -> Cameras:
        """The input cameras [B] at the input size S×S."""
        size = int(self.image_input.shape[-1])
        return Cameras(self.c2w_input, self.fov_rad, size, size)

    def pin_memory(self) -> SingleViewBatch:
        """The batch with its tensors in pinned memory (the DataLoader's `pin_memory=True`)."""
        return _pinned(self)

    @classmethod
    def collate(cls, items: Sequence[dict[str, Any]]) -> SingleViewBatch:
        """Stack dataset items (dicts with this type's field names) into a batch."""
        return cls(**default_collate(list(items)))


Batch = TypeVar("Batch", MultiViewBatch, SingleViewBatch)
MULTIVIEW_KEYS = frozenset(f.name for f in dataclasses.fields(MultiViewBatch))
SINGLEVIEW_KEYS = frozenset(f.name for f in dataclasses.fields(SingleViewBatch))


def _pinned(batch: Batch) -> Batch:
    def pin(value: Any) -> Any:
        if isinstance(value, torch.Tensor):
            return value.pin_memory()
        if isinstance(value, Cameras):
            return Cameras(value.c2w.pin_memory(), value.fov_rad.pin_memory(), value.height, value.width)
        return value

    return dataclasses.replace(batch, **{f.name: pin(getattr(batch, f.name)) for f in dataclasses.fields(batch)})

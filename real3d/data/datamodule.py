"""LightningDataModule for Real3D training: a multi-view (supervised) set — GObjaverse and/or
Zero-1-to-3 renders — and a single-view (self-training) set — MVImgNet first frames and/or
in-the-wild crops; each source is optional and configured by plain arguments (roots, split
files, sizes), so Hydra can build it directly.

`train_dataloader()` returns {"mv": loader, "sv": loader} when both kinds are configured (Lightning
combines them with "max_size_cycle"), or the one loader that is. `val_dataloader()` is the
multi-view test split with fixed views ([] when no multi-view source is configured).
Bad items are skipped, logged and counted (see `real3d.data.base`); `skipped_counts()` reports them.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import pytorch_lightning as pl
import torch
from torch.utils.data import ConcatDataset, DataLoader, Dataset
from torch.utils.data._utils.collate import default_collate

from real3d.data.base import DEFAULT_FOV_RAD, SkippingDataset
from real3d.data.gobjaverse import GOBJAVERSE_INPUT_VIEWS, GObjaverseDataset
from real3d.data.mvimgnet_sv import MVImgNetSingleViewDataset
from real3d.data.wild import EVAL_PAD, TRAIN_PAD_RANGE, WildSingleViewDataset
from real3d.data.zero123 import ZERO123_FOV_DEG, Zero123Dataset
from real3d.errors import Real3DError

logger = logging.getLogger(__name__)


class SkippingCollate:
    """Default collate of the samples that are not None; counts the dropped ones.

    Returns None when every sample of the batch was bad (the training step must skip a None
    batch). Counts are in shared memory, so collates run in worker processes are counted too.
    """

    def __init__(self) -> None:
        self._counts = torch.zeros(2, dtype=torch.int64).share_memory_()  # [dropped, empty batches]

    def __call__(self, batch: Sequence[dict | None]):
        kept = [sample for sample in batch if sample is not None]
        if len(kept) < len(batch):
            self._counts[0] += len(batch) - len(kept)
        if not kept:
            self._counts[1] += 1
            logger.warning("a whole batch of %d items was bad; returning None", len(batch))
            return None
        return default_collate(kept)

    @property
    def dropped(self) -> int:
        return int(self._counts[0])

    @property
    def empty_batches(self) -> int:
        return int(self._counts[1])


def _concat(datasets: list[Dataset]) -> Dataset | None:
    if not datasets:
        return None
    return datasets[0] if len(datasets) == 1 else ConcatDataset(datasets)


class Real3DDataModule(pl.LightningDataModule):
    """Training and validation data of Real3D (see the module docstring).

    Multi-view: `gobjaverse_root` / `zero123_root` (+ optional split files; without one, object
    folders are discovered and split deterministically). Single-view: `wild_root` (split file
    or curated manifest; default: the packaged `singleview.json.gz`) and
    `mvimgnet_images_root` + `mvimgnet_masks_root` (default split: packaged `mvimgnet.json.gz`).
    """

    def __init__(
        self,
        # multi-view (supervised) sources
        gobjaverse_root: str | None = None,
        gobjaverse_split: str | None = None,
        zero123_root: str | None = None,
        zero123_split: str | None = None,
        zero123_fov_deg: float = ZERO123_FOV_DEG,
        gobjaverse_input_views: int | None = GOBJAVERSE_INPUT_VIEWS,
        # single-view (self-training) sources
        wild_root: str | None = None,
        wild_split: str | None = "singleview.json.gz",
        mvimgnet_images_root: str | None = None,
        mvimgnet_masks_root: str | None = None,
        mvimgnet_split: str | None = "mvimgnet.json.gz",
        # sizes and cameras
        cond_image_size: int = 512,
        render_size: int = 128,
        num_target_views: int = 4,
        num_val_views: int = 5,
        targets_include_input: bool = True,
        camera_distance: float = 3.0,
        sv_fov_rad: float = DEFAULT_FOV_RAD,
        sv_pad_range: Sequence[float] = TRAIN_PAD_RANGE,
        sv_eval_pad: float = EVAL_PAD,
        sv_augment: bool = False,
        # loaders
        batch_size_mv: int = 1,
        batch_size_sv: int = 1,
        val_batch_size: int = 1,
        num_workers: int = 4,
        pin_memory: bool = True,
        persistent_workers: bool = False,
        val_every_nth: int = 1,
        max_val_objects: int | None = None,
        max_retries: int = 10,
    ) -> None:
        super().__init__()
        self.save_hyperparameters(logger=False)
        if mvimgnet_images_root is not None and mvimgnet_masks_root is None:
            raise Real3DError("mvimgnet_images_root is set but mvimgnet_masks_root is not")
        self.mv_train: Dataset | None = None
        self.sv_train: Dataset | None = None
        self.mv_val: Dataset | None = None
        self._datasets: list[SkippingDataset] = []
        self._collates: dict[str, SkippingCollate] = {}

    # -- datasets -----------------------------------------------------------------------------
    def _multiview(self, split: str) -> list[SkippingDataset]:
        hp = self.hparams
        train = split == "train"
        common = dict(
            split=split,
            train=train,
            cond_image_size=hp.cond_image_size,
            render_size=hp.render_size,
            num_target_views=hp.num_target_views if train else hp.num_val_views,
            camera_distance=hp.camera_distance,
            targets_include_input=hp.targets_include_input,
            every_nth=1 if train else hp.val_every_nth,
            max_items=None if train else hp.max_val_objects,
            max_retries=hp.max_retries,
        )
        out: list[SkippingDataset] = []
        if hp.gobjaverse_root:
            out.append(
                GObjaverseDataset(
                    hp.gobjaverse_root,
                    hp.gobjaverse_split,
                    input_view_candidates=hp.gobjaverse_input_views,
                    name=f"gobjaverse/{split}",
                    **common,
                )
            )
        if hp.zero123_root:
            out.append(
                Zero123Dataset(
                    hp.zero123_root,
                    hp.zero123_split,
                    fov_deg=hp.zero123_fov_deg,
                    name=f"zero123/{split}",
                    **common,
                )
            )
        return out

    def _singleview(self, split: str) -> list[SkippingDataset]:
        hp = self.hparams
        common = dict(
            split=split,
            image_size=hp.cond_image_size,
            camera_distance=hp.camera_distance,
            fov_rad=hp.sv_fov_rad,
            augment=hp.sv_augment,
            max_retries=hp.max_retries,
        )
        out: list[SkippingDataset] = []
        if hp.mvimgnet_images_root:
            out.append(
                MVImgNetSingleViewDataset(
                    hp.mvimgnet_images_root,
                    hp.mvimgnet_masks_root,
                    hp.mvimgnet_split,
                    name=f"mvimgnet_sv/{split}",
                    **common,
                )
            )
        if hp.wild_root:
            out.append(
                WildSingleViewDataset(
                    hp.wild_root,
                    hp.wild_split,
                    pad_range=hp.sv_pad_range,
                    eval_pad=hp.sv_eval_pad,
                    name=f"wild/{split}",
                    **common,
                )
            )
        return out

    def setup(self, stage: str | None = None) -> None:
        """Build every configured dataset once (whatever the stage: item lists are cheap)."""
        if self._datasets:
            return
        mv_train, sv_train = self._multiview("train"), self._singleview("train")
        mv_val = self._multiview("test")
        if not (mv_train or sv_train):
            raise Real3DError(
                "no training data configured: set gobjaverse_root / zero123_root (multi-view) "
                "and/or wild_root / mvimgnet_images_root (single-view)"
            )
        for part in (mv_train, sv_train, mv_val):
            for dataset in part:
                if len(dataset) == 0:
                    raise Real3DError(f"{dataset.name}: the split lists no items")
                logger.info("%s: %d items", dataset.name, len(dataset))
        self.mv_train, self.sv_train, self.mv_val = _concat(mv_train), _concat(sv_train), _concat(mv_val)
        self._datasets = [*mv_train, *sv_train, *mv_val]

    # -- loaders -------------------------------------------------------------------------------
    def _loader(self, key: str, dataset: Dataset, batch_size: int, train: bool) -> DataLoader:
        hp = self.hparams
        collate = self._collates.setdefault(key, SkippingCollate())
        workers = int(hp.num_workers)
        return DataLoader(
            dataset,
            batch_size=batch_size,
            shuffle=train,
            drop_last=train,
            num_workers=workers,
            pin_memory=bool(hp.pin_memory) and torch.cuda.is_available(),
            persistent_workers=bool(hp.persistent_workers) and workers > 0,
            collate_fn=collate,
        )

    def train_dataloader(self):
        self.setup("fit")
        hp = self.hparams
        loaders = {}
        if self.mv_train is not None:
            loaders["mv"] = self._loader("mv", self.mv_train, hp.batch_size_mv, train=True)
        if self.sv_train is not None:
            loaders["sv"] = self._loader("sv", self.sv_train, hp.batch_size_sv, train=True)
        return loaders if len(loaders) > 1 else next(iter(loaders.values()))

    def val_dataloader(self):
        self.setup("validate")
        if self.mv_val is None:
            return []
        return self._loader("mv_val", self.mv_val, self.hparams.val_batch_size, train=False)

    # -- bookkeeping -------------------------------------------------------------------------
    def skipped_counts(self) -> dict[str, int]:
        """Failed item loads per dataset ("<source>/<split>"), plus per loader the items dropped
        from batches ("dropped/<loader>") and the batches that were entirely bad
        ("empty_batches/<loader>"); counts made in worker processes included."""
        counts = {dataset.name: dataset.skipped_count() for dataset in self._datasets}
        for key, collate in self._collates.items():
            counts[f"dropped/{key}"] = collate.dropped
            counts[f"empty_batches/{key}"] = collate.empty_batches
        return counts

    def total_skipped(self) -> int:
        """All failed item loads so far."""
        return sum(dataset.skipped_count() for dataset in self._datasets)

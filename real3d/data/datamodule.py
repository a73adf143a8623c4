"""LightningDataModule for Real3D training: a multi-view (supervised) set — GObjaverse and/or
Zero-1-to-3 renders — and a single-view (self-training) set — MVImgNet first frames and/or
in-the-wild crops; each source is optional and configured by plain arguments (roots, split
files, sizes), so Hydra can build it directly.

`train_dataloader()` returns {"mv": loader, "sv": loader} when both kinds are configured (Lightning
combines them with "max_size_cycle"), or the one loader that is; their batches are typed
(`MultiViewBatch`, `SingleViewBatch`: real3d.data.samples). `val_dataloader()` is, with
`val_mvimgnet_root` set, the MVImgNet multi-view evaluation subset read by the evaluation code
(unbatched items; the original's best-checkpoint metric), else the multi-view sources' test split
with fixed views ([] when no multi-view source is configured).
The training loaders draw items in an order fixed by (`shuffle_seed`, epoch, pass) and save their
place in checkpoints, so a run resumed mid-epoch continues that order exactly (real3d.data.sampling).
Camera distances are per source (`camera_distance`: a mapping source -> distance, or one number
for all); `protocol` ("original" | "corrected") chooses the original's image processing or its
corrections (see the datasets). Bad items are skipped, logged and counted (see `real3d.data.base`);
`skipped_counts()` reports them.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pytorch_lightning as pl
import torch
from torch.utils.data import ConcatDataset, DataLoader, Dataset

from real3d.data.base import SkippingDataset, check_protocol
from real3d.data.gobjaverse import GOBJAVERSE_INPUT_VIEWS, GObjaverseDataset
from real3d.data.mvimgnet_sv import MVImgNetSingleViewDataset
from real3d.data.samples import MultiViewBatch, SingleViewBatch
from real3d.data.sampling import ResumableLoader, ResumableSampler
from real3d.data.wild import EVAL_PAD, TRAIN_PAD_RANGE, WildSingleViewDataset
from real3d.data.zero123 import GOBJAVERSE_INDEX_NAME, ZERO123_FOV_DEG, ZERO123_NUM_VIEWS, Zero123Dataset
from real3d.errors import Real3DError
from real3d.geometry import INPUT_FOV_RAD, SOURCE_CAMERA_DISTANCE

logger = logging.getLogger(__name__)


class SkippingCollate:
    """`collate` of the samples that are not None (e.g. `MultiViewBatch.collate`); counts the dropped ones.

    Returns None when every sample of the batch was bad (the training step must skip a None
    batch). Counts are in shared memory, so collates run in worker processes are counted too.
    """

    def __init__(self, collate: Callable[[list[dict]], Any]) -> None:
        self.collate = collate
        self._counts = torch.zeros(2, dtype=torch.int64).share_memory_()  # [dropped, empty batches]

    def __call__(self, batch: Sequence[dict | None]) -> Any:
        kept = [sample for sample in batch if sample is not None]
        if len(kept) < len(batch):
            self._counts[0] += len(batch) - len(kept)
        if not kept:
            self._counts[1] += 1
            logger.warning("a whole batch of %d items was bad; returning None", len(batch))
            return None
        return self.collate(kept)

    @property
    def dropped(self) -> int:
        return int(self._counts[0])

    @property
    def empty_batches(self) -> int:
        return int(self._counts[1])


def _unbatched(item):
    return item


# The root key that enables each training source (the first part of a dataset's name "<source>/<split>").
SOURCE_KEYS = {
    "gobjaverse": "gobjaverse_root",
    "zero123": "zero123_root",
    "mvimgnet_sv": "mvimgnet_images_root",
    "wild": "wild_root",
}
PROBE_ITEMS = 32  # items tried, spread over the list, before a source counts as yielding nothing


def check_yields(dataset: Dataset, key: str, remedy: str = "") -> None:
    """Raise a one-line Real3DError naming `key` unless `dataset` lists an item and one of up to PROBE_ITEMS
    items spread over its list loads. The probe leaves the global random state and the skip counts as they
    were (a resumed run draws what the straight run drew)."""
    count = len(dataset)
    if count == 0:
        raise Real3DError(f"{key}: lists no items")
    if count <= PROBE_ITEMS:
        indices = list(range(count))
    else:
        indices = sorted({round(i * (count - 1) / (PROBE_ITEMS - 1)) for i in range(PROBE_ITEMS)})
    first_failure = ""
    with torch.random.fork_rng(devices=[]):
        for index in indices:
            try:
                dataset.load(index)
                return
            except Exception as exc:  # noqa: BLE001 - every kind of unreadable item counts as not yielding
                first_failure = first_failure or f"{type(exc).__name__}: {str(exc).strip()}".splitlines()[0]
    raise Real3DError(
        f"{key}: none of the {len(indices)} items tried of {count} could be read (first: {first_failure}){remedy}"
    )


def _check_folder(key: str, root: str | None, remedy: str) -> None:
    """A root set in the config is a folder; else one line naming its key `data.<key>` and the remedy."""
    if root and not os.path.isdir(root):
        what = "not a folder" if os.path.exists(root) else "no such folder"
        raise Real3DError(f"data.{key}={root}: {what} ({remedy.format(key=key)})")


def _concat(datasets: list[Dataset]) -> Dataset | None:
    if not datasets:
        return None
    return datasets[0] if len(datasets) == 1 else ConcatDataset(datasets)


class Real3DDataModule(pl.LightningDataModule):
    """Training and validation data of Real3D (see the module docstring).

    Multi-view: `gobjaverse_root` / `zero123_root` (+ optional split files; without one, object
    folders are discovered and split deterministically; Zero-1-to-3 objects are then selected by
    `zero123_index` (default: the GObjaverse index in `gobjaverse_root`; "none": no index filter)
    and `zero123_num_views`). Single-view: `wild_root` (split file or curated manifest; default:
    the packaged `singleview.json.gz`) and `mvimgnet_images_root` + `mvimgnet_masks_root`
    (default split: packaged `mvimgnet.json.gz`; `mvimgnet_frame`: "first" or "random").
    """

    def __init__(
        self,
        # multi-view (supervised) sources
        gobjaverse_root: str | None = None,
        gobjaverse_split: str | None = None,
        zero123_root: str | None = None,
        zero123_split: str | None = None,
        zero123_fov_deg: float = ZERO123_FOV_DEG,
        zero123_index: str | None = "default",
        zero123_num_views: int | None = ZERO123_NUM_VIEWS,
        gobjaverse_input_views: int | None = GOBJAVERSE_INPUT_VIEWS,
        # single-view (self-training) sources
        wild_root: str | None = None,
        wild_split: str | None = "singleview.json.gz",
        mvimgnet_images_root: str | None = None,
        mvimgnet_masks_root: str | None = None,
        mvimgnet_split: str | None = "mvimgnet.json.gz",
        mvimgnet_frame: str = "first",
        # validation on the MVImgNet evaluation subset (the original's best-checkpoint metric)
        val_mvimgnet_root: str | None = None,
        val_mvimgnet_mask_root: str | None = None,
        val_mvimgnet_split: str = "mvimgnet_mv",
        val_mvimgnet_crop_expand: float = 1.6,
        val_camera_distance: float = 3.0,
        # protocol, sizes and cameras
        protocol: str = "original",
        cond_image_size: int = 512,
        render_size: int = 128,
        num_target_views: int = 4,
        num_val_views: int = 5,
        targets_include_input: bool = True,
        camera_distance: float | Mapping[str, float] | None = None,
        sv_fov_rad: float = INPUT_FOV_RAD,
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
        shuffle_seed: int | None = 0,
    ) -> None:
        super().__init__()
        self.save_hyperparameters(logger=False)
        if mvimgnet_images_root is not None and mvimgnet_masks_root is None:
            raise Real3DError("mvimgnet_images_root is set but mvimgnet_masks_root is not")
        if val_mvimgnet_root is not None and val_mvimgnet_mask_root is None:
            raise Real3DError("val_mvimgnet_root is set but val_mvimgnet_mask_root is not")
        check_protocol(protocol)
        self.camera_distances = self._camera_distances(camera_distance)
        self.mv_train: Dataset | None = None
        self.sv_train: Dataset | None = None
        self.mv_val: Dataset | None = None
        self._datasets: list[SkippingDataset] = []
        self._collates: dict[str, SkippingCollate] = {}

    # -- datasets -----------------------------------------------------------------------------
    @staticmethod
    def _camera_distances(value: float | Mapping[str, float] | None) -> dict[str, float]:
        """Per-source canonical distances: the defaults (SPEC §4), one number for all, or a mapping."""
        if value is None:
            return dict(SOURCE_CAMERA_DISTANCE)
        if isinstance(value, int | float):
            return {source: float(value) for source in SOURCE_CAMERA_DISTANCE}
        unknown = set(value) - set(SOURCE_CAMERA_DISTANCE)
        if unknown:
            raise Real3DError(
                f"camera_distance: unknown sources {sorted(unknown)} (known: {sorted(SOURCE_CAMERA_DISTANCE)})"
            )
        return {**SOURCE_CAMERA_DISTANCE, **{k: float(v) for k, v in value.items()}}

    def _zero123_index(self) -> str | None:
        """The GObjaverse index that selects Zero-1-to-3 objects (None: no index filter)."""
        index = self.hparams.zero123_index
        if index is None or str(index).lower() == "none":
            return None
        if index == "default":
            if not self.hparams.gobjaverse_root:
                return None
            return os.path.join(self.hparams.gobjaverse_root, GOBJAVERSE_INDEX_NAME)
        return str(index)

    def _multiview(self, split: str) -> list[SkippingDataset]:
        hp = self.hparams
        train = split == "train"
        common = dict(
            split=split,
            train=train,
            cond_image_size=hp.cond_image_size,
            render_size=hp.render_size,
            num_target_views=hp.num_target_views if train else hp.num_val_views,
            targets_include_input=hp.targets_include_input,
            every_nth=1 if train else hp.val_every_nth,
            max_items=None if train else hp.max_val_objects,
            max_retries=hp.max_retries,
            protocol=hp.protocol,
        )
        out: list[SkippingDataset] = []
        if hp.gobjaverse_root:
            out.append(
                GObjaverseDataset(
                    hp.gobjaverse_root,
                    hp.gobjaverse_split,
                    input_view_candidates=hp.gobjaverse_input_views,
                    camera_distance=self.camera_distances["gobjaverse"],
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
                    camera_distance=self.camera_distances["zero123"],
                    gobjaverse_index=self._zero123_index(),
                    num_views=hp.zero123_num_views,
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
            fov_rad=hp.sv_fov_rad,
            augment=hp.sv_augment,
            max_retries=hp.max_retries,
            protocol=hp.protocol,
        )
        out: list[SkippingDataset] = []
        if hp.mvimgnet_images_root:
            out.append(
                MVImgNetSingleViewDataset(
                    hp.mvimgnet_images_root,
                    hp.mvimgnet_masks_root,
                    hp.mvimgnet_split,
                    frame=hp.mvimgnet_frame,
                    camera_distance=self.camera_distances["mvimgnet"],
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
                    camera_distance=self.camera_distances["wild"],
                    name=f"wild/{split}",
                    **common,
                )
            )
        return out

    def _mvimgnet_validation(self) -> Dataset:
        """The MVImgNet multi-view evaluation subset, read by the evaluation code (SPEC §8)."""
        from real3d.data.mvimgnet import MVImgNetMultiView

        hp = self.hparams
        remedy = "set data.val_mvimgnet_root=null to validate on the multi-view test split"
        _check_folder("val_mvimgnet_root", hp.val_mvimgnet_root, remedy)
        _check_folder("val_mvimgnet_mask_root", hp.val_mvimgnet_mask_root, remedy)
        return MVImgNetMultiView(
            hp.val_mvimgnet_root,
            hp.val_mvimgnet_mask_root,
            split_file=hp.val_mvimgnet_split,
            split="test",
            image_size=hp.cond_image_size,
            cond_image_size=hp.cond_image_size,
            camera_distance=hp.val_camera_distance,
            crop_expand=hp.val_mvimgnet_crop_expand,
            protocol=hp.protocol,
        )

    def setup(self, stage: str | None = None) -> None:
        """Build every configured dataset once (whatever the stage: item lists are cheap) and check that each
        enabled source yields an item (`check_yields`), so a run on nothing stops before its first step."""
        if self._datasets:
            return
        self._check_roots()
        mv_train, sv_train = self._multiview("train"), self._singleview("train")
        mv_val = [] if self.hparams.val_mvimgnet_root else self._multiview("test")
        if not (mv_train or sv_train):
            raise Real3DError(
                "no training data configured: set data.gobjaverse_root / data.zero123_root (multi-view) "
                "and/or data.wild_root / data.mvimgnet_images_root (single-view)"
            )
        for dataset in (*mv_train, *sv_train, *mv_val):
            check_yields(dataset, self._source_key(dataset))
            logger.info("%s: %d items", dataset.name, len(dataset))
        val_mvimgnet = self._mvimgnet_validation() if self.hparams.val_mvimgnet_root else None
        if val_mvimgnet is not None:
            remedy = "; data.val_mvimgnet_root=null validates on the multi-view test split instead"
            check_yields(val_mvimgnet, f"data.val_mvimgnet_root={self.hparams.val_mvimgnet_root}", remedy)
            logger.info("validation: %d MVImgNet evaluation sequences", len(val_mvimgnet))
        self.mv_train, self.sv_train = _concat(mv_train), _concat(sv_train)
        self.mv_val = val_mvimgnet if val_mvimgnet is not None else _concat(mv_val)
        self._datasets = [*mv_train, *sv_train, *mv_val]

    def _check_roots(self) -> None:
        """Every root set in the config is a folder (one line naming its key otherwise)."""
        hp = self.hparams
        for key in (*SOURCE_KEYS.values(), "mvimgnet_masks_root"):
            _check_folder(key, hp[key], "set data.{key}=null to train without it")

    def _source_key(self, dataset: SkippingDataset) -> str:
        """The config keys that enabled `dataset` (its root, and its split file when one is set)."""
        source, split = dataset.name.split("/")
        key = SOURCE_KEYS[source]
        split_key = key.replace("_images_root", "_split").replace("_root", "_split")
        text = f"data.{key}={self.hparams[key]}"
        if self.hparams.get(split_key):
            text += f" with data.{split_key}={self.hparams[split_key]}"
        return f"{text} ({split} split)"

    # -- loaders -------------------------------------------------------------------------------
    def _loader(self, key: str, dataset: Dataset, batch_size: int, train: bool) -> DataLoader:
        hp = self.hparams
        batch_type = SingleViewBatch if key == "sv" else MultiViewBatch
        collate = self._collates.setdefault(key, SkippingCollate(batch_type.collate))
        workers = int(hp.num_workers)
        options = dict(
            batch_size=batch_size,
            num_workers=workers,
            pin_memory=bool(hp.pin_memory) and torch.cuda.is_available(),
            persistent_workers=bool(hp.persistent_workers) and workers > 0,
            collate_fn=collate,
        )
        if not train:
            return DataLoader(dataset, shuffle=False, **options)
        world_size, rank = (self.trainer.world_size, self.trainer.global_rank) if self.trainer else (1, 0)
        stream = 0 if key == "mv" else 1
        sampler = ResumableSampler(dataset, world_size, rank, seed=int(hp.shuffle_seed or 0), stream=stream)
        return ResumableLoader(dataset, sampler=sampler, drop_last=True, progress=self._progress, **options)

    def train_dataloader(self):
        self.setup("fit")
        hp = self.hparams
        loaders = {}
        if self.mv_train is not None:
            loaders["mv"] = self._loader("mv", self.mv_train, hp.batch_size_mv, train=True)
        if self.sv_train is not None:
            loaders["sv"] = self._loader("sv", self.sv_train, hp.batch_size_sv, train=True)
        return loaders if len(loaders) > 1 else next(iter(loaders.values()))

    def _progress(self) -> tuple[int, int]:
        """(batches trained so far in this fit, batches per epoch): the training loaders' place."""
        trainer = self.trainer
        return int(trainer.fit_loop.epoch_loop.batch_progress.total.ready), int(trainer.num_training_batches)

    def val_dataloader(self):
        self.setup("validate")
        if self.mv_val is None:
            return []
        if self.hparams.val_mvimgnet_root:  # evaluation items, one object at a time
            return DataLoader(
                self.mv_val,
                batch_size=None,
                shuffle=False,
                num_workers=int(self.hparams.num_workers),
                collate_fn=_unbatched,
            )
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

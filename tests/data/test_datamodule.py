"""The LightningDataModule: loaders for each configuration, Hydra construction, and a real
Lightning fit over the combined multi-view + single-view loaders."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader

from real3d.data.datamodule import Real3DDataModule
from real3d.data.samples import MultiViewBatch, SingleViewBatch
from real3d.data.synthetic import SetSizes, make_dataset
from real3d.errors import Real3DError

TINY = dict(cond_image_size=32, render_size=8, num_workers=0)


def _mv(info):
    return dict(
        gobjaverse_root=info["gobjaverse"]["root"],
        gobjaverse_split=info["gobjaverse"]["split"],
        zero123_root=info["zero123"]["root"],
        zero123_split=info["zero123"]["split"],
    )


def _sv(info):
    return dict(
        wild_root=info["wild"]["root"],
        wild_split=info["wild"]["split"],
        mvimgnet_images_root=info["mvimgnet"]["images_root"],
        mvimgnet_masks_root=info["mvimgnet"]["masks_root"],
        mvimgnet_split=info["mvimgnet"]["split"],
    )


def test_both_loaders(synthetic_set):
    dm = Real3DDataModule(**_mv(synthetic_set), **_sv(synthetic_set), **TINY, batch_size_mv=2, batch_size_sv=3)
    dm.setup("fit")
    assert len(dm.mv_train) == 4 and len(dm.sv_train) == 5  # gobjaverse + zero123, mvimgnet + wild
    loaders = dm.train_dataloader()
    assert set(loaders) == {"mv", "sv"}
    mv, sv = next(iter(loaders["mv"])), next(iter(loaders["sv"]))
    assert isinstance(mv, MultiViewBatch) and isinstance(sv, SingleViewBatch)
    assert mv.rgb.shape == (2, 4, 3, 8, 8) and mv.cameras.rays()[1].shape == (2, 4, 8, 8, 3)
    assert mv.c2w_input.shape == (2, 4, 4) and mv.index.shape == (2,)
    assert sv.image_input.shape == (3, 3, 32, 32) and sv.fov_rad.shape == (3,)
    val = list(dm.val_dataloader())
    assert len(val) == 2 and val[0].rgb.shape == (1, 5, 3, 8, 8)  # 5 fixed views per object


def test_one_kind_only(synthetic_set):
    mv_only = Real3DDataModule(**_mv(synthetic_set), **TINY)
    assert isinstance(mv_only.train_dataloader(), DataLoader)
    assert next(iter(mv_only.train_dataloader())).cameras.c2w.shape == (1, 4, 4, 4)
    sv_only = Real3DDataModule(
        wild_root=synthetic_set["wild"]["root"], wild_split=synthetic_set["wild"]["split"], **TINY
    )
    loader = sv_only.train_dataloader()
    assert isinstance(loader, DataLoader) and isinstance(next(iter(loader)), SingleViewBatch)
    assert sv_only.val_dataloader() == []
    with pytest.raises(Real3DError, match="no training data"):
        Real3DDataModule(**TINY).setup("fit")
    with pytest.raises(Real3DError, match="masks_root"):
        Real3DDataModule(mvimgnet_images_root="x")


def test_hydra_instantiate(synthetic_set):
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    cfg = OmegaConf.create(
        {
            "_target_": "real3d.data.datamodule.Real3DDataModule",
            **_mv(synthetic_set),
            "sv_pad_range": [1.5, 1.9],
            "num_target_views": 3,
            **TINY,
        }
    )
    dm = instantiate(cfg)
    assert next(iter(dm.train_dataloader())).rgb.shape[1] == 3


class _Probe(pl.LightningModule):
    """Consumes the combined batches the way the training module does."""

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(1))
        self.seen = []

    def training_step(self, batch, batch_idx):
        self.seen.append((tuple(batch["mv"].rgb.shape), tuple(batch["sv"].rgb.shape)))
        return (self.w - batch["mv"].rgb.mean() - batch["sv"].mask.mean()) ** 2

    def validation_step(self, batch, batch_idx):
        assert batch.cameras.c2w.shape[1] == 5

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def _trainer(root, max_steps, limit_val_batches=1, callbacks=()) -> pl.Trainer:
    return pl.Trainer(
        accelerator="cpu",
        max_steps=max_steps,
        limit_val_batches=limit_val_batches,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=list(callbacks),
        default_root_dir=root,
    )


def test_lightning_fit_with_combined_loaders(synthetic_set, tmp_path):
    dm = Real3DDataModule(**_mv(synthetic_set), **_sv(synthetic_set), **TINY, batch_size_mv=2)
    module = _Probe()
    _trainer(tmp_path, 3).fit(module, datamodule=dm)
    assert module.seen == [((2, 4, 3, 8, 8), (1, 3, 32, 32))] * 3
    assert sum(dm.skipped_counts().values()) == 0


def _mvimgnet_eval_set(root) -> tuple[str, str, str]:
    """One MVImgNet sequence in the evaluation layout (5 listed frames, COLMAP model); returns
    (images root, masks root, split file)."""
    import json

    import numpy as np

    from real3d.data.writers import write_mvimgnet_sequence
    from real3d.geometry import spherical_c2w

    g = torch.Generator().manual_seed(0)
    j, i = torch.meshgrid(torch.arange(40) + 0.5, torch.arange(40) + 0.5, indexing="ij")
    mask = ((i - 20) ** 2 + (j - 21) ** 2 <= 81)[None].float()
    c2w = spherical_c2w(torch.tensor([0.0, 30.0, 60.0, 90.0, 120.0]), torch.full((5,), 10.0), 2.0)
    names = [f"{k:03d}.jpg" for k in range(5)]
    frames = [
        {"name": n, "rgb": torch.rand(3, 40, 40, generator=g) * mask + (1 - mask) * 0.3, "mask": mask * 255, "c2w": c}
        for n, c in zip(names, c2w, strict=True)
    ]
    images, masks = root / "image", root / "mask"
    points = np.array([[0.05, 0.0, 0.0], [-0.05, 0.0, 0.0], [0.0, 0.05, 0.0], [0.0, -0.05, 0.0]])
    write_mvimgnet_sequence(images, masks, "3/abcd", frames, 40.0, points)
    split = root / "split.json"
    split.write_text(json.dumps({"test": [["3/abcd", *names]]}))
    return str(images), str(masks), str(split)


def test_validation_on_the_mvimgnet_evaluation_subset(synthetic_set, tmp_path):
    """With val_mvimgnet_root, validation is the MVImgNet evaluation subset scored by the
    evaluation code: val/psnr equals evaluate_multiview's all-views PSNR (the original's
    best-checkpoint metric)."""
    from real3d.data.mvimgnet import MVImgNetMultiView
    from real3d.evaluation import evaluate_multiview
    from real3d.models import load
    from real3d.training import Real3DModule
    from tests.conftest import TINY_MODEL_DIR

    images, masks, split = _mvimgnet_eval_set(tmp_path)
    kw = dict(cond_image_size=64, render_size=8, num_workers=0)
    dm = Real3DDataModule(**_sv(synthetic_set), **_mv(synthetic_set), **kw)
    dm.setup("fit")
    assert not isinstance(dm.mv_val, MVImgNetMultiView)  # default: the multi-view test split
    dm = Real3DDataModule(
        **_sv(synthetic_set),
        val_mvimgnet_root=images,
        val_mvimgnet_mask_root=masks,
        val_mvimgnet_split=split,
        **kw,
    )
    loader = dm.val_dataloader()
    assert isinstance(dm.mv_val, MVImgNetMultiView) and dm.mv_val.camera_distance == 3.0
    item = next(iter(loader))
    assert item["c2w"].shape == (5, 4, 4) and "focal_norm" in item  # unbatched evaluation items
    torch.manual_seed(0)
    net = load(config=TINY_MODEL_DIR / "config.yaml", render={"num_samples_per_ray": 8})
    module = Real3DModule(
        net, loss_weights={"perceptual": 0.0, "perceptual_cy": 0.0, "clip_novel": 0.0}, val_render_size=16
    )
    trainer = pl.Trainer(accelerator="cpu", logger=False, enable_progress_bar=False, enable_model_summary=False)
    metrics = trainer.validate(module, datamodule=dm, verbose=False)[0]
    expected = evaluate_multiview(net, dm.mv_val, render_size=16)["psnr"]
    assert metrics["val/psnr"] == pytest.approx(expected, abs=1e-4)
    with pytest.raises(
        Real3DError, match=r"^data.val_mvimgnet_root=.*/no: no such folder \(set data.val_mvimgnet_root=null"
    ):
        Real3DDataModule(
            **_sv(synthetic_set), val_mvimgnet_root=str(tmp_path / "no"), val_mvimgnet_mask_root="m"
        ).setup()


class _OrderProbe(_Probe):
    """Records the dataset indices of every training batch, per loader."""

    def training_step(self, batch, batch_idx):
        self.seen.append((batch["mv"].index.tolist(), batch["sv"].index.tolist()))
        return (self.w - batch["mv"].rgb.mean()) ** 2


class _SaveAt(pl.Callback):
    """Saves a checkpoint right after the given step, where PeriodicCheckpoint saves."""

    def __init__(self, step, path):
        self.step, self.path = step, path

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if trainer.global_step == self.step:
            trainer.save_checkpoint(self.path)


@pytest.fixture(scope="module")
def order_set(tmp_path_factory) -> dict:
    """GObjaverse objects and in-the-wild images only, so that `index` names an item."""
    sizes = SetSizes(
        gobjaverse_objects=6, zero123_objects=0, views=4, image_size=16, wild_images=6, mvimgnet_sequences=0
    )
    return make_dataset(tmp_path_factory.mktemp("order"), sizes, seed=2)


def _order_run(info, root, max_steps, callbacks=(), ckpt_path=None):
    # 4 multi-view items in batches of 1 (4 batches per epoch), 5 single views in batches of 2
    # (2 per pass: that loader restarts within each epoch)
    dm = Real3DDataModule(
        gobjaverse_root=info["gobjaverse"]["root"],
        gobjaverse_split=info["gobjaverse"]["split"],
        wild_root=info["wild"]["root"],
        wild_split=info["wild"]["split"],
        **TINY,
        batch_size_sv=2,
        shuffle_seed=3,
    )
    module = _OrderProbe()
    _trainer(root, max_steps, limit_val_batches=0, callbacks=callbacks).fit(module, datamodule=dm, ckpt_path=ckpt_path)
    return module.seen


@pytest.mark.parametrize("stop", [3, 4, 6])
def test_a_resumed_run_draws_the_items_of_the_straight_run(order_set, tmp_path, stop):
    straight = _order_run(order_set, tmp_path / "straight", 11)
    assert len(straight) == 11
    assert sorted(i for step in straight[:4] for i in step[0]) == [0, 1, 2, 3]  # one epoch: every item once
    assert straight[:4] != straight[4:8]  # epochs are shuffled anew
    ckpt = tmp_path / "stop.ckpt"
    first = _order_run(order_set, tmp_path / "first", stop, [_SaveAt(stop, ckpt)])
    rest = _order_run(order_set, tmp_path / "rest", 11, ckpt_path=ckpt)
    assert first + rest == straight


def test_a_loader_resumes_mid_pass_and_restarts_on_other_data(order_set, caplog):
    dm = Real3DDataModule(
        gobjaverse_root=order_set["gobjaverse"]["root"], gobjaverse_split=order_set["gobjaverse"]["split"], **TINY
    )
    loader = dm.train_dataloader()  # 4 items, batches of 1
    loader.load_state_dict({"batches": 6, "epoch_length": 4, "pass_length": 4, "world_size": 1})
    assert [batch.index.item() for batch in loader] == loader.sampler.pass_order(1, 0)[2:]  # epoch 1 after 2
    loader.load_state_dict({"batches": 2, "epoch_length": 3, "pass_length": 3, "world_size": 1})
    assert "the training order restarts" in caplog.text
    assert len(list(loader)) == 4  # a whole pass


# -- a source that yields nothing stops the run before its first step (issue 26) ----------------------------


def _split(tmp, train: list, test: list) -> str:
    path = tmp / f"split_{len(list(tmp.glob('split_*')))}.json"
    path.write_text(json.dumps({"train": train, "test": test}))
    return str(path)


def _listed(info, part: str) -> list[str]:
    return json.loads(Path(info["gobjaverse"]["split"]).read_text())[part]


def _file(tmp) -> str:
    (tmp / "a_file").write_text("x")
    return str(tmp / "a_file")


def _folder(tmp) -> str:
    (tmp / "empty").mkdir()
    return str(tmp / "empty")


def _eval_set_without_its_model(tmp) -> dict:
    images, masks, split = _mvimgnet_eval_set(tmp)
    shutil.rmtree(Path(images) / "3" / "abcd" / "sparse")  # the COLMAP model of the only sequence
    return {"val_mvimgnet_root": images, "val_mvimgnet_mask_root": masks, "val_mvimgnet_split": split}


NOTHING = [
    # the case (it trained single-view only, then died at validation with MisconfigurationException)
    (
        lambda info, tmp: {"gobjaverse_root": str(tmp / "nonexistent")},
        r"^data.gobjaverse_root=.*/nonexistent: no such folder \(set data.gobjaverse_root=null to train without it\)$",
    ),
    (lambda info, tmp: {"gobjaverse_root": _file(tmp)}, r"^data.gobjaverse_root=.*/a_file: not a folder"),
    (lambda info, tmp: {"gobjaverse_root": _folder(tmp), "gobjaverse_split": None}, r"no items found under .*/empty"),
    (
        lambda info, tmp: {"gobjaverse_root": _folder(tmp), "gobjaverse_split": _split(tmp, ["a", "b"], ["c"])},
        r"^data.gobjaverse_root=.*/empty with data.gobjaverse_split=.*json \(train split\): none of the 2 items "
        r"tried of 2 could be read \(first: FileNotFoundError: ",
    ),
    (lambda info, tmp: {"gobjaverse_split": _split(tmp, [], ["x"])}, r"\(train split\): lists no items$"),
    (
        lambda info, tmp: {"gobjaverse_split": _split(tmp, ["gone/a", "gone/b"], ["x"])},
        r"\(train split\): none of the 2 items tried of 2 could be read",
    ),
    (
        lambda info, tmp: {"wild_split": _split(tmp, ["missing.png"], [])},
        r"^data.wild_root=.* with data.wild_split=.*json \(train split\): none of the 1 items tried",
    ),
    # validation: the multi-view sources' test split, or the MVImgNet evaluation subset
    (
        lambda info, tmp: {"gobjaverse_split": _split(tmp, _listed(info, "train"), ["gone/x"])},
        r"^data.gobjaverse_root=.* \(test split\): none of the 1 items tried of 1 could be read",
    ),
    (
        lambda info, tmp: {"gobjaverse_split": _split(tmp, _listed(info, "train"), [])},
        r"\(test split\): lists no items",
    ),
    (
        lambda info, tmp: _eval_set_without_its_model(tmp),
        r"^data.val_mvimgnet_root=.*: none of the 1 items tried of 1 could be read \(first: BadItem: cannot read "
        r".*; data.val_mvimgnet_root=null validates on the multi-view test split instead$",
    ),
]


@pytest.mark.parametrize(("change", "message"), NOTHING)
def test_a_source_that_yields_nothing_is_one_line_naming_its_key(synthetic_set, tmp_path, change, message):
    kw = {**_mv(synthetic_set), **_sv(synthetic_set), **TINY, **change(synthetic_set, tmp_path)}
    with pytest.raises(Real3DError, match=message) as info:
        Real3DDataModule(**kw).setup("fit")
    assert "\n" not in str(info.value)


def test_the_probe_leaves_the_random_state_and_the_skip_counts(synthetic_copy):
    """A source with a bad item still trains; probing it changes neither what is drawn next nor the counts."""
    shutil.rmtree(Path(synthetic_copy["gobjaverse"]["root"]) / _listed(synthetic_copy, "train")[0])
    dm = Real3DDataModule(**_mv(synthetic_copy), **TINY)
    torch.manual_seed(7)
    expected = torch.rand(3)
    torch.manual_seed(7)
    dm.setup("fit")
    assert torch.equal(torch.rand(3), expected)
    assert dm.total_skipped() == 0

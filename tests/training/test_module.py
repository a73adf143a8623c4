"""The training module: optimizer groups and schedule, the three passes, accumulation, switches."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import pytorch_lightning as pl
import torch
from torch import nn

from real3d.data.samples import MultiViewBatch, SingleViewBatch
from real3d.errors import Real3DError
from real3d.metrics import psnr
from real3d.training import Real3DModule
from real3d.training.module import LossWeights
from tests.training.runs import cpu_trainer, optimizer_parts
from tests.training.synthetic import SphereDataModule, singleview_sample

ALL_TERMS = ["rgb", "mask", "perceptual", "rgb_sv", "mask_sv", "clip_novel", "rgb_cy", "perceptual_cy", "mask_cy"]
NO_NETWORKS = {"perceptual": 0.0, "perceptual_cy": 0.0, "clip_novel": 0.0}


def _module(net, lpips=None, clip=None, weights=None, accumulation=1, total=100, lr=1e-3, **kwargs):
    return Real3DModule(
        net,
        **optimizer_parts(lr, total, accumulation),
        loss_weights=weights if weights is not None else NO_NETWORKS,
        training={"accumulation_steps": accumulation, "total_iterations": total, "seed": 0},
        single_view={"render_size": 16, **kwargs.pop("single_view", {})},
        visualization={"every_n_iterations": 0},
        lpips_net=lpips,
        clip_encoder=clip,
        **kwargs,
    )


def test_parameter_groups_follow_the_reference(tiny_net):
    module = _module(tiny_net)
    config = module.configure_optimizers()
    optimizer = config["optimizer"]
    groups = {g["name"]: g for g in optimizer.param_groups}
    assert set(groups) == {"embeddings", "image_encoder", "image_encoder_no_decay", "rest", "rest_no_decay"}
    names = {id(p): n for n, p in tiny_net.named_parameters()}
    for name, group in groups.items():
        assert group["weight_decay"] == (0.0 if name.endswith("no_decay") else 0.05)
        for param in group["params"]:
            pname = names[id(param)]
            if name.endswith("no_decay"):
                assert param.ndim < 2 or pname.endswith(".bias")
            else:
                assert param.ndim >= 2 and not pname.endswith(".bias")
            assert pname.startswith("image_tokenizer.") == name.startswith("image_encoder")
    assert [names[id(p)] for p in groups["embeddings"]["params"]] == ["tokenizer.embeddings"]
    assert sum(len(g["params"]) for g in optimizer.param_groups) == len(list(tiny_net.parameters()))
    assert optimizer.defaults["betas"] == (0.9, 0.96) and optimizer.defaults["eps"] == 1e-6


def test_schedule_counts_optimizer_steps(tiny_net):
    module = Real3DModule(tiny_net, loss_weights=NO_NETWORKS)  # the published recipe's numbers
    config = module.configure_optimizers()
    factor = config["lr_scheduler"]["scheduler"].lr_lambdas[0]  # lr multiplier per optimizer step
    assert factor(0) == 0.0
    assert factor(50) == pytest.approx(0.5)  # warmup: 1000 iterations / 10 = 100 steps
    assert factor(100) == pytest.approx(1.0)
    assert factor(5050) == pytest.approx(0.5)  # cosine half-way to 100000 / 10 steps
    assert factor(10_000) == pytest.approx(0.0, abs=1e-12)
    assert all(g["lr"] == 0.0 and g["initial_lr"] == 4e-5 for g in config["optimizer"].param_groups)


def test_module_rejects_a_weight_without_its_network(tiny_net):
    with pytest.raises(Real3DError, match="clip_novel"):
        _module(tiny_net, weights={"clip_novel": 1.0, "perceptual": 0.0, "perceptual_cy": 0.0})
    with pytest.raises(Real3DError, match="LPIPS"):
        _module(tiny_net, weights={"clip_novel": 0.0})


class RecordingNet(nn.Module):
    """Stands in for the LRM: renders a function of the rays; records every call."""

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(()))
        self.calls = []
        from omegaconf import OmegaConf

        self.cfg = OmegaConf.create({"cond_image_size": 64})

    def forward(self, images, cameras, settings=None):
        rays_o, rays_d = cameras.rays()
        self.calls.append(
            {"images": images.detach().clone(), "rays_o": rays_o, "rays_d": rays_d, "grad": torch.is_grad_enabled()}
        )
        rgb = (rays_d.permute(0, 1, 4, 2, 3).abs() * self.scale).clamp(0, 1)
        opacity = (rays_d[..., :1].permute(0, 1, 4, 2, 3) > 0).float() * self.scale
        return {"images_rgb": rgb, "images_weight": opacity}


def test_cycle_pass_wiring():
    net = RecordingNet()
    module = _module(net, weights={**NO_NETWORKS, "rgb": 0, "mask": 0, "rgb_sv": 0, "mask_sv": 0})
    batch = SingleViewBatch.collate([singleview_sample(0)])
    cams = module.sample_cameras(batch)
    targets = {"rgb": torch.zeros(1, 1, 3, 16, 16), "mask": torch.zeros(1, 1, 1, 16, 16)}
    terms, render, new_input = module.cycle_pass(batch, cams, targets, sv_render=None)
    rerender, cycle = net.calls
    # 1) the last novel view, re-rendered without gradient at the input resolution (64)
    assert not rerender["grad"] and rerender["rays_o"].shape == (1, 1, 64, 64, 3)
    assert torch.allclose(rerender["rays_o"][0, 0, 0, 0], cams["c2w"][0, -1, :3, 3], atol=1e-5)
    assert torch.equal(rerender["images"], batch.image_input[:, None])
    # 2) grey composite where opacity <= 0.5, fed back as the new input
    opaque = rerender["rays_d"][0, 0, ..., 0] > 0
    assert torch.allclose(new_input[0, :, ~opaque], torch.full_like(new_input[0, :, ~opaque], 0.5))
    assert torch.equal(cycle["images"], new_input[:, None])
    # 3) the input view rendered through I·N⁻¹·I at the render size, with gradient
    assert cycle["grad"] and cycle["rays_o"].shape == (1, 1, 16, 16, 3)
    assert torch.allclose(cycle["rays_o"][0, 0, 0, 0], cams["c2w_cycle"][0, 0, :3, 3], atol=1e-5)
    assert set(terms) == {"rgb_cy", "mask_cy"} and render["images_rgb"].requires_grad


def test_sampled_cameras_follow_the_curriculum_and_resume_exactly(tiny_net):
    module = _module(tiny_net, total=1000)
    batch = SingleViewBatch.collate([singleview_sample(0)])  # input camera at azimuth 0, elevation 0, distance 3
    module.iteration = 0
    start = module.sample_cameras(batch)
    elevation = torch.rad2deg(torch.asin(start["c2w"][0, -1, 2, 3] / 3.0)).abs()
    azimuth = torch.rad2deg(torch.atan2(start["c2w"][0, -1, 1, 3], start["c2w"][0, -1, 0, 3])).abs()
    assert elevation == pytest.approx(15.0, abs=1e-3) and azimuth == pytest.approx(15.0, abs=1e-3)
    module.iteration = 500
    assert module.curriculum_limits() == (15.0, 52.5, 15.0, 52.5)
    again = module.sample_cameras(batch)
    assert torch.equal(again["c2w"], module.sample_cameras(batch)["c2w"])  # a function of the iteration
    assert not torch.equal(again["c2w"], start["c2w"])


def _fit(module, tmp_path, iterations, **dm_kwargs):
    dm = SphereDataModule(render_size=16, **dm_kwargs)
    trainer = cpu_trainer(tmp_path, iterations // module.training_cfg.accumulation_steps)
    trainer.fit(module, datamodule=dm)
    return trainer


def test_accumulation_steps_the_optimizer_every_n_iterations(tiny_net, tmp_path):
    module = _module(tiny_net, accumulation=3)
    seen = []

    class Record(pl.Callback):
        def on_train_batch_end(self, trainer, pl_module, *args):
            seen.append((pl_module.iteration, trainer.global_step, pl_module.net.tokenizer.embeddings.detach().clone()))

    dm = SphereDataModule(render_size=16, num_objects=2)
    initial = tiny_net.tokenizer.embeddings.detach().clone()
    trainer = cpu_trainer(tmp_path, 2, callbacks=[Record()])
    trainer.fit(module, datamodule=dm)
    assert [(i, s) for i, s, _ in seen] == [(1, 0), (2, 0), (3, 1), (4, 1), (5, 1), (6, 2)]
    assert torch.equal(seen[0][2], initial) and torch.equal(seen[1][2], initial)
    assert not torch.equal(seen[2][2], initial)
    assert all(p.grad is None for p in tiny_net.parameters())  # zeroed after the last step


@pytest.mark.parametrize(
    "weights, expected",
    [
        ({}, ALL_TERMS),
        ({k: 0.0 for k in ALL_TERMS[3:]}, ALL_TERMS[:3]),  # step 0: multi-view only
        (  # single-view and cycle without the CLIP term
            {"rgb": 0.0, "mask": 0.0, "perceptual": 0.0, "clip_novel": 0.0},
            ["rgb_sv", "mask_sv", "rgb_cy", "perceptual_cy", "mask_cy"],
        ),
        ({"rgb_cy": 0.0, "perceptual_cy": 0.0, "mask_cy": 0.0}, ALL_TERMS[:6]),
    ],
)
def test_each_loss_can_be_switched_off(tiny_net, random_lpips, random_clip, tmp_path, weights, expected):
    module = _module(tiny_net, random_lpips, random_clip, weights={**LossWeights().__dict__, **weights})
    logged = []

    class Record(pl.Callback):
        def on_train_batch_end(self, trainer, *args):
            logged.append(dict(trainer.callback_metrics))

    dm = SphereDataModule(render_size=16, num_objects=1)
    cpu_trainer(tmp_path, 1, callbacks=[Record()]).fit(module, datamodule=dm)
    names = sorted(k.removeprefix("train/loss_") for k in logged[0] if k.startswith("train/loss_"))
    assert names == sorted(expected)
    assert all(math.isfinite(float(v)) for v in logged[0].values())
    assert "train/loss" in logged[0] and "train/lr" in logged[0] and "train/iter_time" in logged[0]


def test_bad_batches_reuse_the_last_good_one(tiny_net):
    module = _module(tiny_net)
    good = {"image_input": torch.zeros(1, 3, 4, 4)}
    assert module._or_last_good("sv", None) is None  # before any good batch: skipped
    assert module._or_last_good("sv", good) is good
    assert module._or_last_good("sv", None) is good and module.replaced_batches == 1


def test_validation_psnr_on_training_batches_and_on_evaluation_items(tiny_net, tmp_path):
    from torch.utils.data import DataLoader

    from real3d.evaluation.multiview import evaluate_object
    from tests.training.synthetic import multiview_sample

    module = _module(tiny_net, val_render_size=32).eval()
    sample = multiview_sample(0, render_size=16)
    trainer = pl.Trainer(accelerator="cpu", logger=False, enable_progress_bar=False, enable_model_summary=False)
    # the datamodule's multi-view batches: rendered with their rays, PSNR over every view
    loader = DataLoader([sample], batch_size=1, collate_fn=MultiViewBatch.collate)
    metrics = trainer.validate(module, loader, verbose=False)[0]
    rays_o, rays_d = sample["cameras"].rays()
    with torch.no_grad():
        render = tiny_net(sample["image_input"][None, None], rays_o[None], rays_d[None])
    expected = psnr(render["images_rgb"][0].clamp(0, 1), sample["rgb"]).mean()
    assert metrics["val/psnr"] == pytest.approx(float(expected), abs=1e-4)
    # an evaluation set's unbatched items: scored by the evaluation code
    item = {
        "name": "sphere",
        "image_input": sample["image_input"],
        "rgb": sample["rgb"],
        "c2w": sample["cameras"].c2w,
        "focal_norm": sample["cameras"].focal / 16,
    }
    skipped = {"name": "bad", "skipped": "missing file"}
    metrics = trainer.validate(module, DataLoader([item, skipped], batch_size=None), verbose=False)[0]
    record, _, _ = evaluate_object(tiny_net, item, render_size=32)
    assert metrics["val/psnr"] == pytest.approx(record["all_views"]["psnr"], abs=1e-4)


@pytest.mark.parametrize("protocol", ["original", "corrected"])
def test_singleview_targets_and_cycle_input_follow_the_protocol(tiny_net, protocol):
    """original: 512 -> 128 bilinear without antialiasing (its get_loss_target); corrected: antialiased."""
    import torch.nn.functional as F

    module = _module(tiny_net, protocol=protocol)
    rgb = torch.rand(2, 3, 64, 64)
    mask = (torch.rand(2, 1, 64, 64) > 0.5).float()
    targets = module.singleview_targets(SimpleNamespace(rgb=rgb, mask=mask))
    plain = F.interpolate(rgb, (16, 16), mode="bilinear", align_corners=False)
    smooth = F.interpolate(rgb, (16, 16), mode="bilinear", align_corners=False, antialias=True)
    assert torch.allclose(targets["rgb"][:, 0], plain if protocol == "original" else smooth.clamp(0, 1))
    assert torch.equal(targets["mask"][:, 0], F.interpolate(mask, (16, 16), mode="nearest"))
    assert module.antialias == (protocol == "corrected")
    with pytest.raises(Real3DError, match="protocol"):
        _module(tiny_net, protocol="paper")


def test_non_finite_gradients_skip_the_step_and_are_counted(tiny_net, tmp_path):
    """As the original's GradScaler: a step with inf/NaN gradients is skipped (the schedule and the
    step count advance), counted in `skipped_steps`, logged, and kept across a resume."""
    module = _module(tiny_net, accumulation=1)
    original_pass = module.multiview_pass

    def poisoned(batch):
        terms, render = original_pass(batch)
        if module.iteration == 1:
            terms = {k: v * float("nan") for k, v in terms.items()}
        return terms, render

    module.multiview_pass = poisoned
    seen = []

    class Record(pl.Callback):
        def on_train_batch_end(self, trainer, pl_module, *args):
            seen.append(
                (
                    pl_module.skipped_steps,
                    trainer.global_step,
                    float(trainer.callback_metrics["train/skipped_steps"]),
                    pl_module.net.tokenizer.embeddings.detach().clone(),
                )
            )

    trainer = cpu_trainer(tmp_path, 3, callbacks=[Record()])
    trainer.fit(module, datamodule=SphereDataModule(render_size=16, num_objects=1, singleview=False))
    assert [(s, g, logged) for s, g, logged, _ in seen] == [(0, 1, 0.0), (1, 2, 1.0), (1, 3, 1.0)]
    assert torch.equal(seen[0][3], seen[1][3]) and not torch.equal(seen[1][3], seen[2][3])
    assert all(torch.isfinite(p).all() for p in tiny_net.parameters())
    optimizer = trainer.optimizers[0]
    assert int(optimizer.state[tiny_net.tokenizer.embeddings]["step"]) == 2  # AdamW stepped twice
    assert trainer.lr_scheduler_configs[0].scheduler.last_epoch == 3  # the schedule advanced 3 times
    checkpoint = {}
    module.on_save_checkpoint(checkpoint)
    resumed = _module(tiny_net)
    resumed.on_load_checkpoint(checkpoint)
    assert resumed.skipped_steps == 1 and resumed.iteration == 3


@pytest.mark.parametrize("strategy", ["FSDPStrategy", "DeepSpeedStrategy", "ModelParallelStrategy"])
def test_sharding_strategies_are_refused_in_one_line(tiny_net, strategy):
    """Lightning runs the training step inside a sharded module's forward, where the per-pass backward
    cannot run (Lightning #19626, #19685): such a strategy stops the run before training, naming DDP."""
    import pytorch_lightning.strategies as strategies

    module = _module(tiny_net)
    cls = getattr(strategies, strategy)
    module.trainer = SimpleNamespace(strategy=cls.__new__(cls))  # the type is what is checked
    with pytest.raises(Real3DError, match=rf"{strategy} is not supported.*trainer/strategy=ddp"):
        module.setup("fit")
    module.trainer = SimpleNamespace(strategy=strategies.DDPStrategy())
    module.setup("fit")


def test_fsdp_is_not_a_strategy_config():
    from hydra.errors import MissingConfigException

    from tests.training.runs import compose_train

    with pytest.raises(MissingConfigException, match="fsdp"):
        compose_train(["experiment=tiny_cpu", "trainer/strategy=fsdp"])

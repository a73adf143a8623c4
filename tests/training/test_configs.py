"""The Hydra configs: the published recipe value by value (SPEC §6), step 0, and the CPU run."""

from __future__ import annotations

import hydra
import pytest

from real3d.training import Real3DModule
from tests.training.runs import compose_train


def _compose(experiment: str, *overrides: str):
    return compose_train([f"experiment={experiment}", "paths.output_dir=/tmp/unused", *overrides])


def test_real3d_sv_reproduces_the_published_recipe():
    cfg = _compose("real3d_sv")
    m = cfg.module
    # 1. multi-view: input + 4 targets at 128², 128 samples per ray; MSE rgb 2, opacity 1, LPIPS 1
    assert (cfg.data.num_target_views, cfg.data.render_size, cfg.data.cond_image_size) == (4, 128, 512)
    assert cfg.model.render.num_samples_per_ray == 128
    w = cfg.losses.weights
    assert (w.rgb, w.mask, w.perceptual) == (2.0, 1.0, 1.0)
    # 2. single-view: 4 views (azimuth ±120, elevation ±45), MSE rgb 0.6, mask 0.3, CLIP 1.0
    sv = m.single_view
    assert (sv.n_views, sv.azimuth_range_deg, sv.elevation_range_deg, sv.render_size) == (4, 120.0, 45.0, 128)
    assert (w.rgb_sv, w.mask_sv, w.clip_novel) == (0.6, 0.3, 1.0)
    assert cfg.losses.clip.config == "ViT-B-16" and not cfg.losses.clip.allow_random
    assert not cfg.losses.lpips.allow_random
    # 3. cycle: re-render at input resolution, grey where opacity > 0.5; MSE rgb 20, LPIPS 10, mask 10
    assert sv.rerender and sv.rerender_size is None and (sv.opacity_threshold, sv.background) == (0.5, 0.5)
    assert (w.rgb_cy, w.perceptual_cy, w.mask_cy) == (20.0, 10.0, 10.0)
    assert sv.curriculum and list(sv.curriculum_azimuth_deg) == list(sv.curriculum_elevation_deg) == [15.0, 90.0]
    # 4. accumulation 10, clipping 1.0; AdamW 4e-5 for every group (null: the optimizer's), betas, eps, weight decay
    assert (m.training.accumulation_steps, m.training.gradient_clip_norm) == (10, 1.0)
    o = m.optimizer
    assert o.lr == 4e-5 and m.param_groups.lr_embeddings is None and m.param_groups.lr_image_encoder is None
    assert list(o.betas) == [0.9, 0.96] and o.eps == 1e-6 and o.weight_decay == 0.05
    # cosine with warmup: 1000 / 100000 iterations -> 100 / 10000 optimizer steps
    assert (m.scheduler.warmup_iterations, m.training.total_iterations) == (1000, 100_000)
    assert cfg.trainer.max_steps == 10_000
    # bf16, ZeRO-sharded AdamW, 8 GPUs, batch 1 + 1 per GPU
    assert cfg.trainer.precision == "bf16-mixed" and cfg.trainer.devices == 8
    assert o._target_.endswith("ZeroRedundancyOptimizer") and o.optimizer_class.path == "torch.optim.AdamW"
    assert cfg.trainer.strategy._target_.endswith("DDPStrategy")
    assert (cfg.data.batch_size_mv, cfg.data.batch_size_sv) == (1, 1)
    # checkpoints every 1000 iterations, best by multi-view PSNR; initialised from released weights
    assert cfg.callbacks.periodic_checkpoint.every_n_iterations == 1000
    assert (cfg.callbacks.best_checkpoint.monitor, cfg.callbacks.best_checkpoint.mode) == ("val/psnr", "max")
    assert cfg.model.path.endswith("checkpoints") and cfg.model.weight_name == "model_both.ckpt"


def test_mv_finetune_is_multiview_only_from_triposr():
    cfg = _compose("mv_finetune")
    w = cfg.losses.weights
    assert (w.rgb, w.mask, w.perceptual) == (2.0, 1.0, 1.0)
    assert not any(w[k] for k in ("rgb_sv", "mask_sv", "clip_novel", "rgb_cy", "perceptual_cy", "mask_cy"))
    assert cfg.losses.clip is None and cfg.data.wild_root is None and cfg.data.mvimgnet_images_root is None
    assert cfg.model.weight_name == "model.ckpt" and cfg.module.optimizer.lr == 4e-4
    assert cfg.module.optimizer._target_ == "torch.optim.AdamW"


@pytest.mark.parametrize("experiment", ["real3d_sv", "mv_finetune"])
def test_recipe_module_instantiates(experiment):
    # the full model needs the released weights; the tiny one stands in, everything else as configured
    overrides = ["model=tiny", "model.path=null", "losses.lpips.allow_random=true"]
    if experiment == "real3d_sv":
        tiny_clip = "${paths.root_dir}/real3d/models/configs/clip-tiny/config.json"
        overrides += ["losses.clip.allow_random=true", f"losses.clip.config={tiny_clip}"]
    cfg = _compose(experiment, *overrides)
    module = hydra.utils.instantiate(cfg.module)
    assert isinstance(module, Real3DModule)
    assert module.training_cfg.accumulation_steps == 10 and module.optimizer_factory.keywords["betas"] == [0.9, 0.96]
    assert (module.clip_encoder is None) == (experiment == "mv_finetune")
    optimizer = module.hparams["optimizer"]  # the partial, recorded as plain data in checkpoints
    assert optimizer["lr"] == (4e-5 if experiment == "real3d_sv" else 4e-4)
    if experiment == "real3d_sv":
        assert optimizer["optimizer_class"] == "torch.optim.adamw.AdamW"
    assert "lpips" not in str(list(module.state_dict())) and "clip" not in str(list(module.state_dict()))


def test_tiny_cpu_runs_on_cpu_with_random_frozen_networks():
    cfg = _compose("tiny_cpu")
    assert cfg.trainer.accelerator == "cpu" and cfg.trainer.strategy == "auto"
    assert cfg.losses.lpips.allow_random and cfg.losses.clip.allow_random
    assert cfg.model.config.endswith("tiny/config.yaml")


def test_recipe_resolves_per_source_distances_and_the_original_protocol():
    from omegaconf import OmegaConf

    cfg = _compose("real3d_sv")
    resolved = OmegaConf.to_container(cfg, resolve=True)
    # SPEC §4: synthetic renders at 2.4 (their own fov), real single views at 3.0
    assert resolved["data"]["camera_distance"] == {"gobjaverse": 2.4, "zero123": 2.4, "mvimgnet": 3.0, "wild": 3.0}
    assert "gobjaverse: 2.4" in OmegaConf.to_yaml(cfg, resolve=True)
    assert resolved["protocol"] == resolved["data"]["protocol"] == resolved["module"]["protocol"] == "original"
    # the original's Zero-1-to-3 selection, first MVImgNet frames, best checkpoint on MVImgNet
    assert resolved["data"]["zero123_index"] == "default" and resolved["data"]["zero123_num_views"] == 12
    assert resolved["data"]["mvimgnet_frame"] == "first"
    assert resolved["data"]["val_mvimgnet_root"] == resolved["data"]["mvimgnet_images_root"]
    assert resolved["data"]["val_mvimgnet_mask_root"] == resolved["data"]["mvimgnet_masks_root"]
    assert resolved["data"]["val_camera_distance"] == 3.0
    corrected = _compose("real3d_sv", "protocol=corrected")
    assert corrected.data.protocol == corrected.module.protocol == "corrected"
    step0 = OmegaConf.to_container(_compose("mv_finetune"), resolve=True)
    assert step0["data"]["camera_distance"]["gobjaverse"] == step0["data"]["camera_distance"]["zero123"] == 2.4


def test_mini_study_keeps_its_own_framing_and_filters():
    """The mini study's generated S renders use the real-data fov: distance 3.0; its numbers were
    made with the corrected filters."""
    cfg = _compose("mini_mv")
    assert cfg.protocol == "corrected" and cfg.data.camera_distance.gobjaverse == 3.0
    assert cfg.data.camera_distance.wild == 3.0


def test_the_miniature_clip_loads_through_the_pretrained_group():
    """`pretrained=mini` selects the CLIP-like model trained on the domain images (issue 17, item 2)."""
    import torch

    cfg = _compose("real3d_sv", "pretrained=mini")
    encoder = hydra.utils.instantiate(cfg.losses.clip)
    features = encoder(torch.rand(2, 3, 64, 64))
    assert features.shape == (2, 64)
    assert torch.allclose(features.norm(dim=-1), torch.ones(2), atol=1e-5)


def test_the_small_model_can_start_from_the_pretrained_encoder():
    import torch

    cfg = _compose("mini_mv", "model=small_pretrained")
    assert cfg.model.image_encoder.endswith("checkpoints/mini/encoder") and cfg.model.path is None
    from transformers import ViTModel

    net = hydra.utils.instantiate(cfg.model)
    pretrained = ViTModel.from_pretrained(cfg.model.image_encoder, local_files_only=True).state_dict()
    assert all(torch.equal(v, pretrained[k]) for k, v in net.image_tokenizer.model.state_dict().items())


def test_the_base_model_experiment_trains_the_medium_model_on_domain_b():
    """mini_default (issue 17): the medium LRM from the pretrained encoder, 64² targets via 32² ray
    patches, multi-view losses only, on the base set."""
    cfg = _compose("mini_default")
    assert cfg.model.config.endswith("real3d/models/configs/medium/config.yaml")
    assert cfg.model.image_encoder.endswith("checkpoints/mini/encoder") and cfg.model.path is None
    assert (cfg.data.render_size, cfg.module.training.ray_patch_size) == (64, 32)
    assert cfg.data.gobjaverse_root.endswith("B_train/gobjaverse") and cfg.data.wild_root is None
    assert cfg.losses.clip is None and not cfg.losses.weights.rgb_cy and not cfg.losses.weights.rgb_sv


def test_the_128_input_model_reads_a_128_image_with_the_64_pretrained_encoder():
    """model=medium128 (train_default.sh --image-size 128): the medium LRM at a 128² input, its encoder
    loaded from the 64²-pretrained ViT unchanged (position embeddings interpolated: 16×16 patches)."""
    import torch

    cfg = _compose("mini_default", "model=medium128", "data.cond_image_size=128")
    assert cfg.model.config.endswith("real3d/models/configs/medium128/config.yaml")
    assert cfg.model.image_encoder.endswith("checkpoints/mini/encoder")
    net = hydra.utils.instantiate(cfg.model)
    assert net.cfg.cond_image_size == 128 and net.image_tokenizer.model.config.image_size == 64
    with torch.no_grad():
        tokens = net.image_tokenizer(torch.rand(1, 1, 3, 128, 128))
    assert tokens.shape[-1] == 1 + (128 // 8) ** 2  # [B, Nv, C, tokens]: CLS + 16×16 patches


ABLATION_ROWS = {  # row -> (weights that are on, curriculum, stop-gradient, single-view data)
    "a_mv": (set(), True, True, False),
    "b_input_view": ({"rgb_sv", "mask_sv"}, True, True, True),
    "c_clip": ({"rgb_sv", "mask_sv", "clip_novel"}, True, True, True),
    "d_full": ({"rgb_sv", "mask_sv", "clip_novel", "rgb_cy", "mask_cy"}, True, True, True),
    "e_no_curriculum": ({"rgb_sv", "mask_sv", "clip_novel", "rgb_cy", "mask_cy"}, False, True, True),
    "f_end_to_end": ({"rgb_sv", "mask_sv", "clip_novel", "rgb_cy", "mask_cy"}, True, False, True),
    "g_uncurated": ({"rgb_sv", "mask_sv", "clip_novel", "rgb_cy", "mask_cy"}, True, True, True),
    "g_curated": ({"rgb_sv", "mask_sv", "clip_novel", "rgb_cy", "mask_cy"}, True, True, True),
}


@pytest.mark.parametrize("row", sorted(ABLATION_ROWS))
def test_ablation_rows_differ_from_the_full_recipe_in_one_thing_each(row):
    """Every row fine-tunes the base model with the miniature CLIP; the single-view terms, the curriculum
    and the stop-gradient are what the paper's rows say (LPIPS off: no pretrained VGG here)."""
    on, curriculum, stop_gradient, single_view = ABLATION_ROWS[row]
    cfg = _compose(f"ablation/{row}")
    assert cfg.model.path.endswith("checkpoints/mini/base") and cfg.model.image_encoder is None
    w = cfg.losses.weights
    sv_terms = ("rgb_sv", "mask_sv", "clip_novel", "rgb_cy", "mask_cy", "perceptual_cy")
    assert {k for k in sv_terms if w[k]} == on and w.rgb and w.mask and not w.perceptual
    assert cfg.module.single_view.curriculum is curriculum and cfg.module.single_view.stop_gradient is stop_gradient
    assert (cfg.data.wild_root is not None) is single_view
    if single_view:  # (g): the uncurated photos' crops, unfiltered or curated; the others: the R training crops
        folder = {"g_uncurated": "R_uncurated/crops", "g_curated": "R_uncurated/curated"}.get(row, "R_train/wild")
        assert cfg.data.wild_root.endswith(folder) and cfg.data.wild_split.startswith(cfg.data.wild_root)
    assert (cfg.losses.clip is not None) is ("clip_novel" in on)
    if cfg.losses.clip is not None:
        assert cfg.losses.clip.weights_path.endswith("checkpoints/mini/clip/open_clip_model.safetensors")

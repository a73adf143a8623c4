"""`trainer.precision=16-mixed` under manual optimization: the GradScaler's gradients are unscaled
before the clipping, and the scaler skips a non-finite step and lowers its scale (CPU fp16 autocast)."""

from __future__ import annotations

import copy
from functools import partial

import pytorch_lightning as pl
import torch
from pytorch_lightning.plugins.precision import MixedPrecision

from real3d.training import Real3DModule
from real3d.training.optim import cosine_with_warmup
from tests.training.runs import cpu_trainer
from tests.training.synthetic import SphereDataModule

MV_ONLY = {k: 0.0 for k in ("perceptual", "rgb_sv", "mask_sv", "clip_novel", "rgb_cy", "perceptual_cy", "mask_cy")}
CLIP_NORM = 1e-3  # far below the gradient norm: every step is clipped
LR = 1.0
INIT_SCALE = 2.0**16


def _module(net) -> Real3DModule:
    """Plain SGD (the update is -lr·gradient, so a wrongly scaled gradient shows in the step) with clipping."""
    return Real3DModule(
        net,
        optimizer=partial(torch.optim.SGD, lr=LR),
        scheduler=partial(cosine_with_warmup, warmup_iterations=0, total_iterations=10_000, accumulation_steps=1),
        loss_weights=MV_ONLY,
        training={"accumulation_steps": 1, "total_iterations": 10_000, "seed": 0, "gradient_clip_norm": CLIP_NORM},
        visualization={"every_n_iterations": 0},
    )


def _fp16_plugin() -> MixedPrecision:
    return MixedPrecision("16-mixed", "cpu", scaler=torch.amp.GradScaler("cpu", init_scale=INIT_SCALE))


class Recorder(pl.Callback):
    """Per iteration: parameters before and after, the accumulated (scaled) gradients after the last
    backward, the gradients the optimizer step starts from, and the loss scale."""

    def __init__(self) -> None:
        self.records: list[dict] = []

    @staticmethod
    def _flat(tensors) -> torch.Tensor:  # noqa: ANN001
        return torch.cat([t.detach().reshape(-1).clone().double() for t in tensors])

    @classmethod
    def _grads(cls, net) -> torch.Tensor:  # noqa: ANN001
        """Every parameter's gradient, zeros where there is none (the ViT pooler)."""
        return cls._flat(torch.zeros_like(p) if p.grad is None else p.grad for p in net.parameters())

    def on_train_batch_start(self, trainer, pl_module, *args) -> None:  # noqa: ANN001, ANN002
        self.records.append({"before": self._flat(pl_module.net.parameters())})

    def on_after_backward(self, trainer, pl_module) -> None:  # noqa: ANN001
        self.records[-1]["scaled"] = self._grads(pl_module.net)

    def on_before_optimizer_step(self, trainer, pl_module, optimizer) -> None:  # noqa: ANN001
        # callbacks run before the module's hook, which clips: these are the gradients before clipping
        self.records[-1]["unscaled"] = self._grads(pl_module.net)
        scaler = getattr(trainer.precision_plugin, "scaler", None)
        self.records[-1]["scale"] = scaler.get_scale() if scaler is not None else 1.0

    def on_train_batch_end(self, trainer, pl_module, *args) -> None:  # noqa: ANN001, ANN002
        record = self.records[-1]
        record["after"] = self._flat(pl_module.net.parameters())
        record["skipped_steps"] = float(trainer.callback_metrics["train/skipped_steps"])
        scaler = getattr(trainer.precision_plugin, "scaler", None)
        record["scale_after"] = scaler.get_scale() if scaler is not None else 1.0


def _fit(net, tmp_path, steps: int, plugins: list) -> list[dict]:
    recorder = Recorder()
    trainer = cpu_trainer(tmp_path, steps, callbacks=[recorder], plugins=plugins)
    trainer.fit(_module(net), datamodule=SphereDataModule(render_size=16, num_objects=1, singleview=False))
    return recorder.records


def _clipped(grad: torch.Tensor) -> torch.Tensor:
    """torch's clip_grad_norm_ of a flat fp64 gradient."""
    return grad * min(1.0, CLIP_NORM / (float(grad.norm()) + 1e-6))


def _is_sgd_step(record: dict) -> bool:
    """Whether the parameters moved by -lr·clip(unscaled gradient), up to the fp32 rounding of the update."""
    step = record["after"] - record["before"]
    expected = -LR * _clipped(record["unscaled"])
    rounding = 2 * torch.finfo(torch.float32).eps * record["before"].abs() + 1e-12
    return bool(((step - expected).abs() <= 1e-5 * expected.abs() + rounding).all())


def test_fp16_step_is_the_unscaled_clipped_step(tiny_net, tmp_path):
    fp32_net = copy.deepcopy(tiny_net)
    (record,) = _fit(tiny_net, tmp_path / "fp16", 1, [_fp16_plugin()])
    # the scaled gradients are unscaled (exactly: the scale is a power of two) before the clipping
    assert record["scale"] == INIT_SCALE
    assert torch.equal(record["unscaled"], record["scaled"] / INIT_SCALE)
    assert _is_sgd_step(record)
    step = record["after"] - record["before"]
    assert abs(float(step.norm()) - LR * CLIP_NORM) < 1e-3 * LR * CLIP_NORM  # clipped to the norm, not norm/scale
    # and it is the fp32 run's step up to fp16 rounding of the forward and backward
    (fp32,) = _fit(fp32_net, tmp_path / "fp32", 1, [])
    fp32_step = fp32["after"] - fp32["before"]
    assert torch.equal(fp32["before"], record["before"])
    cosine = float(step @ fp32_step / (step.norm() * fp32_step.norm()))
    assert cosine > 0.99, cosine
    assert abs(float(fp32_step.norm()) - float(step.norm())) < 1e-3 * LR * CLIP_NORM


def test_fp16_overflow_lowers_the_scale_skips_the_step_and_training_goes_on(tiny_net, tmp_path):
    records = []

    class Poison(pl.Callback):
        def on_train_start(self, trainer, module) -> None:  # noqa: ANN001
            original = module.multiview_pass

            def poisoned(batch):  # noqa: ANN001, ANN202
                terms, render = original(batch)
                if module.iteration == 1:
                    terms = {k: v * float("inf") for k, v in terms.items()}
                return terms, render

            module.multiview_pass = poisoned

    recorder = Recorder()
    trainer = cpu_trainer(tmp_path, 4, callbacks=[Poison(), recorder], plugins=[_fp16_plugin()])
    module = _module(tiny_net)
    trainer.fit(module, datamodule=SphereDataModule(render_size=16, num_objects=1, singleview=False))
    records = recorder.records
    assert [r["scale_after"] for r in records] == [INIT_SCALE, INIT_SCALE / 2, INIT_SCALE / 2, INIT_SCALE / 2]
    assert [r["skipped_steps"] for r in records] == [0.0, 1.0, 1.0, 1.0]
    assert module.skipped_steps == 1 and trainer.global_step == 4  # the skipped step counts, as under bf16/fp32
    assert torch.equal(records[1]["after"], records[1]["before"])  # the overflowing step changed nothing
    assert all(_is_sgd_step(records[i]) for i in (0, 2, 3))  # the others moved by the clipped, unscaled gradient
    assert all(torch.isfinite(p).all() for p in tiny_net.parameters())

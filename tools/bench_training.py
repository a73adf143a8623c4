"""Training benchmark: iteration time and peak memory of a recipe, pass by pass.

Runs a few iterations of the real training loop (`Real3DModule` under a Lightning Trainer, built
from the Hydra config like `scripts/train.py`) on generated data, and reports per iteration where
the time goes: the supervised multi-view pass, the single-view pass, the cycle pass's no-grad
re-render and the cycle pass itself (forward and backward apart), with each pass's peak memory.

    python tools/bench_training.py --recipe tiny          # experiment=tiny_cpu
    python tools/bench_training.py --recipe full --iterations 1 --checkpointing
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import hydra
import pytorch_lightning as pl
import torch
from hydra import compose, initialize_config_dir

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # `python tools/bench_training.py` as well as `python -m tools.bench_training`

from real3d.models.loading import set_render_defaults  # noqa: E402
from real3d.models.lrm import cpu_has_bf16  # noqa: E402
from real3d.training.run import ensure_synthetic_data, register_resolvers  # noqa: E402
from tools.bench_inference import PeakMemory, machine_description  # noqa: E402

RECIPES = {
    "tiny": ["experiment=tiny_cpu"],
    # The published recipe's model and sizes (512² input, 4 views at 128², 128 samples/ray, 512²
    # cycle re-render) with a random full-size model and random LPIPS/CLIP on the generated data.
    "full": [
        "experiment=tiny_cpu",
        "model=triposr",
        "model.path=null",
        f"model.config={ROOT / 'checkpoints' / 'config.yaml'}",
        "data.cond_image_size=512",
        "data.render_size=128",
        "module.single_view.render_size=128",
        "module.optimizer.lr=4e-5",
        "pretrained.clip_config=ViT-B-16",
    ],
}
PASSES = ("multiview_pass", "single_view_pass", "cycle_rerender", "cycle_pass")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", choices=sorted(RECIPES), default="tiny")
    parser.add_argument("--iterations", type=int, default=3, help="Iterations run; the first is a warm-up when > 1.")
    parser.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    parser.add_argument(
        "--checkpointing", action="store_true", help="Activation checkpointing (ViT, backbone, renderer)."
    )
    parser.add_argument("--faithful", action="store_true", help="No fast rendering path (no-grad renders in full).")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--data-dir", default=None, help="Where the generated data is (written when missing).")
    parser.add_argument("--json", default=None)
    parser.add_argument("overrides", nargs="*", help="Extra Hydra overrides.")
    return parser.parse_args(argv)


class PassTimer:
    """Wraps the module's passes and backward: seconds and peak memory per pass and iteration."""

    def __init__(self, module: pl.LightningModule, device: torch.device) -> None:
        self.device = device
        self.current = "other"
        self.records: list[dict[str, float]] = []
        self.iteration: dict[str, float] = defaultdict(float)
        for name in ("multiview_pass", "single_view_pass", "cycle_pass"):
            setattr(module, name, self._wrap(getattr(module, name), name))
        module.manual_backward = self._wrap_backward(module.manual_backward)
        self._rerender_memory: PeakMemory | None = None
        module.net.register_forward_pre_hook(self._net_pre)
        module.net.register_forward_hook(self._net_post)

    def _sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def _measure(self, key: str, fn, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        self._sync()
        with PeakMemory(self.device) as memory:
            start = time.perf_counter()
            out = fn(*args, **kwargs)
            self._sync()
            self.iteration[f"{key}/s"] += time.perf_counter() - start
        self.iteration[f"{key}/peak_mb"] = max(self.iteration[f"{key}/peak_mb"], memory.peak_mb)
        self.iteration["measurement_overhead/s"] += memory.settle_s
        return out

    def _wrap(self, fn, name: str):  # noqa: ANN001, ANN202
        def wrapped(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
            self.current = name
            return self._measure(f"{name}/forward", fn, *args, **kwargs)

        return wrapped

    def _wrap_backward(self, fn):  # noqa: ANN001, ANN202
        def wrapped(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
            return self._measure(f"{self.current}/backward", fn, *args, **kwargs)

        return wrapped

    def _net_pre(self, module: torch.nn.Module, args: tuple) -> None:
        if self.current == "cycle_pass" and not torch.is_grad_enabled():
            self._sync()
            self._rerender_start = time.perf_counter()

    def _net_post(self, module: torch.nn.Module, args: tuple, output: object) -> None:
        if self.current == "cycle_pass" and not torch.is_grad_enabled():
            self._sync()
            self.iteration["cycle_rerender/forward/s"] += time.perf_counter() - self._rerender_start

    def end_iteration(self, seconds: float) -> None:
        record = dict(self.iteration)
        # The re-render runs inside the cycle pass's forward: report the two apart.
        record["cycle_pass/forward/s"] = record.get("cycle_pass/forward/s", 0.0) - record.get(
            "cycle_rerender/forward/s", 0.0
        )
        record["iteration/s"] = seconds - record.pop("measurement_overhead/s", 0.0)
        self.records.append(record)
        self.iteration = defaultdict(float)


class IterationCallback(pl.Callback):
    def __init__(self, timer: PassTimer) -> None:
        self.timer = timer

    def on_train_batch_start(self, trainer, module, batch, batch_idx) -> None:  # noqa: ANN001
        self._start = time.perf_counter()

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:  # noqa: ANN001
        self.timer.end_iteration(time.perf_counter() - self._start)


def enable_checkpointing(net: torch.nn.Module) -> None:
    """Recompute activations in the backward pass: ViT layers, backbone blocks, renderer chunks."""
    net.image_tokenizer.enable_gradient_checkpointing()
    net.backbone.gradient_checkpointing = True
    set_render_defaults(net, {"gradient_checkpointing": True})


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if args.precision == "bf16" and device.type == "cpu" and not cpu_has_bf16():
        print(
            "bf16 skipped: this CPU has no bf16 instructions (AVX512-BF16/AMX), bf16 autocast would run many "
            "times slower than fp32. Run with --device cuda (or on a bf16 CPU) for the bf16 numbers."
        )
        return 0
    os.environ.setdefault("PROJECT_ROOT", str(ROOT))
    register_resolvers()
    work = Path(tempfile.mkdtemp(prefix="bench_training_"))
    data_dir = Path(args.data_dir) if args.data_dir else work / "data"
    overrides = RECIPES[args.recipe] + [
        f"paths.data_dir={data_dir}",
        f"paths.output_dir={work / 'run'}",
        "module.visualization.every_n_iterations=0",
    ]
    with initialize_config_dir(config_dir=str(ROOT / "config"), version_base="1.3"):
        cfg = compose("train", overrides=overrides + args.overrides)
    if cfg.get("generate_data"):
        ensure_synthetic_data(**cfg.generate_data)
    pl.seed_everything(0)
    datamodule = hydra.utils.instantiate(cfg.data)
    module = hydra.utils.instantiate(cfg.module)
    if args.checkpointing:
        enable_checkpointing(module.net)
    set_render_defaults(module.net, {"fast": not args.faithful})
    timer = PassTimer(module, device)
    trainer = pl.Trainer(
        accelerator="gpu" if device.type == "cuda" else "cpu",
        devices=1,
        precision="bf16-mixed" if args.precision == "bf16" else "32-true",
        max_epochs=-1,
        max_steps=-1,
        limit_train_batches=args.iterations,
        max_time=None,
        limit_val_batches=0,
        num_sanity_val_steps=0,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[IterationCallback(timer)],
        default_root_dir=str(work / "run"),
    )
    trainer.fit_loop.max_epochs = 1
    trainer.fit(module, datamodule=datamodule)

    measured = timer.records[1:] if len(timer.records) > 1 else timer.records
    keys = sorted({k for r in measured for k in r})
    summary = {k: statistics.median(r.get(k, 0.0) for r in measured) for k in keys}
    machine = machine_description(device)
    print(json.dumps(machine))
    label = (
        f"recipe={args.recipe} precision={args.precision} checkpointing={args.checkpointing} "
        f"renderer={'faithful' if args.faithful else 'fast'}"
    )
    print(f"{label}: {len(measured)} measured iteration(s) (median), {len(timer.records)} run")
    print(f"{'pass':<18} {'forward (s)':>12} {'backward (s)':>13} {'peak MB fwd':>12} {'peak MB bwd':>12}")
    for name in PASSES:
        forward = summary.get(f"{name}/forward/s", 0.0)
        backward = summary.get(f"{name}/backward/s", 0.0)
        peaks = [summary.get(f"{name}/{part}/peak_mb") for part in ("forward", "backward")]
        peak_f, peak_b = (f"{p:12.0f}" if p is not None else f"{'-':>12}" for p in peaks)
        note = " (inside cycle_pass, no grad)" if name == "cycle_rerender" else ""
        print(f"{name:<18} {forward:12.2f} {backward:13.2f} {peak_f} {peak_b}{note}")
    print(f"{'iteration':<18} {summary['iteration/s']:12.2f} s in all (optimizer step included when due)")
    if args.json:
        result = {"machine": machine, "args": vars(args), "summary": summary, "records": timer.records}
        Path(args.json).write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

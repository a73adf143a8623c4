#!/usr/bin/env python
"""Helpers of the mini study (scripts/reproduce_mini.sh, docs/mini_study.md).

    python tools/mini_study_report.py data OUT_DIR              # generate the S / R datasets
    python tools/mini_study_report.py report STUDY_DIR --doc docs/mini_study.md \
        --figure docs/mini_study.png [--wall-time S] [--export-default checkpoints/default]

`report` reads STUDY_DIR/runs/<variant>_seed<k>/eval_{S,R}/metrics.json (written by
scripts/eval_mv.py), writes the table (mean ± std over seeds) between the markers of the doc
(the rest of the doc is kept), draws the figure with PIL, and optionally copies the best model
(highest R-test novel-view PSNR) to the default checkpoint folder.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import re
import shutil
import statistics
import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT))

from omegaconf import OmegaConf  # noqa: E402
from PIL import Image, ImageDraw  # noqa: E402

from real3d.cli import run_cli  # noqa: E402
from real3d.errors import Real3DError  # noqa: E402
from real3d.io import atomic_path, atomic_write_text  # noqa: E402

VARIANTS = {
    "start": "(0) the pre-trained start (mini_mv)",
    "mini_mv": "(a) multi-view S only",
    "mini_cycle": "(b) + R self-training (recon + cycle)",
    "mini_clip": "(c) (b) + CLIP semantic (random CLIP)",
    "mini_cycle_light": "(b') (b) with cycle weights / 10",
    "mini_recon": "(b'') (b) without the cycle loss",
}
DOMAINS = ("S", "R")
METRICS = ("psnr", "ssim", "lpips")
BLOCKS = {  # table blocks of the doc: the study from scratch, and the one from a pre-trained start
    "scratch": ("<!-- mini-study-table:begin -->", "<!-- mini-study-table:end -->"),
    "pretrained": ("<!-- mini-study-pretrained:begin -->", "<!-- mini-study-pretrained:end -->"),
    "ablation": ("<!-- mini-study-ablation:begin -->", "<!-- mini-study-ablation:end -->"),  # tools/ablation_report.py
}
RUN_NAME = re.compile(r"^(?P<variant>.+)_seed(?P<seed>\d+)$")
# Demo settings that suit the small model (ignored by the model loader; see docs/mini_study.md):
# its fields are softer than TripoSR's (peak densities ~10-30, so the isovalue 25 leaves almost
# nothing), it saw objects at ~0.45 of the image side, and its canonical camera is at distance 3.0.
DEMO_HINTS = """
# Demo settings for this small model (the model loader ignores this section).
demo:
  mc_threshold: 5.0
  foreground_ratio: 0.45
  render_distance: 3.0
  render_fovy_deg: 39.6
  render_size: 128
"""
COLOURS = {
    "start": (60, 160, 60),
    "mini_mv": (120, 120, 120),
    "mini_cycle": (52, 120, 200),
    "mini_clip": (230, 140, 40),
    "mini_cycle_light": (120, 170, 230),
    "mini_recon": (150, 90, 180),
}


def collect(study_dir: Path) -> dict:
    """{variant: {seed: {domain: metrics.json content}}} of the evaluated runs."""
    runs: dict = {}
    for run in sorted((study_dir / "runs").iterdir()) if (study_dir / "runs").is_dir() else []:
        match = RUN_NAME.match(run.name)
        if not match:
            continue
        for domain in DOMAINS:
            path = run / f"eval_{domain}" / "metrics.json"
            if path.is_file():
                result = json.loads(path.read_text())
                runs.setdefault(match["variant"], {}).setdefault(int(match["seed"]), {})[domain] = result
    if not runs:
        raise Real3DError(f"no evaluated runs under {study_dir}/runs (expected <variant>_seed<k>/eval_S/metrics.json)")
    return runs


def summarise(runs: dict, group: str = "novel_views") -> dict:
    """{variant: {domain: {metric: (mean, std, n)}}} over seeds."""
    table: dict = {}
    for variant, seeds in runs.items():
        for domain in DOMAINS:
            for metric in METRICS:
                values = [r[domain][group][metric] for r in seeds.values() if domain in r]
                if values:
                    std = statistics.stdev(values) if len(values) > 1 else 0.0
                    table.setdefault(variant, {}).setdefault(domain, {})[metric] = (
                        statistics.fmean(values),
                        std,
                        len(values),
                    )
    return table


def _ordered(table: dict) -> list[str]:
    return [v for v in VARIANTS if v in table] + sorted(v for v in table if v not in VARIANTS)


def markdown_table(table: dict, group: str) -> str:
    header = "| variant | seeds | " + " | ".join(f"{d} {m.upper()}" for d in DOMAINS for m in METRICS) + " |"
    lines = [header, "|" + "---|" * (2 + len(DOMAINS) * len(METRICS))]
    for variant in _ordered(table):
        cells = []
        n = max(v[2] for d in table[variant].values() for v in d.values())
        for domain in DOMAINS:
            for metric in METRICS:
                value = table[variant].get(domain, {}).get(metric)
                cells.append("–" if value is None else f"{value[0]:.3f} ± {value[1]:.3f}")
        lines.append(f"| {VARIANTS.get(variant, variant)} | {n} | " + " | ".join(cells) + " |")
    return f"{group.replace('_', ' ')} (mean ± std over seeds):\n\n" + "\n".join(lines)


LOSS_COLUMNS = ("loss_rgb", "loss_rgb_sv", "loss_rgb_cy", "loss_clip_novel")


def training_summary(run_dir: Path, last: int = 5) -> dict[str, float]:
    """Last validation PSNR (S val) and the mean of the last `last` logged values of the main
    loss terms, from the run's CSV log."""
    path = run_dir / "csv" / "metrics.csv"
    if not path.is_file():
        return {}
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    out: dict[str, float] = {}
    vals = [float(r["val/psnr"]) for r in rows if r.get("val/psnr")]
    if vals:
        out["val_psnr"] = vals[-1]
    for name in LOSS_COLUMNS:
        values = [float(r[f"train/{name}"]) for r in rows if r.get(f"train/{name}")]
        if values:
            out[name] = statistics.fmean(values[-last:])
    return out


def _fmt(value: float | None) -> str:
    return "–" if value is None or math.isnan(value) else f"{value:.3f}"


def table_block(
    runs: dict,
    wall_time: float | None,
    iterations: int | None,
    study_dir: Path,
    block: str = "scratch",
    pretrain: int | None = None,
) -> str:
    novel, all_views = summarise(runs, "novel_views"), summarise(runs, "all_views")
    per_seed = [
        "| run | S PSNR (novel) | R PSNR (novel) | S-val PSNR (training) | "
        + " | ".join(f"final {c.removeprefix('loss_')}" for c in LOSS_COLUMNS)
        + " |",
        "|---|---|---|---|" + "---|" * len(LOSS_COLUMNS),
    ]
    for variant in _ordered(novel):
        for seed, result in sorted(runs[variant].items()):
            s = result.get("S", {}).get("novel_views", {}).get("psnr", math.nan)
            r = result.get("R", {}).get("novel_views", {}).get("psnr", math.nan)
            train = training_summary(study_dir / "runs" / f"{variant}_seed{seed}")
            cells = [_fmt(s), _fmt(r), _fmt(train.get("val_psnr"))] + [_fmt(train.get(c)) for c in LOSS_COLUMNS]
            per_seed.append(f"| {variant} seed {seed} | " + " | ".join(cells) + " |")
    facts = []
    if pretrain is not None:
        facts.append(f"every variant starts from mini_mv seed 0 trained {pretrain} iterations (row (0))")
    if iterations is not None:
        facts.append(f"{iterations} training iterations per run" + (" after that start" if pretrain else ""))
    if wall_time is not None:
        facts.append(f"study wall time {wall_time / 60:.1f} min (data + training + evaluation)")
    begin, end = BLOCKS[block]
    lines = [
        begin,
        "_Generated by `tools/mini_study_report.py` (`scripts/reproduce_mini.sh`); " + "; ".join(facts) + "._",
        "",
        markdown_table(novel, "novel_views"),
        "",
        markdown_table(all_views, "all_views"),
        "",
        "Per run: test PSNR (novel views), the last validation PSNR on held-out S objects during training, "
        "and the unweighted loss terms at the end of training (mean of the last 5 logged values):",
        "",
        "\n".join(per_seed),
        end,
    ]
    return "\n".join(lines)


def write_doc(doc: Path, block: str, name: str = "scratch") -> None:
    """Replace the table block `name` of `doc` (appended when the doc lacks its markers)."""
    begin, end = BLOCKS[name]
    text = doc.read_text() if doc.is_file() else "# Mini study\n"
    if begin not in text or end not in text:
        text = text.rstrip() + "\n\n" + begin + "\n" + end + "\n"
    head, rest = text.split(begin, 1)
    tail = rest.split(end, 1)[1]
    atomic_write_text(doc, head + block + tail)


# ----------------------------------------------------------------------------- figure


def _bar_panel(draw: ImageDraw.ImageDraw, box: tuple[int, int, int, int], table: dict, metric: str) -> None:
    """Grouped bars (domain groups, one bar per variant) with ±std whiskers inside `box`."""
    x0, y0, x1, y1 = box
    variants = _ordered(table)
    values = [table[v][d][metric] for v in variants for d in DOMAINS if d in table[v]]
    top = max(m + s for m, s, _ in values)
    low = min(m - s for m, s, _ in values)
    lo = 0.0 if metric != "psnr" else math.floor(max(low - 2.0, 0.0))
    hi = top + 0.1 * (top - lo)
    draw.rectangle(box, outline=(0, 0, 0))
    draw.text((x0 + 6, y0 + 4), f"{metric.upper()} (novel views)", fill=(0, 0, 0))
    plot_top, plot_bottom = y0 + 22, y1 - 18

    def y_of(v: float) -> float:
        return plot_bottom - (v - lo) / (hi - lo) * (plot_bottom - plot_top)

    for tick in (lo, (lo + hi) / 2, hi):
        draw.text((x0 + 2, y_of(tick) - 5), f"{tick:.2f}", fill=(90, 90, 90))
    group_w = (x1 - x0 - 40) / len(DOMAINS)
    bar_w = group_w / (len(variants) + 1)
    for g, domain in enumerate(DOMAINS):
        gx = x0 + 40 + g * group_w
        draw.text((gx + group_w / 2 - 20, plot_bottom + 3), f"domain {domain}", fill=(0, 0, 0))
        for i, variant in enumerate(variants):
            if domain not in table[variant]:
                continue
            mean, std, _ = table[variant][domain][metric]
            bx = gx + (i + 0.5) * bar_w
            draw.rectangle((bx, y_of(mean), bx + bar_w * 0.9, plot_bottom), fill=COLOURS.get(variant, (0, 160, 0)))
            cx = bx + bar_w * 0.45
            draw.line((cx, y_of(mean - std), cx, y_of(mean + std)), fill=(0, 0, 0), width=2)


def _side_by_side(study_dir: Path, variant: str, seed: int, domain: str, index: int = 0) -> Image.Image | None:
    folder = study_dir / "runs" / f"{variant}_seed{seed}" / f"eval_{domain}" / "side_by_side"
    files = sorted(folder.glob(f"{index:04d}_*.png")) if folder.is_dir() else []
    return Image.open(files[0]).convert("RGB") if files else None


def draw_figure(path: Path, runs: dict, study_dir: Path) -> None:
    """Bar charts of PSNR and SSIM per domain and variant, then one R-test object per variant
    (input, predicted views, ground truth, as written by the evaluation)."""
    table = summarise(runs, "novel_views")
    width, per_row = 900, 3
    variants = _ordered(table)
    legend_h = 18 * -(-len(variants) // per_row)
    rows = []
    for variant in variants:
        seed = min(runs[variant])
        for index in (0, 1) if len(variants) <= 4 else (0,):
            image = _side_by_side(study_dir, variant, seed, "R", index)
            if image is not None:
                side = 480
                rows.append(
                    (f"{variant} seed {seed}", image.resize((side, max(1, round(image.height * side / image.width)))))
                )
    top = 12 + legend_h
    height = top + 270 + sum(im.height + 6 for _, im in rows) + 30
    canvas = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    _bar_panel(draw, (10, top, width // 2 - 5, top + 260), table, "psnr")
    _bar_panel(draw, (width // 2 + 5, top, width - 10, top + 260), table, "ssim")
    for i, variant in enumerate(variants):
        x, y = 10 + (i % per_row) * (width - 20) / per_row, 6 + 18 * (i // per_row)
        draw.rectangle((x, y, x + 14, y + 14), fill=COLOURS.get(variant, (0, 160, 0)))
        draw.text((x + 18, y + 2), VARIANTS.get(variant, variant), fill=(0, 0, 0))
    y = top + 270
    if rows:
        draw.text((10, y), "R test objects (per row: input | predicted novel views | ground truth)", fill=(0, 0, 0))
        y += 18
    for label, image in rows:
        draw.text((10, y + image.height // 2 - 5), label, fill=(0, 0, 0))
        canvas.paste(image, (160, y))
        y += image.height + 6
    with atomic_path(path) as tmp:
        canvas.save(tmp, format="PNG")


# ----------------------------------------------------------------------------- default model


def _install(source: Path, target: Path, readme: str, demo_hints: str) -> None:
    """Replace `target` by a copy of the exported model folder `source` (+ demo hints, + README)."""
    if not (source / "model.ckpt").is_file():
        raise Real3DError(f"no exported model in {source}")
    staging = target.with_name(target.name + ".tmp")
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(source, staging)
    with open(staging / "config.yaml", "a", encoding="utf-8") as handle:
        handle.write(demo_hints)
    atomic_write_text(staging / "README.md", readme)
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)


def export_default(runs: dict, study_dir: Path, target: Path) -> dict:
    """Copy the run with the best R-test novel-view PSNR (its exported model) to `target`."""
    best = max(
        ((v, s) for v, seeds in runs.items() for s, r in seeds.items() if "R" in r),
        key=lambda vs: runs[vs[0]][vs[1]]["R"]["novel_views"]["psnr"],
    )
    metrics = {d: runs[best[0]][best[1]][d]["novel_views"] for d in DOMAINS if d in runs[best[0]][best[1]]}
    readme = (
        f"# Default small model\n\nTrained by `scripts/reproduce_mini.sh` (variant `{best[0]}`, seed {best[1]}); "
        f"chosen as the run with the best R-test novel-view PSNR. Novel-view metrics: "
        f"{json.dumps(metrics)}. See docs/mini_study.md.\n"
    )
    _install(study_dir / "runs" / f"{best[0]}_seed{best[1]}" / "export", target, readme, DEMO_HINTS)
    return {"variant": best[0], "seed": best[1], "metrics": metrics}


def _metrics_table(run_dir: Path) -> str:
    """Markdown table of the run's S / R test metrics (eval_{S,R}/metrics.json)."""
    lines = ["| test split | views | PSNR | SSIM | LPIPS (random VGG) |", "|---|---|---|---|---|"]
    for domain in DOMAINS:
        path = run_dir / f"eval_{domain}" / "metrics.json"
        if not path.is_file():
            raise Real3DError(f"{path} is missing: evaluate the run on the {domain} test split first")
        metrics = json.loads(path.read_text())
        for group in ("all_views", "novel_views"):
            m = metrics[group]
            lines.append(
                f"| {domain}_test | {group.replace('_', ' ')} | {_fmt(m.get('psnr'))} "
                f"| {_fmt(m.get('ssim'))} | {_fmt(m.get('lpips'))} |"
            )
    return "\n".join(lines)


def _budget_block(run_dir: Path) -> str:
    """Markdown of where the run's novel-view PSNR is lost (psnr_budget.json, tools/psnr_budget.py), or ""."""
    path = run_dir / "psnr_budget.json"
    if not path.is_file():
        return ""
    budget = json.loads(path.read_text())
    lines = [
        "Where the novel-view PSNR is lost (tools/psnr_budget.py; oracles are ground truth degraded):",
        "",
        "| test split | input view | novel views | colours mapped right | oracle: shape, no colour "
        "| oracle: silhouette, flat colour | white canvas |",
        "|---|---|---|---|---|---|---|",
    ]
    for domain, row in budget.items():
        lines.append(
            f"| {domain}_test | {row['input_view']:.2f} | {row['novel']:.2f} | {row['colour_fixed']:.2f} "
            f"| {row['oracle_grey']:.2f} | {row['oracle_flat']:.2f} | {row['white']:.2f} |"
        )
    return "\n".join(lines) + "\n\n"


def _model_summary(export_dir: Path) -> tuple[int, str]:
    """(input side, one-line architecture) of the exported model folder, read from its config files."""
    try:
        cfg = OmegaConf.load(export_dir / "config.yaml")
        vit = json.loads((export_dir / "vit" / "config.json").read_text())
        # TripoSR's TriplaneUpsampleNetwork doubles the token grid (a stride-2 transposed convolution)
        plane, upsampled = cfg.tokenizer.plane_size, cfg.post_processor.out_channels
        summary = (
            f"{cfg.cond_image_size}x{cfg.cond_image_size} input, {vit['num_hidden_layers']}-layer ViT with patch "
            f"{vit['patch_size']}, {plane}x{plane} triplane tokens upsampled to {2 * plane}x{2 * plane}x{upsampled}, "
            f"{cfg.decoder.n_hidden_layers}x{cfg.decoder.n_neurons} NeRF MLP, {cfg.renderer.num_samples_per_ray} "
            "samples per ray"
        )
    except (OSError, KeyError, AttributeError, ValueError) as error:
        raise Real3DError(
            f"{export_dir} is not an exported model folder (config.yaml, vit/config.json): {error}"
        ) from error
    return int(cfg.cond_image_size), summary


def export_run(run_dir: Path, target: Path, command: str, wall_time: float | None, mc_threshold: float) -> str:
    """Install one trained and evaluated run (scripts/train_default.sh) as the default model, with a
    README that says how it was made and what it measures."""
    resolved = run_dir / "config_resolved.yaml"
    if not resolved.is_file():
        raise Real3DError(f"{resolved} is missing: not a training run folder")
    cfg = OmegaConf.to_container(OmegaConf.load(resolved))
    training = cfg["module"]["training"]
    data = cfg["data"]
    info_path = Path(cfg["mini_data_dir"]) / "info.json"
    sizes = json.loads(info_path.read_text())["sizes"] if info_path.is_file() else {}
    size_mb = (run_dir / "export" / "model.ckpt").stat().st_size / 2**20
    patch, side = training["ray_patch_size"], sizes.get("image_size", "?")
    encoder = cfg.get("model", {}).get("image_encoder")
    if encoder and Path(encoder).is_relative_to(PROJECT):
        encoder = Path(encoder).relative_to(PROJECT).as_posix()
    encoder_origin = (
        f"image encoder started from {encoder} (self-supervised pretraining on the domain images, see its\n  README)"
        if encoder
        else "image encoder from a random init"
    )
    hours = f"{wall_time / 3600:.2f} h" if wall_time else "not recorded"
    input_side, model_summary = _model_summary(run_dir / "export")
    ground_truth = (
        ""
        if side in ("?", 64)
        else f";\nthe {side}x{side} test views are the input and, resized to 64x64 (antialiased), the ground truth"
    )
    readme = f"""# Default model: the miniature's base LRM (issue 17)

The model `./run.sh` uses when no other is given: a small TripoSR-architecture LRM trained on CPU on
this project's generated data, the miniature's TripoSR (docs/mini_study.md). {size_mb:.1f} MB of weights.
config.yaml: {model_summary}.

## How it was made

    {command}

- experiment `{cfg.get("task_name")}` (config/experiment/mini_default.yaml), seed {cfg.get("seed")},
  {training["total_iterations"]} iterations of {data["batch_size_mv"]} objects x {data["num_target_views"]} views;
  targets {data["render_size"]}x{data["render_size"]} supervised through random {patch}x{patch} ray patches;
  AdamW lr {cfg["module"]["optimizer"]["lr"]} (image encoder {cfg["module"]["param_groups"]["lr_image_encoder"]});
  losses: multi-view MSE of colour and of opacity against the mask;
- data: domain B of `tools/mini_study_report.py data` ({sizes.get("base_objects", "?")} objects x
  {sizes.get("s_views", "?")} views at {side}x{side}: S's look on all ten shape families);
- {encoder_origin}; everything else from a random init;
- wall time {hours} on the 2-core CPU machine.

## What it measures

Held-out test objects (tools/mini_study_report.py data --test-objects 30: 30 objects x 6 views per
domain, view 0 the input at {input_side}x{input_side}), rendered at 64x64 by scripts/eval_mv.py
(OmniObject3D protocol){ground_truth}:

{_metrics_table(run_dir)}

{_budget_block(run_dir)}LPIPS uses a randomly initialised VGG here (no pretrained weights on this machine): not a
perceptual measure, listed for completeness.

## Demo settings

The `demo:` section of config.yaml (ignored by the model loader): marching-cubes threshold
{mc_threshold}, the object at 0.45 of the image side, renders from distance 3.0 with a 39.6 degree fov.
"""
    hints = DEMO_HINTS.replace("mc_threshold: 5.0", f"mc_threshold: {mc_threshold}")
    _install(run_dir / "export", target, readme, hints)
    return readme


# ----------------------------------------------------------------------------- CLI


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="mini_study_report", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    d = sub.add_parser("data", help="generate the S / R datasets")
    d.add_argument("output_dir", type=Path)
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--s-objects", type=int, default=None, help="S training objects")
    d.add_argument("--r-images", type=int, default=None, help="R training images")
    d.add_argument("--test-objects", type=int, default=None, help="test objects per domain")
    d.add_argument("--base-objects", type=int, default=None, help="multi-view objects of domain B (base model)")
    d.add_argument("--uncurated-bad", type=int, default=None, help="faulty R photos of the uncurated set")
    d.add_argument("--image-size", type=int, default=None, help="side of the multi-view and test renders (64)")
    r = sub.add_parser("report", help="table, figure and (optionally) the default model")
    r.add_argument("study_dir", type=Path)
    r.add_argument("--doc", type=Path, default=Path("docs/mini_study.md"))
    r.add_argument("--figure", type=Path, default=Path("docs/mini_study.png"))
    r.add_argument("--wall-time", type=float, default=None, help="study wall time in seconds")
    r.add_argument("--iterations", type=int, default=None)
    r.add_argument("--export-default", type=Path, default=None, help="copy the best model here")
    r.add_argument("--block", choices=("scratch", "pretrained"), default="scratch", help="which table block of the doc")
    r.add_argument("--pretrain", type=int, default=None, help="iterations of the pre-trained start, if any")
    e = sub.add_parser("export", help="install a trained, evaluated run as the default model")
    e.add_argument("run_dir", type=Path)
    e.add_argument("--target", type=Path, default=Path("checkpoints/default"))
    e.add_argument("--command", dest="command_line", required=True, help="the command that trained it (for the README)")
    e.add_argument("--wall-time", type=float, default=None, help="seconds it took")
    e.add_argument("--mc-threshold", type=float, default=5.0, help="the demo's marching-cubes threshold")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # missing or malformed run folders are the user's: OSError/KeyError/ValueError count as user errors here
    return run_cli(_run, "mini_study_report", args, user_errors=(OSError, KeyError, ValueError))


def _run(args: argparse.Namespace) -> int:
    """Write the study data, or the table, figure and optional default model of a finished study."""
    if args.command == "data":
        from real3d.data.synthetic.presets import MiniSizes, write_mini_study_data

        sizes = MiniSizes()
        for field, value in (
            ("s_train_objects", args.s_objects),
            ("r_train_images", args.r_images),
            ("test_objects", args.test_objects),
            ("base_objects", args.base_objects),
            ("uncurated_bad", args.uncurated_bad),
            ("image_size", args.image_size),
        ):
            if value is not None:
                setattr(sizes, field, value)
        info = write_mini_study_data(args.output_dir, sizes, seed=args.seed)
        print(f"wrote {args.output_dir}: {json.dumps(info['sizes'])}")
        return 0
    if args.command == "export":
        export_run(args.run_dir, args.target, args.command_line, args.wall_time, args.mc_threshold)
        print(f"default model: {args.run_dir} -> {args.target}")
        return 0
    runs = collect(args.study_dir)
    block = table_block(runs, args.wall_time, args.iterations, args.study_dir, args.block, args.pretrain)
    write_doc(args.doc, block, args.block)
    draw_figure(args.figure, runs, args.study_dir)
    print(block)
    if args.export_default is not None:
        chosen = export_default(runs, args.study_dir, args.export_default)
        print(f"default model: {chosen} -> {args.export_default}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

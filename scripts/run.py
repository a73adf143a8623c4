"""Single-image 3D reconstruction demo: image(s) -> mesh (OBJ/GLB) and optional 360° video."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import torch

from real3d.cli import report_error, run_cli
from real3d.errors import Real3DError
from real3d.inference.components import parse_keep_components
from real3d.inference.pipeline import ImageTo3D, add_model_arguments, demo_settings, load_demo_model, pick_device
from real3d.inference.simplify import MAX_TARGET_FACES, MIN_TARGET_FACES
from real3d.models.lrm import check_precision

log = logging.getLogger("real3d.run")
PROG = "run"


def face_budget(text: str) -> int:
    """--target-faces: an integer in [MIN_TARGET_FACES, MAX_TARGET_FACES]."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if not MIN_TARGET_FACES <= value <= MAX_TARGET_FACES:
        raise argparse.ArgumentTypeError(f"must be in [{MIN_TARGET_FACES}, {MAX_TARGET_FACES}], got {value}")
    return value


def keep_components_choice(text: str) -> str | float:
    """--keep-components: all, largest or an area fraction in (0, 1)."""
    try:
        return parse_keep_components(text)
    except Real3DError:
        raise argparse.ArgumentTypeError(f"must be 'all', 'largest' or a fraction in (0, 1), got {text!r}") from None


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__)
    parser.add_argument("image", type=str, nargs="+", help="Path to input image(s).")
    add_model_arguments(parser)
    parser.add_argument("--mc-resolution", type=int, default=256, help="Marching-cubes grid resolution.")
    parser.add_argument("--mc-threshold", type=float, default=None, help="Density isovalue of the mesh (25).")
    parser.add_argument("--no-remove-bg", action="store_true", help="Skip background removal (RGBA inputs).")
    parser.add_argument(
        "--foreground-ratio", type=float, default=None, help="Object size relative to the image (0.65)."
    )
    parser.add_argument("--output-dir", default="output/", help="Results go to OUTPUT_DIR/<index>/.")
    parser.add_argument("--model-save-format", choices=["obj", "glb"], default="obj", help="Mesh format.")
    parser.add_argument("--render", action="store_true", help="Also render a 360° video.")
    parser.add_argument("--render-num-views", type=int, default=30, help="Views in the 360° render.")
    parser.add_argument("--render-size", type=int, default=None, help="Side of the rendered views in pixels (256).")
    parser.add_argument("--bake-texture", action="store_true", help="Bake a UV texture instead of vertex colours.")
    parser.add_argument("--texture-resolution", type=int, default=2048, help="Side of the baked texture in pixels.")
    parser.add_argument(
        "--target-faces",
        type=face_budget,
        default=None,
        help="Face budget: decimate the mesh to at most N faces, colours re-queried from the field (default: the "
        "full marching-cubes mesh); 20000 bakes a texture in seconds.",
    )
    parser.add_argument(
        "--keep-components",
        type=keep_components_choice,
        default="all",
        metavar="{all,largest,FRACTION}",
        help="Drop floaters: keep the largest piece only, or the pieces with at least FRACTION of the surface area "
        "(default: all, as the original).",
    )
    parser.add_argument(
        "--up-axis",
        choices=["y", "z"],
        default="y",
        help="Mesh files: y = +Y up, front +Z (glTF's convention; Blender, three.js); z = the model's axes (TripoSR).",
    )
    parser.add_argument(
        "--faithful",
        action="store_true",
        help="Render and mesh exactly as the original (every sample, dense grid); default: the fast paths.",
    )
    parser.add_argument(
        "--precision",
        choices=["fp32", "bf16"],
        default="fp32",
        help="bf16 autocast needs a GPU or a CPU with bf16 instructions (renders within ~40 dB of fp32).",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", force=True)
    args = parse_args(argv)
    return run_cli(_reconstruct_all, PROG, args)


def _reconstruct_all(args: argparse.Namespace) -> int:
    """Load the model once, then reconstruct each image; a failed image is reported and counted."""
    device = pick_device(args.device)
    check_precision(device, args.precision)
    model, _ = load_demo_model(
        args.pretrained_model_name_or_path, args.weight_name, device, args.chunk_size, args.faithful
    )
    given = {
        "foreground_ratio": args.foreground_ratio,
        "mc_threshold": args.mc_threshold,
        "render_size": args.render_size,
        "target_faces": args.target_faces,
    }
    settings = demo_settings(
        model.cfg,
        remove_bg=not args.no_remove_bg,
        mc_resolution=args.mc_resolution,
        mesh_formats=(args.model_save_format,),
        render=args.render,
        render_num_views=args.render_num_views,
        bake_texture=args.bake_texture,
        texture_resolution=args.texture_resolution,
        keep_components=args.keep_components,
        up_axis=args.up_axis,
        **{k: v for k, v in given.items() if v is not None},
    )
    demo = ImageTo3D(model, settings, rembg_model=args.rembg_model, precision=args.precision)
    failures = 0
    for index, image_path in enumerate(args.image):
        out_dir = Path(args.output_dir) / str(index)
        try:
            result = demo(image_path, out_dir)
        except Real3DError as exc:
            failures += 1
            report_error(PROG, exc if str(image_path) in str(exc) else f"{image_path}: {exc}")
            continue
        log.info("[%d] %s -> %s (%s)", index, image_path, out_dir, result.timings)
    if failures:
        print(f"{failures} of {len(args.image)} image(s) failed", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    torch.set_grad_enabled(False)
    sys.exit(main())

"""Single-image 3D reconstruction demo: image(s) -> mesh (OBJ/GLB) and optional 360° video."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import tempfile
from pathlib import Path

import torch

from real3d import argtypes
from real3d.cli import INTERRUPTED, report_error, run_cli
from real3d.devices import resolve_device
from real3d.errors import Real3DError
from real3d.inference import limits
from real3d.inference.components import parse_keep_components
from real3d.inference.pipeline import ImageTo3D, add_model_arguments, check_limits, demo_settings, load_demo_model
from real3d.inference.simplify import MAX_TARGET_FACES, MIN_TARGET_FACES
from real3d.models import locate
from real3d.models.lrm import check_precision
from real3d.staging import staged_folder

log = logging.getLogger("real3d.run")
PROG = "run"


def keep_components_choice(text: str) -> str | float:
    """--keep-components: all, largest or an area fraction in (0, 1)."""
    try:
        return parse_keep_components(text)
    except Real3DError:
        raise argparse.ArgumentTypeError(f"must be 'all', 'largest' or a fraction in (0, 1), got {text!r}") from None


def _bounded(r: limits.Range, note: str = "", multiple_of: int = 1):  # noqa: ANN202 - an argparse type
    return argtypes.integer(int(r.low), int(r.high), note, multiple_of)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    budget = f" (the largest within the demo's {limits.BUDGET / 2**30:g} GiB memory budget)"
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__)
    parser.add_argument("image", type=argtypes.non_empty, nargs="+", help="Path to input image(s).")
    add_model_arguments(parser)
    parser.add_argument(
        "--mc-resolution", type=_bounded(limits.MC_RESOLUTION, budget), default=256,
        help=f"Marching-cubes grid resolution, {limits.MC_RESOLUTION}.",
    )  # fmt: skip
    parser.add_argument(
        "--mc-threshold", type=argtypes.number(0.0, None, low_open=True), default=None,
        help="Density isovalue of the mesh, > 0 (25).",
    )  # fmt: skip
    parser.add_argument("--no-remove-bg", action="store_true", help="Skip background removal (RGBA inputs).")
    parser.add_argument(
        "--foreground-ratio", type=argtypes.number(0.0, 1.0, low_open=True), default=None,
        help=f"Object size relative to the image, (0, 1] (0.65); the canvas is at most {limits.MAX_CANVAS_SIDE} px.",
    )  # fmt: skip
    parser.add_argument(
        "--output-dir", type=argtypes.non_empty, default="output/",
        help="Results go to OUTPUT_DIR/<index>/ (relative to the current folder), each replacing an earlier one whole.",
    )  # fmt: skip
    parser.add_argument("--model-save-format", choices=["obj", "glb"], default="obj", help="Mesh format.")
    parser.add_argument("--render", action="store_true", help="Also render a 360° video.")
    parser.add_argument(
        "--render-num-views", type=_bounded(limits.RENDER_NUM_VIEWS), default=30,
        help=f"Views in the 360° render, {limits.RENDER_NUM_VIEWS} (with the render size within the budget).",
    )  # fmt: skip
    parser.add_argument(
        "--render-size", type=_bounded(limits.RENDER_SIZE, budget, multiple_of=2), default=None,
        help=f"Side of the rendered views in pixels, even, {limits.RENDER_SIZE} (256).",
    )  # fmt: skip
    parser.add_argument("--bake-texture", action="store_true", help="Bake a UV texture instead of vertex colours.")
    parser.add_argument(
        "--texture-resolution", type=_bounded(limits.TEXTURE_RESOLUTION, budget), default=2048,
        help=f"Side of the baked texture in pixels, {limits.TEXTURE_RESOLUTION}.",
    )  # fmt: skip
    parser.add_argument(
        "--target-faces",
        type=argtypes.integer(MIN_TARGET_FACES, MAX_TARGET_FACES),
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
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # stop as on Ctrl-C: staged results removed
    limits.release_freed_memory()
    return run_cli(_reconstruct_all, PROG, args)


def check_output_dir(output_dir: str) -> Path:
    """The output folder, created if needed; one that cannot be written is refused before any work."""
    path = Path(output_dir)
    try:
        path.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryDirectory(prefix=".write-check-", dir=path).cleanup()
    except FileExistsError as exc:
        raise Real3DError(f"--output-dir {output_dir} is a file, not a folder") from exc
    except OSError as exc:
        raise Real3DError(f"--output-dir {output_dir} cannot be written: {exc.strerror or exc}") from exc
    return path


def _reconstruct_all(args: argparse.Namespace) -> int:
    """Load the model once, then reconstruct each image into a staged folder; a failed image is reported and
    counted, an interrupt leaves only whole folders and says which images finished."""
    device = resolve_device(args.device)
    check_precision(device, args.precision)
    source = locate(args.pretrained_model_name_or_path, args.weight_name)
    output_dir = check_output_dir(args.output_dir)
    model, _ = load_demo_model(source, None, device, args.chunk_size, args.faithful)
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
    check_limits(settings, model.render_settings)  # the sizes together, before the first image
    demo = ImageTo3D(model, settings, rembg_model=args.rembg_model, precision=args.precision)
    failures, finished = 0, []
    try:
        for index, image_path in enumerate(args.image):
            out_dir, staging = output_dir / str(index), None
            try:
                with staged_folder(out_dir) as staging:
                    result = demo(image_path, staging.path)
            except Real3DError as exc:
                failures += 1
                report_error(PROG, exc if str(image_path) in str(exc) else f"{image_path}: {exc}")
                continue
            finally:
                if staging is not None and staging.committed:
                    finished.append(f"{out_dir} ({image_path})")
            log.info("[%d] %s -> %s (%s)", index, image_path, out_dir, result.timings)
    except KeyboardInterrupt:
        done = "; finished: " + ", ".join(finished) if finished else "; none finished"
        print(f"{PROG}: interrupted after {len(finished)} of {len(args.image)} image(s){done}", file=sys.stderr)
        return INTERRUPTED
    if failures:
        print(f"{failures} of {len(args.image)} image(s) failed", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    torch.set_grad_enabled(False)
    sys.exit(main())

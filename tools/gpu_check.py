"""The prepared GPU check (issue 27): every CUDA path of the project once, about 10 minutes on one
H100, one table (printed, and written to <out>/gpu_check.md and .json).

    tools/gpu_check.sh [--cpu-only] [--out DIR] [--budget SECONDS] [--wheels DIR]

Rows: the versions and the device; `pytest -m gpu`; `scripts/run.py` on assets/examples/mug.png on
the CPU and on cuda:0 (fp32, bf16, --faithful): exit codes, stage times, meshes and renders of the two
devices compared; `tools/bench_training.py --recipe full --iterations 2 --precision bf16`: peak memory
per pass; `tools/bench_inference.py`: fast against faithful on CUDA; a run of 8 iterations against 4 +
a resume; the evaluation in fp16 against fp32. Without CUDA, or with --cpu-only, the CUDA steps are
marked skipped and the CPU side runs (reduced where said, so that it ends in minutes on a small CPU).
A step that would outrun the budget (540 s with CUDA: the device machine's 10-minute command) is cut,
and said so in its row.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tarfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

EXAMPLE = ROOT / "assets" / "examples" / "mug.png"
DEFAULT_MODEL = ROOT / "checkpoints" / "default"
TINY_MODEL = ROOT / "tests" / "fixtures" / "parity" / "tiny"
PARITY_SETS = ROOT / "tests" / "fixtures" / "parity" / "eval" / "sets.tar.gz"
RENDER_TOL = 1e-3  # CPU against CUDA in fp32, fast against faithful: max |Δ| per pixel
MESH_TOL = 1e-3  # CPU against CUDA in fp32: nearest-vertex distance, world units
BF16_PSNR = 40.0  # bf16 against fp32 renders (the CPU tests' floor)
PEAK_GB = 40.0  # the full recipe's passes in bf16 on one GPU
EVAL_DB = 0.05  # fp16 against fp32 evaluation, PSNR
MC_RESOLUTION = 128
SKIPPED = "skipped (no CUDA)"


@dataclass
class Context:
    """Where logs go, whether CUDA runs, and when the check's time budget ends (perf_counter)."""

    out: Path
    cuda: bool
    deadline: float


@dataclass
class Row:
    """One line of the table: what was checked, the CPU and CUDA values, the limit, the verdict."""

    check: str
    cpu: str = "—"
    cuda: str = "—"
    limit: str = "—"
    result: str = "info"


def run(ctx: Context, command: list[str], log_name: str, timeout: float) -> tuple[int, float, str]:
    """Run a command from the checkout (its output to <out>/`log_name`) within `timeout` and the check's
    budget: exit code (124: timed out), seconds, output."""
    log = ctx.out / log_name
    timeout = max(1.0, min(timeout, ctx.deadline - time.perf_counter()))
    paths = [str(ROOT), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}
    env.update(PROJECT_ROOT=str(ROOT), PYTHONUNBUFFERED="1")
    start = time.perf_counter()
    try:
        proc = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
        code, output = proc.returncode, proc.stdout + proc.stderr
    except subprocess.TimeoutExpired as exc:
        code, output = 124, f"timed out after {timeout:.0f} s\n{exc.stdout or ''}{exc.stderr or ''}"
    log.write_text(output if isinstance(output, str) else output.decode(errors="replace"))
    return code, time.perf_counter() - start, str(output)


def verdict(ok: bool | None) -> str:
    return "info" if ok is None else ("pass" if ok else "FAIL")


# ----------------------------------------------------------------------------------------- steps


def environment(cuda: bool) -> list[Row]:
    import pytorch_lightning
    import transformers

    rows = [
        Row(
            "python, torch (CUDA build)", cpu=f"{platform.python_version()}, {torch.__version__} ({torch.version.cuda})"
        ),
        Row("lightning, transformers", cpu=f"{pytorch_lightning.__version__}, {transformers.__version__}"),
        Row("CPU", cpu=f"{os.cpu_count()} cores, {torch.backends.cpu.get_cpu_capability()}"),
    ]
    if not cuda:
        return rows + [Row("GPU", cuda=SKIPPED)]
    props = torch.cuda.get_device_properties(0)
    try:
        driver = subprocess.run(
            ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"], capture_output=True, text=True
        ).stdout.strip()
    except OSError:
        driver = "nvidia-smi not found"
    gpu = f"{props.name}, sm_{props.major}{props.minor}, {props.total_memory / 2**30:.0f} GiB, driver {driver}"
    return rows + [Row("GPU", cuda=gpu)]


def gpu_tests(ctx: Context) -> list[Row]:
    """`pytest -m gpu` over the whole suite (modules that cannot be imported there are counted, not fatal)."""
    out, cuda = ctx.out, ctx.cuda
    report = out / "gpu_tests.xml"
    command = [sys.executable, "-m", "pytest", "-m", "gpu", "-q", "-p", "no:cacheprovider", "tests"]
    code, seconds, _ = run(
        ctx, [*command, "--continue-on-collection-errors", f"--junitxml={report}"], "pytest.log", 420
    )
    if not report.is_file():
        return [Row("pytest -m gpu", cuda=f"no report (exit {code}, see pytest.log)", result="FAIL")]
    suite = ET.parse(report).getroot()
    suite = suite if suite.tag == "testsuite" else suite.find("testsuite")
    cases = list(suite.iter("testcase"))
    uncollected = [c for c in cases if any(e.get("message") == "collection failure" for e in c.iter("error"))]
    counts = {k: int(suite.get(k, 0)) for k in ("tests", "failures", "errors", "skipped")}
    errors = counts["errors"] - len(uncollected)
    passed = counts["tests"] - counts["failures"] - counts["errors"] - counts["skipped"]
    summary = f"{passed} passed, {counts['failures']} failed, {errors} errors, {counts['skipped']} skipped"
    rows = [
        Row(
            "pytest -m gpu",
            cuda=f"{summary} ({seconds:.0f} s)" if cuda else SKIPPED,
            cpu=summary if not cuda else "—",
            limit="none failed",
            result=verdict(counts["failures"] + errors == 0 and (passed > 0 or not cuda)),
        )
    ]
    if uncollected:  # test modules whose imports are missing there (the web demo's gradio, say): not GPU tests
        missing = sorted(set(re.findall(r"No module named '([\w.]+)'", (out / "pytest.log").read_text())))
        names = ", ".join(c.get("classname") or c.get("name", "?") for c in uncollected)
        rows.append(Row("  test modules not importable here", cpu=f"{names} (missing: {', '.join(missing)})"))
    for case in suite.iter("testcase"):
        for prop in case.iter("property"):
            rows.append(Row(f"  {case.get('name')}: {prop.get('name')}", cuda=f"{float(prop.get('value')):.3g}"))
    return rows


def _stage_times(output: str) -> str:
    """The stage times of run.py's log line for image 0, e.g. "image_to_triplane 0.41s, extract_mesh 1.20s"."""
    match = re.search(r"\[0\] .*\((.*)\)", output)
    return match.group(1) if match else "n/a"


def _mesh_distance(a: Path, b: Path) -> float:
    """Symmetric max nearest-vertex distance between two mesh files."""
    import trimesh
    from scipy.spatial import cKDTree

    va, vb = (np.asarray(trimesh.load(p, process=False, force="mesh").vertices) for p in (a, b))
    if len(va) == 0 or len(vb) == 0:
        return float("inf")
    return float(max(cKDTree(va).query(vb)[0].max(), cKDTree(vb).query(va)[0].max()))


def demo(ctx: Context) -> list[Row]:
    """scripts/run.py on the example on each device and mode; meshes compared CPU against CUDA."""
    out, cuda = ctx.out, ctx.cuda
    from real3d.models.lrm import cpu_has_bf16

    modes = {"fp32": ["--precision", "fp32"], "bf16": ["--precision", "bf16"], "faithful": ["--faithful"]}
    devices = ["cpu", "cuda:0"] if cuda else ["cpu"]
    rows, meshes = [], {}
    for mode, flags in modes.items():
        row = Row(f"run.py {mode}: stage times", limit="exit 0")
        ok = True
        for device in devices:
            if mode == "bf16" and device == "cpu" and not cpu_has_bf16():
                row.cpu = "skipped (no bf16 CPU)"
                continue
            folder = out / "demo" / f"{device.replace(':', '')}_{mode}"
            command = [sys.executable, "scripts/run.py", str(EXAMPLE), "--device", device, *flags]
            command += [
                "--mc-resolution",
                str(MC_RESOLUTION),
                "--output-dir",
                str(folder),
                "--model-save-format",
                "obj",
            ]
            code, seconds, output = run(ctx, command, f"run_{folder.name}.log", 300)
            ok &= code == 0
            text = f"{_stage_times(output)} (exit {code}, {seconds:.0f} s)"
            setattr(row, "cuda" if device.startswith("cuda") else "cpu", text)
            meshes[(device, mode)] = folder / "0" / "mesh.obj"
        if not cuda:
            row.cuda = SKIPPED
        row.result = verdict(ok)
        rows.append(row)
        if cuda and all(meshes.get((d, mode), Path("-")).is_file() for d in devices):
            distance = _mesh_distance(meshes[("cpu", mode)], meshes[("cuda:0", mode)])
            cell = 2 * 0.87 / (MC_RESOLUTION - 1)
            limit = MESH_TOL if mode != "bf16" else cell
            rows.append(
                Row(
                    f"run.py {mode}: mesh CPU vs CUDA (max nearest-vertex distance)",
                    cuda=f"{distance:.2e}",
                    limit=f"<= {limit:.1e}" + (" (one grid cell)" if mode == "bf16" else ""),
                    result=verdict(distance <= limit),
                )
            )
    return rows


def demo_renders(cuda: bool) -> list[Row]:
    """The default model's orbit (4 views, 128²) of the prepared example, in float, CPU against CUDA."""
    from real3d.inference.preprocess import load_image, prepare_input
    from real3d.models import LRM
    from real3d.models.lrm import cpu_has_bf16

    prepared = prepare_input(load_image(EXAMPLE), None, 0.65)
    devices = ["cpu", "cuda"] if cuda else ["cpu"]
    renders = {}
    for device in devices:
        model = LRM.from_pretrained(DEFAULT_MODEL).eval().to(device)
        for mode in ("fp32", "bf16", "faithful"):
            if mode == "bf16" and device == "cpu" and not cpu_has_bf16():
                continue
            precision = "bf16" if mode == "bf16" else "fp32"
            settings = model.render_settings.replace(fast=mode != "faithful", chunk_size=8192)
            codes = model.get_latent_from_img([prepared], device, precision=precision)
            views = model.render_360(
                codes, 4, height=128, width=128, return_type="pt", settings=settings, precision=precision
            )[0]
            renders[(device, mode)] = torch.stack(views).float().cpu()
    rows = []
    for mode in ("fp32", "faithful"):
        if cuda:
            diff = float((renders[("cpu", mode)] - renders[("cuda", mode)]).abs().max())
            rows.append(
                Row(
                    f"renders {mode}: CPU vs CUDA max |Δ|",
                    cuda=f"{diff:.2e}",
                    limit=f"<= {RENDER_TOL:g}",
                    result=verdict(diff <= RENDER_TOL),
                )
            )
    for device in devices:
        if (device, "bf16") not in renders:
            continue
        error = float(((renders[(device, "bf16")] - renders[(device, "fp32")]) ** 2).mean())
        value = f"{-10 * np.log10(max(error, 1e-20)):.1f} dB"
        row = Row(
            "renders bf16 vs fp32 (PSNR)",
            limit=f">= {BF16_PSNR:g} dB",
            result=verdict(error <= 10 ** (-BF16_PSNR / 10)),
        )
        setattr(row, "cuda" if device == "cuda" else "cpu", value)
        rows.append(row)
    fast_vs_faithful = float((renders[(devices[-1], "fp32")] - renders[(devices[-1], "faithful")]).abs().max())
    rows.append(
        Row(
            f"renders fast vs faithful ({devices[-1]}) max |Δ|",
            **{"cuda" if cuda else "cpu": f"{fast_vs_faithful:.2e}"},
            limit=f"<= {RENDER_TOL:g}",
            result=verdict(fast_vs_faithful <= RENDER_TOL),
        )
    )
    return rows


def bench_training(ctx: Context) -> list[Row]:
    """Peak memory per pass: the full recipe, 2 iterations in bf16 on CUDA (on the CPU: the tiny one, fp32)."""
    out, cuda = ctx.out, ctx.cuda
    report = out / "bench_training.json"
    if cuda:
        args = ["--recipe", "full", "--iterations", "2", "--precision", "bf16", "--device", "cuda"]
    else:
        args = ["--recipe", "tiny", "--iterations", "2", "--precision", "fp32", "--device", "cpu"]
    code, seconds, _ = run(
        ctx, [sys.executable, "tools/bench_training.py", *args, "--json", str(report)], "bench_training.log", 420
    )
    label = "full recipe, bf16, 2 it" if cuda else "tiny recipe, fp32, 2 it (CPU stand-in)"
    if code != 0 or not report.is_file():
        return [
            Row(
                f"training {label}",
                **{"cuda" if cuda else "cpu": f"exit {code}, see bench_training.log"},
                result="FAIL",
            )
        ]
    summary = json.loads(report.read_text())["summary"]
    rows, peaks = [], []
    for name in ("multiview_pass", "single_view_pass", "cycle_pass"):
        fwd, bwd = (summary.get(f"{name}/{part}/peak_mb", 0.0) / 1024 for part in ("forward", "backward"))
        peaks += [fwd, bwd]
        rows.append(Row(f"  {name} peak GB fwd / bwd", **{"cuda" if cuda else "cpu": f"{fwd:.2f} / {bwd:.2f}"}))
    head = Row(
        f"training {label}: s/iteration, max peak GB",
        **{"cuda" if cuda else "cpu": f"{summary['iteration/s']:.2f} s, {max(peaks):.2f} GB ({seconds:.0f} s in all)"},
        limit=f"< {PEAK_GB:g} GB" if cuda else "—",
        result=verdict(max(peaks) < PEAK_GB) if cuda else "info",
    )
    return [head, *rows] + ([] if cuda else [Row("training full recipe, bf16, 2 it", cuda=SKIPPED)])


def bench_inference(ctx: Context) -> list[Row]:
    """Fast against faithful renders and meshes (structured field, default model) on CUDA (CPU: reduced)."""
    out, cuda = ctx.out, ctx.cuda
    report = out / "bench_inference.json"
    args = ["--fields", "structured", "default", "--repeats", "1", "--fit-steps", "1"]
    args += ["--cache", str(out / "bench_cache"), "--json", str(report)]
    if cuda:
        args += ["--device", "cuda", "--stages", "render", "orbit", "mesh"]
    else:  # the bundled small model instead of the full-size one, small sizes, no orbit
        args += ["--device", "cpu", "--config", str(DEFAULT_MODEL / "config.yaml"), "--stages", "render", "mesh"]
        args += ["--render-size", "64", "--mc-resolutions", "64"]
    code, seconds, _ = run(ctx, [sys.executable, "tools/bench_inference.py", *args], "bench_inference.log", 480)
    column = "cuda" if cuda else "cpu"
    if code != 0 or not report.is_file():
        return [
            Row("bench_inference fast vs faithful", **{column: f"exit {code}, see bench_inference.log"}, result="FAIL")
        ]
    rows = []
    for record in json.loads(report.read_text())["rows"]:
        if "max_abs_diff" in record:
            ok, value = record["max_abs_diff"] <= RENDER_TOL, f"max|Δ| {record['max_abs_diff']:.1e}"
        elif "same_faces" in record:
            ok, value = bool(record["same_faces"]), f"{'same' if record['same_faces'] else 'DIFFERENT'} faces"
        else:
            continue
        value += f", {record.get('faithful_s', 0):.2f} s → {record.get('fast_s', 0):.2f} s"
        limit = f"<= {RENDER_TOL:g}" if "max_abs_diff" in record else "same mesh"
        rows.append(Row(f"bench {record['stage']}", **{column: value}, limit=limit, result=verdict(ok)))
    if not cuda:
        rows.append(Row("bench_inference on CUDA", cuda=SKIPPED))
    return rows


def resume(ctx: Context) -> list[Row]:
    """8 iterations straight against 4 + resume (tests/training/test_fit.py on the CPU: bitwise equal; the CUDA
    run is `pytest -m gpu`'s test_resume_on_cuda_within_the_stated_tolerance, its difference recorded above)."""
    cuda = ctx.cuda
    test = "tests/training/test_fit.py::test_resume_continues_exactly"
    code, seconds, _ = run(
        ctx, [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", test], "resume.log", 300
    )
    return [
        Row(
            "resume 8 it vs 4 + 4: parameters",
            cpu=f"{'bitwise equal' if code == 0 else f'differ (exit {code})'} ({seconds:.0f} s)",
            cuda="see test_resume_on_cuda… above" if cuda else SKIPPED,
            limit="CPU equal; CUDA atol 1e-5, rtol 1e-4",
            result=verdict(code == 0),
        )
    ]


def evaluation(ctx: Context) -> list[Row]:
    """eval_mv on the MVImgNet reference set (2 objects, tiny model) in fp16 and fp32: the PSNR difference."""
    out, cuda = ctx.out, ctx.cuda
    sets = out / "eval_sets"
    if not (sets / "ds").is_dir():
        with tarfile.open(PARITY_SETS) as archive:
            archive.extractall(sets, filter="data")
    ds = sets / "ds"
    size, samples = ("224", "128") if cuda else ("64", "16")  # the CPU's fp16 autocast is slow: reduced there
    psnr = {}
    for precision in ("fp16", "fp32"):
        target = out / f"eval_{precision}"
        command = [
            sys.executable, "scripts/eval_mv.py", "--config-name", "eval_mv_mvimgnet", f"model.path={TINY_MODEL}",
            f"device={'cuda:0' if cuda else 'cpu'}", f"precision={precision}", f"render_size={size}",
            f"model.render.num_samples_per_ray={samples}", "lpips_enabled=false", "num_workers=0", "progress=false",
            "visuals.num_side_by_side=0", f"output_dir={target}", f"dataset.root={ds}/mvimgnet/image",
            f"dataset.mask_root={ds}/mvimgnet/mask", f"dataset.split_file={ds}/splits/mvimgnet_mv.json",
        ]  # fmt: skip
        code, _, _ = run(ctx, command, f"eval_{precision}.log", 300)
        metrics = target / "metrics.json"
        if code != 0 or not metrics.is_file():
            return [
                Row(
                    "eval fp16 vs fp32",
                    **{"cuda" if cuda else "cpu": f"exit {code}, see eval_{precision}.log"},
                    result="FAIL",
                )
            ]
        psnr[precision] = json.loads(metrics.read_text())["all_views"]["psnr"]
    delta = abs(psnr["fp16"] - psnr["fp32"])
    value = f"|Δ| {delta:.4f} dB ({psnr['fp32']:.3f} dB fp32)"
    label = "eval_mv fp16 vs fp32, all views PSNR" + ("" if cuda else f" ({size} px, {samples} samples)")
    row = Row(label, limit=f"< {EVAL_DB:g} dB", result=verdict(delta < EVAL_DB))
    setattr(row, "cuda" if cuda else "cpu", value)
    return [row] + ([] if cuda else [Row("eval_mv fp16 vs fp32 on CUDA (224 px, 128 samples)", cuda=SKIPPED)])


# ------------------------------------------------------------------------------------------ table


def table(rows: list[Row]) -> str:
    """The rows as a Markdown table (a `|` inside a cell escaped)."""

    def cells(row: Row) -> str:
        return " | ".join(value.replace("|", "\\|") for value in (row.check, row.cpu, row.cuda, row.limit, row.result))

    lines = ["| check | CPU | cuda:0 | limit | result |", "|---|---|---|---|---|"]
    return "\n".join(lines + [f"| {cells(r)} |" for r in rows])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="gpu_check", description=__doc__.splitlines()[0])
    parser.add_argument("--cpu-only", action="store_true", help="the CPU side only, even where CUDA is present")
    parser.add_argument("--out", type=Path, default=ROOT / "outputs" / "gpu_check", help="logs and reports")
    parser.add_argument(
        "--budget", type=float, default=None, help="seconds for the whole check (default: 540 with CUDA, 1800 without)"
    )
    args = parser.parse_args(argv)
    cuda = torch.cuda.is_available() and not args.cpu_only
    args.out.mkdir(parents=True, exist_ok=True)
    budget = args.budget or (540.0 if cuda else 1800.0)
    ctx = Context(args.out, cuda, time.perf_counter() + budget)
    steps: list[tuple[str, Callable[[], list[Row]]]] = [
        ("environment", lambda: environment(cuda)),
        ("pytest -m gpu", lambda: gpu_tests(ctx)),
        ("bench_training", lambda: bench_training(ctx)),
        ("bench_inference", lambda: bench_inference(ctx)),
        ("run.py", lambda: demo(ctx)),
        ("renders", lambda: demo_renders(cuda)),
        ("evaluation", lambda: evaluation(ctx)),
        ("resume", lambda: resume(ctx)),
    ]
    rows: list[Row] = []
    start = time.perf_counter()
    for name, step in steps:
        began = time.perf_counter()
        if began > ctx.deadline:
            rows.append(Row(name, result=f"FAIL: not run, the {budget:.0f} s budget is spent"))
            continue
        try:
            rows += step()
        except Exception as exc:  # one broken step is a row of the table, not the end of the check
            rows.append(Row(name, result=f"FAIL: {type(exc).__name__}: {str(exc)[:200]}"))
        print(f"gpu_check: {name} done in {time.perf_counter() - began:.0f} s", file=sys.stderr, flush=True)
    rows.append(Row("total time", **{"cuda" if cuda else "cpu": f"{time.perf_counter() - start:.0f} s"}))
    text = table(rows)
    print(text)
    (args.out / "gpu_check.md").write_text(text + "\n")
    (args.out / "gpu_check.json").write_text(json.dumps([asdict(r) for r in rows], indent=1) + "\n")
    return 1 if any(r.result.startswith("FAIL") for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())

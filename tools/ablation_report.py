#!/usr/bin/env python
"""The ablation in miniature (issue 17): table, orderings and figure from the evaluated runs.

    python tools/ablation_report.py STUDY_DIR --doc docs/mini_study.md --figure docs/mini_study_ablation.png \
        [--wall-time S] [--iterations N]

Reads STUDY_DIR/runs/<row>_seed<k>/eval_R/metrics.json (scripts/eval_mv.py on the held-out R test
objects; row `base`, seed 0: the start, not fine-tuned), writes the table
(mean ± std over seeds beside the paper's CO3D column) and whether each of the paper's orderings
holds here between the doc's ablation markers, and draws one bar per row with every seed's value.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from PIL import Image, ImageDraw  # noqa: E402

from real3d.cli import run_cli  # noqa: E402
from real3d.io import atomic_path  # noqa: E402
from tools.mini_study_report import BLOCKS, collect, write_doc  # noqa: E402

# row -> (label, the paper's CO3D PSNR for the same row; Real3D Table 4)
ROWS = {
    "base": ("(0) the start: the base model, not fine-tuned", None),
    "a_mv": ("(a) multi-view only", 18.44),
    "b_input_view": ("(b) + input-view reconstruction", 18.63),
    "c_clip": ("(c) + CLIP semantic loss (worst novel view)", 18.81),
    "d_full": ("(d) + cycle consistency, curriculum, stop-gradient (full)", 19.18),
    "e_no_curriculum": ("(e) full recipe without the curriculum", 18.63),
    "f_end_to_end": ("(f) cycle end-to-end, no stop-gradient", 17.78),
    "g_uncurated": ("(g) full recipe on uncurated R data", 18.79),
    "g_curated": ("(g') the same photos curated by scripts/curate.py", None),
}
# the paper's orderings: (better, worse)
ORDERINGS = (
    ("b_input_view", "a_mv"),
    ("c_clip", "b_input_view"),
    ("d_full", "c_clip"),
    ("d_full", "e_no_curriculum"),
    ("d_full", "f_end_to_end"),
    ("a_mv", "f_end_to_end"),
    ("d_full", "g_uncurated"),
    ("g_curated", "g_uncurated"),
)
GROUPS = ("novel_views", "all_views")
METRICS = ("psnr", "ssim")
BEGIN, END = BLOCKS["ablation"]


def row_values(runs: dict, row: str, group: str, metric: str) -> list[float]:
    """Every seed's R-test value of `metric` for `row` (seed order)."""
    return [r["R"][group][metric] for _, r in sorted(runs.get(row, {}).items()) if "R" in r]


def _mean_std(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def table(runs: dict) -> str:
    """Markdown table: R-test PSNR / SSIM (novel and all views) per row, and the paper's column."""
    head = "| row | seeds | " + " | ".join(f"{g.split('_')[0]} {m.upper()}" for g in GROUPS for m in METRICS)
    lines = [head + " | paper (CO3D PSNR) |", "|---|---|" + "---|" * (len(GROUPS) * len(METRICS) + 1)]
    for row, (label, paper) in ROWS.items():
        if row not in runs:
            continue
        cells = []
        for group in GROUPS:
            for metric in METRICS:
                values = row_values(runs, row, group, metric)
                mean, std = _mean_std(values)
                cells.append(f"{mean:.3f} ± {std:.3f}" if len(values) > 1 else f"{mean:.3f}")
        n = len(row_values(runs, row, "novel_views", "psnr"))
        paper_cell = "–" if paper is None else f"{paper:.2f}"
        lines.append(f"| {label} | {n} | " + " | ".join(cells) + f" | {paper_cell} |")
    return "\n".join(lines)


def orderings(runs: dict, group: str = "novel_views") -> list[dict]:
    """Each paper ordering better > worse: the difference here (novel-view PSNR), its spread, verdict."""
    out = []
    for better, worse in ORDERINGS:
        a, b = row_values(runs, better, group, "psnr"), row_values(runs, worse, group, "psnr")
        if not a or not b:
            continue
        (ma, sa), (mb, sb) = _mean_std(a), _mean_std(b)
        spread = math.hypot(sa, sb)
        diff = ma - mb
        if diff > spread:
            verdict = "holds"
        elif diff > 0:
            verdict = "holds in the mean, within the seeds' spread"
        elif diff > -spread:
            verdict = "reversed in the mean, within the seeds' spread"
        else:
            verdict = "reversed"
        paper_better, paper_worse = ROWS[better][1], ROWS[worse][1]
        paper = None if paper_better is None or paper_worse is None else paper_better - paper_worse
        out.append(
            {"better": better, "worse": worse, "diff": diff, "spread": spread, "paper": paper, "verdict": verdict}
        )
    return out


def block(runs: dict, wall_time: float | None, iterations: int | None) -> str:
    """The doc's ablation block: facts, the table, the orderings."""
    facts = ["every row fine-tunes the base model (row (0)) with 3 seeds unless said"]
    if iterations is not None:
        facts.append(f"{iterations} iterations per run")
    if wall_time is not None:
        facts.append(f"variants' wall time {wall_time / 60:.1f} min (training + evaluation)")
    order_lines = [
        "| paper's ordering | here: Δ novel PSNR (dB) | seeds' spread | paper Δ | verdict |",
        "|---|---|---|---|---|",
    ]
    for o in orderings(runs):
        order_lines.append(
            f"| {ROWS[o['better']][0].split(')')[0]}) > {ROWS[o['worse']][0].split(')')[0]}) | {o['diff']:+.3f} "
            f"| {o['spread']:.3f} | {'–' if o['paper'] is None else format(o['paper'], '+.2f')} | {o['verdict']} |"
        )
    return "\n".join(
        [
            BEGIN,
            "_Generated by `tools/ablation_report.py` (`scripts/reproduce_mini.sh --ablation`); "
            + "; ".join(facts)
            + "._",
            "",
            "Held-out R test objects (30 objects x 6 views, 64x64), mean ± std over seeds:",
            "",
            table(runs),
            "",
            "The paper's orderings, on novel-view PSNR (spread: the two rows' seed standard deviations combined):",
            "",
            "\n".join(order_lines),
            END,
        ]
    )


def draw_figure(path: Path, runs: dict) -> None:
    """Bars of the R-test novel-view PSNR per row (mean), a dot per seed, the paper's ordering as labels."""
    rows = [r for r in ROWS if r in runs]
    values = {r: row_values(runs, r, "novel_views", "psnr") for r in rows}
    every = [v for vs in values.values() for v in vs]
    low, high = min(every) - 0.3, max(every) + 0.2
    width, height, left, bottom = 110 * len(rows) + 80, 360, 60, 300
    image = Image.new("RGB", (width, height), (255, 255, 255))
    pen = ImageDraw.Draw(image)

    def y_of(value: float) -> float:
        return bottom - (value - low) / (high - low) * (bottom - 30)

    for tick in range(math.ceil(low * 2), math.floor(high * 2) + 1):
        y = y_of(tick / 2)
        pen.line([(left - 5, y), (width - 10, y)], fill=(225, 225, 225))
        pen.text((5, y - 6), f"{tick / 2:.1f}", fill=(0, 0, 0))
    for i, row in enumerate(rows):
        x = left + 20 + 110 * i
        mean = statistics.fmean(values[row])
        pen.rectangle([x, y_of(mean), x + 60, bottom], fill=(52, 120, 200) if row != "base" else (150, 150, 150))
        for value in values[row]:
            pen.ellipse([x + 27, y_of(value) - 3, x + 33, y_of(value) + 3], fill=(0, 0, 0))
        pen.text((x, bottom + 8), ROWS[row][0].split(")")[0] + ")", fill=(0, 0, 0))
        pen.text((x, bottom + 22), f"{mean:.2f} dB", fill=(0, 0, 0))
    pen.text((left, 8), "R test, novel views: PSNR per ablation row (bar: mean, dots: seeds)", fill=(0, 0, 0))
    with atomic_path(path) as tmp:
        image.save(tmp, format="PNG")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="ablation_report", description=__doc__.splitlines()[0])
    p.add_argument("study_dir", type=Path)
    p.add_argument("--doc", type=Path, default=Path("docs/mini_study.md"))
    p.add_argument("--figure", type=Path, default=Path("docs/mini_study_ablation.png"))
    p.add_argument("--wall-time", type=float, default=None, help="variants' wall time in seconds")
    p.add_argument("--iterations", type=int, default=None)
    return p.parse_args(argv)


def _run(args: argparse.Namespace) -> int:
    """Write the ablation block of the doc and the figure; print the block."""
    runs = collect(args.study_dir)
    if not any(row in runs for row in ROWS):
        raise ValueError(f"no evaluated ablation runs under {args.study_dir / 'runs'}")
    text = block(runs, args.wall_time, args.iterations)
    write_doc(args.doc, text, "ablation")
    draw_figure(args.figure, runs)
    print(text)
    print(json.dumps({"figure": str(args.figure)}))
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_cli(_run, "ablation_report", parse_args(argv), user_errors=(OSError, KeyError, ValueError))


if __name__ == "__main__":
    sys.exit(main())

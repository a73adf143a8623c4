"""What a curation run tells its user: counts per stage and reason, and a contact sheet of kept
and rejected examples."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import PIL.Image
import PIL.ImageDraw
import PIL.ImageFont

from real3d.curation.stages import STAGES

KEPT_COLOUR, REJECTED_COLOUR = (30, 130, 50), (190, 40, 40)


def summarize(records: Sequence[dict[str, Any]], this_run: dict[str, Any]) -> dict[str, Any]:
    """Counts over every record of the manifest: kept, rejected per stage and per reason."""
    kept = [r for r in records if r["kept"]]
    stages: dict[str, dict[str, Any]] = {}
    for stage in (*STAGES, "error"):
        reasons = Counter(r["reason"] for r in records if not r["kept"] and r["stage"] == stage)
        if reasons or stage != "error":
            stages[stage] = {"rejected": sum(reasons.values()), "reasons": dict(reasons.most_common())}
    return {
        "images": len(records),
        "kept": len(kept),
        "rejected": len(records) - len(kept),
        "rejected_by_stage": stages,
        "split": dict(Counter(r.get("split", "train") for r in kept)),
        "mask_source": dict(Counter(r["mask_source"] for r in records if r.get("mask_source"))),
        "this_run": this_run,
    }


def _font(size: int) -> PIL.ImageFont.ImageFont:
    try:
        return PIL.ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1 has one bitmap size only
        return PIL.ImageFont.load_default()


def _checkerboard(size: int, cell: int = 8) -> PIL.Image.Image:
    yy, xx = np.mgrid[:size, :size]
    board = np.where(((yy // cell) + (xx // cell)) % 2 == 0, 205, 245).astype(np.uint8)
    return PIL.Image.fromarray(board).convert("RGBA")


def _thumbnail(path: Path | None, size: int) -> PIL.Image.Image:
    """The image fitted into size×size over a checkerboard (shows transparency), or a grey tile."""
    tile = _checkerboard(size)
    try:
        with PIL.Image.open(path) as image:
            image.load()
            image = image.convert("RGBA")
    except Exception:  # noqa: BLE001 - unreadable sources are shown as an empty tile
        return PIL.Image.new("RGB", (size, size), (90, 90, 90))
    image.thumbnail((size, size))
    tile.alpha_composite(image, ((size - image.width) // 2, (size - image.height) // 2))
    return tile.convert("RGB")


def _fit(draw: PIL.ImageDraw.ImageDraw, text: str, font: PIL.ImageFont.ImageFont, width: int) -> str:
    """`text`, shortened with an ellipsis until it fits in `width` pixels."""
    if draw.textlength(text, font=font) <= width:
        return text
    while text and draw.textlength(text + "…", font=font) > width:
        text = text[:-1]
    return text + "…"


def _spread(records: list[dict], count: int) -> list[dict]:
    """Up to `count` records, taken in turn from each reason so that every reason is shown."""
    groups: dict[str, list[dict]] = {}
    for record in records:
        groups.setdefault(f"{record['stage']}/{record['reason']}", []).append(record)
    chosen: list[dict] = []
    while len(chosen) < count and any(groups.values()):
        for group in groups.values():
            if group and len(chosen) < count:
                chosen.append(group.pop(0))
    return chosen


def contact_sheet(
    records: Sequence[dict[str, Any]],
    output_dir: str | Path,
    per_group: int = 24,
    thumb_size: int = 128,
    columns: int = 8,
) -> PIL.Image.Image:
    """Grid of kept crops (top) and rejected images with their reason (bottom)."""
    output_dir = Path(output_dir)
    kept = [r for r in records if r["kept"]][:per_group]
    rejected = _spread([r for r in records if not r["kept"]], per_group)
    label_h, header_h, pad = max(12, thumb_size // 8), max(18, thumb_size // 5), 6
    font, header_font = _font(label_h - 2), _font(header_h - 4)
    cell_w, cell_h = thumb_size + pad, thumb_size + label_h + pad

    def rows(n: int) -> int:
        return max(1, -(-n // columns))

    width = columns * cell_w + pad
    height = 2 * header_h + (rows(len(kept)) + rows(len(rejected))) * cell_h + 2 * pad
    sheet = PIL.Image.new("RGB", (width, height), (255, 255, 255))
    draw = PIL.ImageDraw.Draw(sheet)
    y = pad
    n_kept = sum(r["kept"] for r in records)
    for title, group, colour in (
        (f"kept: {n_kept} of {len(records)}", kept, KEPT_COLOUR),
        (f"rejected: {len(records) - n_kept} of {len(records)}", rejected, REJECTED_COLOUR),
    ):
        draw.text((pad, y), title, fill=colour, font=header_font)
        y += header_h
        for i, record in enumerate(group):
            x0, y0 = pad + (i % columns) * cell_w, y + (i // columns) * cell_h
            if record["kept"]:
                path, label = output_dir / record["path"], Path(record["path"]).stem
            else:
                crop = record.get("rejected_path")
                path = output_dir / crop if crop else Path(record["source"])
                label = record["reason"]  # the stage is in the manifest
            sheet.paste(_thumbnail(path, thumb_size), (x0, y0))
            draw.rectangle([x0, y0, x0 + thumb_size - 1, y0 + thumb_size - 1], outline=colour)
            draw.text((x0, y0 + thumb_size + 1), _fit(draw, label, font, thumb_size), fill=colour, font=font)
        y += rows(len(group)) * cell_h
    return sheet

"""The curation run: photos in, a single-view training set out (crops, split, manifest, report).

Output folder layout:
- `crops/<name>.png`      RGBA crop of each kept object (alpha = mask), the format of SPEC §7;
- `split.json`            {"train": [...], "test": [...]} crop paths relative to the folder;
- `manifest.jsonl`        one line per source image: source, path, kept, split, stage, reason,
                          detail, mask_source, scores (the single-view loader reads it too);
- `summary.json`          counts per stage and reason; `contact_sheet.png` kept vs rejected;
- `rejected/<name>.png`   crops the model stage rejected (kept for inspection);
- `.curate/`              resumption state: images waiting for the model stage, model scores.

Resumable: every decision is appended to the manifest (fsync'ed) as it is made, and a rerun skips
the sources already there; crops are written atomically.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import multiprocessing
import os
import shutil
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import asdict
from typing import Any

from omegaconf import DictConfig, OmegaConf
from tqdm import tqdm

from real3d.curation.config import check_curate, check_output
from real3d.curation.manifest import JsonlLog
from real3d.curation.report import contact_sheet, summarize
from real3d.curation.scoring import CycleScorer, curriculum_cameras, fixed_cameras
from real3d.curation.sources import WORK_DIR, assign_names, find_mask, find_sources
from real3d.curation.stages import IMAGE_EXTENSIONS, Result, Task, process_image, rembg_remover
from real3d.data.splits import write_split
from real3d.data.wild import WILD_ALPHA_THRESHOLD
from real3d.devices import resolve_device
from real3d.errors import Real3DError
from real3d.io import atomic_path, atomic_write_text
from real3d.paths import project_path

log = logging.getLogger(__name__)

STAGE_KEYS = ("foreground", "geometry", "quality", "crop")
# Score used by `top_fraction`, and whether higher is better.
RANK_KEYS = {"psnr": ("cycle_psnr", True), "lpips": ("cycle_lpips", False), "clip": ("clip_similarity", True)}


# ----------------------------------------------------------------------------- stages 1-3


def run_stages(tasks: list[Task], stage_cfg: dict, output_dir: str, num_workers: int) -> Iterator[Result]:
    """Stages 1–3 over the tasks, in `num_workers` processes (0: in this one); results as they come."""
    if num_workers <= 0:
        for task in tasks:
            yield process_image(task, stage_cfg, output_dir)
        return
    # spawn: no fork of a process holding torch threads; workers import no torch (see stages)
    pool = ProcessPoolExecutor(num_workers, mp_context=multiprocessing.get_context("spawn"))
    queue = iter(tasks)
    running: set[Future] = set()
    try:
        for task in queue:
            running.add(pool.submit(process_image, task, stage_cfg, output_dir))
            if len(running) >= 4 * num_workers:
                break
        while running:
            done, running = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                yield future.result()
                task = next(queue, None)
                if task is not None:
                    running.add(pool.submit(process_image, task, stage_cfg, output_dir))
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


# ----------------------------------------------------------------------------- model stage


def build_scorer(cfg: dict, pretrained: dict) -> CycleScorer | None:
    """The model stage's scorer (`cfg`: model_score; `pretrained`: the frozen networks' files), or
    None when it is off; a missing model file stops the run."""
    if not cfg["enabled"]:
        return None
    from real3d.models import load
    from real3d.pretrained import build_clip, build_lpips

    device = resolve_device(cfg["device"])
    m = cfg["model"]
    try:
        model = load(m["path"], m["weight_name"], m["config"], render=m["render"], device=device)
    except Real3DError as exc:
        raise Real3DError(
            f"model stage: {exc}; set model_score.model.path=<folder>, or turn the stage off with "
            "model_score.enabled=false"
        ) from exc
    root, allow_random = pretrained["root"], pretrained["allow_random"]
    lpips = build_lpips(pretrained["lpips_vgg"], allow_random=allow_random, device=device, root=root)
    clip = None
    try:
        clip = build_clip(pretrained["clip"], pretrained["clip_config"], allow_random, device, root)
    except Real3DError as exc:
        if pretrained["clip"] is not None:
            raise
        log.info("model stage: no CLIP score (%s)", exc)
    distance = float(cfg["camera_distance"])
    if cfg["views"] == "curriculum":
        novel_c2w = curriculum_cameras(
            int(cfg["num_views"]),
            distance,
            cfg["curriculum_azimuth_deg"],
            cfg["curriculum_elevation_deg"],
            int(cfg["view_seed"]),
        )
    elif cfg["views"] == "fixed":
        novel_c2w = fixed_cameras(cfg["novel_views"], distance)
    else:
        raise Real3DError(f"model_score.views must be curriculum or fixed, got {cfg['views']!r}")
    return CycleScorer(
        model,
        lpips,
        clip,
        novel_c2w=novel_c2w,
        camera_distance=distance,
        fov_rad=cfg["fov_rad"],
        pad_factor=cfg["pad_factor"],
        render_size=cfg["render_size"],
    )


def stage_config(cfg: dict) -> dict:
    """The config of stages 1–3; `foreground.mask_threshold: null` becomes the training loader's."""
    stage_cfg = {k: cfg[k] for k in STAGE_KEYS}
    threshold = stage_cfg["foreground"]["mask_threshold"]
    if threshold is None:
        threshold = WILD_ALPHA_THRESHOLD
    elif threshold != WILD_ALPHA_THRESHOLD:
        log.warning(
            "foreground.mask_threshold=%s: the crop box and the filters see a different object than the "
            "single-view loader, which reads alpha > %d",
            threshold,
            WILD_ALPHA_THRESHOLD,
        )
    stage_cfg["foreground"] = {**stage_cfg["foreground"], "mask_threshold": int(threshold)}
    return stage_cfg


def check_rembg(tasks: list[Task], foreground: dict) -> None:
    """Stop before any work when rembg may be needed (a photo without a mask file) and cannot run."""
    if foreground["rembg"] and any(task.mask_path is None for task in tasks):
        rembg_remover(foreground)


def model_verdict(scores: dict, cfg: dict, rank_limit: float | None) -> tuple[str | None, str]:
    """(reason, detail) for a model-stage rejection, or (None, "") to keep."""
    checks = (
        ("cycle_psnr", cfg["min_psnr"], True),
        ("cycle_lpips", cfg["max_lpips"], False),
        ("clip_similarity", cfg["min_clip"], True),
    )
    for key, limit, low in checks:
        value = scores.get(key)
        if limit is None or value is None:
            continue
        if (value < limit) if low else (value > limit):
            return key, f"{key} {value:.4g} {'<' if low else '>'} {limit:.4g}"
    if rank_limit is not None:
        key, higher_better = RANK_KEYS[cfg["rank_by"]]
        value = scores.get(key)
        if value is None:
            return "top_fraction", f"no {key} score to rank by"
        if (value < rank_limit) if higher_better else (value > rank_limit):
            return "top_fraction", f"{key} {value:.4g} outside the top {cfg['top_fraction']:g}"
    return None, ""


def rank_limit(all_scores: Iterable[dict], cfg: dict) -> float | None:
    """Worst score still inside the best `top_fraction` of every image scored so far."""
    if cfg["top_fraction"] is None:
        return None
    if not 0.0 < cfg["top_fraction"] <= 1.0:
        raise Real3DError(f"model_score.top_fraction must be in (0, 1] or null, got {cfg['top_fraction']}")
    key, higher_better = RANK_KEYS[cfg["rank_by"]]
    values = [s[key] for s in all_scores if s.get(key) is not None]
    if not values:
        if key == "clip_similarity":
            raise Real3DError("model_score.rank_by=clip needs CLIP weights (pretrained.clip)")
        return None
    values.sort(reverse=higher_better)
    count = max(1, math.floor(cfg["top_fraction"] * len(values) + 0.5))  # rounded half up
    return values[min(count, len(values)) - 1]


# ----------------------------------------------------------------------------- the run


class Curation:
    """One run over an output folder: resumes from its manifest and state files."""

    def __init__(self, cfg: dict) -> None:
        self.cfg = cfg
        self.out = check_output(cfg.get("output_dir")).resolve()
        if cfg.get("overwrite"):
            self._clear()
        try:
            self.out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise Real3DError(f"output_dir={cfg['output_dir']}: cannot write there ({exc.strerror or exc})") from exc
        self.manifest = JsonlLog(self.out / "manifest.jsonl")
        self.pending = JsonlLog(self.out / WORK_DIR / "pending.jsonl")  # passed 1–3, await model
        self.model_scores = JsonlLog(self.out / WORK_DIR / "model_scores.jsonl")
        self.model_cfg = cfg["model_score"]
        self.stats = {"processed": 0, "skipped_done": 0, "model_scored": 0}

    def _clear(self) -> None:
        for name in ("crops", "rejected", WORK_DIR):
            shutil.rmtree(self.out / name, ignore_errors=True)
        for name in ("manifest.jsonl", "split.json", "summary.json", "contact_sheet.png"):
            (self.out / name).unlink(missing_ok=True)

    def _check_config(self) -> None:
        """Warn when thresholds changed since images already in the manifest were judged."""
        keys = (*STAGE_KEYS, "model_score")
        current = json.dumps({k: self.cfg[k] for k in keys}, sort_keys=True)
        path = self.out / WORK_DIR / "config.json"
        if path.exists() and path.read_text() != current and len(self.manifest):
            log.warning(
                "the curation config differs from the run that judged the %d images already in %s; "
                "they are not judged again (overwrite=true redoes everything)",
                len(self.manifest),
                self.out / "manifest.jsonl",
            )
        atomic_write_text(path, current)

    def _split_of(self, name: str) -> str:
        """Stable train/test assignment from the crop name (unchanged when images are added)."""
        digest = hashlib.sha1(f"{self.cfg['split_seed']}:{name}".encode()).digest()
        return "test" if int.from_bytes(digest[:8], "big") / 2**64 < self.cfg["test_fraction"] else "train"

    def _record(self, result: dict, kept: bool, **extra: Any) -> dict:
        record = {
            "source": result["source"],
            "path": result["path"] if kept else None,
            "kept": kept,
        }
        if kept:
            record["split"] = self._split_of(result["name"])
        record.update(
            stage=None if kept else result["stage"],
            reason=None if kept else result["reason"],
            detail="" if kept else result["detail"],
            mask_source=result["mask_source"],
            scores=result["scores"],
        )
        record.update(extra)
        return record

    def _decide_model(self, sources: list[str]) -> None:
        """Write the manifest lines of images whose model scores are in."""
        limit = rank_limit(self.model_scores, self.model_cfg)
        for source in sources:
            result = self.pending.get(source)
            scores = {k: v for k, v in self.model_scores.get(source).items() if k != "source"}
            result = {**result, "scores": {**result["scores"], **scores}}
            reason, detail = model_verdict(scores, self.model_cfg, limit)
            if reason is None:
                self.manifest.append(self._record(result, kept=True))
                continue
            rejected = f"rejected/{result['name']}.png"
            crop = self.out / result["path"]
            if crop.exists():  # moved before the manifest line: a rerun finds it either way
                (self.out / rejected).parent.mkdir(parents=True, exist_ok=True)
                os.replace(crop, self.out / rejected)
            result.update(stage="model", reason=reason, detail=detail)
            self.manifest.append(self._record(result, kept=False, rejected_path=rejected))

    def _score(self, sources: list[str], scorer: CycleScorer | None) -> None:
        """Model stage for a batch; decided at once unless `top_fraction` needs every score."""
        if scorer is None:  # stage off: whatever passed stages 1–3 is kept
            for source in sources:
                self.manifest.append(self._record(self.pending.get(source), kept=True))
            return
        todo = [s for s in sources if s not in self.model_scores]
        if todo:
            paths = [self.out / self.pending.get(s)["path"] for s in todo]
            for source, scores in zip(todo, scorer.score(paths), strict=True):
                self.model_scores.append({"source": source, **scores})
            self.stats["model_scored"] += len(todo)
        if self.model_cfg["top_fraction"] is None:
            self._decide_model(sources)

    def run(self) -> dict[str, Any]:
        start = time.monotonic()
        cfg = self.cfg
        self._check_config()
        sources = find_sources(cfg.get("input_dir"), cfg.get("input_list"), exclude=self.out)
        if not sources:
            raise Real3DError(f"no photos found (extensions {', '.join(IMAGE_EXTENSIONS)})")
        known = {r["source"]: r["name"] for r in self.pending}
        names = assign_names(sources, known)

        # Images that passed stages 1–3 in an earlier run but were never decided.
        waiting = [
            r["source"] for r in self.pending if r["source"] not in self.manifest and (self.out / r["path"]).exists()
        ]
        waiting_set = set(waiting)
        tasks = []
        for path, rel in sources:
            source = str(path)
            if source in self.manifest or source in waiting_set:
                self.stats["skipped_done"] += 1
                continue
            tasks.append(Task(source, names[source], find_mask(cfg.get("mask_dir"), rel)))

        # Before any image: a missing rembg or model file stops the run here.
        stage_cfg = stage_config(cfg)
        check_rembg(tasks, stage_cfg["foreground"])
        scorer = build_scorer(self.model_cfg, cfg["pretrained"]) if tasks or waiting else None
        batch_size = int(self.model_cfg["batch_size"])
        with tqdm(total=len(tasks), desc="curate", unit="img", disable=not cfg["progress"]) as bar:
            for result in run_stages(tasks, stage_cfg, str(self.out), int(cfg["num_workers"])):
                self.stats["processed"] += 1
                bar.update()
                if result.stage == "error":
                    log.warning("%s: %s", result.source, result.detail)
                if not result.passed:
                    self.manifest.append(self._record(asdict(result), kept=False))
                    continue
                self.pending.append(asdict(result))
                waiting.append(result.source)
                while len(waiting) >= batch_size:
                    self._score(waiting[:batch_size], scorer)
                    waiting = waiting[batch_size:]
        for i in range(0, len(waiting), batch_size):
            self._score(waiting[i : i + batch_size], scorer)
        if scorer is not None and self.model_cfg["top_fraction"] is not None:
            self._decide_model([r["source"] for r in self.pending if r["source"] not in self.manifest])
        return self.finish(time.monotonic() - start)

    def finish(self, seconds: float) -> dict[str, Any]:
        """Split file, summary and contact sheet over the whole manifest (earlier runs included)."""
        records = list(self.manifest)
        kept = sorted((r for r in records if r["kept"]), key=lambda r: r["path"])
        write_split(
            self.out / "split.json",
            {
                "train": [r["path"] for r in kept if r["split"] == "train"],
                "test": [r["path"] for r in kept if r["split"] == "test"],
            },
        )
        summary = summarize(records, {**self.stats, "seconds": round(seconds, 2)})
        atomic_write_text(self.out / "summary.json", json.dumps(summary, indent=2) + "\n")
        sheet_cfg = self.cfg["contact_sheet"]
        sheet = contact_sheet(records, self.out, sheet_cfg["per_group"], sheet_cfg["thumb_size"])
        with atomic_path(self.out / "contact_sheet.png") as tmp:
            sheet.save(tmp, format="PNG")
        return summary


def curate(cfg: DictConfig | dict) -> dict[str, Any]:
    """Run the curation described by `config/curate.yaml` (or an equal dict), checked first; returns the summary."""
    cfg = OmegaConf.create(cfg) if isinstance(cfg, dict) else cfg
    check_curate(cfg)
    cfg = OmegaConf.to_container(cfg, resolve=True)
    model = cfg["model_score"]["model"]
    if model["path"] is not None:
        model["path"] = project_path(model["path"])  # the project's checkpoints/ from any folder
    return Curation(cfg).run()

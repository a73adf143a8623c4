"""Self-supervised pretraining of the LRM's ViT image encoder in miniature, and how it is measured and saved.

Real3D starts from TripoSR, whose image encoder is DINO (a ViT pretrained without labels); the LRM
fine-tunes it at a lower learning rate. This module gives the small model's ViT
(`real3d/models/configs/small/vit`) the same kind of start, from the mini study's domain images only
(S renders and R photos, `real3d.pretraining.images`; no labels, no 3D).

Methods (`PretrainSettings.method`), all measured on the mini-study data (k-NN accuracy of shape
family, CLS feature, k = 10, 180 held-out test views per domain, chance 0.2; a random ViT of the same
config: S 0.27, R 0.51):
- "contrastive" (the default, `real3d.pretraining.contrastive`): SimCLR's instance discrimination with
  square crops, blur and grey/colour changes, so that the silhouette, not colour or texture, tells
  images apart (shape families here are silhouettes: k-NN on 16x16 foreground masks scores S 0.84,
  R 0.92). The negatives keep it from collapsing from the first step, which the CPU budget needs.
  4,000 steps (batch 64, one thread, 35 min): S 0.74, R 0.86 (`checkpoints/mini/encoder/pretraining.json`).
- "dino" (`real3d.pretraining.dino`): DINO self-distillation with multi-crop and an EMA teacher. With
  DINO's mean centring its loss went to log K (uniform outputs) within 300 steps and stayed there
  (R k-NN 0.51 -> 0.38); with Sinkhorn-Knopp centring likewise over 150 steps: on ~500 images and
  ~1,000 CPU steps it does not leave the uniform phase.
- "mae" (`real3d.pretraining.mae`): a masked autoencoder, the cheapest per step; after 600 steps its
  features scored below the random ViT (S 0.26, R 0.28): reconstructing pixels keeps colour and
  texture, which say nothing about shape here.

Measure (`knn_report`): k-NN accuracy of shape family from CLS and mean patch features, computed
exactly as the LRM's tokenizer computes tokens, held-out test views against the domain's training
images. Save (`save_encoder`): a `transformers` ViT folder (config.json + model.safetensors, the layout
of `facebook/dino-vitb16`), which the LRM config's `image_tokenizer.pretrained_model_name_or_path` can
name; `real3d.models.load(config=..., image_encoder=folder)` starts an LRM's tokenizer from it.
"""

from __future__ import annotations

import copy
import json
import logging
import math
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, default_collate
from transformers import ViTConfig, ViTModel, get_cosine_schedule_with_warmup

from real3d.data.datamodule import SkippingCollate
from real3d.errors import Real3DError
from real3d.io import atomic_write_text
from real3d.models.config import PACKAGED_CONFIGS
from real3d.models.image_tokenizer import DINOSingleImageTokenizer
from real3d.pretraining.contrastive import Contrastive, ContrastiveSettings
from real3d.pretraining.dino import DINO, DINOSettings
from real3d.pretraining.images import DOMAINS, DomainImages
from real3d.pretraining.mae import MAESettings, MaskedAutoencoder

log = logging.getLogger(__name__)

SMALL_VIT_CONFIG = PACKAGED_CONFIGS / "small" / "vit" / "config.json"
PROVENANCE_FILE = "pretraining.json"
METHODS = ("contrastive", "dino", "mae")


@dataclass
class PretrainSettings:
    """The method and its optimisation: AdamW (betas 0.9, 0.95), linear warm-up then cosine decay, clipping."""

    method: str = "contrastive"
    steps: int = 2000
    batch_size: int = 64
    lr: float = 5e-4
    weight_decay: float = 0.04
    warmup_fraction: float = 0.05
    clip_grad_norm: float = 3.0
    seed: int = 0
    image_size: int = 64


def read_vit_config(path: str | os.PathLike = SMALL_VIT_CONFIG) -> ViTConfig:
    """The ViT config (config.json, or a folder holding it)."""
    path = Path(path)
    path = path / "config.json" if path.is_dir() else path
    if not path.is_file():
        raise Real3DError(f"ViT config not found: {path}")
    return ViTConfig.from_json_file(str(path))


def save_encoder(vit: ViTModel, out_dir: str | os.PathLike, provenance: dict[str, Any] | None = None) -> Path:
    """Write the encoder as a `transformers` ViT folder (config.json, model.safetensors) plus its provenance."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    vit = vit if vit.device.type == "cpu" else copy.deepcopy(vit).cpu()  # files hold CPU tensors
    vit.save_pretrained(str(out))
    if provenance is not None:
        atomic_write_text(out / PROVENANCE_FILE, json.dumps(provenance, indent=1) + "\n")
    return out


def lrm_tokenizer(vit: ViTModel) -> DINOSingleImageTokenizer:
    """The LRM's image tokenizer holding `vit`'s weights, on its device: features measured as the LRM will read them."""
    tokenizer = DINOSingleImageTokenizer(vit.config).eval()
    tokenizer.model.load_state_dict(vit.state_dict())
    return tokenizer.to(vit.device)


def _domain_images(data_dir: str | os.PathLike, split: str, domain: str, image_size: int) -> torch.Tensor:
    """All readable images [N,3,S,S] of one domain's split, framed for evaluation (no augmentation)."""
    loader = DataLoader(
        DomainImages(data_dir, split, (domain,), image_size, train=False),
        batch_size=64,
        collate_fn=SkippingCollate(default_collate),
    )
    return torch.cat([batch["image"] for batch in loader if batch is not None])


@torch.no_grad()
def extract_features(vit: ViTModel, dataset: DomainImages, batch_size: int = 64) -> dict[str, torch.Tensor]:
    """Features of every image as the LRM's tokenizer computes them: "cls" and "mean" (patch tokens) [N,C],
    and "family" [N]; bad images are skipped (and counted by the dataset)."""
    tokenizer = lrm_tokenizer(vit)
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, collate_fn=SkippingCollate(default_collate))
    cls, mean, family = [], [], []
    for batch in loader:
        if batch is None:
            continue
        tokens = tokenizer(batch["image"][:, None].to(vit.device))[:, 0].cpu()  # [B,C,T], T = 1 + patches
        cls.append(tokens[:, :, 0])
        mean.append(tokens[:, :, 1:].mean(dim=-1))
        family.append(batch["family"])
    if not cls:
        raise Real3DError("no readable images to extract features from")
    return {"cls": torch.cat(cls), "mean": torch.cat(mean), "family": torch.cat(family)}


def knn_accuracy(
    reference: torch.Tensor,
    reference_labels: torch.Tensor,
    query: torch.Tensor,
    query_labels: torch.Tensor,
    k: int = 10,
) -> float:
    """Accuracy of a k-nearest-neighbour vote (cosine similarity, votes weighted by it) of query [Q,C]
    among reference [R,C]."""
    similarity = F.normalize(query, dim=-1) @ F.normalize(reference, dim=-1).T  # [Q,R]
    top, index = similarity.topk(min(k, reference.shape[0]), dim=-1)
    num_classes = int(max(reference_labels.max(), query_labels.max())) + 1
    votes = torch.zeros(query.shape[0], num_classes).scatter_add_(1, reference_labels[index], top)
    return float((votes.argmax(dim=-1) == query_labels).float().mean())


def knn_report(
    vit: ViTModel, data_dir: str | os.PathLike, k: int = 10, image_size: int = 64
) -> dict[str, dict[str, float]]:
    """k-NN accuracy of shape family per domain and pooling ("cls", "mean"; "queries": the number of test
    views): reference = the domain's training images, queries = its held-out test views (both framed for
    evaluation, no augmentation)."""
    report = {}
    for domain in DOMAINS:
        reference = extract_features(vit, DomainImages(data_dir, "train", (domain,), image_size, train=False))
        query = extract_features(vit, DomainImages(data_dir, "test", (domain,), image_size, train=False))
        report[domain] = {
            pooling: knn_accuracy(reference[pooling], reference["family"], query[pooling], query["family"], k)
            for pooling in ("cls", "mean")
        }
        report[domain]["queries"] = float(query["family"].numel())
    return report


@torch.no_grad()
def colour_sensitivity(vit: ViTModel, data_dir: str | os.PathLike, image_size: int = 64) -> dict[str, float]:
    """Per domain, how much the tokens the LRM reads [C,T] change when an image's colour channels are
    rotated (same shapes, other hues), as a share of how much they differ between two test images.
    Near 0: the encoder is blind to colour, and an LRM started from it cannot know an object's colour."""
    tokenizer = lrm_tokenizer(vit)
    report = {}
    for domain in DOMAINS:
        images = _domain_images(data_dir, "test", domain, image_size).to(vit.device)  # [N,3,S,S]
        tokens = tokenizer(images[:, None])[:, 0].flatten(1)  # [N,C*T]
        rotated = tokenizer(images[:, [1, 2, 0]][:, None])[:, 0].flatten(1)
        between = torch.cdist(tokens, tokens)  # [N,N]
        off_diagonal = ~torch.eye(len(tokens), dtype=torch.bool, device=vit.device)
        report[domain] = float((tokens - rotated).norm(dim=-1).mean() / between[off_diagonal].mean())
    return report


@torch.no_grad()
def chroma_decodability(vit: ViTModel, data_dir: str | os.PathLike, image_size: int = 64) -> dict[str, float]:
    """Per domain, how well a linear map reads each patch's mean chroma (RGB minus its grey) from the
    patch tokens the LRM reads: R^2 on the test images of a least-squares fit on the training images.
    1: colour is there for the LRM to decode linearly; 0: it is not."""
    tokenizer = lrm_tokenizer(vit)
    patch = vit.config.patch_size
    report = {}
    for domain in DOMAINS:
        features, chroma = [], []
        for split in ("train", "test"):
            images = _domain_images(data_dir, split, domain, image_size).to(vit.device)  # [N,3,S,S]
            tokens = tokenizer(images[:, None])[:, 0, :, 1:]  # [N,C,P]
            features.append(F.pad(tokens.transpose(1, 2).flatten(0, 1), (0, 1), value=1.0))  # [N*P,C+1]
            colour = F.avg_pool2d(images, patch).flatten(2).transpose(1, 2).flatten(0, 1)  # [N*P,3]
            chroma.append(colour - colour.mean(dim=1, keepdim=True))
        weights = torch.linalg.lstsq(features[0], chroma[0]).solution  # [C+1,3]
        residual = (features[1] @ weights - chroma[1]).pow(2).sum()
        report[domain] = float(1.0 - residual / (chroma[1] - chroma[1].mean(dim=0)).pow(2).sum())
    return report


def _batches(loader: DataLoader) -> Iterator[dict[str, Any]]:
    """Batches without end (re-shuffled each pass); all-bad batches are dropped."""
    while True:
        for batch in loader:
            if batch is not None:
                yield batch


def build_objective(
    method: str,
    vit_config: ViTConfig,
    dino: DINOSettings | None = None,
    mae: MAESettings | None = None,
    contrastive: ContrastiveSettings | None = None,
) -> Contrastive | DINO | MaskedAutoencoder:
    """The pretraining objective: `forward(images)` -> loss, `update(step, total)`, `encoder()` -> ViTModel."""
    if method == "contrastive":
        return Contrastive(vit_config, contrastive)
    if method == "dino":
        return DINO(vit_config, dino)
    if method == "mae":
        return MaskedAutoencoder(vit_config, mae)
    raise Real3DError(f"pretraining method must be one of {METHODS}, got {method!r}")


def pretrain(
    data_dir: str | os.PathLike,
    vit_config: ViTConfig,
    settings: PretrainSettings,
    dino: DINOSettings | None = None,
    mae: MAESettings | None = None,
    contrastive: ContrastiveSettings | None = None,
    max_seconds: float | None = None,
    progress: bool = True,
    eval_every: int | None = None,
    device: torch.device | str = "cpu",
) -> tuple[Contrastive | DINO | MaskedAutoencoder, list[dict[str, Any]]]:
    """Train `settings.method` on the training images of both domains for `settings.steps` steps (or
    until `max_seconds`) on `device`; returns the objective there (its `encoder()` is the result) and the
    loss per step, with the k-NN report (`knn_report`) every `eval_every` steps."""
    torch.manual_seed(settings.seed)
    model = build_objective(settings.method, vit_config, dino, mae, contrastive).to(device).train()
    dataset = DomainImages(data_dir, "train", DOMAINS, settings.image_size)
    loader = DataLoader(
        dataset,
        batch_size=min(settings.batch_size, len(dataset)),
        shuffle=True,
        drop_last=len(dataset) >= settings.batch_size,
        generator=torch.Generator().manual_seed(settings.seed),
        collate_fn=SkippingCollate(default_collate),
    )
    trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(
        [
            {"params": [p for _, p in trainable if p.ndim >= 2]},
            {"params": [p for _, p in trainable if p.ndim < 2], "weight_decay": 0.0},  # biases, norms, tokens
        ],
        lr=settings.lr,
        betas=(0.9, 0.95),
        weight_decay=settings.weight_decay,
    )
    warmup = max(1, math.ceil(settings.warmup_fraction * settings.steps))
    scheduler = get_cosine_schedule_with_warmup(optimizer, warmup, settings.steps)
    history: list[dict[str, Any]] = []
    start = time.monotonic()
    steps = range(settings.steps)
    if progress:
        from tqdm import tqdm

        steps = tqdm(steps, desc=f"{settings.method} pretraining", dynamic_ncols=True)
    for step, batch in zip(steps, _batches(loader), strict=False):
        loss = model(batch["image"].to(device))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_([p for _, p in trainable], settings.clip_grad_norm)
        optimizer.step()
        scheduler.step()
        model.update(step, settings.steps)
        history.append({"step": step, "loss": float(loss.detach()), "lr": scheduler.get_last_lr()[0]})
        if progress and step % 10 == 0:
            steps.set_postfix(loss=f"{history[-1]['loss']:.4f}")
        if eval_every and (step + 1) % eval_every == 0:
            history[-1]["knn"] = knn_report(model.encoder(), data_dir, image_size=settings.image_size)
            log.info("step %d: k-NN %s", step + 1, json.dumps(history[-1]["knn"]))
        if max_seconds is not None and time.monotonic() - start > max_seconds:
            log.warning("time limit reached after %d of %d steps", step + 1, settings.steps)
            break
    if dataset.skipped_count():
        log.warning("%d image loads failed and were skipped", dataset.skipped_count())
    return model.eval(), history

"""A CLIP in miniature: an open_clip image-text model trained contrastively on the mini study's
domain images and the captions the generator knows (`real3d.pretraining.captions`).

The model is open_clip's own `CLIP` class with a small config (`mini_clip_config`): a ViT image
tower sized for a 2-core CPU and a small text transformer. Text goes through open_clip's BPE
tokenizer; the embedding table holds only the BPE tokens the captions can contain (`CaptionTokenizer`,
its list saved as `vocab.json`), so the text tower stays small. Images are preprocessed exactly as
`real3d.pretrained.ClipEncoder` does (resize, CLIP mean/std), so the saved model
(`open_clip_model.safetensors` + `config.json`) loads through `real3d.pretrained.build_clip`, the
path of the real CLIP, and gives the same image features.

Loss: CLIP's symmetric InfoNCE (open_clip's `ClipLoss`). Identical captions in a batch (views of one
primitive, dropped attributes) need no special case: their text embeddings are equal, so the loss and
its gradients are those of counting them all as positives.
Training data and augmentation: `real3d.pretraining.clip_data`. Training and evaluation run on the
device the model is on (`pretrain_clip`'s `device`); the augmentation's draws are the CPU's either way.
"""

from __future__ import annotations

import copy
import json
import logging
import math
import os
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from tqdm import tqdm

from real3d.errors import Real3DError
from real3d.pretrained import CLIP_MEAN, CLIP_STD
from real3d.pretraining.captions import TEMPLATE, vocabulary_texts
from real3d.pretraining.clip_data import CaptionedSet, eval_images, load_captioned_set, training_batch
from real3d.pretraining.images import FAMILIES

log = logging.getLogger(__name__)

WEIGHTS_FILE = "open_clip_model.safetensors"  # one of real3d.pretrained.CLIP_FILES
CONFIG_FILE = "config.json"
VOCAB_FILE = "vocab.json"
PAD_ID, UNK_ID = 0, 1  # compact ids; the BPE tokens follow in increasing BPE order (end-of-text last)


def mini_clip_config(
    vocab_size: int,
    image_size: int = 64,
    patch_size: int = 8,
    width: int = 128,
    layers: int = 4,
    embed_dim: int = 64,
    text_width: int = 64,
    text_layers: int = 2,
    context_length: int = 32,
) -> dict:
    """An open_clip model config (the dict `build_clip` reads) for the miniature CLIP."""
    return {
        "embed_dim": embed_dim,
        "quick_gelu": False,
        "vision_cfg": {
            "image_size": image_size,
            "layers": layers,
            "width": width,
            "head_width": 32,
            "patch_size": patch_size,
        },
        "text_cfg": {
            "context_length": context_length,
            "vocab_size": vocab_size,
            "width": text_width,
            "heads": max(1, text_width // 32),
            "layers": text_layers,
        },
    }


def build_model(config: dict) -> torch.nn.Module:
    """open_clip's CLIP (image and text towers) from a config dict, random weights."""
    from open_clip.model import CLIP

    return CLIP(
        embed_dim=config["embed_dim"],
        vision_cfg=config["vision_cfg"],
        text_cfg=config["text_cfg"],
        quick_gelu=config.get("quick_gelu", False),
    )


class CaptionTokenizer:
    """open_clip's BPE tokenizer with ids remapped to a compact table: pad 0, unknown 1, then the
    BPE tokens of `bpe_ids` in increasing order (so end-of-text stays the largest id, which
    open_clip's argmax pooling relies on)."""

    def __init__(self, bpe_ids: Sequence[int], context_length: int):
        from open_clip.tokenizer import SimpleTokenizer

        self.bpe = SimpleTokenizer(context_length=context_length)
        self.bpe_ids = sorted(set(bpe_ids) | {self.bpe.sot_token_id, self.bpe.eot_token_id})
        self.context_length = context_length
        table = torch.full((len(self.bpe.encoder),), UNK_ID, dtype=torch.long)
        table[0] = PAD_ID
        table[torch.tensor(self.bpe_ids)] = torch.arange(len(self.bpe_ids)) + 2
        self.table = table

    @classmethod
    def for_captions(cls, context_length: int) -> CaptionTokenizer:
        """The tokenizer whose table holds every word a caption or prompt can contain."""
        from open_clip.tokenizer import SimpleTokenizer

        bpe = SimpleTokenizer(context_length=context_length)
        ids = bpe(vocabulary_texts(), context_length=context_length).flatten()
        return cls(sorted(set(ids.tolist()) - {0}), context_length)

    @property
    def vocab_size(self) -> int:
        return len(self.bpe_ids) + 2

    def __call__(self, texts: Sequence[str]) -> torch.Tensor:
        """Token ids [N, context_length] (long)."""
        return self.table[self.bpe(list(texts), context_length=self.context_length)]


# ----------------------------------------------------------------------------- model use


def normalize_images(images: torch.Tensor) -> torch.Tensor:
    """CLIP's input normalisation, as `real3d.pretrained.ClipEncoder.preprocess` (same size)."""
    mean = torch.tensor(CLIP_MEAN, dtype=images.dtype, device=images.device).view(1, 3, 1, 1)
    std = torch.tensor(CLIP_STD, dtype=images.dtype, device=images.device).view(1, 3, 1, 1)
    return (images - mean) / std


def _device_of(model: torch.nn.Module) -> torch.device:
    return next(model.parameters()).device


@torch.no_grad()
def encode_images(model: torch.nn.Module, images: torch.Tensor, batch_size: int = 128) -> torch.Tensor:
    """Normalised image embeddings [N,D] (on the CPU) of images [N,3,S,S] in [0,1] (at the tower's size),
    computed on the model's device."""
    model.eval()
    device = _device_of(model)
    chunks = [
        model.encode_image(normalize_images(images[i : i + batch_size].to(device)), normalize=True).cpu()
        for i in range(0, len(images), batch_size)
    ]
    return torch.cat(chunks)


@torch.no_grad()
def zero_shot_accuracy(
    model: torch.nn.Module,
    tokenizer: CaptionTokenizer,
    images: torch.Tensor,
    families: torch.Tensor,
    classes: Sequence[str] = FAMILIES,
    template: str = TEMPLATE,
) -> float:
    """Fraction of images [N,3,S,S] whose most similar prompt (`template` of each class) names
    their family (`families` [N], indices into FAMILIES)."""
    model.eval()
    tokens = tokenizer([template.format(c) for c in classes]).to(_device_of(model))
    text = model.encode_text(tokens, normalize=True).cpu()  # [C,D]
    predicted = (encode_images(model, images) @ text.T).argmax(dim=1)
    truth = torch.tensor([list(classes).index(FAMILIES[f]) if FAMILIES[f] in classes else -1 for f in families])
    return float((predicted == truth).float().mean())


# ----------------------------------------------------------------------------- training


@dataclass
class TrainSettings:
    """Optimisation of `train_clip`."""

    steps: int = 3000
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 0.05
    warmup: int = 100
    keep_prob: float = 0.6  # caption dropout: each attribute but the family kept with this probability
    seed: int = 0
    log_every: int = 50


def _optimizer(model: torch.nn.Module, settings: TrainSettings) -> torch.optim.Optimizer:
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2 and "embedding" not in n]
    other = [p for n, p in model.named_parameters() if not (p.ndim >= 2 and "embedding" not in n)]
    groups = [{"params": decay, "weight_decay": settings.weight_decay}, {"params": other, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=settings.lr, betas=(0.9, 0.98), eps=1e-6)


def _lr_factor(step: int, settings: TrainSettings) -> float:
    if step < settings.warmup:
        return (step + 1) / settings.warmup
    progress = (step - settings.warmup) / max(1, settings.steps - settings.warmup)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


def train_clip(
    model: torch.nn.Module,
    tokenizer: CaptionTokenizer,
    data: CaptionedSet,
    settings: TrainSettings,
    progress: bool = True,
) -> list[float]:
    """Train `model` in place (on its device) on `data`; returns the loss of every step."""
    size = model.visual.image_size[0] if isinstance(model.visual.image_size, tuple) else model.visual.image_size
    from open_clip.loss import ClipLoss

    loss_fn = ClipLoss()
    device = _device_of(model)
    generator = torch.Generator().manual_seed(settings.seed)
    optimizer = _optimizer(model, settings)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: _lr_factor(s, settings))
    losses: list[float] = []
    model.train()
    bar = tqdm(range(settings.steps), desc="clip", disable=not progress, mininterval=5.0)
    for step in bar:
        indices = torch.randperm(len(data), generator=generator)[: settings.batch_size]
        images, texts = training_batch(data, indices, int(size), settings.keep_prob, generator)
        image_features = model.encode_image(normalize_images(images.to(device)), normalize=True)
        text_features = model.encode_text(tokenizer(texts).to(device), normalize=True)
        loss = loss_fn(image_features, text_features, model.logit_scale.exp())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        with torch.no_grad():
            model.logit_scale.clamp_(0.0, math.log(100.0))
        losses.append(float(loss.detach()))
        if step % settings.log_every == 0 or step == settings.steps - 1:
            bar.set_postfix(loss=f"{sum(losses[-settings.log_every :]) / len(losses[-settings.log_every :]):.3f}")
    model.eval()
    return losses


# ----------------------------------------------------------------------------- files


def save_clip(model: torch.nn.Module, tokenizer: CaptionTokenizer, config: dict, out_dir: str | os.PathLike) -> Path:
    """Write `open_clip_model.safetensors` (the whole open_clip state dict), `config.json` (the
    open_clip model config `build_clip` reads) and `vocab.json` (the tokenizer's BPE ids) to `out_dir`."""
    from safetensors.torch import save_file

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(out / WEIGHTS_FILE))
    (out / CONFIG_FILE).write_text(json.dumps(config, indent=1) + "\n")
    vocab = {"bpe_ids": tokenizer.bpe_ids, "context_length": tokenizer.context_length}
    (out / VOCAB_FILE).write_text(json.dumps(vocab) + "\n")
    return out / WEIGHTS_FILE


def load_clip(model_dir: str | os.PathLike) -> tuple[torch.nn.Module, CaptionTokenizer, dict]:
    """The saved miniature CLIP with both towers (for zero-shot use), its tokenizer and config."""
    from real3d.models.checkpoint import load_state_dict_file

    folder = Path(model_dir)
    for name in (WEIGHTS_FILE, CONFIG_FILE, VOCAB_FILE):
        if not (folder / name).is_file():
            raise Real3DError(f"{folder} is not a miniature CLIP folder (no {name})")
    config = json.loads((folder / CONFIG_FILE).read_text())
    vocab = json.loads((folder / VOCAB_FILE).read_text())
    model = build_model(config)
    model.load_state_dict(load_state_dict_file(folder / WEIGHTS_FILE))
    return model.eval(), CaptionTokenizer(vocab["bpe_ids"], int(vocab["context_length"])), config


@dataclass
class ClipRun:
    """What `pretrain_clip` did: zero-shot accuracies, view similarities, losses, sizes and time."""

    zero_shot: dict[str, float]
    view_similarity: dict[str, float]
    first_loss: float
    last_loss: float
    train_images: int
    steps: int
    seconds: float
    parameters: int

    def to_dict(self) -> dict:
        return asdict(self)


def evaluate_zero_shot(model: torch.nn.Module, tokenizer: CaptionTokenizer, test: CaptionedSet) -> dict[str, float]:
    """Zero-shot family accuracy on each test domain, among the domain's own 5 families and among all 10."""
    size = model.visual.image_size[0] if isinstance(model.visual.image_size, tuple) else model.visual.image_size
    images = eval_images(test, int(size))
    out = {}
    for domain in ("S", "R"):
        keep = torch.tensor([d == domain for d in test.domains])
        if not bool(keep.any()):
            continue
        families = test.families[keep]
        own = sorted({FAMILIES[f] for f in families.tolist()}, key=FAMILIES.index)
        out[f"{domain}_own_families"] = zero_shot_accuracy(model, tokenizer, images[keep], families, own)
        out[f"{domain}_all_families"] = zero_shot_accuracy(model, tokenizer, images[keep], families, FAMILIES)
    return out


@torch.no_grad()
def view_similarity(model: torch.nn.Module, test: CaptionedSet, domain: str = "R") -> dict[str, float]:
    """What the semantic loss compares, on `domain`'s test objects: the mean cosine between an
    object's input view (view 0) and its other views ("same"), and the views of other objects
    ("other"); and how often a novel view's most similar input view is its own object's ("match")."""
    size = model.visual.image_size[0] if isinstance(model.visual.image_size, tuple) else model.visual.image_size
    keep = [i for i, d in enumerate(test.domains) if d == domain]
    inputs = [i for i in keep if test.views[i] == 0]
    novel = [i for i in keep if test.views[i] != 0]
    if len(inputs) < 2 or not novel:
        return {}
    features = encode_images(model, eval_images(test, int(size)))
    cosine = features[novel] @ features[inputs].T  # [novel views, objects]
    own = torch.tensor([[test.objects[n] == test.objects[i] for i in inputs] for n in novel])
    match = own[torch.arange(len(novel)), cosine.argmax(dim=1)].float().mean()
    return {"same": float(cosine[own].mean()), "other": float(cosine[~own].mean()), "match": float(match)}


def evaluate(
    trained: torch.nn.Module, random: torch.nn.Module, tokenizer: CaptionTokenizer, test: CaptionedSet
) -> dict:
    """Zero-shot accuracies (`evaluate_zero_shot`) and R's view similarities (`view_similarity`) of a
    trained model and of a random one: {"zero_shot": {...}, "view_similarity": {...}}, keys prefixed
    "trained_" / "random_"."""
    out: dict[str, dict[str, float]] = {"zero_shot": {}, "view_similarity": {}}
    for name, model in (("trained", trained), ("random", random)):
        out["zero_shot"].update({f"{name}_{k}": v for k, v in evaluate_zero_shot(model, tokenizer, test).items()})
        out["view_similarity"].update({f"{name}_R_{k}": v for k, v in view_similarity(model, test).items()})
    return out


def evaluate_saved(
    model_dir: str | os.PathLike, data_dir: str | os.PathLike, seed: int = 0, device: torch.device | str = "cpu"
) -> dict:
    """`evaluate` a saved miniature CLIP against the same architecture with random weights (`seed`)
    on the test images of a mini-study data folder (e.g. one with more test objects), on `device`."""
    model, tokenizer, config = load_clip(model_dir)
    torch.manual_seed(seed)
    random = build_model(config)
    return evaluate(model.to(device), random.to(device), tokenizer, load_captioned_set(data_dir, "test"))


def pretrain_clip(
    data_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    settings: TrainSettings,
    config: dict | None = None,
    progress: bool = True,
    device: torch.device | str = "cpu",
) -> dict:
    """Train the miniature CLIP on a mini-study data folder's training images (on `device`), save it
    to `out_dir`, and measure it on the test images (`evaluate`) against its own random initialisation.
    Returns (and writes as `metrics.json`) the numbers."""
    torch.manual_seed(settings.seed)
    tokenizer = CaptionTokenizer.for_captions(
        context_length=(config or {}).get("text_cfg", {}).get("context_length", 32)
    )
    config = config or mini_clip_config(tokenizer.vocab_size)
    if config["text_cfg"]["vocab_size"] < tokenizer.vocab_size:
        raise Real3DError(f"text vocab_size {config['text_cfg']['vocab_size']} < the captions' {tokenizer.vocab_size}")
    train = load_captioned_set(data_dir, "train")
    test = load_captioned_set(data_dir, "test")
    model = build_model(config).to(device)
    random_model = copy.deepcopy(model)
    start = time.perf_counter()
    losses = train_clip(model, tokenizer, train, settings, progress)
    seconds = time.perf_counter() - start
    evaluation = evaluate(model, random_model, tokenizer, test)
    save_clip(model, tokenizer, config, out_dir)
    window = max(1, min(50, len(losses) // 5))
    run = ClipRun(
        zero_shot=evaluation["zero_shot"],
        view_similarity=evaluation["view_similarity"],
        first_loss=sum(losses[:window]) / window,
        last_loss=sum(losses[-window:]) / window,
        train_images=len(train),
        steps=settings.steps,
        seconds=seconds,
        parameters=sum(p.numel() for p in model.parameters()),
    )
    metrics = {
        **run.to_dict(),
        "settings": asdict(settings),
        "test_images": {d: sum(x == d for x in test.domains) for d in ("S", "R")},
        "data_dir": str(data_dir),
    }
    (Path(out_dir) / "metrics.json").write_text(json.dumps(metrics, indent=1) + "\n")
    return metrics

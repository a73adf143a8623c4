"""The published TripoSR/Real3D `config.yaml`: reading it safely and resolving the ViT config offline."""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig, OmegaConf
from transformers import ViTConfig

from real3d.errors import Real3DError

PACKAGED_CONFIGS = Path(__file__).parent / "configs"

# Hub names in published configs -> config folders shipped with the package (never fetched).
KNOWN_VIT_CONFIGS = {
    "facebook/dino-vitb16": PACKAGED_CONFIGS / "dino-vitb16",
}

# Class paths of the published configs (TripoSR and Real3D) -> the part they name. Anything else
# in a `*_cls` entry is rejected: class paths from a downloaded file are never imported.
KNOWN_CLASSES = {
    "image_tokenizer_cls": {"tsr.models.tokenizers.image.DINOSingleImageTokenizer"},
    "tokenizer_cls": {"tsr.models.tokenizers.triplane.Triplane1DTokenizer"},
    "backbone_cls": {"tsr.models.transformer.transformer_1d.Transformer1D"},
    "post_processor_cls": {"tsr.models.network_utils.TriplaneUpsampleNetwork"},
    "decoder_cls": {"tsr.models.network_utils.NeRFMLP"},
    "renderer_cls": {"tsr.models.nerf_renderer.TriplaneNeRFRenderer"},
}

REQUIRED_SECTIONS = ("image_tokenizer", "tokenizer", "backbone", "post_processor", "decoder", "renderer")


def load_model_config(cfg: str | Path | dict | DictConfig) -> DictConfig:
    """Read and validate a model config (path to config.yaml, dict or DictConfig)."""
    if isinstance(cfg, (str, Path)):
        path = Path(cfg)
        if not path.is_file():
            raise Real3DError(f"model config not found: {path}")
        try:
            cfg = OmegaConf.load(path)
        except Exception as exc:  # noqa: BLE001 - a malformed file is a user error
            raise Real3DError(f"cannot parse model config {path}: {exc}") from exc
    cfg = OmegaConf.create(OmegaConf.to_container(OmegaConf.create(cfg), resolve=True))
    missing = [s for s in REQUIRED_SECTIONS if s not in cfg]
    if missing or "cond_image_size" not in cfg:
        raise Real3DError(
            f"model config lacks {', '.join(missing + ([] if 'cond_image_size' in cfg else ['cond_image_size']))}"
        )
    for key, allowed in KNOWN_CLASSES.items():
        value = cfg.get(key)
        if value is not None and value not in allowed:
            raise Real3DError(f"model config names an unknown class {key}={value!r}")
    return cfg


def resolve_vit_config(name_or_path: str, base_dir: str | Path | None) -> ViTConfig:
    """The DINO ViT config from a known hub name (shipped copy) or a local folder / JSON file."""
    if name_or_path in KNOWN_VIT_CONFIGS:
        folder = KNOWN_VIT_CONFIGS[name_or_path]
    else:
        folder = Path(name_or_path).expanduser()
        if not folder.is_absolute() and base_dir is not None:
            folder = Path(base_dir) / folder
    json_file = folder if folder.suffix == ".json" else folder / "config.json"
    if not json_file.is_file():
        raise Real3DError(
            f"ViT config for image_tokenizer.pretrained_model_name_or_path={name_or_path!r} not found "
            f"(looked for {json_file}); give a local folder with config.json or one of "
            f"{sorted(KNOWN_VIT_CONFIGS)}"
        )
    return ViTConfig.from_json_file(str(json_file))

"""Background removal with a real rembg session, loaded only from a local ONNX file."""

from __future__ import annotations

import os
from pathlib import Path

import PIL.Image

from real3d.errors import Real3DError

# rembg models that share U²-Net's pre- and post-processing (its `u2net_custom` session).
U2NET_FAMILY = ("u2net", "u2netp", "u2net_human_seg", "silueta")


def default_model_paths(model_name: str) -> list[Path]:
    """Where rembg keeps downloaded models: $U2NET_HOME or ~/.u2net, then $REMBG_HOME or ~/.rembg."""
    u2net_home = Path(os.environ.get("U2NET_HOME", "~/.u2net")).expanduser()
    rembg_home = Path(os.environ.get("REMBG_HOME", "~/.rembg")).expanduser()
    name = f"{model_name}.onnx"
    return [u2net_home / name, rembg_home / model_name / name, rembg_home / name]


def _local_session(model_path: Path):  # noqa: ANN202 - rembg's session type
    """A rembg U²-Net session over a local file: rembg's own class, with downloading disabled."""
    import onnxruntime as ort
    from rembg.sessions.u2net_custom import U2netCustomSession

    class LocalU2netSession(U2netCustomSession):
        @classmethod
        def download_models(cls, *args, **kwargs) -> str:  # noqa: ANN002, ANN003
            return str(kwargs["model_path"])

    return LocalU2netSession("u2net_custom", ort.SessionOptions(), model_path=model_path)


def has_transparency(image: PIL.Image.Image) -> bool:
    """True for an RGBA image whose alpha is not fully opaque (its mask is already given)."""
    return image.mode == "RGBA" and image.getextrema()[3][0] < 255


class BackgroundRemover:
    """rembg session for a U²-Net-family model; never downloads (rembg would, for a missing file)."""

    def __init__(self, model_path: str | Path | None = None, model_name: str = "u2net") -> None:
        if model_name not in U2NET_FAMILY:
            raise Real3DError(f"unsupported rembg model {model_name!r}; use one of {U2NET_FAMILY}")
        candidates = [Path(model_path).expanduser()] if model_path else default_model_paths(model_name)
        path = next((c for c in candidates if c.is_file()), None)
        if path is None:
            raise Real3DError(
                f"background-removal model not found: {candidates[0]} (put rembg's {model_name}.onnx "
                "there, give its path, or pass --no-remove-bg with RGBA inputs)"
            )
        self.model_path = path
        try:
            self.session = _local_session(path)
        except Exception as exc:  # noqa: BLE001 - a broken model file is a user error
            raise Real3DError(f"cannot load background-removal model {path}: {exc}") from exc

    def remove(self, image: PIL.Image.Image) -> PIL.Image.Image:
        """RGBA image whose alpha is the predicted foreground mask."""
        import rembg

        return rembg.remove(image.convert("RGB"), session=self.session).convert("RGBA")

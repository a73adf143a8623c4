"""Fetch the released weights and pretrained components into the folders the loaders read.

    python scripts/download_weights.py                 # everything listed in checkpoints/README.md
    python scripts/download_weights.py --only real3d clip
    python scripts/download_weights.py --list          # what each name fetches, and where

Hub files go through `huggingface_hub` (it honours HF_ENDPOINT, HF_HOME, HF_TOKEN and the proxy
variables); the others come from their publishers' URLs. Each file is downloaded beside its
destination as a hidden `.part` file, resumed from where it stopped when the script is run again
(HTTP Range), checked against the publisher's checksum (the hub's LFS sha256 or git blob sha1,
torchvision's sha256 prefix, rembg's md5) and only then renamed into place, so a loader never reads
a partial or corrupt file. Files already in place are checked the same way and kept. This is the
only part of the project that downloads anything.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlparse

from tqdm import tqdm

from real3d.cli import report_error, run_cli
from real3d.errors import Real3DError
from real3d.inference.background import default_model_paths

if TYPE_CHECKING:
    import httpx2

PROJECT_ROOT = Path(__file__).resolve().parents[1]
CHUNK_BYTES = 1 << 20
PROG = "download_weights"


@dataclass(frozen=True)
class Download:
    """One file: from a hub repo (`repo_id`, `filename`) or a URL with the publisher's `digest`."""

    group: str
    dest: str  # relative to the checkpoints folder; "u2net:<name>" is relative to rembg's model folder
    what: str
    repo_id: str | None = None
    filename: str | None = None
    url: str | None = None
    digest: tuple[str, str] | None = None  # (algorithm, hex or hex prefix) for URL downloads


DOWNLOADS = (
    Download("real3d", "model_both_trained_v1.ckpt", "Real3D weights", "hwjiang/Real3D", "model_both_trained_v1.ckpt"),
    Download("triposr", "model.ckpt", "TripoSR weights", "stabilityai/TripoSR", "model.ckpt"),
    Download("triposr", "config.yaml", "TripoSR/Real3D model config", "stabilityai/TripoSR", "config.yaml"),
    Download(
        "dino", "pretrained/dino-vitb16/config.json", "DINO ViT-B/16 config", "facebook/dino-vitb16", "config.json"
    ),
    Download(
        "clip",
        "pretrained/open_clip_model.safetensors",
        "CLIP ViT-B/16, OpenAI weights (open_clip)",
        "timm/vit_base_patch16_clip_224.openai",
        "open_clip_model.safetensors",
    ),
    Download(
        "lpips",
        "pretrained/vgg16-397923af.pth",
        "LPIPS' VGG-16 (torchvision)",
        url="https://download.pytorch.org/models/vgg16-397923af.pth",
        digest=("sha256", "397923af"),
    ),
    Download(
        "inception",
        "pretrained/inception_v3_google-0cc3c7bd.pth",
        "FID Inception-v3 (torchvision)",
        url="https://download.pytorch.org/models/inception_v3_google-0cc3c7bd.pth",
        digest=("sha256", "0cc3c7bd"),
    ),
    Download(
        "u2net",
        "u2net:u2net.onnx",
        "rembg's U²-Net (background removal)",
        url="https://github.com/danielgatis/rembg/releases/download/v0.0.0/u2net.onnx",
        digest=("md5", "60024c5c889badc19c04ad937298a77b"),
    ),
)
GROUPS = tuple(dict.fromkeys(d.group for d in DOWNLOADS))


class DownloadError(Real3DError):
    """A file could not be fetched or failed its checksum (one line for the user)."""


@dataclass
class Outcome:
    download: Download
    path: Path
    status: str


# --------------------------------------------------------------------------------------- checksums


def file_digest(path: Path, algorithm: str) -> str:
    """Hex digest of a file: 'sha256', 'md5', or 'git-sha1' (the hub's id of a non-LFS file)."""
    if algorithm == "git-sha1":
        hasher = hashlib.sha1(f"blob {path.stat().st_size}\0".encode())
    else:
        hasher = hashlib.new(algorithm)
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK_BYTES):
            hasher.update(chunk)
    return hasher.hexdigest()


def digest_matches(path: Path, digest: tuple[str, str]) -> bool:
    """Whether the file's digest equals (or, for a published prefix, starts with) the expected one."""
    return file_digest(path, digest[0]).startswith(digest[1].lower())


def partial_path(dest: Path, digest: tuple[str, str] | None) -> Path:
    """Where a download of `dest` accumulates: hidden, beside it, named after the expected content."""
    tag = digest[1][:12] if digest else "unknown"
    return dest.with_name(f".{dest.name}.{tag}.part")


# --------------------------------------------------------------------------------------------- HTTP


@dataclass(frozen=True)
class Remote:
    """Where to GET a file, with which headers, and what it must hash to."""

    url: str
    headers: dict[str, str]
    size: int | None
    digest: tuple[str, str] | None
    source: str  # for messages


def http_error_line(exc: Exception) -> str:
    """A one-line description of an HTTP or network failure."""
    response = getattr(exc, "response", None)
    if response is not None and getattr(response, "status_code", None):
        return f"HTTP {response.status_code} {response.reason_phrase or ''}".strip()
    first = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {first[0]}" if first else type(exc).__name__


def hub_remote(download: Download, endpoint: str | None, token: str | bool | None) -> Remote:
    """The hub's metadata for a file: its download URL, size and checksum (LFS sha256 or git sha1).

    `endpoint` defaults to HF_ENDPOINT as set now (huggingface_hub reads it once, at import).
    """
    from huggingface_hub import get_hf_file_metadata, hf_hub_url
    from huggingface_hub.utils import build_hf_headers

    endpoint = endpoint or os.environ.get("HF_ENDPOINT") or None
    url = hf_hub_url(download.repo_id, download.filename, endpoint=endpoint)
    source = f"{download.repo_id}/{download.filename} from {url.split('/' + download.repo_id)[0]}"
    try:
        meta = get_hf_file_metadata(url, token=token, endpoint=endpoint)
    except Exception as exc:  # noqa: BLE001 - hub, HTTP and network errors all become one line
        raise DownloadError(f"cannot fetch {source}: {http_error_line(exc)}") from exc
    etag = (meta.etag or "").lower()
    if re.fullmatch(r"[0-9a-f]{64}", etag):
        digest = ("sha256", etag)
    elif re.fullmatch(r"[0-9a-f]{40}", etag):
        digest = ("git-sha1", etag)
    else:
        raise DownloadError(f"cannot fetch {source}: the server gave no usable checksum (ETag {meta.etag!r})")
    headers = build_hf_headers(token=token, headers={"Accept-Encoding": "identity"})  # byte ranges of the file
    if _origin(meta.location) != _origin(url):
        headers.pop("authorization", None)  # a CDN: the token stays with the hub
    return Remote(meta.location, headers, meta.size, digest, source)


def url_remote(download: Download) -> Remote:
    """A publisher's URL: no hub token, the size from the response, the checksum from the table."""
    return Remote(download.url, {"Accept-Encoding": "identity"}, None, download.digest, download.url)


def _origin(url: str) -> tuple[str, str, int | None]:
    parsed = urlparse(url)
    return parsed.scheme, (parsed.hostname or "").lower(), parsed.port


def fetch_to(remote: Remote, part: Path, label: str, retries: int, progress: bool) -> None:
    """GET `remote` into `part`, continuing from the bytes already there (Range); retry lost connections."""
    import httpx2
    from huggingface_hub import constants, get_session
    from huggingface_hub.errors import OfflineModeIsEnabled

    for attempt in range(retries + 1):
        have = part.stat().st_size if part.exists() else 0
        if remote.size is not None and have > remote.size:
            part.unlink()
            have = 0
        if remote.size is not None and have == remote.size:
            return
        headers = dict(remote.headers, **({"Range": f"bytes={have}-"} if have else {}))
        try:
            with get_session().stream(
                "GET", remote.url, headers=headers, follow_redirects=True, timeout=constants.HF_HUB_DOWNLOAD_TIMEOUT
            ) as response:
                if have and response.status_code == 416:  # nothing left to send: the part is complete
                    return
                if response.status_code >= 400:
                    raise DownloadError(
                        f"cannot fetch {remote.source}: HTTP {response.status_code} {response.reason_phrase}"
                    )
                resumed = have and response.status_code == 206
                total = _total_size(response, have if resumed else 0)
                with (
                    open(part, "ab" if resumed else "wb") as f,
                    tqdm(
                        total=total,
                        initial=have if resumed else 0,
                        unit="B",
                        unit_scale=True,
                        unit_divisor=1024,
                        desc=label,
                        disable=not progress,
                    ) as bar,
                ):
                    for chunk in response.iter_bytes():  # as it arrives: a lost connection keeps all it sent
                        f.write(chunk)
                        bar.update(len(chunk))
                if total is not None and part.stat().st_size != total:
                    raise httpx2.RemoteProtocolError("the connection closed before the end of the file")
                return
        except OfflineModeIsEnabled as exc:
            raise DownloadError(f"cannot fetch {remote.source}: HF_HUB_OFFLINE is set") from exc
        except httpx2.TransportError as exc:
            if attempt == retries:
                kept = part.stat().st_size if part.exists() else 0
                resume = f" ({kept} bytes kept in {part}; run again to resume)" if kept else ""
                raise DownloadError(f"cannot fetch {remote.source}: {http_error_line(exc)}{resume}") from exc
            time.sleep(min(0.5 * 2.0**attempt, 5.0))


def _total_size(response: httpx2.Response, offset: int) -> int | None:
    """The whole file's size from Content-Range (a resumed request) or Content-Length."""
    content_range = response.headers.get("Content-Range", "")
    if "/" in content_range and content_range.rsplit("/", 1)[1].isdigit():
        return int(content_range.rsplit("/", 1)[1])
    length = response.headers.get("Content-Length")
    if length is None or response.headers.get("Content-Encoding", "identity") != "identity":
        return None
    return offset + int(length)


# ------------------------------------------------------------------------------------------ fetching


def destination(download: Download, checkpoints_dir: Path, u2net_dir: Path) -> Path:
    if download.dest.startswith("u2net:"):
        return u2net_dir / download.dest.removeprefix("u2net:")
    return checkpoints_dir / download.dest


def _same_settings(a: Path, b: Path) -> bool:
    """Whether two YAML configs hold the same values (comments and interpolations aside)."""
    from omegaconf import OmegaConf

    def values(path: Path) -> object:
        return OmegaConf.to_container(OmegaConf.load(path), resolve=True)

    return values(a) == values(b)


def fetch(
    download: Download,
    dest: Path,
    *,
    endpoint: str | None = None,
    token: str | bool | None = None,
    force: bool = False,
    retries: int = 5,
    progress: bool = True,
) -> str:
    """Put `download` at `dest` (verified); returns what happened, for the summary."""
    remote = hub_remote(download, endpoint, token) if download.repo_id else url_remote(download)
    if dest.is_file() and not force:
        if remote.digest is None or digest_matches(dest, remote.digest):
            return "present, checksum ok" if remote.digest else "present"
        if dest.suffix not in (".yaml", ".yml"):
            return "KEPT: differs from the published file (--force replaces it)"
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = partial_path(dest, remote.digest)
    fetch_to(remote, part, dest.name, retries, progress)
    if remote.digest is not None and not digest_matches(part, remote.digest):
        algorithm, expected = remote.digest
        actual = file_digest(part, algorithm)
        part.unlink()
        raise DownloadError(
            f"checksum mismatch for {dest.name} ({remote.source}): {algorithm} should be {expected}, "
            f"got {actual}; the download was deleted, nothing was written to {dest}"
        )
    if dest.is_file() and not force:  # a config that differs byte for byte: compare its values
        same = _same_settings(dest, part)
        part.unlink()
        if same:
            return "present, same settings as the published file"
        return "KEPT: its settings differ from the published file (--force replaces it)"
    os.replace(part, dest)
    return "downloaded, checksum ok" if remote.digest else "downloaded"


def summary(outcomes: Sequence[Outcome]) -> str:
    """What is where: one line per file."""
    lines = []
    for outcome in outcomes:
        size = outcome.path.stat().st_size if outcome.path.is_file() else None
        shown = f"{size / 2**20:9.1f} MiB" if size is not None else " " * 13
        lines.append(f"{outcome.download.group:<10} {shown}  {outcome.path}  [{outcome.status}]")
    return "\n".join(lines)


MAX_RETRIES = 100


def retries(value: str) -> int:
    """argparse type: reconnections per file, 0 to MAX_RETRIES."""
    try:
        count = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not an integer") from None
    if not 0 <= count <= MAX_RETRIES:
        raise argparse.ArgumentTypeError(f"{count} is not in [0, {MAX_RETRIES}]")
    return count


def folder(value: str) -> Path:
    """argparse type: a folder to write into (it may not exist yet; a file is refused)."""
    path = Path(value).expanduser()
    if not value or (path.exists() and not path.is_dir()):
        raise argparse.ArgumentTypeError(f"{value!r} is a file, not a folder" if value else "an empty path")
    return path


def check_writable(path: Path, flag: str) -> None:
    """Create the folder (and its parents) now, so that a folder that cannot be written is one line up front."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise Real3DError(f"{flag} {path}: cannot write there ({exc.strerror or exc})") from exc
    if not os.access(path, os.W_OK | os.X_OK):
        raise Real3DError(f"{flag} {path}: cannot write there (permission denied)")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", choices=GROUPS, metavar="NAME", help=f"Any of: {' '.join(GROUPS)}.")
    parser.add_argument("--list", action="store_true", help="Say what each name fetches and where, then stop.")
    parser.add_argument("--force", action="store_true", help="Replace files that differ from the published ones.")
    parser.add_argument(
        "--checkpoints-dir", type=folder, default=PROJECT_ROOT / "checkpoints", help="Default: the project's."
    )
    parser.add_argument(
        "--u2net-dir",
        type=folder,
        default=default_model_paths("u2net")[0].parent,
        help="rembg's model folder (default: $U2NET_HOME or ~/.u2net).",
    )
    parser.add_argument(
        "--retries",
        type=retries,
        default=5,
        help=f"Reconnections per file and run after a lost connection (0 to {MAX_RETRIES}).",
    )
    parser.add_argument("--no-progress", action="store_true", help="No progress bars.")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    return run_cli(_download, PROG, args)


def _download(args: argparse.Namespace) -> int:
    """Fetch (or list) the chosen groups; a failed download is reported, counted and gives exit code 1."""
    groups = args.only or GROUPS
    chosen = [d for d in DOWNLOADS if d.group in groups]
    if args.list:
        for d in chosen:
            source = f"hub {d.repo_id}/{d.filename}" if d.repo_id else d.url
            print(f"{d.group:<10} {destination(d, args.checkpoints_dir, args.u2net_dir)}  <- {source} ({d.what})")
        return 0
    check_writable(args.checkpoints_dir, "--checkpoints-dir")
    if any(d.dest.startswith("u2net:") for d in chosen):
        check_writable(args.u2net_dir, "--u2net-dir")
    outcomes, failures = [], 0
    for d in chosen:
        dest = destination(d, args.checkpoints_dir, args.u2net_dir)
        try:
            status = fetch(d, dest, force=args.force, retries=args.retries, progress=not args.no_progress)
        except (Real3DError, OSError) as exc:  # OSError: the disk, not the network (full, read-only)
            report_error(PROG, f"{d.group}: {exc}")
            status, failures = "FAILED", failures + 1
        outcomes.append(Outcome(d, dest, status))
    print(summary(outcomes))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

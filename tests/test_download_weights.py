"""scripts/download_weights.py against a stand-in hub and file server on 127.0.0.1 (no outside network)."""

from __future__ import annotations

import hashlib
import re
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from real3d import pretrained
from real3d.inference.background import default_model_paths
from real3d.models.loading import RELEASED_WEIGHTS
from scripts.download_weights import (
    DOWNLOADS,
    GROUPS,
    Download,
    DownloadError,
    destination,
    fetch,
    main,
    partial_path,
)
from tests.helpers.cli import user_error
from tests.helpers.fuzz import fuzz_settings

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def git_sha1(data: bytes) -> str:
    return hashlib.sha1(f"blob {len(data)}\0".encode() + data).hexdigest()


@dataclass
class StandIn:
    """What the server serves and how it misbehaves; it records every request it gets."""

    hub_files: dict[tuple[str, str], bytes] = field(default_factory=dict)  # (repo, filename) -> content
    lfs: set[str] = field(default_factory=set)  # filenames served as LFS files (sha256 ETag)
    plain_files: dict[str, bytes] = field(default_factory=dict)  # /files/<name> (not on the hub)
    advertised_sha256: dict[str, str] = field(default_factory=dict)  # filename -> a wrong checksum to announce
    drop_after: int | None = None  # the next GET closes the connection after this many body bytes
    refuse: int | None = None  # answer every request with this status
    requests: list[tuple[str, str, str | None]] = field(default_factory=list)


class Handler(BaseHTTPRequestHandler):
    """The hub's /resolve/ layout (X-Repo-Commit, ETag / X-Linked-Etag, X-Linked-Size, Range) and plain files."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:
        pass

    def do_HEAD(self) -> None:
        self.serve(body=False)

    def do_GET(self) -> None:
        self.serve(body=True)

    def serve(self, body: bool) -> None:
        stand_in: StandIn = self.server.stand_in
        stand_in.requests.append((self.command, self.path, self.headers.get("Range")))
        if stand_in.refuse:
            self.send_response(stand_in.refuse)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        headers: dict[str, str] = {"Accept-Ranges": "bytes"}
        hub = re.fullmatch(r"/(.+)/resolve/([^/]+)/(.+)", self.path)
        if hub:
            repo, _, filename = hub.groups()
            content = stand_in.hub_files.get((repo, filename))
            headers["X-Repo-Commit"] = COMMIT
            if content is not None and filename in stand_in.lfs:
                sha256 = stand_in.advertised_sha256.get(filename, hashlib.sha256(content).hexdigest())
                headers["X-Linked-Etag"] = f'"{sha256}"'
                headers["X-Linked-Size"] = str(len(content))
                headers["ETag"] = f'"{git_sha1(b"lfs pointer " + content[:8])}"'  # the pointer's id, as the hub does
            elif content is not None:
                headers["ETag"] = f'"{git_sha1(content)}"'
        else:
            content = stand_in.plain_files.get(self.path.removeprefix("/files/"))
        if content is None:
            self.send_response(404)
            self.send_header("X-Error-Code", "EntryNotFound")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        start = 0
        requested = self.headers.get("Range")
        if requested and body:
            start = int(re.fullmatch(r"bytes=(\d+)-", requested).group(1))
            headers["Content-Range"] = f"bytes {start}-{len(content) - 1}/{len(content)}"
        self.send_response(206 if start else 200)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(content) - start))
        self.end_headers()
        if not body:
            return
        payload = content[start:]
        if stand_in.drop_after is not None:
            payload, stand_in.drop_after = payload[: stand_in.drop_after], None
            self.wfile.write(payload)
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True
            return
        self.wfile.write(payload)


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, StandIn]]:
    """A threaded HTTP server on a free loopback port; HF_ENDPOINT points at it."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    httpd.stand_in = StandIn()
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{httpd.server_address[1]}"
    monkeypatch.setenv("HF_ENDPOINT", base)
    try:
        yield base, httpd.stand_in
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def by_group(group: str) -> list[Download]:
    return [d for d in DOWNLOADS if d.group == group]


def weights_bytes(n: int, seed: int = 0) -> bytes:
    return bytes((i * 131 + seed) % 251 for i in range(n))


def test_normal_download_puts_verified_files_where_loaders_read(
    server: tuple[str, StandIn], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    _, stand_in = server
    real3d = weights_bytes(300_000)
    dino = b'{"hidden_size": 768}\n'
    stand_in.hub_files[("hwjiang/Real3D", "model_both_trained_v1.ckpt")] = real3d
    stand_in.lfs.add("model_both_trained_v1.ckpt")
    stand_in.hub_files[("facebook/dino-vitb16", "config.json")] = dino
    ckpt = tmp_path / "checkpoints"
    argv = ["--only", "real3d", "dino", "--checkpoints-dir", str(ckpt), "--no-progress"]
    assert main(argv) == 0
    assert (ckpt / "model_both_trained_v1.ckpt").read_bytes() == real3d
    assert (ckpt / "pretrained/dino-vitb16/config.json").read_bytes() == dino
    assert not [p for p in ckpt.rglob(".*")]  # no partial files left
    out = capsys.readouterr().out
    assert "model_both_trained_v1.ckpt  [downloaded, checksum ok]" in out
    assert "config.json  [downloaded, checksum ok]" in out
    # A second run checks the files in place and downloads nothing.
    stand_in.requests.clear()
    assert main(argv) == 0
    assert all(method == "HEAD" for method, _, _ in stand_in.requests)
    assert "[present, checksum ok]" in capsys.readouterr().out


def test_shipped_config_is_kept_when_the_published_one_has_the_same_settings(
    server: tuple[str, StandIn], tmp_path: Path
) -> None:
    _, stand_in = server
    (config,) = [d for d in by_group("triposr") if d.filename == "config.yaml"]
    dest = tmp_path / "config.yaml"
    dest.write_text("# shipped, with comments\nplane: 32\nchannels: ${plane}\n")
    stand_in.hub_files[("stabilityai/TripoSR", "config.yaml")] = b"plane: 32\nchannels: 32\n"
    assert fetch(config, dest, token=False, progress=False) == "present, same settings as the published file"
    assert dest.read_text().startswith("# shipped")
    stand_in.hub_files[("stabilityai/TripoSR", "config.yaml")] = b"plane: 64\nchannels: 32\n"
    assert fetch(config, dest, token=False, progress=False).startswith("KEPT")
    assert fetch(config, dest, token=False, force=True, progress=False) == "downloaded, checksum ok"
    assert dest.read_text() == "plane: 64\nchannels: 32\n"
    assert [p.name for p in tmp_path.iterdir()] == ["config.yaml"]


def test_interrupted_download_resumes_where_it_stopped(server: tuple[str, StandIn], tmp_path: Path) -> None:
    _, stand_in = server
    (clip,) = by_group("clip")
    content = weights_bytes(200_000, seed=3)
    stand_in.hub_files[(clip.repo_id, clip.filename)] = content
    stand_in.lfs.add(clip.filename)
    dest = tmp_path / "open_clip_model.safetensors"
    # First run: the connection drops after 70 kB and no reconnection is allowed: a clear error, a kept part.
    stand_in.drop_after = 70_000
    with pytest.raises(DownloadError, match="run again to resume"):
        fetch(clip, dest, token=False, retries=0, progress=False)
    part = partial_path(dest, ("sha256", hashlib.sha256(content).hexdigest()))
    assert part.stat().st_size == 70_000 and not dest.exists()
    # Second run: it asks for the rest only.
    stand_in.requests.clear()
    assert fetch(clip, dest, token=False, progress=False) == "downloaded, checksum ok"
    assert dest.read_bytes() == content and not part.exists()
    assert [r for r in stand_in.requests if r[0] == "GET"] == [
        ("GET", f"/{clip.repo_id}/resolve/main/{clip.filename}", "bytes=70000-")
    ]


def test_lost_connection_is_resumed_within_the_same_run(server: tuple[str, StandIn], tmp_path: Path) -> None:
    base, stand_in = server
    content = weights_bytes(150_000, seed=5)
    stand_in.plain_files["vgg16.pth"] = content
    digest = ("sha256", hashlib.sha256(content).hexdigest()[:8])  # a published prefix, as torchvision's
    item = Download("lpips", "pretrained/vgg16.pth", "stand-in", url=f"{base}/files/vgg16.pth", digest=digest)
    stand_in.drop_after = 40_000
    dest = tmp_path / "vgg16.pth"
    assert fetch(item, dest, progress=False) == "downloaded, checksum ok"
    assert dest.read_bytes() == content
    assert [r[2] for r in stand_in.requests if r[0] == "GET"] == [None, "bytes=40000-"]


def test_checksum_mismatch_is_an_error_and_leaves_nothing_behind(server: tuple[str, StandIn], tmp_path: Path) -> None:
    _, stand_in = server
    (real3d,) = by_group("real3d")
    content = weights_bytes(50_000)
    stand_in.hub_files[(real3d.repo_id, real3d.filename)] = content
    stand_in.lfs.add(real3d.filename)
    stand_in.advertised_sha256[real3d.filename] = hashlib.sha256(b"other weights").hexdigest()
    dest = tmp_path / real3d.filename
    with pytest.raises(DownloadError, match="checksum mismatch .* nothing was written"):
        fetch(real3d, dest, token=False, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_refusing_server_gives_one_clear_line(
    server: tuple[str, StandIn], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    _, stand_in = server
    stand_in.refuse = 403
    assert main(["--only", "real3d", "--checkpoints-dir", str(tmp_path), "--no-progress"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith("download_weights: error: real3d: cannot fetch hwjiang/Real3D/model_both_trained_v1.ckpt")
    assert err[0].endswith("HTTP 403 Forbidden")
    assert list(tmp_path.iterdir()) == []


def test_unreachable_server_gives_one_clear_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    with socket.socket() as probe:  # a port with nothing listening
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    assert main(["--only", "dino", "--checkpoints-dir", str(tmp_path), "--no-progress"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "ConnectError" in err[0]


def test_destinations_are_where_the_loaders_look(tmp_path: Path) -> None:
    ckpt, u2net = tmp_path / "checkpoints", tmp_path / "u2net"
    where = {d.group: destination(d, ckpt, u2net) for d in DOWNLOADS if d.filename != "config.yaml"}
    assert where["real3d"].parent == ckpt and where["real3d"].name in RELEASED_WEIGHTS
    assert where["triposr"].parent == ckpt and where["triposr"].name in RELEASED_WEIGHTS
    assert where["lpips"] == ckpt / pretrained.PRETRAINED_DIR.relative_to("checkpoints") / pretrained.VGG16_FILE
    assert where["inception"].name == pretrained.INCEPTION_FILE
    assert where["clip"].name in pretrained.CLIP_FILES
    assert where["u2net"] == u2net / default_model_paths("u2net")[0].name
    assert where["dino"] == ckpt / "pretrained/dino-vitb16/config.json"
    assert {d.group for d in DOWNLOADS} == {"real3d", "triposr", "dino", "clip", "lpips", "inception", "u2net"}


def test_a_different_file_in_place_is_kept_unless_forced(server: tuple[str, StandIn], tmp_path: Path) -> None:
    base, stand_in = server
    content = weights_bytes(10_000)
    stand_in.plain_files["u2net.onnx"] = content
    digest = ("md5", hashlib.md5(content).hexdigest())
    item = Download("u2net", "u2net:u2net.onnx", "stand-in", url=f"{base}/files/u2net.onnx", digest=digest)
    dest = tmp_path / "u2net.onnx"
    dest.write_bytes(b"a model of the user's own")
    assert fetch(item, dest, progress=False).startswith("KEPT")
    assert dest.read_bytes() == b"a model of the user's own" and not stand_in.requests
    assert fetch(item, dest, force=True, progress=False) == "downloaded, checksum ok"
    assert dest.read_bytes() == content


def test_list_names_each_file_and_its_place(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["--list", "--only", "u2net", "lpips", "--checkpoints-dir", "ck", "--u2net-dir", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("lpips") and "ck/pretrained/vgg16-397923af.pth  <- https://" in lines[0]
    assert lines[1].startswith("u2net") and str(tmp_path / "u2net.onnx") in lines[1]
    with pytest.raises(SystemExit):
        main(["--only", "weights"])


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--retries", "-1"], "argument --retries: -1 is not in [0, 100]"),
        (["--retries", "many"], "argument --retries: 'many' is not an integer"),
        (["--only"], "argument --only: expected at least one argument"),
        (["--only", "weights"], "argument --only: invalid choice: 'weights'"),
        (["--checkpoints-dir", ""], "argument --checkpoints-dir: an empty path"),
    ],
)
def test_bad_flags_are_one_line_exit_2(argv: list[str], message: str, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    assert message in user_error(capsys.readouterr().err, "download_weights")


def test_a_folder_that_cannot_be_written_is_one_line_before_any_download(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    with pytest.raises(SystemExit):
        main(["--checkpoints-dir", str(a_file)])
    assert f"'{a_file}' is a file, not a folder" in user_error(capsys.readouterr().err, "download_weights")
    assert main(["--only", "lpips", "--checkpoints-dir", str(a_file / "sub")]) == 2
    assert user_error(capsys.readouterr().err, "download_weights").startswith(f"--checkpoints-dir {a_file / 'sub'}:")


@fuzz_settings(60)
@given(
    only=st.lists(st.sampled_from([*GROUPS, "weights", "", "REAL3D"]), max_size=4),
    retries=st.one_of(st.integers(-5, 200).map(str), st.text(max_size=4)),
    folder=st.one_of(st.text(max_size=8), st.just("a_file")),
)
def test_fuzz_list_only_retries_and_folders(tmp_path_factory, only, retries, folder) -> None:
    """--list with any --only, --retries and folder values: the list (exit 0) or one error line (exit 2)."""
    import contextlib
    import io

    cwd = tmp_path_factory.mktemp("dl")
    (cwd / "a_file").write_text("x")
    argv = ["--list", "--retries", retries, "--checkpoints-dir", str(cwd / folder) if folder else ""]
    argv += ["--only", *only] if only else []
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()) as out:
        try:
            code = main(argv)
        except SystemExit as exc:
            code = exc.code
    assert code in (0, 2)
    if code == 2:
        user_error(err.getvalue(), "download_weights")
    else:
        assert out.getvalue().count("\n") == len([d for d in DOWNLOADS if d.group in (only or GROUPS)])
    assert sorted(p.name for p in cwd.iterdir()) == ["a_file"]  # --list writes nothing

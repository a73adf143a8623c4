"""Split files, packaged lists, curated manifests and safe item paths."""

from __future__ import annotations

import gzip
import json

import pytest

from real3d.data import splits
from real3d.errors import Real3DError


def test_json_and_gzip_split_files(tmp_path):
    data = {"train": ["a", "b"], "test": ["c"]}
    (tmp_path / "s.json").write_text(json.dumps(data))
    (tmp_path / "s.json.gz").write_bytes(gzip.compress(json.dumps(data).encode()))
    (tmp_path / "gz_without_suffix").write_bytes(gzip.compress(json.dumps(data).encode()))
    for name in ("s.json", "s.json.gz", "gz_without_suffix"):
        assert splits.load_split(tmp_path / name, "train") == ["a", "b"]
        assert splits.load_split(tmp_path / name, "test") == ["c"]
    with pytest.raises(Real3DError, match="no 'val' list"):
        splits.load_split(tmp_path / "s.json", "val")
    written = splits.write_split(tmp_path / "w.json.gz", data)
    assert splits.read_json_any(written) == data


def test_packaged_splits_resolve_by_name():
    assert splits.resolve_split_path("singleview").name == "singleview.json.gz"
    wild = splits.load_split("singleview.json.gz", "train")
    assert len(wild) == 61280 and len(splits.load_split("singleview", "test")) == 999
    assert len(splits.load_split("mvimgnet", "test")) == 1000
    with pytest.raises(Real3DError, match="not found"):
        splits.resolve_split_path("no_such_split")


def test_manifest_keeps_kept_records_of_the_split(tmp_path):
    lines = [
        {"path": "crops/a.png", "kept": True},
        {"path": "crops/b.png", "kept": False, "stage": "geometry"},
        {"path": "crops/c.png", "kept": True, "split": "test"},
        {"kept": True},
        {"path": "crops/d.png", "kept": "yes"},
    ]
    path = tmp_path / "manifest.jsonl"
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\n\n")
    assert splits.load_split(path, "train") == ["crops/a.png"]
    assert splits.load_split(path, "test") == ["crops/c.png"]
    path.write_text("{not json\n")
    with pytest.raises(Real3DError, match=":1:"):
        splits.load_split(path, "train")


def test_resolve_item_stays_inside_the_root(tmp_path):
    assert splits.resolve_item(tmp_path, "a/b.png") == tmp_path / "a" / "b.png"
    for bad in ("../x.png", "a/../../x", "/etc/passwd"):
        with pytest.raises(ValueError):
            splits.resolve_item(tmp_path, bad)


def test_discovery_and_auto_split_are_deterministic(tmp_path):
    for name in ("a/x", "a/y", "b/z", "c"):
        (tmp_path / name / "item").mkdir(parents=True)
    found = splits.discover(tmp_path, lambda p: (p / "item").is_dir())
    assert found == ["a/x", "a/y", "b/z", "c"]
    parts = splits.auto_split(found, 1)
    assert parts == splits.auto_split(list(reversed(found)), 1)
    assert len(parts["test"]) == 1 and sorted(parts["train"] + parts["test"]) == found
    with pytest.raises(Real3DError, match="not found"):
        splits.discover(tmp_path / "missing", lambda p: True)

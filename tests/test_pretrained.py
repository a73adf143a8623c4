"""Pretrained components load from local files only, and build randomly for tests."""

from __future__ import annotations

import pytest
import torch

from real3d.errors import Real3DError
from real3d.pretrained import build_clip, build_inception, build_lpips
from tests.conftest import CLIP_TINY


def test_missing_files_name_the_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    import real3d.pretrained as pretrained

    monkeypatch.setattr(pretrained, "_PROJECT_ROOT", tmp_path)
    with pytest.raises(Real3DError, match="vgg16-397923af.pth"):
        build_lpips()
    with pytest.raises(Real3DError, match="open_clip_vit_b16.bin"):
        build_clip(config=CLIP_TINY)
    with pytest.raises(Real3DError, match="pt_inception-2015-12-05"):
        build_inception()
    with pytest.raises(Real3DError, match="not found"):
        build_clip(tmp_path / "nope.bin", config=CLIP_TINY)


def test_lpips_loads_torchvision_vgg_features(tmp_path):
    from torchvision.models.vgg import cfgs, make_layers

    torch.manual_seed(0)
    vgg = torch.nn.Module()
    vgg.features = make_layers(cfgs["D"])
    path = tmp_path / "vgg16-397923af.pth"
    torch.save({**vgg.state_dict(), "classifier.0.bias": torch.zeros(4096)}, path)
    model = build_lpips(path)
    assert torch.equal(model.net.slice1[0].weight, vgg.features[0].weight)
    assert torch.equal(getattr(model.net.slice5, "28").bias, vgg.features[28].bias)
    assert not any(p.requires_grad for p in model.parameters())
    x = torch.rand(1, 3, 32, 32)
    assert model(x, x, normalize=True).item() == 0.0
    assert model(x, torch.rand_like(x), normalize=True).item() > 0.0


def test_lpips_rejects_wrong_file(tmp_path):
    path = tmp_path / "bad.pth"
    torch.save({"features.0.weight": torch.zeros(1)}, path)
    with pytest.raises(Real3DError):
        build_lpips(path)
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(Real3DError, match="cannot read"):
        build_lpips(path)


@pytest.mark.parametrize("suffix", [".bin", ".safetensors"])
def test_clip_loads_open_clip_state_dict(tmp_path, suffix):
    import json

    from open_clip.model import CLIP

    cfg = json.loads(CLIP_TINY.read_text())
    torch.manual_seed(0)
    reference = CLIP(cfg["embed_dim"], cfg["vision_cfg"], cfg["text_cfg"], quick_gelu=True).eval()
    path = tmp_path / f"open_clip_pytorch_model{suffix}"
    if suffix == ".safetensors":
        from safetensors.torch import save_file

        save_file({k: v.contiguous() for k, v in reference.state_dict().items()}, str(path))
    else:
        torch.save({"state_dict": {"module." + k: v for k, v in reference.state_dict().items()}}, path)
    encoder = build_clip(path, config=CLIP_TINY)
    images = torch.rand(2, 3, 48, 40)
    expected = reference.encode_image(encoder.preprocess(images), normalize=True)
    torch.testing.assert_close(encoder(images), expected)
    assert encoder.similarity(images, images).sub(1).abs().max() < 1e-5


def test_clip_passes_gradients_to_images():
    encoder = build_clip(config=CLIP_TINY, allow_random=True)
    images = torch.rand(2, 3, 64, 64, requires_grad=True)
    embeddings = encoder(images)
    assert embeddings.shape == (2, 32)
    torch.testing.assert_close(embeddings.norm(dim=-1), torch.ones(2))
    embeddings.sum().backward()
    assert images.grad.abs().sum() > 0
    assert all(p.grad is None for p in encoder.parameters())


def test_inception_loads_torchvision_state_dict(tmp_path):
    from torchvision.models import inception_v3

    torch.manual_seed(0)
    reference = inception_v3(weights=None, aux_logits=True, transform_input=False, init_weights=False)
    path = tmp_path / "inception_v3_google-0cc3c7bd.pth"
    torch.save(reference.state_dict(), path)
    features = build_inception(path)
    assert torch.equal(features.net.Conv2d_1a_3x3.conv.weight, reference.Conv2d_1a_3x3.conv.weight)
    out = features(torch.rand(3, 3, 64, 64))
    assert out.shape == (3, 2048) and torch.isfinite(out).all()
    assert "torchvision" in features.network and "not comparable" in features.network


def test_inception_prefers_the_standard_fid_network(tmp_path, monkeypatch):
    """pytorch-fid's pt_inception weights (1008 classes) load into the FID architecture, found by
    default name before torchvision's file, and the network is named for metrics.json."""
    import real3d.pretrained as pretrained
    from real3d.pretrained import FID_INCEPTION_FILE, INCEPTION_FILE, fid_inception_v3

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(pretrained, "_PROJECT_ROOT", tmp_path)
    folder = tmp_path / "checkpoints" / "pretrained"
    folder.mkdir(parents=True)
    torch.manual_seed(0)
    reference = fid_inception_v3()
    assert reference.fc.weight.shape == (1008, 2048) and reference.AuxLogits is None
    torch.save(reference.state_dict(), folder / FID_INCEPTION_FILE)
    torch.save({"unused": torch.zeros(1)}, folder / INCEPTION_FILE)
    features = build_inception()
    assert features.network.startswith("FID Inception") and FID_INCEPTION_FILE in features.network
    assert torch.equal(features.net.Mixed_7c.branch_pool.conv.weight, reference.Mixed_7c.branch_pool.conv.weight)
    assert features(torch.rand(2, 3, 40, 40)).shape == (2, 2048)


def test_fid_blocks_pool_as_the_fid_network():
    """The FID network's average pools exclude the zero padding (a constant input stays constant in
    the pooling branch, torchvision's does not) and Mixed_7c max-pools."""
    from torchvision.models.inception import InceptionA

    from real3d.pretrained import fid_inception_v3

    net = fid_inception_v3().eval()
    torch.manual_seed(0)
    plain = InceptionA(192, pool_features=32).eval()
    net.Mixed_5b.load_state_dict(plain.state_dict())
    x = torch.ones(1, 192, 5, 5)
    with torch.no_grad():
        fid_pool, plain_pool = net.Mixed_5b(x)[:, -32:], plain(x)[:, -32:]
    assert torch.allclose(fid_pool, fid_pool[..., 2:3, 2:3].expand_as(fid_pool))  # uniform: padding excluded
    assert not torch.allclose(plain_pool, plain_pool[..., 2:3, 2:3].expand_as(plain_pool))
    block = net.Mixed_7c.eval()
    x = torch.zeros(1, 2048, 3, 3)
    x[..., 0, 0] = 5.0  # a max pool spreads the peak to every neighbour, unweakened
    with torch.no_grad():
        pool_in = block.branch_pool.conv.weight
        out = block(x)[:, -192:]
        expected = block.branch_pool(torch.nn.functional.max_pool2d(x, 3, 1, 1))
    assert pool_in.shape[1] == 2048 and torch.allclose(out, expected)
